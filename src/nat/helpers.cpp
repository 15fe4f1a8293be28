// The NAT helpers (nf_nat_ftp.c, nf_nat_irc.c, nf_nat_tftp.c,
// nf_nat_amanda.c) and their
// common parts (nf_nat_helper.c): when a conntrack helper finds an
// address and port announced on a connection that has NAT, they are
// rewritten to what the other side must use, the expectation is made for
// that, and the expected connection is NATed as its master
// (nf_nat_follow_master).
#include <fmt/format.h>

#include <cstring>

#include "nat/nat.h"
#include "packet/checksum.h"
#include "packet/mangle.h"

namespace nfemu::nat {
namespace {

using conntrack::Expectation;
using conntrack::FtpMatch;
using conntrack::FtpType;
using conntrack::Table;
using conntrack::Verdict;
using packet::CtInfo;

// nf_nat_follow_master: the expected connection comes from where its
// master's packets go and is sent to where they came from (the address
// and the port the command named before it was rewritten).
void follow_master(Table& table, Entry* ct, const Expectation& exp) {
  const Entry& m = *ct->master;
  const int other = !exp.dir;
  Range r;
  r.flags = range_flag::kMapIps;
  r.min_ip = r.max_ip = m.tuple[other].dst;
  setup_info(table, ct, r, Manip::Src);
  r.flags = range_flag::kMapIps | range_flag::kProtoSpecified;
  r.min_port = r.max_port = exp.saved_port;
  r.min_ip = r.max_ip = m.tuple[other].src;
  setup_info(table, ct, r, Manip::Dst);
}

// nf_nat_exp_find_port: the port named first, else (only while another
// master expects the same) up to 128 others above it. The kernel draws
// them at random; nfemu from a hash, for reproducible runs.
uint16_t find_port(Table& table, Expectation& exp, uint16_t port, uint64_t now) {
  const uint16_t min = port;
  const int range = 65535 - port;
  int attempts_left = std::min(range, 128);
  for (uint32_t n = 0;; ++n) {
    exp.tuple.dport = port;
    Table::ExpectResult res = table.expect_related(exp, now);
    if (res == Table::ExpectResult::Ok) return port;
    if (res != Table::ExpectResult::Busy || --attempts_left < 0 || range == 0) break;
    port = static_cast<uint16_t>(min + util::jhash2(&n, 1, kRandomSeed) % static_cast<uint32_t>(range));
  }
  return 0;
}

// mangle_contents: the datagram's bytes [at, at + matchlen) become `rep`,
// the IP total length and checksum follow. False when the datagram would
// outgrow 65535 bytes (enlarge_skb).
bool mangle_contents(packet::Packet& pkt, size_t at, size_t matchlen, std::string_view rep) {
  const size_t old_len = pkt.ip().total_length();
  const size_t new_len = old_len + rep.size() - matchlen;
  if (new_len > 65535) return false;
  if (new_len > old_len) pkt.resize(new_len);
  uint8_t* d = pkt.data().data();
  std::memmove(d + at + rep.size(), d + at + matchlen, old_len - at - matchlen);
  std::memcpy(d + at, rep.data(), rep.size());
  if (new_len < old_len) pkt.resize(new_len);
  packet::Ipv4View ip = pkt.ip();
  ip.set_total_length(static_cast<uint16_t>(new_len));
  ip.update_checksum();
  return true;
}

// __nf_nat_mangle_tcp_packet: the bytes [matchoff, matchoff + matchlen)
// of the TCP payload become `rep`, the checksum follows, and a change of
// length is recorded for the sequence numbers of what follows in this
// direction.
bool mangle_tcp_packet(Table& table, packet::Packet& pkt, Entry* ct, CtInfo ctinfo, size_t matchoff,
                       size_t matchlen, std::string_view rep) {
  packet::Ipv4View ip = pkt.ip();
  const size_t dataoff = ip.header_len() + size_t{packet::ConstTcpView(ip.payload()).data_offset()} * 4;
  const uint32_t seq = packet::ConstTcpView(ip.payload()).seq();
  if (!mangle_contents(pkt, dataoff + matchoff, matchlen, rep)) return false;
  ip = pkt.ip();
  // nf_nat_csum_recalc: the whole TCP checksum again.
  packet::TcpView th(ip.payload());
  if (auto c = packet::compute_l4_checksum(ip)) th.set_checksum(*c);
  table.seqadj_set(ct, ctinfo, seq, static_cast<int32_t>(rep.size()) - static_cast<int32_t>(matchlen));
  return true;
}

// nf_nat_mangle_udp_packet: the same for a datagram, whose checksum is
// computed again only if it had one.
bool mangle_udp_packet(packet::Packet& pkt, size_t matchoff, size_t matchlen, std::string_view rep) {
  if (!mangle_contents(pkt, pkt.ip().header_len() + packet::kUdpHeader + matchoff, matchlen, rep)) return false;
  packet::Ipv4View ip = pkt.ip();
  auto l4 = ip.payload();
  const auto udp_len = static_cast<uint16_t>(ip.total_length() - ip.header_len());
  l4[4] = static_cast<uint8_t>(udp_len >> 8);
  l4[5] = static_cast<uint8_t>(udp_len);
  if (l4[6] == 0 && l4[7] == 0) return true;
  if (auto c = packet::compute_l4_checksum(ip)) {
    l4[6] = static_cast<uint8_t>(*c >> 8);
    l4[7] = static_cast<uint8_t>(*c);
  }
  return true;
}

// nf_nat_ftp_fmt_cmd.
std::string format_cmd(FtpType type, uint32_t addr, uint16_t port) {
  const unsigned a = addr >> 24, b = (addr >> 16) & 0xff, c = (addr >> 8) & 0xff, d = addr & 0xff;
  switch (type) {
    case FtpType::Port:
    case FtpType::Pasv:
      return fmt::format("{},{},{},{},{},{}", a, b, c, d, port >> 8, port & 0xff);
    case FtpType::Eprt:
      return fmt::format("|1|{}.{}.{}.{}|{}|", a, b, c, d, port);
    case FtpType::Epsv:
      return fmt::format("|||{}|", port);
  }
  return {};
}

// nf_nat_ftp.
Verdict nat_ftp(Table& table, packet::Packet& pkt, CtInfo ctinfo, const FtpMatch& m, Expectation& exp, uint64_t now,
                conntrack::ConfirmInfo* info) {
  Entry* ct = exp.master;
  const int dir = ct_dir(ctinfo);
  // The connection will come from wherever this packet goes.
  const uint32_t newaddr = ct->tuple[!dir].dst;
  exp.saved_port = exp.tuple.dport;
  exp.dir = static_cast<conntrack::Dir>(!dir);
  exp.expectfn = follow_master;
  uint16_t port = find_port(table, exp, exp.saved_port, now);
  if (port == 0) {
    if (info) {
      info->reason = "nf_ct_ftp: dropping packet: all ports in use";
      info->log = true;
    }
    return Verdict::Drop;
  }
  if (!mangle_tcp_packet(table, pkt, ct, ctinfo, m.matchoff, m.matchlen, format_cmd(m.type, newaddr, port))) {
    // nf_ct_unexpect_related: the expectation just made goes.
    table.unexpect_related(exp);
    if (info) {
      info->reason = "nf_ct_ftp: dropping packet: cannot mangle packet";
      info->log = true;
    }
    return Verdict::Drop;
  }
  return Verdict::Accept;
}

// nf_nat_tftp: the answer is sent back to the client's own port.
Verdict nat_tftp(Table& table, Expectation& exp, uint64_t now, conntrack::ConfirmInfo* info) {
  exp.saved_port = exp.master->tuple[conntrack::kOriginal].sport;
  exp.dir = conntrack::kReply;
  exp.expectfn = follow_master;
  if (table.expect_related(exp, now) != Table::ExpectResult::Ok) {
    if (info) {
      info->reason = "nf_ct_tftp: dropping packet: cannot add expectation";
      info->log = true;
    }
    return Verdict::Drop;
  }
  return Verdict::Accept;
}

// nf_nat_irc: the DCC offer's "ADDRESS PORT" becomes the client's address
// as the server sees it and the port expected there, both in decimal.
Verdict nat_irc(Table& table, packet::Packet& pkt, CtInfo ctinfo, size_t matchoff, size_t matchlen, Expectation& exp,
                uint64_t now, conntrack::ConfirmInfo* info) {
  Entry* ct = exp.master;
  const uint32_t newaddr = ct->tuple[conntrack::kReply].dst;
  exp.saved_port = exp.tuple.dport;
  exp.dir = conntrack::kReply;
  exp.expectfn = follow_master;
  const uint16_t port = find_port(table, exp, exp.saved_port, now);
  auto drop = [&](const char* why) {
    if (info) {
      info->reason = why;
      info->log = true;
    }
    return Verdict::Drop;
  };
  if (port == 0) return drop("nf_ct_irc: dropping packet: all ports in use");
  if (!mangle_tcp_packet(table, pkt, ct, ctinfo, matchoff, matchlen, fmt::format("{} {}", newaddr, port))) {
    table.unexpect_related(exp);
    return drop("nf_ct_irc: dropping packet: cannot mangle packet");
  }
  return Verdict::Accept;
}

// nf_nat_amanda: the server's connection comes as the master's does; the
// port the client named, or another if taken, replaces its digits.
Verdict nat_amanda(Table& table, packet::Packet& pkt, CtInfo, size_t matchoff, size_t matchlen, Expectation& exp,
                   uint64_t now, conntrack::ConfirmInfo* info) {
  exp.saved_port = exp.tuple.dport;
  exp.dir = conntrack::kOriginal;
  exp.expectfn = follow_master;
  auto drop = [&](const char* why) {
    if (info) {
      info->reason = why;
      info->log = true;
    }
    return Verdict::Drop;
  };
  const uint16_t port = find_port(table, exp, exp.saved_port, now);
  if (port == 0) return drop("nf_ct_amanda: dropping packet: all ports in use");
  if (!mangle_udp_packet(pkt, matchoff, matchlen, fmt::format("{}", port))) {
    table.unexpect_related(exp);
    return drop("nf_ct_amanda: dropping packet: cannot mangle packet");
  }
  return Verdict::Accept;
}

}  // namespace

void register_helpers(conntrack::Table& table) {
  table.set_nat_amanda_hook(nat_amanda);
  table.set_nat_ftp_hook(nat_ftp);
  table.set_nat_tftp_hook(nat_tftp);
  table.set_nat_irc_hook(nat_irc);
}

}  // namespace nfemu::nat
