// libFuzzer target for the NAT range parser (src/xtables/targets/nat_range.h)
// and the numeric address forms of xtopt_a.h: nothing may crash, and every
// accepted range must print back to text that parses to the same range, as
// iptables-save output must restore to the same rule. The one exception is
// iptables' own: a shifted single port ("80-80/5") saves as "80/5", which
// iptables-restore refuses (see tests/xtables/cases/DNAT.cases).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "xtables/targets/nat_range.h"
#include "xtables/targets/xtopt_a.h"

namespace {

bool round_trips(const nfemu::xt::NatRange& r) {
  return !((r.flags & nfemu::xt::kNatProtoOffset) && r.min_port == r.max_port);
}

bool same(const nfemu::xt::NatRange& a, const nfemu::xt::NatRange& b) {
  return a.flags == b.flags && a.min_ip == b.min_ip && a.max_ip == b.max_ip && a.min_port == b.min_port &&
         a.max_port == b.max_port && a.base_port == b.base_port;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nfemu::xt;
  std::string_view s(reinterpret_cast<const char*>(data), size);

  NatRange r;
  if (parse_nat_to(s, true, r) && round_trips(r)) {
    NatRange back;
    if (!parse_nat_to(r.text(false), true, back) || !same(r, back)) std::abort();
  }
  NatRange p;
  if (parse_nat_ports(s, true, p) && round_trips(p)) {
    NatRange back;
    if (!parse_nat_ports(p.text(true), true, back) || !same(p, back)) std::abort();
  }
  if (auto a = xtopt::inet_pton4(s)) {
    if (xtopt::inet_aton(s) != a) std::abort();  // dotted quads mean the same to both
    if (format_ipv4(*a) != s) std::abort();
  }
  (void)xtopt::inet_aton(s);
  (void)xtopt::strtoul_prefix(s, 0, 65535);
  std::string out;
  xtopt::save_string(out, s);
  return 0;
}
