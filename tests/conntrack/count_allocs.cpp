// The replaced global operator new behind count_allocs.h.
#include "count_allocs.h"

#include <atomic>
#include <cstdlib>
#include <new>

namespace {
std::atomic<bool> g_counting{false};
std::atomic<size_t> g_allocs{0};
}  // namespace

// [[gnu::noinline]]: were these bodies inlined at a call site, GCC 12 would
// see std::free() paired with the library's operator new and give a false
// -Wmismatched-new-delete; out of line, new pairs with delete as written.
[[gnu::noinline]] void* operator new(size_t n) {
  if (g_counting) ++g_allocs;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace nfemu::testing {

size_t allocations_during(const std::function<void()>& fn) {
  g_allocs = 0;
  g_counting = true;
  fn();
  g_counting = false;
  return g_allocs.load();
}

}  // namespace nfemu::testing
