// Follows net/netfilter/nf_log_syslog.c (nf_log_ip_packet, dump_mac_header,
// dump_ipv4_packet and the TCP/UDP helpers) field by field, including its
// early returns: they decide whether MARK= and UID= still follow.
#include "log/log.h"

#include <fmt/compile.h>
#include <fmt/format.h>

#include "packet/addr.h"
#include "packet/bytes.h"

namespace nfemu::log {
namespace {

using packet::load16;
using packet::load32;

constexpr size_t kIpHdr = 20;
constexpr size_t kTcpHdr = 20;
constexpr size_t kUdpHdr = 8;
constexpr size_t kIcmpHdr = 8;
constexpr uint8_t kProtoAh = 51, kProtoEsp = 50, kProtoUdplite = 136;
constexpr uint16_t kIpCe = 0x8000, kIpDf = 0x4000, kIpMf = 0x2000, kIpOffset = 0x1fff;

// Lines are built in fmt's inline buffer. Through a back_inserter into a
// std::string, each format_to went through a temporary buffer and a copy
// and parsed its format string at run time (FMT_COMPILE parses it at
// compile time): ~4000 of a LOG line's ~7900 instructions, written out.
// 1024 bytes inline, the size of the kernel's own nf_log_buf: the longest
// line the dumper can write (an ICMP error, both IPv4 headers and the
// embedded TCP header full of options, every flag) is ~800 characters, and
// fmt's default 500 grew on the heap for such lines.
using Buffer = fmt::basic_memory_buffer<char, 1024>;

void add(Buffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

// The recursion for ICMP errors reads the whole skb, not the embedded
// datagram's Total Length: every bound below is against `skb`'s end.
struct Dumper {
  Buffer& out;
  const LogOptions& opts;
  std::span<const uint8_t> skb;
  uint32_t mark;
  const SocketOwner* owner;

  auto it() { return fmt::appender(out); }
  void add(std::string_view s) { log::add(out, s); }
  bool have(size_t off, size_t len) const { return off <= skb.size() && len <= skb.size() - off; }
  // skb->len - offset as the kernel computes it, in unsigned int.
  uint32_t left(size_t off) const { return static_cast<uint32_t>(skb.size() - off); }

  void addr(uint32_t a) {
    char buf[16];
    out.append(buf, buf + packet::format_ipv4_addr(a, buf));
  }
  void hex_upper(std::span<const uint8_t> bytes) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (uint8_t b : bytes) {
      out.push_back(kHex[b >> 4]);
      out.push_back(kHex[b & 15]);
    }
  }

  // Returns true when the kernel's helper returns 1 (stop the dump).
  bool tcp(size_t off, bool fragment) {
    add("PROTO=TCP ");
    if (fragment) return false;
    if (!have(off, kTcpHdr)) {
      fmt::format_to(it(), FMT_COMPILE("INCOMPLETE [{} bytes] "), left(off));
      return true;
    }
    const uint8_t* th = skb.data() + off;
    fmt::format_to(it(), FMT_COMPILE("SPT={} DPT={} "), load16(th), load16(th + 2));
    if (opts.tcp_sequence) fmt::format_to(it(), FMT_COMPILE("SEQ={} ACK={} "), load32(th + 4), load32(th + 8));
    fmt::format_to(it(), FMT_COMPILE("WINDOW={} "), load16(th + 14));
    // TCP_RESERVED_BITS is 0x0E000000 since the AE bit took the lowest one.
    fmt::format_to(it(), FMT_COMPILE("RES=0x{:02x} "), (th[12] & 0x0e) << 2);
    const uint8_t f = th[13];
    if (th[12] & 0x01) add("AE ");
    if (f & 0x80) add("CWR ");
    if (f & 0x40) add("ECE ");
    if (f & 0x20) add("URG ");
    if (f & 0x10) add("ACK ");
    if (f & 0x08) add("PSH ");
    if (f & 0x04) add("RST ");
    if (f & 0x02) add("SYN ");
    if (f & 0x01) add("FIN ");
    fmt::format_to(it(), FMT_COMPILE("URGP={} "), load16(th + 18));
    const size_t doff = static_cast<size_t>(th[12] >> 4) * 4;
    if (opts.tcp_options && doff > kTcpHdr) {
      const size_t optsize = doff - kTcpHdr;
      if (!have(off + kTcpHdr, optsize)) {
        add("OPT (TRUNCATED)");
        return true;
      }
      add("OPT (");
      hex_upper(skb.subspan(off + kTcpHdr, optsize));
      add(") ");
    }
    return false;
  }

  bool udp(uint8_t proto, size_t off, bool fragment) {
    add(proto == packet::kIpProtoUdp ? "PROTO=UDP " : "PROTO=UDPLITE ");
    if (fragment) return false;
    if (!have(off, kUdpHdr)) {
      fmt::format_to(it(), FMT_COMPILE("INCOMPLETE [{} bytes] "), left(off));
      return true;
    }
    const uint8_t* uh = skb.data() + off;
    fmt::format_to(it(), FMT_COMPILE("SPT={} DPT={} LEN={} "), load16(uh), load16(uh + 2), load16(uh + 4));
    return false;
  }

  static size_t icmp_required_len(uint8_t type) {
    switch (type) {
      case 0: case 8: return 4;                          // echo reply, echo
      case 3: case 4: case 5: case 11: case 12: return 8 + kIpHdr;  // errors
      case 13: case 14: return 20;                       // timestamp
      case 17: case 18: return 12;                       // address mask
      default: return 0;
    }
  }

  void icmp(size_t iphoff, size_t ihl, bool fragment) {
    add("PROTO=ICMP ");
    if (fragment) return;
    const size_t off = iphoff + ihl;
    if (!have(off, kIcmpHdr)) {
      fmt::format_to(it(), FMT_COMPILE("INCOMPLETE [{} bytes] "), left(off));
      return;
    }
    const uint8_t* ich = skb.data() + off;
    const uint8_t type = ich[0], code = ich[1];
    fmt::format_to(it(), FMT_COMPILE("TYPE={} CODE={} "), type, code);
    // NR_ICMP_TYPES is 18; the table is indexed up to it.
    if (type <= 18 && icmp_required_len(type) && left(off) < icmp_required_len(type)) {
      fmt::format_to(it(), FMT_COMPILE("INCOMPLETE [{} bytes] "), left(off));
      return;
    }
    switch (type) {
      case 0:
      case 8:
        fmt::format_to(it(), FMT_COMPILE("ID={} SEQ={} "), load16(ich + 4), load16(ich + 6));
        return;
      case 12:
        fmt::format_to(it(), FMT_COMPILE("PARAMETER={} "), ich[4]);
        return;
      case 5:
        add("GATEWAY=");
        addr(load32(ich + 4));
        add(" ");
        [[fallthrough]];
      case 3:
      case 4:
      case 11:
        if (iphoff == 0) {  // only the outer packet recurses
          add("[");
          ipv4(off + kIcmpHdr);
          add("] ");
        }
        if (type == 3 && code == 4) fmt::format_to(it(), FMT_COMPILE("MTU={} "), load16(ich + 6));
        return;
      default:
        return;
    }
  }

  void ipv4(size_t iphoff) {
    if (!have(iphoff, kIpHdr)) {
      add("TRUNCATED");
      return;
    }
    const uint8_t* ih = skb.data() + iphoff;
    const size_t ihl = static_cast<size_t>(ih[0] & 0x0f) * 4;
    const uint16_t frag = load16(ih + 6);
    add("SRC=");
    addr(load32(ih + 12));
    add(" DST=");
    addr(load32(ih + 16));
    fmt::format_to(it(), FMT_COMPILE(" LEN={} TOS=0x{:02X} PREC=0x{:02X} TTL={} ID={} "), load16(ih + 2), ih[1] & 0x1e,
                   ih[1] & 0xe0, ih[8], load16(ih + 4));
    if (frag & kIpCe) add("CE ");
    if (frag & kIpDf) add("DF ");
    if (frag & kIpMf) add("MF ");
    if (frag & kIpOffset) fmt::format_to(it(), FMT_COMPILE("FRAG:{} "), frag & kIpOffset);

    if (opts.ip_options && ihl > kIpHdr) {
      if (!have(iphoff + kIpHdr, ihl - kIpHdr)) {
        add("TRUNCATED");
        return;
      }
      add("OPT (");
      hex_upper(skb.subspan(iphoff + kIpHdr, ihl - kIpHdr));
      add(") ");
    }

    const bool fragment = frag & kIpOffset;
    const uint8_t proto = ih[9];
    switch (proto) {
      case packet::kIpProtoTcp:
        if (tcp(iphoff + ihl, fragment)) return;
        break;
      case packet::kIpProtoUdp:
      case kProtoUdplite:
        if (udp(proto, iphoff + ihl, fragment)) return;
        break;
      case packet::kIpProtoIcmp:
        icmp(iphoff, ihl, fragment);
        break;
      case kProtoAh:
        if (fragment) break;  // the kernel prints nothing at all here
        add("PROTO=AH ");
        if (!have(iphoff + ihl, 12)) {
          fmt::format_to(it(), FMT_COMPILE("INCOMPLETE [{} bytes] "), left(iphoff + ihl));
          break;
        }
        fmt::format_to(it(), FMT_COMPILE("SPI=0x{:x} "), load32(skb.data() + iphoff + ihl + 4));
        break;
      case kProtoEsp:
        add("PROTO=ESP ");
        if (fragment) break;
        if (!have(iphoff + ihl, 8)) {
          fmt::format_to(it(), FMT_COMPILE("INCOMPLETE [{} bytes] "), left(iphoff + ihl));
          break;
        }
        fmt::format_to(it(), FMT_COMPILE("SPI=0x{:x} "), load32(skb.data() + iphoff + ihl));
        break;
      default:
        fmt::format_to(it(), FMT_COMPILE("PROTO={} "), proto);
    }

    if (opts.uid && iphoff == 0 && owner) fmt::format_to(it(), FMT_COMPILE("UID={} GID={} "), owner->uid, owner->gid);
    if (iphoff == 0 && mark) fmt::format_to(it(), FMT_COMPILE("MARK=0x{:x} "), mark);
  }
};

void add_mac(Buffer& out, const packet::Mac& m) {
  char buf[packet::kMacTextLen];
  out.append(buf, buf + packet::format_mac(m, buf));
}

void append_mac(Buffer& out, const LogOptions& opts, const MacInfo* mac) {
  if (opts.macdecode && mac && mac->device == MacInfo::Device::Ethernet) {
    const auto& h = mac->header;
    add(out, "MACSRC=");
    add_mac(out, h.src);
    add(out, " MACDST=");
    add_mac(out, h.dst);
    fmt::format_to(fmt::appender(out), FMT_COMPILE(" MACPROTO={:04x} "), h.ethertype);
    return;
  }
  add(out, "MAC=");
  if (mac) {
    const auto& h = mac->header;
    uint8_t raw[14];
    std::copy(h.dst.begin(), h.dst.end(), raw);
    std::copy(h.src.begin(), h.src.end(), raw + 6);
    raw[12] = static_cast<uint8_t>(h.ethertype >> 8);
    raw[13] = static_cast<uint8_t>(h.ethertype);
    static constexpr char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; ++i) {
      if (i) out.push_back(':');
      out.push_back(kHex[raw[i] >> 4]);
      out.push_back(kHex[raw[i] & 15]);
    }
  }
  out.push_back(' ');
}

void append_line(Buffer& out, const LogOptions& opts, const packet::Packet& pkt, std::string_view in,
                 std::string_view out_dev, const MacInfo* mac, const SocketOwner* owner) {
  add(out, "IN=");
  add(out, in);
  add(out, " OUT=");
  add(out, out_dev);
  out.push_back(' ');
  if (!in.empty()) append_mac(out, opts, mac);
  Dumper{out, opts, pkt.data(), pkt.meta.mark, owner}.ipv4(0);
}

}  // namespace

