// SHA-256 (FIPS 180-4), only for deriving default MAC addresses from
// `HOST/IFNAME`: a few bytes hashed once per interface at load time, so a
// small self-contained implementation beats a crypto library dependency.
//
//   auto d = scenario::sha256("fw/eth0");   // same bytes as `printf 'fw/eth0' | sha256sum`
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace nfemu::scenario {

using Sha256Digest = std::array<uint8_t, 32>;

Sha256Digest sha256(std::string_view data);
std::string to_hex(const Sha256Digest& d);

}  // namespace nfemu::scenario
