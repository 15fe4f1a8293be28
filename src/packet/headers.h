// Zero-copy views of the IPv4, TCP, UDP and ICMP headers of a packet.
//
// A view is two words (a span) over bytes owned by someone else, usually a
// Packet. Getters and setters speak host order; setters never fix
// checksums (see mangle.h for rewrites that keep them valid). Views over
// `const uint8_t` (Const*View) have only getters; a mutable view converts
// to its const view implicitly.
//
// Obtain views through the parse_* functions, which check lengths the way
// the kernel does (ip_rcv, tcp_v4_rcv, __udp4_lib_rcv, icmp_rcv); after
// that every accessor is memory safe. Parsing allocates only on failure.
//
//   auto ip = parse_ipv4(pkt.data(), {.verify_checksum = true});
//   if (!ip) return ip.error();              // "bad IHL: 3 (minimum 5)" ...
//   if (ip->protocol() == kIpProtoTcp && ip->frag_offset() == 0)
//     if (auto tcp = parse_tcp(ip->payload())) use(tcp->dport());
//
// IPv6 is not supported yet: nfemu emulates IPv4 iptables only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <type_traits>

#include "packet/bytes.h"
#include "packet/checksum.h"
#include "util/result.h"

namespace nfemu::packet {

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoEsp = 50;
inline constexpr uint8_t kIpProtoAh = 51;

// Linux's dccp_packet_hdr_len: what a DCCP packet of this type carries
// between the generic header and its options. The acknowledgement
// subheader is 8 bytes even without extended sequence numbers; RESPONSE,
// RESET and the reserved types take 12.
constexpr size_t dccp_type_subheader_len(uint8_t type) {
  switch (type) {
    case 2: return 0;                                          // DATA
    case 3: case 4: case 5: case 6: case 8: case 9: return 8;  // ACK, DATAACK, CLOSEREQ, CLOSE, SYNC, SYNCACK
    case 0: return 4;                                          // REQUEST: service code
    default: return 12;
  }
}
inline constexpr uint8_t kIpProtoComp = 108;
inline constexpr size_t kIpv4MinHeader = 20;
inline constexpr size_t kIpv4MaxLength = 65535;
inline constexpr size_t kTcpMinHeader = 20;
// TCPOPT_MSS and TCPOLEN_MSS: the Maximum Segment Size option.
inline constexpr uint8_t kTcpOptMss = 2;
inline constexpr uint8_t kTcpOptLenMss = 4;
inline constexpr size_t kUdpHeader = 8;
inline constexpr size_t kIcmpHeader = 8;

// Base for the views: the span and the byte access used by the getters.
template <class Byte>
class ViewBase {
 public:
  static constexpr bool kMutable = !std::is_const_v<Byte>;
  ViewBase() = default;
  explicit ViewBase(std::span<Byte> b) : b_(b) {}
  std::span<Byte> bytes() const { return b_; }
  size_t size() const { return b_.size(); }

 protected:
  uint8_t u8(size_t off) const { return b_[off]; }
  uint16_t u16(size_t off) const { return load16(b_.data() + off); }
  uint32_t u32(size_t off) const { return load32(b_.data() + off); }
  void set8(size_t off, uint8_t v) const requires kMutable { b_[off] = v; }
  void set16(size_t off, uint16_t v) const requires kMutable { store16(b_.data() + off, v); }
  void set32(size_t off, uint32_t v) const requires kMutable { store32(b_.data() + off, v); }
  std::span<Byte> sub(size_t from, size_t to) const {
    if (to > b_.size()) to = b_.size();
    if (from > to) from = to;
    return b_.subspan(from, to - from);
  }
  std::span<Byte> b_;
};

// IPv4 header (RFC 791). Precondition: at least 20 bytes and IHL bytes.
// The span ends at Total Length after parse_ipv4 (link padding trimmed),
// except for the header embedded in an ICMP error, which is cut short.
template <class Byte>
class Ipv4ViewT : public ViewBase<Byte> {
  using B = ViewBase<Byte>;

 public:
  using B::B;
  template <class Other>
    requires(std::is_const_v<Byte> && !std::is_const_v<Other>)
  Ipv4ViewT(Ipv4ViewT<Other> o) : B(o.bytes()) {}  // NOLINT: mutable -> const

