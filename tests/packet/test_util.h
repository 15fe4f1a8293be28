// Helpers shared by the packet tests: a seeded generator of random but
// well-formed packet specs, so property tests are reproducible.
#pragma once

#include <random>

#include "packet/grammar.h"

namespace nfemu::packet::testing {

inline PacketSpec random_spec(std::mt19937& rng, uint32_t max_payload = 300) {
  auto u = [&](uint64_t lo, uint64_t hi) { return std::uniform_int_distribution<uint64_t>(lo, hi)(rng); };
  auto kind = static_cast<SpecKind>(u(0, 3));
  PacketSpec s = default_spec(kind);
  s.src = static_cast<uint32_t>(u(0, UINT32_MAX));
  s.dst = static_cast<uint32_t>(u(0, UINT32_MAX));
  // Half of the fields keep their defaults so printing exercises both paths.
  auto maybe = [&](auto& field, uint64_t hi) {
    if (u(0, 1)) field = static_cast<std::remove_reference_t<decltype(field)>>(u(0, hi));
  };
  maybe(s.ttl, 255);
  maybe(s.tos, 255);
  maybe(s.ipid, 65535);
  s.df = u(0, 1);
  maybe(s.payload, max_payload);
  switch (kind) {
    case SpecKind::Tcp:
      s.sport = static_cast<uint16_t>(u(0, 65535));
      s.dport = static_cast<uint16_t>(u(0, 65535));
      maybe(s.tcp_flags, 255);
      maybe(s.seq, UINT32_MAX);
      maybe(s.ack, UINT32_MAX);
      maybe(s.win, 65535);
      break;
    case SpecKind::Udp:
      s.sport = static_cast<uint16_t>(u(0, 65535));
      s.dport = static_cast<uint16_t>(u(0, 65535));
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
  }
  return s;
}

}  // namespace nfemu::packet::testing
