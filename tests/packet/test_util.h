// Helpers shared by the packet tests: a seeded generator of random but
// well-formed packet specs, so property tests are reproducible.
#pragma once

#include <algorithm>
#include <random>

#include "packet/grammar.h"

namespace nfemu::packet::testing {

// with_sctp: SCTP, ESP, AH, IPComp and DCCP packets too (callers that predate them keep
// their mix of TCP, UDP and ICMP).
inline PacketSpec random_spec(std::mt19937 &rng, uint32_t max_payload = 300, bool with_sctp = false) {
  auto u = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
  auto kind = static_cast<SpecKind>(u(0, with_sctp ? 8 : 3));
  PacketSpec s = default_spec(kind);
  s.src = static_cast<uint32_t>(u(0, UINT32_MAX));
  s.dst = static_cast<uint32_t>(u(0, UINT32_MAX));
  // Half of the fields keep their defaults so printing exercises both paths.
  auto maybe = [&](auto &field, uint64_t hi) {
    if (u(0, 1)) field = static_cast<std::remove_reference_t<decltype(field)>>(u(0, hi));
  };
  maybe(s.ttl, 255);
  maybe(s.tos, 255);
  maybe(s.ipid, 65535);
  s.df = u(0, 1);
  maybe(s.payload, max_payload);
  switch (kind) {
    case SpecKind::Tcp: {
      s.sport = static_cast<uint16_t>(u(0, 65535));
      s.dport = static_cast<uint16_t>(u(0, 65535));
      maybe(s.tcp_flags, 255);
      maybe(s.seq, UINT32_MAX);
      maybe(s.ack, UINT32_MAX);
      maybe(s.win, 65535);
      if (u(0, 3) == 0) {
        s.has_mss = true;
        s.mss = static_cast<uint16_t>(u(0, 65535));
      }
      s.sack_perm = u(0, 3) == 0;
      if (u(0, 3) == 0) {
        s.has_ts = true;
        s.tsval = static_cast<uint32_t>(u(0, UINT32_MAX));
        s.tsecr = static_cast<uint32_t>(u(0, UINT32_MAX));
      }
      if (u(0, 3) == 0) {
        s.has_wscale = true;
        s.wscale = static_cast<uint8_t>(u(0, 255));
      }
      // 1 to 4 blocks, as many as fit beside the other options (if any do).
      const size_t used = (s.has_mss ? 4 : 0) + (s.has_ts ? 12 : s.sack_perm ? 4 : 0) + (s.has_wscale ? 4 : 0) + 4;
      if (u(0, 3) == 0 && used + 8 <= 40) {
        const size_t room = (40 - used) / 8;
        s.nsack = static_cast<uint8_t>(u(1, std::min<size_t>(room, PacketSpec::kMaxSackBlocks)));
        for (size_t b = 0; b < s.nsack; ++b)
          s.sack[b] = {static_cast<uint32_t>(u(0, UINT32_MAX)), static_cast<uint32_t>(u(0, UINT32_MAX))};
      }
      break;
    }
    case SpecKind::Udp:
      s.sport = static_cast<uint16_t>(u(0, 65535));
      s.dport = static_cast<uint16_t>(u(0, 65535));
      break;
    default:
      break;
  }
  // TCP and UDP: a quarter carry text (`data`), with the bytes that need
  // escapes (quote, backslash, CR, LF, tab, control and high bytes) mixed
  // in; all zeros is `payload N`, so such a draw keeps no data.
  if ((kind == SpecKind::Tcp || kind == SpecKind::Udp) && s.payload && u(0, 3) == 0) {
    static constexpr char kSpecial[] = {'"', '\\', '\r', '\n', '\t', 0, 1, 0x7f, static_cast<char>(0x80),
                                        static_cast<char>(0xff)};
    for (uint32_t k = 0; k < s.payload; ++k)
      s.data += u(0, 4) ? static_cast<char>(u(0x20, 0x7e)) : kSpecial[u(0, sizeof kSpecial - 1)];
    if (std::all_of(s.data.begin(), s.data.end(), [](char c) { return c == 0; })) s.data.clear();
  }
  switch (kind) {
    case SpecKind::Tcp:
    case SpecKind::Udp:
      break;
    case SpecKind::IcmpEcho:
      s.icmp_type = u(0, 1) ? icmp_type::kEcho : icmp_type::kEchoReply;
      maybe(s.echo_id, 65535);
      maybe(s.echo_seq, 65535);
      break;
    case SpecKind::IcmpType:
      s.icmp_type = static_cast<uint8_t>(u(0, 255));
      if (s.icmp_type == icmp_type::kEcho || s.icmp_type == icmp_type::kEchoReply) s.icmp_type = 3;
      maybe(s.icmp_code, 255);
      break;
    case SpecKind::Sctp: {
      s.sport = static_cast<uint16_t>(u(0, 65535));
      s.dport = static_cast<uint16_t>(u(0, 65535));
      maybe(s.vtag, UINT32_MAX);
      maybe(s.init_tag, UINT32_MAX);
      s.nchunks = static_cast<uint8_t>(u(1, 4));
      bool data = false;
      for (size_t k = 0; k < s.nchunks; ++k) {
        s.chunk_type[k] = static_cast<uint8_t>(u(0, 3) ? u(0, 14) : u(0, 255));
        s.chunk_flags[k] = static_cast<uint8_t>(u(0, 1));
        data = data || s.chunk_type[k] == 0;
      }
      if (!data) s.payload = 0;
      if (std::none_of(s.chunk_type.begin(), s.chunk_type.begin() + s.nchunks,
                       [](uint8_t t) { return t == 1 || t == 2; }))
        s.init_tag = 1;
      break;
    }
    case SpecKind::Esp:
    case SpecKind::Ah:
      maybe(s.spi, UINT32_MAX);
      maybe(s.seq, UINT32_MAX);
      break;
    case SpecKind::Ipcomp: maybe(s.spi, UINT16_MAX); break;
    case SpecKind::Dccp: {
      s.sport = static_cast<uint16_t>(u(0, 65535));
      s.dport = static_cast<uint16_t>(u(0, 65535));
      maybe(s.dccp_type, 15);
      const size_t nopts = u(0, 1) ? u(1, 12) : 0;
      for (size_t k = 0; k < nopts; ++k) s.dccp_opts.push_back(static_cast<uint8_t>(u(k + 1 == nopts ? 1 : 0, 255)));
      break;
    }
  }
  return s;
}

}  // namespace nfemu::packet::testing