  uint8_t version() const { return B::u8(0) >> 4; }
  uint8_t ihl() const { return B::u8(0) & 0x0f; }  // in 32-bit words
  size_t header_len() const { return size_t{ihl()} * 4; }
  uint8_t tos() const { return B::u8(1); }
  uint16_t total_length() const { return B::u16(2); }
  uint16_t id() const { return B::u16(4); }
  uint16_t frag_field() const { return B::u16(6); }  // flags and offset
  bool rf() const { return frag_field() & 0x8000; }   // reserved ("evil") bit
  bool df() const { return frag_field() & 0x4000; }
  bool mf() const { return frag_field() & 0x2000; }
  uint16_t frag_offset() const { return frag_field() & 0x1fff; }  // 8-byte units
  size_t frag_offset_bytes() const { return size_t{frag_offset()} * 8; }
  bool is_fragment() const { return (frag_field() & 0x3fff) != 0; }
  uint8_t ttl() const { return B::u8(8); }
  uint8_t protocol() const { return B::u8(9); }
  uint16_t checksum() const { return B::u16(10); }
  uint32_t saddr() const { return B::u32(12); }
  uint32_t daddr() const { return B::u32(16); }
  size_t options_len() const { return header_len() - kIpv4MinHeader; }
  std::span<Byte> header() const { return B::sub(0, header_len()); }
  std::span<Byte> options() const { return B::sub(kIpv4MinHeader, header_len()); }
  // The transport bytes: from IHL to Total Length (or the span's end).
  std::span<Byte> payload() const { return B::sub(header_len(), total_length()); }

  uint16_t compute_checksum() const {
    return csum_finish(csum_sub(csum_bytes(header()), checksum()));
  }
  bool checksum_ok() const { return inet_checksum_ok(header()); }

  void set_version_ihl(uint8_t version, uint8_t ihl) const requires B::kMutable {
    B::set8(0, static_cast<uint8_t>(version << 4 | (ihl & 0x0f)));
  }
  void set_tos(uint8_t v) const requires B::kMutable { B::set8(1, v); }
  void set_total_length(uint16_t v) const requires B::kMutable { B::set16(2, v); }
  void set_id(uint16_t v) const requires B::kMutable { B::set16(4, v); }
  void set_frag_field(uint16_t v) const requires B::kMutable { B::set16(6, v); }
  void set_df(bool on) const requires B::kMutable { set_bit(0x4000, on); }
  void set_mf(bool on) const requires B::kMutable { set_bit(0x2000, on); }
  void set_frag_offset(uint16_t units) const requires B::kMutable {
    set_frag_field(static_cast<uint16_t>((frag_field() & 0xe000) | (units & 0x1fff)));
  }
  void set_ttl(uint8_t v) const requires B::kMutable { B::set8(8, v); }
  void set_protocol(uint8_t v) const requires B::kMutable { B::set8(9, v); }
  void set_checksum(uint16_t v) const requires B::kMutable { B::set16(10, v); }
  void set_saddr(uint32_t v) const requires B::kMutable { B::set32(12, v); }
  void set_daddr(uint32_t v) const requires B::kMutable { B::set32(16, v); }
  void update_checksum() const requires B::kMutable {
    set_checksum(0);
    set_checksum(inet_checksum(header()));
  }

 private:
  void set_bit(uint16_t bit, bool on) const requires B::kMutable {
    set_frag_field(static_cast<uint16_t>(on ? frag_field() | bit : frag_field() & ~bit));
  }
};

namespace tcp_flag {
inline constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10, kUrg = 0x20,
                         kEce = 0x40, kCwr = 0x80;
}

// TCP header (RFC 9293). Precondition: 20 bytes and data offset bytes.
template <class Byte>
class TcpViewT : public ViewBase<Byte> {
  using B = ViewBase<Byte>;

 public:
  using B::B;
  template <class Other>
    requires(std::is_const_v<Byte> && !std::is_const_v<Other>)
  TcpViewT(TcpViewT<Other> o) : B(o.bytes()) {}  // NOLINT

