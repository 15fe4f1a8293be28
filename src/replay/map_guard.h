// A read-only file mapping that survives the file being cut while mapped.
//
// Reading a page of a shared file mapping past the file's end raises
// SIGBUS: a capture truncated while replay reads it (a rotating tcpdump,
// a user's `truncate`) would kill the process where libpcap's fread only
// sees a short read. A MapGuard registers the mapping with a SIGBUS
// handler that, for an address inside it, maps zero pages over the rest
// of the mapping and sets the guard's `cut` flag; the faulting read then
// goes on with zeros and the reader, checking the flag before it trusts
// a record, hands the rest of the file to libpcap (which reports the cut
// as a truncated capture). Faults outside every guard go to the handler
// that was there before.
//
// Slots are few and fixed (the handler may not allocate or lock); with
// none left, watch() returns nullptr and the caller reads without a map.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace nfemu::replay {

class MapGuard {
 public:
  // Registers [base, base + size) (base page-aligned, as mmap returns).
  static MapGuard* watch(const uint8_t* base, size_t size);
  // Unregisters; call before unmapping.
  void release();
  // Whether a read past the file's end was turned into zeros.
  bool cut() const { return cut_.load(std::memory_order_relaxed); }
  // After the reader has dealt with a cut (a later, shorter cut sets it again).
  void clear_cut() { cut_.store(false, std::memory_order_relaxed); }

  static constexpr size_t kSlots = 64;

 private:
  friend struct MapGuardHandler;
  std::atomic<uintptr_t> begin_{0};  // 0: the slot is free
  std::atomic<uintptr_t> end_{0};
  std::atomic<bool> cut_{false};
};

}  // namespace nfemu::replay
