#include "packet/sctp.h"

#include <array>

namespace nfemu::packet {

namespace {

constexpr std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kTable = make_table();

constexpr size_t kChecksumOffset = 8;

struct Named {
  uint8_t type;
  std::string_view name;
};
// libxt_sctp's sctp_chunk_names (the packet grammar's chunk names).
constexpr Named kNames[] = {
    {sctp_cid::kData, "DATA"},
    {sctp_cid::kInit, "INIT"},
    {sctp_cid::kInitAck, "INIT_ACK"},
    {sctp_cid::kSack, "SACK"},
    {sctp_cid::kHeartbeat, "HEARTBEAT"},
    {sctp_cid::kHeartbeatAck, "HEARTBEAT_ACK"},
    {sctp_cid::kAbort, "ABORT"},
    {sctp_cid::kShutdown, "SHUTDOWN"},
    {sctp_cid::kShutdownAck, "SHUTDOWN_ACK"},
    {sctp_cid::kError, "ERROR"},
    {sctp_cid::kCookieEcho, "COOKIE_ECHO"},
    {sctp_cid::kCookieAck, "COOKIE_ACK"},
    {sctp_cid::kEcne, "ECN_ECNE"},
    {sctp_cid::kCwr, "ECN_CWR"},
    {sctp_cid::kShutdownComplete, "SHUTDOWN_COMPLETE"},
    {sctp_cid::kIData, "I_DATA"},
    {sctp_cid::kReconf, "RE_CONFIG"},
    {sctp_cid::kPadding, "PAD"},
    {sctp_cid::kAsconf, "ASCONF"},
    {sctp_cid::kAsconfAck, "ASCONF_ACK"},
    {sctp_cid::kForwardTsn, "FORWARD_TSN"},
    {sctp_cid::kIForwardTsn, "I_FORWARD_TSN"},
};

}  // namespace

std::string_view sctp_chunk_name(uint8_t type) {
  for (const auto& n : kNames)
    if (n.type == type) return n.name;
  return {};
}

int sctp_chunk_type(std::string_view name) {
  for (const auto& n : kNames)
    if (n.name == name) return n.type;
  return -1;
}

uint32_t sctp_crc32c(std::span<const uint8_t> p) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < p.size(); ++i) {
    const uint8_t b = (i >= kChecksumOffset && i < kChecksumOffset + 4) ? 0 : p[i];
    c = kTable[(c ^ b) & 0xff] ^ (c >> 8);
  }
  return ~c;
}

bool sctp_checksum_ok(std::span<const uint8_t> p) {
  if (p.size() < kSctpHeader) return false;
  const uint32_t want = sctp_crc32c(p);
  const uint8_t* f = p.data() + kChecksumOffset;
  const uint32_t have = uint32_t{f[0]} | uint32_t{f[1]} << 8 | uint32_t{f[2]} << 16 | uint32_t{f[3]} << 24;
  return want == have;
}

void sctp_fill_checksum(std::span<uint8_t> p) {
  if (p.size() < kSctpHeader) return;
  const uint32_t c = sctp_crc32c(p);
  uint8_t* f = p.data() + kChecksumOffset;
  f[0] = static_cast<uint8_t>(c);
  f[1] = static_cast<uint8_t>(c >> 8);
  f[2] = static_cast<uint8_t>(c >> 16);
  f[3] = static_cast<uint8_t>(c >> 24);
}

}  // namespace nfemu::packet
