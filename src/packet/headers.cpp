#include "packet/headers.h"

#include <cstring>

#include <fmt/format.h>

namespace nfemu::packet {

std::string_view to_string(Ipv4Status s) {
  switch (s) {
    case Ipv4Status::Ok: return "ok";
    case Ipv4Status::Truncated: return "truncated";
    case Ipv4Status::BadVersion: return "bad version";
    case Ipv4Status::BadIhl: return "bad IHL";
    case Ipv4Status::BadTotalLength: return "bad total length";
    case Ipv4Status::BadChecksum: return "bad checksum";
  }
  return "?";
}

namespace {

// inet_checksum_ok of the header, the usual 20 bytes inline: every replayed
// frame is checked and csum_bytes's call, tail and folds cost twice what
// this does. Five native-endian 32-bit words summed exactly are congruent
// modulo 0xffff to 256 times the sum of the big-endian 16-bit words (2^16
// is 1 there), and 256 is invertible, so the header sums to -0 exactly when
// this sum is a nonzero multiple of 0xffff.
bool header_checksum_ok(const uint8_t* p, size_t len) {
  if (len != kIpv4MinHeader) return inet_checksum_ok({p, len});
  uint64_t s = 0;
  for (size_t i = 0; i < kIpv4MinHeader; i += 4) {
    uint32_t w;
    std::memcpy(&w, p + i, 4);
    s += w;
  }
  return s != 0 && s % 0xffff == 0;
}

}  // namespace

Ipv4Status check_ipv4(std::span<const uint8_t> b, Ipv4ParseOptions opt, size_t* length) {
  if (b.size() < kIpv4MinHeader) return Ipv4Status::Truncated;
  ConstIpv4View ip(b);
  // ip_rcv tests IHL first, then the version, in one condition.
  if (ip.ihl() < 5) return Ipv4Status::BadIhl;
  if (ip.version() != 4) return Ipv4Status::BadVersion;
  if (b.size() < ip.header_len()) return Ipv4Status::Truncated;
  if (opt.verify_checksum && !header_checksum_ok(b.data(), ip.header_len())) return Ipv4Status::BadChecksum;
  size_t len = ip.total_length();
  if (b.size() < len) return Ipv4Status::Truncated;
  if (len < ip.header_len()) return Ipv4Status::BadTotalLength;
  if (length) *length = len;
  return Ipv4Status::Ok;
}

namespace {

// The message for a datagram check_ipv4 refused, out of line and cold:
// its formatting made parse_ipv4 save registers on every call.
template <class Byte>
[[gnu::noinline, gnu::cold]] Result<Ipv4ViewT<Byte>> ipv4_error(std::span<Byte> b, Ipv4Status st) {
  ConstIpv4View ip(b);
  switch (st) {
    case Ipv4Status::Truncated:
      if (b.size() < kIpv4MinHeader)
        return make_error(fmt::format("truncated IPv4 header: {} bytes (minimum 20)", b.size()));
      if (b.size() < ip.header_len())
        return make_error(fmt::format("truncated IPv4 header: {} bytes, IHL says {}", b.size(), ip.header_len()));
      return make_error(fmt::format("truncated IPv4 datagram: {} bytes, total length says {}", b.size(),
                                    ip.total_length()));
    case Ipv4Status::BadIhl: return make_error(fmt::format("bad IHL: {} (minimum 5)", ip.ihl()));
    case Ipv4Status::BadVersion: return make_error(fmt::format("bad IP version: {} (expected 4)", ip.version()));
    case Ipv4Status::BadChecksum:
      return make_error(fmt::format("bad IPv4 header checksum: 0x{:04x} (expected 0x{:04x})", ip.checksum(),
                                    ip.compute_checksum()));
    case Ipv4Status::BadTotalLength:
      return make_error(fmt::format("bad total length: {} (header is {} bytes)", ip.total_length(),
                                    ip.header_len()));
    case Ipv4Status::Ok: break;
  }
  return make_error("unreachable");
}

template <class Byte>
Result<Ipv4ViewT<Byte>> parse_ipv4_impl(std::span<Byte> b, Ipv4ParseOptions opt) {
  size_t len = 0;
  Ipv4Status st = check_ipv4(b, opt, &len);
  if (st == Ipv4Status::Ok) [[likely]]
    return Ipv4ViewT<Byte>(b.first(len));
  return ipv4_error(b, st);  // a tail call: the result is built in place
}

template <class Byte>
Result<TcpViewT<Byte>> parse_tcp_impl(std::span<Byte> b) {
  if (b.size() < kTcpMinHeader) return make_error(fmt::format("truncated TCP header: {} bytes (minimum 20)", b.size()));
  TcpViewT<Byte> t(b);
  if (t.data_offset() < 5) return make_error(fmt::format("bad TCP data offset: {} (minimum 5)", t.data_offset()));
  if (t.header_len() > b.size())
    return make_error(
        fmt::format("truncated TCP header: {} bytes, data offset says {}", b.size(), t.header_len()));
  return t;
}

template <class Byte>
Result<UdpViewT<Byte>> parse_udp_impl(std::span<Byte> b) {
  if (b.size() < kUdpHeader) return make_error(fmt::format("truncated UDP header: {} bytes (minimum 8)", b.size()));
  UdpViewT<Byte> u(b);
  if (u.length() < kUdpHeader) return make_error(fmt::format("bad UDP length: {} (minimum 8)", u.length()));
  if (u.length() > b.size())
    return make_error(fmt::format("truncated UDP datagram: {} bytes, length says {}", b.size(), u.length()));
  return UdpViewT<Byte>(b.first(u.length()));
}

template <class Byte>
Result<IcmpViewT<Byte>> parse_icmp_impl(std::span<Byte> b) {
  if (b.size() < kIcmpHeader)
    return make_error(fmt::format("truncated ICMP header: {} bytes (minimum 8)", b.size()));
  return IcmpViewT<Byte>(b);
}

template <class Byte>
Result<IcmpQuoteT<Byte>> parse_quote_impl(IcmpViewT<Byte> icmp) {
  if (!icmp.is_error()) return make_error(fmt::format("ICMP type {} is not an error", icmp.type()));
  std::span<Byte> p = icmp.payload();
  if (p.size() < kIpv4MinHeader)
    return make_error(fmt::format("truncated quoted IPv4 header: {} bytes (minimum 20)", p.size()));
  Ipv4ViewT<Byte> ip(p);
  if (ip.ihl() < 5) return make_error(fmt::format("bad quoted IHL: {} (minimum 5)", ip.ihl()));
  if (ip.version() != 4) return make_error(fmt::format("bad quoted IP version: {} (expected 4)", ip.version()));
  if (p.size() < ip.header_len())
    return make_error(
        fmt::format("truncated quoted IPv4 header: {} bytes, IHL says {}", p.size(), ip.header_len()));
  return IcmpQuoteT<Byte>{ip, p.subspan(ip.header_len())};
}

}  // namespace

Result<Ipv4View> parse_ipv4(std::span<uint8_t> b, Ipv4ParseOptions o) { return parse_ipv4_impl(b, o); }
Result<ConstIpv4View> parse_ipv4(std::span<const uint8_t> b, Ipv4ParseOptions o) { return parse_ipv4_impl(b, o); }
Result<TcpView> parse_tcp(std::span<uint8_t> b) { return parse_tcp_impl(b); }
Result<ConstTcpView> parse_tcp(std::span<const uint8_t> b) { return parse_tcp_impl(b); }
Result<UdpView> parse_udp(std::span<uint8_t> b) { return parse_udp_impl(b); }
Result<ConstUdpView> parse_udp(std::span<const uint8_t> b) { return parse_udp_impl(b); }
Result<IcmpView> parse_icmp(std::span<uint8_t> b) { return parse_icmp_impl(b); }
Result<ConstIcmpView> parse_icmp(std::span<const uint8_t> b) { return parse_icmp_impl(b); }
Result<IcmpQuote> parse_icmp_quote(IcmpView i) { return parse_quote_impl(i); }
Result<ConstIcmpQuote> parse_icmp_quote(ConstIcmpView i) { return parse_quote_impl(i); }

}  // namespace nfemu::packet
