// pcap normalisation (outputs.md): ARP dropped, timestamps ignored, the IP
// ID of host-generated packets zeroed, listener ISNs numbered by order of
// appearance, TCP timestamp values zeroed. Any checksum covering a rewritten
// field is zeroed too: it is then ignored, but only for those packets.
#include <fmt/format.h>

#include <map>
#include <span>
#include <tuple>

#include "packet/addr.h"
#include "packet/bytes.h"
#include "packet/ethernet.h"
#include "packet/headers.h"
#include "packet/pcap_io.h"
#include "verify/compare_internal.h"

namespace nfemu::verify::detail {

using packet::load16;
using packet::load32;
using packet::store16;
using packet::store32;

struct IsnState {
  struct Conn {
    uint32_t isn;
    uint32_t index;
  };
  // Keyed by the direction of the SYN-ACK: saddr, daddr, sport, dport.
  std::map<std::tuple<uint32_t, uint32_t, uint16_t, uint16_t>, Conn> conns;
  uint32_t next = 1;
};

namespace {

// What normalisation did to one IP header, for the readable line.
struct Notes {
  bool id_ignored = false;
  uint32_t seq_conn = 0, ack_conn = 0;  // listener number, 0 when not mapped
  uint32_t seq_delta = 0, ack_delta = 0;
  bool ts_ignored = false;
};

bool host_generated_icmp(uint8_t type) { return type == 0 || packet::icmp_is_error(type); }

// The IP header's span of transport bytes, cut to what was captured.
template <class Byte>
struct IpParts {
  bool ok = false;
  size_t hl = 0;
  std::span<Byte> l4;
};

template <class Byte>
IpParts<Byte> split_ip(std::span<Byte> ip) {
  IpParts<Byte> p;
  if (ip.size() < 20 || (ip[0] >> 4) != 4) return p;
  p.hl = size_t{ip[0] & 0x0fu} * 4;
  if (p.hl < 20 || p.hl > ip.size()) return p;
  size_t end = std::min<size_t>(load16(&ip[2]), ip.size());
  if (end < p.hl) end = p.hl;
  p.l4 = ip.subspan(p.hl, end - p.hl);
  p.ok = true;
  return p;
}

uint32_t map_seq(uint32_t v, const IsnState::Conn& c, uint32_t& conn, uint32_t& delta) {
  conn = c.index;
  delta = v - c.isn;
  return delta + (c.index << 24);
}

// Normalises an IPv4 datagram in place (an ICMP error's quote when embedded);
// true when any byte changed.
bool normalize_ip(std::span<uint8_t> ip, bool embedded, IsnState& isn, Notes* notes) {
  auto p = split_ip(ip);
  if (!p.ok) return false;
  bool changed = false;
  bool host_gen = false;
  bool first_fragment = (load16(&ip[6]) & 0x1fff) == 0;
  auto l4 = p.l4;
  uint8_t proto = ip[9];
  if (first_fragment && proto == packet::kIpProtoIcmp && !l4.empty()) {
    host_gen = host_generated_icmp(l4[0]);
    if (!embedded && packet::icmp_is_error(l4[0]) && l4.size() > 8) {
      if (normalize_ip(l4.subspan(8), true, isn, notes + 1) && l4.size() >= 4) {
        store16(&l4[2], 0);
        changed = true;
      }
    }
  } else if (first_fragment && proto == packet::kIpProtoTcp && l4.size() >= 14) {
    uint8_t flags = l4[13];
    bool syn_ack = (flags & packet::tcp_flag::kSyn) && (flags & packet::tcp_flag::kAck);
    host_gen = syn_ack || (flags & packet::tcp_flag::kRst);
    uint32_t saddr = load32(&ip[12]), daddr = load32(&ip[16]);
    uint16_t sport = load16(&l4[0]), dport = load16(&l4[2]);
    bool tcp_changed = false;
    if (syn_ack) {
      auto [it, fresh] = isn.conns.try_emplace({saddr, daddr, sport, dport}, IsnState::Conn{load32(&l4[4]), 0});
      if (fresh || it->second.isn != load32(&l4[4])) it->second = {load32(&l4[4]), isn.next++};
    }
    if (auto it = isn.conns.find({saddr, daddr, sport, dport}); it != isn.conns.end()) {
      store32(&l4[4], map_seq(load32(&l4[4]), it->second, notes->seq_conn, notes->seq_delta));
      tcp_changed = true;
    }
    if (auto it = isn.conns.find({daddr, saddr, dport, sport});
        it != isn.conns.end() && (flags & packet::tcp_flag::kAck)) {
      store32(&l4[8], map_seq(load32(&l4[8]), it->second, notes->ack_conn, notes->ack_delta));
      tcp_changed = true;
    }
    size_t doff = size_t{static_cast<uint8_t>(l4[12] >> 4)} * 4;
    for (size_t o = 20; o < doff && o < l4.size();) {
      uint8_t kind = l4[o];
      if (kind == 0) break;
      if (kind == 1) {
        ++o;
        continue;
      }
      if (o + 1 >= l4.size() || l4[o + 1] < 2) break;
      size_t len = l4[o + 1];
      if (kind == 8 && len == 10 && o + 10 <= l4.size()) {
        std::fill(l4.begin() + static_cast<long>(o) + 2, l4.begin() + static_cast<long>(o) + 10, 0);
        notes->ts_ignored = true;
        tcp_changed = true;
      }
      o += len;
    }
    if (tcp_changed && l4.size() >= 18) store16(&l4[16], 0);
    changed |= tcp_changed;
  }
  if (host_gen) {
    store16(&ip[4], 0);
    store16(&ip[10], 0);
    notes->id_ignored = true;
    changed = true;
  }
  return changed;
}

std::string tcp_flags(uint8_t f) {
  static constexpr char kLetters[] = "FSRPAUEC";
  std::string s;
  for (int i = 0; i < 8; ++i)
    if (f & (1u << i)) s += kLetters[i];
  return s.empty() ? "none" : s;
}

std::string tcp_options(std::span<const uint8_t> opts, bool ts_ignored) {
  std::string s;
  auto add = [&s](const std::string& o) { s += (s.empty() ? "" : ",") + o; };
  for (size_t o = 0; o < opts.size();) {
    uint8_t kind = opts[o];
    if (kind == 0) {
      add("eol");
      break;
    }
    if (kind == 1) {
      add("nop");
      ++o;
      continue;
    }
    if (o + 1 >= opts.size() || opts[o + 1] < 2 || o + opts[o + 1] > opts.size()) {
      add("bad");
      break;
    }
    size_t len = opts[o + 1];
    if (kind == 2 && len == 4) add(fmt::format("mss {}", load16(&opts[o + 2])));
    else if (kind == 3 && len == 3) add(fmt::format("wscale {}", opts[o + 2]));
    else if (kind == 4) add("sackOK");
    else if (kind == 8 && len == 10 && ts_ignored) add("ts *");
    else if (kind == 8 && len == 10) add(fmt::format("ts {} {}", load32(&opts[o + 2]), load32(&opts[o + 6])));
    else add(fmt::format("opt {} len {}", kind, len));
    o += len;
  }
  return s;
}

std::string mapped(uint32_t raw, uint32_t conn, uint32_t delta) {
  return conn ? fmt::format("isn#{}+{}", conn, delta) : fmt::format("{}", raw);
}

std::string describe_ip(std::span<const uint8_t> ip, const Notes* notes, bool embedded) {
  auto p = split_ip(ip);
  if (!p.ok) return fmt::format("IPv4? {} bytes", ip.size());
  std::string s = fmt::format("IPv4 len {} id {} ttl {}", load16(&ip[2]),
                              notes->id_ignored ? std::string("*") : fmt::format("{}", load16(&ip[4])), ip[8]);
  if (ip[1]) s += fmt::format(" tos 0x{:02x}", ip[1]);
  uint16_t frag = load16(&ip[6]);
  if (frag & 0x8000) s += " RF";
  if (frag & 0x4000) s += " DF";
  if (frag & 0x2000) s += " MF";
  if (frag & 0x1fff) s += fmt::format(" frag {}", (frag & 0x1fff) * 8);
  if (p.hl > 20) s += fmt::format(" ipopts {}", p.hl - 20);
  std::string src = packet::format_ipv4_addr(load32(&ip[12]));
  std::string dst = packet::format_ipv4_addr(load32(&ip[16]));
  auto l4 = p.l4;
  if (frag & 0x1fff) return s + fmt::format(" proto {} {} > {}", ip[9], src, dst);
  switch (ip[9]) {
    case packet::kIpProtoIcmp: {
      s += fmt::format(" icmp {} > {}", src, dst);
      if (l4.size() < 8) return s + fmt::format(" truncated {}", l4.size());
      uint8_t type = l4[0];
      if ((type == 8 || type == 0) && l4[1] == 0) {
        s += fmt::format(" {} id {} seq {} len {}", type == 8 ? "echo-request" : "echo-reply", load16(&l4[4]),
                         load16(&l4[6]), l4.size() - 8);
      } else {
        s += fmt::format(" type {} code {}", type, l4[1]);
        if (packet::icmp_is_error(type) && !embedded && l4.size() > 8)
          s += " [" + describe_ip(l4.subspan(8), notes + 1, true) + "]";
        else if (l4.size() > 8) s += fmt::format(" len {}", l4.size() - 8);
      }
      return s;
    }
    case packet::kIpProtoTcp: {
      if (l4.size() < 4) return s + fmt::format(" tcp {} > {} truncated", src, dst);
      s += fmt::format(" tcp {}:{} > {}:{}", src, load16(&l4[0]), dst, load16(&l4[2]));
      if (l4.size() < 14) return s + " truncated";
      s += fmt::format(" flags {} seq {} ack {}", tcp_flags(l4[13]),
                       mapped(load32(&l4[4]), notes->seq_conn, notes->seq_delta),
                       mapped(load32(&l4[8]), notes->ack_conn, notes->ack_delta));
      if (l4.size() < 20) return s + " truncated";
      s += fmt::format(" win {}", load16(&l4[14]));
      if (load16(&l4[18])) s += fmt::format(" urg {}", load16(&l4[18]));
      size_t doff = size_t{static_cast<uint8_t>(l4[12] >> 4)} * 4;
      if (doff > 20 && doff <= l4.size()) {
        s += " opts " + tcp_options(l4.subspan(20, doff - 20), notes->ts_ignored);
      }
      if (doff >= 20 && doff <= l4.size()) s += fmt::format(" len {}", l4.size() - doff);
      return s;
    }
    case packet::kIpProtoUdp:
      if (l4.size() < 8) return s + fmt::format(" udp {} > {} truncated", src, dst);
      return s + fmt::format(" udp {}:{} > {}:{} len {}", src, load16(&l4[0]), dst, load16(&l4[2]),
                             load16(&l4[4]));
    default:
      return s + fmt::format(" proto {} {} > {} len {}", ip[9], src, dst, l4.size());
  }
}

void add_hex(std::vector<std::string>& lines, std::span<const uint8_t> bytes) {
  for (size_t row = 0; row < bytes.size(); row += 16) {
    std::string s = fmt::format("    {:04x} ", row);
    for (size_t i = row; i < row + 16 && i < bytes.size(); ++i) {
      if ((i - row) % 2 == 0) s += ' ';
      s += fmt::format("{:02x}", bytes[i]);
    }
    lines.push_back(std::move(s));
  }
}

}  // namespace

PcapNormalizer::PcapNormalizer() : isn_(new IsnState) {}
PcapNormalizer::~PcapNormalizer() { delete isn_; }

bool PcapNormalizer::normalize(std::vector<uint8_t>& frame, std::string* line) {
  if (frame.size() < packet::kEthernetHeader) {
    if (line) *line = fmt::format("short frame {} bytes", frame.size());
    return true;
  }
  uint16_t type = load16(&frame[12]);
  if (type == packet::kEtherTypeArp) return false;
  Notes notes[2];
  std::span<uint8_t> payload(frame.data() + packet::kEthernetHeader, frame.size() - packet::kEthernetHeader);
  if (type == packet::kEtherTypeIpv4) normalize_ip(payload, false, *isn_, notes);
  if (line) {
    auto eth = packet::read_ethernet(frame);
    *line = fmt::format("{} > {} ", packet::format_mac(eth.src), packet::format_mac(eth.dst));
    if (type == packet::kEtherTypeIpv4) *line += describe_ip(payload, notes, false);
    else *line += fmt::format("ethertype 0x{:04x} len {}", type, payload.size());
  }
  return true;
}

Result<Normalized> normalize_pcap(const std::string& file) {
  int linktype = 0;
  auto frames = packet::read_pcap_file(file, &linktype);
  if (!frames) return frames.error();
  Normalized out;
  out.unit = "frames";
  PcapNormalizer norm;
  for (auto& f : *frames) {
    Block b;
    std::string line;
    if (linktype == packet::kLinkTypeEthernet) {
      if (!norm.normalize(f.data, &line)) continue;
    } else {
      line = fmt::format("linktype {} frame {} bytes", linktype, f.data.size());
    }
    if (f.orig_len != f.data.size()) line += fmt::format(" (captured {} of {})", f.data.size(), f.orig_len);
    b.lines.push_back(std::move(line));
    add_hex(b.lines, f.data);
    out.blocks.push_back(std::move(b));
  }
  return out;
}

}  // namespace nfemu::verify::detail
