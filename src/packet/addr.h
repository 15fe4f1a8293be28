// IPv4 and MAC addresses as plain values, with strict text forms.
//
// IPv4 addresses are host-order uint32_t (198.51.100.10 is 0xc633640a),
// as the header views return them. MACs are 6-byte arrays.
//
//   auto a = parse_ipv4_addr("198.51.100.10");      // std::optional<uint32_t>
//   auto m = parse_mac("02:00:00:00:00:01");        // std::optional<Mac>
//   format_ipv4_addr(*a); format_mac(*m);
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nfemu::packet {

using Mac = std::array<uint8_t, 6>;

// Four decimal parts 0..255, no leading zeros (inet_aton's octal and
// shortened forms are refused: they are mistakes in a scenario file).
std::optional<uint32_t> parse_ipv4_addr(std::string_view s);
std::string format_ipv4_addr(uint32_t addr);
// Writes the dotted quad into out (at least 16 bytes) without allocating;
// returns the length.
size_t format_ipv4_addr(uint32_t addr, char* out);

// Six two-digit hex bytes separated by ':' (either case); formats lower case.
std::optional<Mac> parse_mac(std::string_view s);
std::string format_mac(const Mac& mac);
// Writes the 17 characters into out (at least 17 bytes, no NUL) without
// allocating; returns 17.
constexpr size_t kMacTextLen = 17;
size_t format_mac(const Mac& mac, char* out);

}  // namespace nfemu::packet
