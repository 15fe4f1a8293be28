// Differential target for the checksum code: every csum_bytes
// implementation this CPU runs (checksum_impl.h) against a byte-at-a-time
// definition, for the input at every start offset 0..3 and an initial sum
// taken from its first bytes; check_l4_checksum against the kernel's test
// (nf_ip_checksum: the whole datagram from its IP header on, with the
// pseudo header for TCP and UDP, sums to -0), on the input as an IPv4
// datagram.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "packet/checksum.h"
#include "packet/checksum_impl.h"
#include "packet/headers.h"
#include "packet/mangle.h"

using namespace nfemu::packet;

namespace {

uint32_t reference_sum(std::span<const uint8_t> d, uint32_t sum) {
  uint64_t s = sum;
  for (size_t i = 0; i < d.size(); ++i) s += i % 2 == 0 ? uint64_t{d[i]} << 8 : d[i];
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return static_cast<uint32_t>(s);
}

L4Checksum reference_check(ConstIpv4View ip) {
  if (!compute_l4_checksum(ip)) return L4Checksum::Unchecked;
  uint8_t proto = ip.protocol();
  size_t off = proto == kIpProtoTcp ? 16 : proto == kIpProtoUdp ? 6 : 2;
  uint16_t have = load16(ip.payload().data() + off);
  if (proto == kIpProtoUdp && have == 0) return L4Checksum::None;
  uint64_t s = 0;
  if (proto != kIpProtoIcmp) {
    uint8_t pseudo[12];
    std::memcpy(pseudo, ip.header().data() + 12, 8);
    pseudo[8] = 0;
    pseudo[9] = proto;
    pseudo[10] = static_cast<uint8_t>(ip.payload().size() >> 8);
    pseudo[11] = static_cast<uint8_t>(ip.payload().size());
    s = reference_sum(pseudo, 0);
  }
  // The IP header's sum: -0 when its checksum is right (a wrong one never
  // reaches conntrack: ip_rcv drops it). It turns a +0 into -0.
  s += 0xffff;
  s += reference_sum(ip.payload(), 0);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return s == 0xffff ? L4Checksum::Ok : L4Checksum::Bad;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint32_t sum = 0;
  if (size >= 4) std::memcpy(&sum, data, 4);
  using detail::CsumImpl;
  for (size_t off = 0; off < 4 && off <= size; ++off) {
    std::span<const uint8_t> d(data + off, size - off);
    uint32_t want = reference_sum(d, sum);
    if (csum_bytes(d, sum) != want) std::abort();
    for (CsumImpl impl : {CsumImpl::Scalar, CsumImpl::Avx2})
      if (detail::csum_impl_available(impl) && detail::csum_bytes_using(impl, d, sum) != want) std::abort();
  }
  std::vector<uint8_t> buf(data, data + size);
  size_t len = 0;
  if (check_ipv4(buf, {.verify_checksum = true}, &len) == Ipv4Status::Ok ||
      check_ipv4(buf, {}, &len) == Ipv4Status::Ok) {
    ConstIpv4View ip(std::span<const uint8_t>(buf).first(len));
    if (check_l4_checksum(ip) != reference_check(ip)) std::abort();
    bool verified = check_ipv4(buf, {.verify_checksum = true}, &len) == Ipv4Status::Ok;
    if (verified != inet_checksum_ok(ip.header())) std::abort();
  }
  return 0;
}
