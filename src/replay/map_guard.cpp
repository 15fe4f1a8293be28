#include "replay/map_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <mutex>

namespace nfemu::replay {

namespace {
std::array<MapGuard, MapGuard::kSlots> slots;
struct sigaction previous;
std::once_flag installed;
std::mutex watching;  // watch() against watch(); the handler only reads
uintptr_t page_size = 4096;
}  // namespace

struct MapGuardHandler {
  // Only async-signal-safe work: atomics, mmap, sigaction.
  static void on_sigbus(int sig, siginfo_t* info, void* ucontext) {
    const auto addr = reinterpret_cast<uintptr_t>(info->si_addr);
    for (MapGuard& g : slots) {
      const uintptr_t begin = g.begin_.load(std::memory_order_acquire);
      if (begin == 0 || addr < begin || addr >= g.end_.load(std::memory_order_relaxed)) continue;
      const uintptr_t page = page_size;
      const uintptr_t from = addr / page * page;
      const uintptr_t end = (g.end_.load(std::memory_order_relaxed) + page - 1) / page * page;
      // Zero pages from the fault to the mapping's end: every later read
      // there is past the file's end too. MAP_FIXED replaces them in place.
      void* m = mmap(reinterpret_cast<void*>(from), end - from, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
                     -1, 0);
      if (m == MAP_FAILED) break;
      g.cut_.store(true, std::memory_order_relaxed);
      return;
    }
    // Not ours: the handler before this one (or the default action, a
    // core dump) takes the fault when the instruction runs again.
    if (previous.sa_flags & SA_SIGINFO) {
      if (previous.sa_sigaction) return previous.sa_sigaction(sig, info, ucontext);
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
      return previous.sa_handler(sig);
    }
    sigaction(SIGBUS, &previous, nullptr);
  }
};

MapGuard* MapGuard::watch(const uint8_t* base, size_t size) {
  std::call_once(installed, [] {
    page_size = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    struct sigaction sa {};
    sa.sa_sigaction = &MapGuardHandler::on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &previous);
  });
  std::lock_guard lock(watching);
  for (MapGuard& g : slots) {
    if (g.begin_.load(std::memory_order_relaxed) != 0) continue;
    // begin_ last: the handler reads it first (acquire), then the rest.
    g.end_.store(reinterpret_cast<uintptr_t>(base) + size, std::memory_order_relaxed);
    g.cut_.store(false, std::memory_order_relaxed);
    g.begin_.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    return &g;
  }
  return nullptr;
}

void MapGuard::release() { begin_.store(0, std::memory_order_release); }

}  // namespace nfemu::replay
