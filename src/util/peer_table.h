// Per-address state of the peers a host talks to, as the kernel keeps it
// in inet_peer entries (ICMP rate-limit buckets, redirect pacing, the
// fragment id counter of ipfrag_max_dist).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace nfemu {

// Open addressing, linear probing. The owner says after how long idle a
// peer's state is the same as a new peer's (every bucket refilled, every
// counter that matters restarted); such peers may be forgotten. When the
// table is half full they are swept into the second table, which grows
// only when that left it more than 3/8 full, so sweeps stay rare: a host
// answering peer after peer allocates only while more are active at once.
template <typename V>
class PeerTable {
 public:
  explicit PeerTable(int64_t forget_after) : forget_after_(forget_after) {}

  // addr's state; a new one is fresh(). `now` (in forget_after's unit)
  // marks it seen.
  template <typename Fresh>
  V& get(uint32_t addr, int64_t now, Fresh&& fresh) {
    if (!slots_.empty()) {
      for (size_t i = slot_of(addr, slots_.size());; i = (i + 1) & (slots_.size() - 1)) {
        Slot& s = slots_[i];
        if (!s.used) break;
        if (s.addr == addr) {
          s.seen = now;
          return s.value;
        }
      }
    }
    if (2 * (used_ + 1) > slots_.size()) {
      if (!slots_.empty()) rebuild(now, slots_.size());
      if (8 * (used_ + 1) > 3 * slots_.size()) rebuild(now, slots_.empty() ? 64 : 2 * slots_.size());
    }
    size_t i = slot_of(addr, slots_.size());
    while (slots_[i].used) i = (i + 1) & (slots_.size() - 1);
    slots_[i] = Slot{addr, true, now, fresh()};
    ++used_;
    return slots_[i].value;
  }

  size_t size() const { return used_; }

 private:
  struct Slot {
    uint32_t addr = 0;
    bool used = false;
    int64_t seen = 0;
    V value{};
  };
  static size_t slot_of(uint32_t addr, size_t size) { return (addr * 0x9e3779b1u) >> 7 & (size - 1); }
  // Into a table of `size` slots (a power of two), without the idle peers.
  void rebuild(int64_t now, size_t size) {
    spare_.assign(size, Slot{});
    used_ = 0;
    for (const Slot& s : slots_) {
      if (!s.used || now - s.seen >= forget_after_) continue;
      size_t i = slot_of(s.addr, size);
      while (spare_[i].used) i = (i + 1) & (size - 1);
      spare_[i] = s;
      ++used_;
    }
    slots_.swap(spare_);
  }

  int64_t forget_after_;
  std::vector<Slot> slots_, spare_;
  size_t used_ = 0;
};

}  // namespace nfemu
