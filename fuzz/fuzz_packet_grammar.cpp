// Parses arbitrary text with the scenario packet grammar. Invariants: an
// error has a column inside the text (or just past it); an accepted text
// builds a datagram that parses, verifies, prints, and prints to text
// that parses back to the same spec (a fragment: its spec prints back).
#include <cstdint>
#include <string_view>

#include "packet/grammar.h"
#include "packet/headers.h"
#include "packet/mangle.h"
#include "packet/sctp.h"

using namespace nfemu::packet;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = parse_packet_spec(text);
  if (!spec) {
    int col = spec.error().col;
    if (col < 1 || static_cast<size_t>(col) > size + 2 || spec.error().message.empty()) __builtin_trap();
    return 0;
  }
  Packet p = build_packet(*spec);
  auto ip = parse_ipv4(p.data(), {.verify_checksum = true});
  if (!ip || ip->size() != packet_length(*spec)) __builtin_trap();
  if (spec->is_fragment()) {
    // A fragment's bytes do not print back (spec_from_packet refuses
    // them); its spec does.
    auto again = parse_packet_spec(format_spec(*spec));
    if (!again || !(*again == *spec)) __builtin_trap();
    return 0;
  }
  // SCTP carries a CRC32c, not the Internet checksum; ESP, AH and IPComp
  // carry none; DCCP's (which check_l4_checksum does not know) the
  // grammar checked when it read the header.
  const bool ipsec = spec->kind == SpecKind::Esp || spec->kind == SpecKind::Ah || spec->kind == SpecKind::Ipcomp ||
                     spec->kind == SpecKind::Dccp;
  if (spec->kind == SpecKind::Sctp ? !sctp_checksum_ok(ip->payload())
                                   : !ipsec && check_l4_checksum(*ip) != L4Checksum::Ok)
    __builtin_trap();
  auto printed = format_packet(*ip);
  if (!printed) __builtin_trap();
  auto back = parse_packet_spec(*printed);
  if (!back) __builtin_trap();
  // A `type 8` / `type 0` spec prints in the echo form: compare bytes then.
  Packet q = build_packet(*back);
  if (q.size() != p.size() || !std::equal(q.data().begin(), q.data().end(), p.data().begin())) __builtin_trap();
  if (format_spec(*back) != *printed) __builtin_trap();
  return 0;
}
