// The scenario packet grammar (shared/spec/scenario.md, "Packet grammar"):
// text -> PacketSpec -> bytes, and bytes -> PacketSpec -> text.
//
//   tcp  SRC:SPORT > DST:DPORT [flags F] [seq N] [ack N] [win N] [mss N] [sackok]
//        [sack L:R[,L:R]...] [COMMON]
//   udp  SRC:SPORT > DST:DPORT [COMMON]
//   icmp SRC > DST echo-request|echo-reply [id N] [seq N] [COMMON]
//   icmp SRC > DST type N [code N] [COMMON]
//   esp  SRC > DST [spi N] [seq N] [COMMON]
//   ah   SRC > DST [spi N] [seq N] [COMMON]
//   ipcomp SRC > DST [cpi N] [COMMON]
//   dccp SRC:SPORT > DST:DPORT [type NAME] [opts N[,N]...] [COMMON]
//   COMMON := [ttl N] [tos N] [ipid N] [df] [payload N] [frag OFF[+LEN]] [mf]
//   tcp and udp also take [data "TEXT"]: the payload's bytes (docs/scenario-extensions.md)
//
// `mss N` gives a TCP segment a Maximum Segment Size option of N (kind 2,
// length 4), `sackok` a SACK-permitted option and `sack L:R,...` a SACK
// option of 1 to 4 blocks, each left and right edge a sequence number.
// They are laid out as Linux writes them: MSS first, then NOP, NOP,
// SACK-permitted, then NOP, NOP, SACK (at most 40 bytes of options).
// Without them a segment has no options.
//
// `esp` and `ah` packets carry only their header (SPI, default 256, and
// sequence number, default 1) and `payload` zero bytes after it: IPsec
// traffic as a firewall between the peers sees it. An AH header says "no
// next header" (59) and has no integrity check value. An `ipcomp` header
// (RFC 3173) is next header 59, flags 0 and the 16-bit CPI (default 256).
//
// A `dccp` packet (RFC 4340) has extended sequence numbers (X = 1,
// sequence number 1), the zeroed subheader its type carries as Linux lays
// it out (acknowledgement 8 bytes, service code 4, reset code 4), then
// `opts`: option bytes as given (the last one not 0), padded with zeros
// (Padding) to a multiple of 4, then `payload` zeros. Type names are
// iptables' (REQUEST, default, RESPONSE, DATA, ACK, DATAACK, CLOSEREQ,
// CLOSE, RESET, SYNC, SYNCACK) or a number up to 15. The checksum covers
// the whole packet (CsCov 0).
//
// `frag` and `mf` make a fragment: the datagram the rest describes is
// built whole (its checksums cover all of it), then only LEN bytes (all
// to the end without +LEN) from byte OFF of what follows its IP header
// are sent, with fragment offset OFF (a multiple of 8) and More Fragments
// if `mf`.
//
// Options may come in any order, each at most once. Without `flags` a TCP
// segment has no flag set. Errors carry the 1-based column (Error::col,
// line 0) of the offending word, or of the offending part of an
// ADDRESS:PORT word or of a flags letter; the caller adds the line.
//
//   auto spec = parse_packet_spec("tcp 198.51.100.10:40000 > 203.0.113.4:80 flags S");
//   if (!spec) return spec.error();            // "port out of range: 70000" at col 31
//   Packet p = build_packet(*spec);            // checksums computed
//   format_packet(p.ip());                     // the same text back
#pragma once

#include <array>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "packet/headers.h"
#include "packet/packet.h"
#include "util/result.h"