  uint16_t sport() const { return B::u16(0); }
  uint16_t dport() const { return B::u16(2); }
  uint32_t seq() const { return B::u32(4); }
  uint32_t ack_seq() const { return B::u32(8); }
  uint8_t data_offset() const { return B::u8(12) >> 4; }  // in 32-bit words
  size_t header_len() const { return size_t{data_offset()} * 4; }
  uint8_t reserved() const { return B::u8(12) & 0x0f; }  // incl. AE (RFC 3540 NS)
  uint8_t flags() const { return B::u8(13); }
  bool has(uint8_t flag) const { return flags() & flag; }
  uint16_t window() const { return B::u16(14); }
  uint16_t checksum() const { return B::u16(16); }
  uint16_t urg_ptr() const { return B::u16(18); }
  std::span<Byte> options() const { return B::sub(kTcpMinHeader, header_len()); }
  std::span<Byte> payload() const { return B::sub(header_len(), B::size()); }

  void set_sport(uint16_t v) const requires B::kMutable { B::set16(0, v); }
  void set_dport(uint16_t v) const requires B::kMutable { B::set16(2, v); }
  void set_seq(uint32_t v) const requires B::kMutable { B::set32(4, v); }
  void set_ack_seq(uint32_t v) const requires B::kMutable { B::set32(8, v); }
  void set_data_offset(uint8_t words) const requires B::kMutable {
    B::set8(12, static_cast<uint8_t>(words << 4 | reserved()));
  }
  void set_flags(uint8_t v) const requires B::kMutable { B::set8(13, v); }
  void set_window(uint16_t v) const requires B::kMutable { B::set16(14, v); }
  void set_checksum(uint16_t v) const requires B::kMutable { B::set16(16, v); }
  void set_urg_ptr(uint16_t v) const requires B::kMutable { B::set16(18, v); }
};

// UDP header (RFC 768). Precondition: 8 bytes.
template <class Byte>
class UdpViewT : public ViewBase<Byte> {
  using B = ViewBase<Byte>;

 public:
  using B::B;
  template <class Other>
    requires(std::is_const_v<Byte> && !std::is_const_v<Other>)
  UdpViewT(UdpViewT<Other> o) : B(o.bytes()) {}  // NOLINT

  uint16_t sport() const { return B::u16(0); }
  uint16_t dport() const { return B::u16(2); }
  uint16_t length() const { return B::u16(4); }
  uint16_t checksum() const { return B::u16(6); }  // 0: none was computed
  std::span<Byte> payload() const { return B::sub(kUdpHeader, length()); }

  void set_sport(uint16_t v) const requires B::kMutable { B::set16(0, v); }
  void set_dport(uint16_t v) const requires B::kMutable { B::set16(2, v); }
  void set_length(uint16_t v) const requires B::kMutable { B::set16(4, v); }
  void set_checksum(uint16_t v) const requires B::kMutable { B::set16(6, v); }
};

namespace icmp_type {
inline constexpr uint8_t kEchoReply = 0, kDestUnreach = 3, kSourceQuench = 4, kRedirect = 5, kEcho = 8,
                         kTimeExceeded = 11, kParameterProb = 12;
}
// The error types whose payload is the offending datagram (icmp_is_err()).
inline constexpr bool icmp_is_error(uint8_t type) {
  using namespace icmp_type;
  return type == kDestUnreach || type == kSourceQuench || type == kRedirect || type == kTimeExceeded ||
         type == kParameterProb;
}

// ICMP header (RFC 792). Precondition: 8 bytes. The second word means
// echo id/sequence, gateway, next-hop MTU or pointer depending on type.
template <class Byte>
class IcmpViewT : public ViewBase<Byte> {
  using B = ViewBase<Byte>;

 public:
  using B::B;
  template <class Other>
    requires(std::is_const_v<Byte> && !std::is_const_v<Other>)
  IcmpViewT(IcmpViewT<Other> o) : B(o.bytes()) {}  // NOLINT

