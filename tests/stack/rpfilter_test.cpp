// fib_validate_source as the rp-filter-modes scenario saw it on kernel 6.18:
// strict drops a source routed out of another interface, loose accepts any
// source with a unicast route back but drops one without route, and a
// local address as source is martian unless accept_local.
#include "stack/rpfilter.h"

#include <gtest/gtest.h>

namespace nfemu::stack {
namespace {

Fib fw() {
  Fib f;
  f.add_address("i0", 0xc6336401, 24);  // 198.51.100.1/24
  f.add_address("e0", 0xcb007101, 24);  // 203.0.113.1/24
  EXPECT_TRUE(f.add({.dst = 0x64400000, .plen = 24, .gateway = 0xc63364fe, .dev = "i0"}).ok());
  return f;
}

TEST(RpFilter, StrictAndLoose) {
  Fib f = fw();
  SourcePolicy strict{.rp_filter = 1}, loose{.rp_filter = 2};
  EXPECT_TRUE(validate_source(f, 0xc6336409, "e0", strict));    // 198.51.100.9 routed via i0
  EXPECT_FALSE(validate_source(f, 0xcb007109, "e0", strict));   // 203.0.113.9 via e0
  EXPECT_FALSE(validate_source(f, 0xcb007109, "i0", loose));    // any route back will do
  EXPECT_TRUE(validate_source(f, 0xc0000209, "i0", loose));     // 192.0.2.9: no route
  EXPECT_FALSE(validate_source(f, 0x64400009, "i0", strict));   // via the gateway on i0
  EXPECT_FALSE(validate_source(f, 0xc0000209, "i0", {}));       // rp_filter off
}

TEST(RpFilter, LocalSourcesAreMartian) {
  Fib f = fw();
  EXPECT_TRUE(validate_source(f, 0xcb007101, "i0", {}));
  EXPECT_FALSE(validate_source(f, 0xcb007101, "i0", {.accept_local = true}));
  EXPECT_TRUE(validate_source(f, 0xcb007101, "i0", {.rp_filter = 2}));
  EXPECT_FALSE(validate_source(f, 0xcb007101, "e0", {.rp_filter = 2, .accept_local = true}));
}

TEST(RpFilter, EarlyMartians) {
  EXPECT_TRUE(early_martian_source(0, 0xcb007101));
  EXPECT_FALSE(early_martian_source(0, 0xffffffffu));  // DHCP discover
  EXPECT_TRUE(early_martian_source(0xe0000001, 0xcb007101));
  EXPECT_TRUE(early_martian_source(0xffffffffu, 0xcb007101));
  EXPECT_FALSE(early_martian_source(0xc6336409, 0xcb007101));
}

}  // namespace
}  // namespace nfemu::stack