namespace nfemu::packet {

enum class SpecKind : uint8_t { Tcp, Udp, IcmpEcho, IcmpType, Sctp, Esp, Ah, Ipcomp, Dccp };

struct PacketSpec {
  SpecKind kind = SpecKind::Tcp;
  uint32_t src = 0;  // host order
  uint32_t dst = 0;
  // tcp, udp
  uint16_t sport = 0;
  uint16_t dport = 0;
  // tcp
  uint8_t tcp_flags = 0;  // tcp_flag::k*
  uint32_t seq = 1000;  // also the sequence number of esp and ah (default 1)
  uint32_t ack = 0;
  uint16_t win = 64240;
  bool has_mss = false;  // an MSS option of value mss
  uint16_t mss = 0;
  bool sack_perm = false;  // `sackok`
  bool has_ts = false;  // `ts VAL:ECR`: a timestamps option
  uint32_t tsval = 0, tsecr = 0;
  bool has_wscale = false;  // `wscale N`: a window scale option of shift N
  uint8_t wscale = 0;
  // `sack`: nsack blocks of (left edge, right edge)
  static constexpr size_t kMaxSackBlocks = 4;
  uint8_t nsack = 0;
  std::array<std::array<uint32_t, 2>, kMaxSackBlocks> sack{};
  // icmp: IcmpEcho uses type 8 (echo-request) or 0 (echo-reply), code 0
  uint8_t icmp_type = icmp_type::kEcho;
  uint8_t icmp_code = 0;
  uint16_t echo_id = 1;
  uint16_t echo_seq = 1;
  uint32_t icmp_rest = 0;  // IcmpType: the second header word; not in the grammar
  // sctp: the common header's verification tag, the chunks in order (type,
  // flags), the initiate tag of INIT and INIT ACK chunks. `payload` is the
  // user data of the first DATA chunk.
  static constexpr size_t kMaxChunks = 8;
  uint32_t vtag = 0;
  uint32_t init_tag = 1;
  uint8_t nchunks = 0;
  std::array<uint8_t, kMaxChunks> chunk_type{};
  std::array<uint8_t, kMaxChunks> chunk_flags{};
  // esp, ah: the Security Parameters Index; ipcomp: the CPI (16 bits)
  uint32_t spi = 256;
  // dccp: the packet type (DCCP_PKT_*) and the option bytes
  uint8_t dccp_type = 0;
  std::vector<uint8_t> dccp_opts;
  // common
  uint8_t ttl = 64;
  uint8_t tos = 0;
  uint16_t ipid = 1;
  bool df = false;
  uint32_t payload = 0;  // bytes after the transport header: zeros, or `data`
  // `data "TEXT"` (TCP, UDP): the payload's bytes, payload == data.size().
  // Empty for zero bytes, so a spec without text allocates nothing and an
  // all-zero payload has one form (payload N).
  std::string data;
  // fragment: bytes frag_off .. frag_off + frag_len of the IP payload
  uint16_t frag_off = 0;
  uint32_t frag_len = kFragToEnd;
  bool mf = false;

  static constexpr uint32_t kFragToEnd = UINT32_MAX;
  bool is_fragment() const { return frag_off != 0 || frag_len != kFragToEnd || mf; }

  bool operator==(const PacketSpec&) const = default;
};

// The spec's defaults for a kind (payload 56 for ICMP echo, else 0).
PacketSpec default_spec(SpecKind kind);

Result<PacketSpec> parse_packet_spec(std::string_view text);

// Total Length of the datagram the spec describes.
size_t packet_length(const PacketSpec& spec);
// Writes the datagram into out (out.size() >= packet_length(spec)) with
// every checksum computed; returns its length. No allocation.
size_t build_packet(const PacketSpec& spec, std::span<uint8_t> out);
Packet build_packet(const PacketSpec& spec);
// parse_packet_spec then build_packet.
Result<Packet> parse_packet(std::string_view text);

// Canonical text: options in grammar order, only those that differ from
// the defaults. parse_packet_spec(format_spec(s)) == s, icmp_rest aside.
std::string format_spec(const PacketSpec& spec);

// The spec that builds exactly these bytes, or why none can: IP options,
// fragments, TCP options other than MSS, SACK-permitted, timestamps, window
// scale and SACK laid out as
// build_packet does, a wrong or absent checksum...
Result<PacketSpec> spec_from_packet(ConstIpv4View ip);
// spec_from_packet then format_spec.
Result<std::string> format_packet(ConstIpv4View ip);

// An ICMP error (spec.kind IcmpType with an error type: 3, 4, 5, 11, 12)
// quoting the offending datagram from its IP header on. As icmp_send, the
// quote is cut so that the whole error is at most max_len bytes (576 in
// the kernel; 20 + 8 + IHL + 8 gives the RFC 792 minimum). spec.payload is
// ignored; spec.icmp_rest gives the MTU, pointer or gateway word.
Result<Packet> build_icmp_error(const PacketSpec& spec, ConstIpv4View offending, size_t max_len = 576);

}  // namespace nfemu::packet