std::string_view to_string(TraceType t) {
  switch (t) {
    case TraceType::Rule: return "rule";
    case TraceType::Return: return "return";
    case TraceType::Policy: return "policy";
  }
  return "?";
}

void append_ipv4_dump(std::string& out, const LogOptions& opts, std::span<const uint8_t> bytes, uint32_t mark,
                      const SocketOwner* owner) {
  Buffer b;
  Dumper{b, opts, bytes, mark, owner}.ipv4(0);
  out.append(b.data(), b.size());
}

void format_log_line(std::string& line, std::string_view prefix, const LogOptions& opts, const packet::Packet& pkt,
                     packet::Hook /*hook*/, std::string_view in, std::string_view out, const MacInfo* mac,
                     const SocketOwner* owner) {
  Buffer b;
  add(b, prefix);
  append_line(b, opts, pkt, in, out, mac, owner);
  line.assign(b.data(), b.size());
}

void format_trace_line(std::string& line, std::string_view table, std::string_view chain, TraceType type,
                       unsigned rulenum, const packet::Packet& pkt, packet::Hook /*hook*/, std::string_view in,
                       std::string_view out, const MacInfo* mac, const SocketOwner* owner) {
  Buffer b;
  fmt::format_to(fmt::appender(b), FMT_COMPILE("TRACE: {}:{}:{}:{} "), table, chain, to_string(type), rulenum);
  append_line(b, LogOptions::trace(), pkt, in, out, mac, owner);
  line.assign(b.data(), b.size());
}

std::string format_log_line(std::string_view prefix, const LogOptions& opts, const packet::Packet& pkt,
                            packet::Hook hook, std::string_view in, std::string_view out, const MacInfo* mac,
                            const SocketOwner* owner) {
  std::string line;
  format_log_line(line, prefix, opts, pkt, hook, in, out, mac, owner);
  return line;
}

std::string format_trace_line(std::string_view table, std::string_view chain, TraceType type, unsigned rulenum,
                              const packet::Packet& pkt, packet::Hook hook, std::string_view in,
                              std::string_view out, const MacInfo* mac, const SocketOwner* owner) {
  std::string line;
  format_trace_line(line, table, chain, type, rulenum, pkt, hook, in, out, mac, owner);
  return line;
}

}  // namespace nfemu::log
