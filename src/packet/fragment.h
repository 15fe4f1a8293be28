// IPv4 fragmentation as ip_do_fragment's slow path does it (net/ipv4/
// ip_output.c): each fragment carries at most mtu - header bytes of
// payload, a multiple of 8 except the last; all keep the ID, MF is set on
// all but the last (and on the last too when the datagram was itself a
// non-last fragment), offsets add to the datagram's own; later fragments
// copy only the options whose copied flag is set (the others become NOOPs,
// ip_options_fragment), and every header gets a fresh checksum.
//
//   fragment_ipv4(pkt.data(), 1500, [&](std::span<const uint8_t> f) { send(f); });
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

namespace nfemu::packet {

// Calls emit once per fragment, first to last. Returns false (no call)
// when the datagram fits in mtu or no payload byte fits in a fragment.
bool fragment_ipv4(std::span<const uint8_t> dgram, size_t mtu,
                   const std::function<void(std::span<const uint8_t>)>& emit);

}  // namespace nfemu::packet
