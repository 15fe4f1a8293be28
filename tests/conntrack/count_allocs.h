// Heap allocations counted by a replaced global operator new, for the
// tests that hold the conntrack hot path to "no allocation per packet".
// count_allocs.cpp holds the replacement; link it into the test binary.
//
//   size_t n = nfemu::testing::allocations_during([&] { round(); });
#pragma once

#include <cstddef>
#include <functional>

namespace nfemu::testing {

// How many times operator new ran while fn ran (fn itself is not copied).
size_t allocations_during(const std::function<void()>& fn);

}  // namespace nfemu::testing
