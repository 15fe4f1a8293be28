// SCTP (RFC 9260) as far as netfilter reads it: the common header, the
// chunk headers it walks, and the CRC32c checksum (RFC 9260 appendix A)
// that conntrack verifies and NAT recomputes.
//
// The common header is sport, dport, verification tag, checksum. The
// checksum is stored as the kernel stores sctp_compute_cksum(): the CRC's
// four bytes least significant first.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace nfemu::packet {

inline constexpr uint8_t kIpProtoSctp = 132;
inline constexpr size_t kSctpHeader = 12;
inline constexpr size_t kSctpChunkHeader = 4;
// The fixed part of an INIT or INIT ACK chunk after its chunk header:
// initiate tag, a_rwnd, outbound and inbound streams, initial TSN.
inline constexpr size_t kSctpInitFixed = 16;

// Chunk types netfilter names (SCTP_CID_*).
namespace sctp_cid {
inline constexpr uint8_t kData = 0, kInit = 1, kInitAck = 2, kSack = 3, kHeartbeat = 4, kHeartbeatAck = 5, kAbort = 6,
                         kShutdown = 7, kShutdownAck = 8, kError = 9, kCookieEcho = 10, kCookieAck = 11, kEcne = 12,
                         kCwr = 13, kShutdownComplete = 14, kAuth = 15, kIData = 64, kAsconfAck = 0x80, kReconf = 130,
                         kPadding = 132, kForwardTsn = 0xc0, kAsconf = 0xc1, kIForwardTsn = 0xc2;
}
// The T bit of ABORT and SHUTDOWN COMPLETE: the sender reflected the tag.
inline constexpr uint8_t kSctpChunkFlagT = 0x01;

// The chunk names the packet grammar and libxt_sctp use ("DATA",
// "INIT_ACK", ...); empty for a type without one.
std::string_view sctp_chunk_name(uint8_t type);
// The type of a name (case-sensitive, as libxt_sctp), or -1.
int sctp_chunk_type(std::string_view name);

// CRC32c (Castagnoli, reflected, as the kernel's crc32c(~0, ...) then ~)
// of an SCTP packet whose checksum field is taken as zero.
uint32_t sctp_crc32c(std::span<const uint8_t> sctp_packet);
// The checksum field's value as load32-free bytes: true when it holds
// the CRC of the packet.
bool sctp_checksum_ok(std::span<const uint8_t> sctp_packet);
// Writes the CRC into the checksum field (the packet must hold a whole header).
void sctp_fill_checksum(std::span<uint8_t> sctp_packet);

}  // namespace nfemu::packet