  uint8_t type() const { return B::u8(0); }
  uint8_t code() const { return B::u8(1); }
  uint16_t checksum() const { return B::u16(2); }
  uint32_t rest() const { return B::u32(4); }
  uint16_t echo_id() const { return B::u16(4); }
  uint16_t echo_seq() const { return B::u16(6); }
  uint32_t gateway() const { return B::u32(4); }   // redirect
  uint16_t next_hop_mtu() const { return B::u16(6); }  // frag needed
  uint8_t pointer() const { return B::u8(4); }     // parameter problem
  bool is_error() const { return icmp_is_error(type()); }
  std::span<Byte> payload() const { return B::sub(kIcmpHeader, B::size()); }
  bool checksum_ok() const { return inet_checksum_ok(B::bytes()); }

  void set_type(uint8_t v) const requires B::kMutable { B::set8(0, v); }
  void set_code(uint8_t v) const requires B::kMutable { B::set8(1, v); }
  void set_checksum(uint16_t v) const requires B::kMutable { B::set16(2, v); }
  void set_rest(uint32_t v) const requires B::kMutable { B::set32(4, v); }
  void set_echo_id(uint16_t v) const requires B::kMutable { B::set16(4, v); }
  void set_echo_seq(uint16_t v) const requires B::kMutable { B::set16(6, v); }
  void update_checksum() const requires B::kMutable {
    set_checksum(0);
    set_checksum(inet_checksum(B::bytes()));
  }
};

using Ipv4View = Ipv4ViewT<uint8_t>;
using ConstIpv4View = Ipv4ViewT<const uint8_t>;
using TcpView = TcpViewT<uint8_t>;
using ConstTcpView = TcpViewT<const uint8_t>;
using UdpView = UdpViewT<uint8_t>;
using ConstUdpView = UdpViewT<const uint8_t>;
using IcmpView = IcmpViewT<uint8_t>;
using ConstIcmpView = IcmpViewT<const uint8_t>;

// Why ip_rcv would drop a datagram. Ok is the only accepting value.
enum class Ipv4Status : uint8_t { Ok, Truncated, BadVersion, BadIhl, BadTotalLength, BadChecksum };
std::string_view to_string(Ipv4Status s);

struct Ipv4ParseOptions {
  bool verify_checksum = false;
};

// The allocation-free check behind parse_ipv4, in ip_rcv's order: 20
// bytes, IHL >= 5 and version 4, IHL bytes, header checksum, Total Length
// within the buffer and not below IHL. On Ok, *length is Total Length.
Ipv4Status check_ipv4(std::span<const uint8_t> bytes, Ipv4ParseOptions opt, size_t* length);

// A view trimmed to Total Length (trailing link padding dropped), or an
// error naming the check that failed and the offending values.
Result<Ipv4View> parse_ipv4(std::span<uint8_t> bytes, Ipv4ParseOptions opt = {});
Result<ConstIpv4View> parse_ipv4(std::span<const uint8_t> bytes, Ipv4ParseOptions opt = {});

// Transport headers, given the IPv4 payload of a first fragment. TCP needs
// 20 bytes and a data offset in 5..15 that fits; UDP 8 bytes and a Length
// in 8..payload size (the view ends at Length); ICMP 8 bytes.
Result<TcpView> parse_tcp(std::span<uint8_t> l4);
Result<ConstTcpView> parse_tcp(std::span<const uint8_t> l4);
Result<UdpView> parse_udp(std::span<uint8_t> l4);
Result<ConstUdpView> parse_udp(std::span<const uint8_t> l4);
Result<IcmpView> parse_icmp(std::span<uint8_t> l4);
Result<ConstIcmpView> parse_icmp(std::span<const uint8_t> l4);

// What an ICMP error quotes: the offending IPv4 header (its Total Length
// still the original's, its span cut at what was quoted) and the transport
// bytes that follow it, usually 8 and possibly fewer or more.
template <class Byte>
struct IcmpQuoteT {
  Ipv4ViewT<Byte> ip;
  std::span<Byte> l4;
};
using IcmpQuote = IcmpQuoteT<uint8_t>;
using ConstIcmpQuote = IcmpQuoteT<const uint8_t>;

// Fails when the ICMP message is not an error or its payload does not hold
// a version 4 header with a valid IHL, as icmp_error_message() requires.
Result<IcmpQuote> parse_icmp_quote(IcmpView icmp);
Result<ConstIcmpQuote> parse_icmp_quote(ConstIcmpView icmp);

}  // namespace nfemu::packet
