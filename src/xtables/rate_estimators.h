// The rate estimators of a network namespace (xt_RATEEST.c over
// net/core/gen_estimator.c): made by `-j RATEEST --rateest-name NAME` rules,
// which count every packet they see into them; read by `-m rateest` rules.
//
// An estimator measures its bytes and packets every period (250 ms << (interval
// + 2), in jiffies: (HZ / 4) << (interval + 2), so 248 ms at this kernel's HZ
// of 250) and keeps an exponentially weighted average of the rates, weight
// 2^-ewma_log, scaled by 2^8 (est_timer). The kernel runs a timer per
// estimator from the moment its rule is loaded; nfemu loads every ruleset at
// virtual time 0, so the k-th update falls at k periods, and updates are
// made lazily: before a packet is counted and before a rate is read, every
// update due by then is applied. Idle periods after the average has settled
// cost nothing (an update with no traffic changes nothing once both
// averages are below 2^ewma_log: the kernel's estimate never decays to 0).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace nfemu::xt {

// xt_rateest_target_info: interval in [-2, 3] (period 250 ms << (interval
// + 2)), ewma_log in [1, 30].
struct RateEstimatorParams {
  int8_t interval = 0;
  uint8_t ewma_log = 0;
  bool operator==(const RateEstimatorParams&) const = default;
};

// IFNAMSIZ with the NUL: iptables cuts a longer name.
constexpr size_t kRateEstNameMax = 15;

// CONFIG_HZ of the kernel nfemu models (Debian's 6.x kernels): one jiffy.
constexpr uint64_t kEstJiffyNs = 4'000'000;

// A double stored into a C unsigned int as gcc does it on x86-64 (cvttsd2si
// to 64 bits, then the low 32): how libxt_RATEEST and libxt_rateest store
// the times and rates they parse with strtod. A negative value wraps; one
// out of the 64-bit range (or NaN) becomes 0.
inline uint32_t c_double_to_u32(double v) {
  if (!(v > -9.2e18 && v < 9.2e18)) return 0;
  return static_cast<uint32_t>(static_cast<uint64_t>(static_cast<int64_t>(v)));
}

// One estimator's state (struct net_rate_estimator and its xt_rateest).
class RateEstimator {
 public:
  explicit RateEstimator(RateEstimatorParams p);
  const RateEstimatorParams& params() const { return params_; }
  uint64_t period_ns() const { return period_ns_; }
  // xt_rateest_tg: one packet of len bytes (skb->len) at virtual time now.
  void count(uint64_t now_ns, uint32_t len);
  // gen_estimator_read: bytes and packets per second at now.
  struct Sample {
    uint64_t bps = 0, pps = 0;
  };
  Sample read(uint64_t now_ns);
  uint64_t bytes() const { return bytes_; }
  uint64_t packets() const { return packets_; }

 private:
  void advance(uint64_t now_ns);
  RateEstimatorParams params_;
  uint64_t period_ns_;
  uint64_t next_ns_;  // when the next update is due
  uint64_t bytes_ = 0, packets_ = 0;
  uint64_t last_bytes_ = 0, last_packets_ = 0;
  uint64_t avbps_ = 0, avpps_ = 0;
};

// The namespace's estimators at run time, by name. A rule keeps the index
// its estimator has here (the first packet looks the name up once).
class RateEstimators {
 public:
  // The estimator NAME, made with p if there is none yet (the first
  // RATEEST rule to see a packet; the load-time check made sure that every
  // RATEEST rule of a name has the same parameters).
  size_t find_or_add(std::string_view name, RateEstimatorParams p);
  // -1 when no RATEEST rule of that name has counted yet.
  long find(std::string_view name) const;
  size_t size() const { return entries_.size(); }
  std::string_view name(size_t i) const { return entries_[i].name; }
  RateEstimator& at(size_t i) { return entries_[i].est; }

 private:
  struct Entry {
    std::string name;
    RateEstimator est;
  };
  std::vector<Entry> entries_;
};

// What the kernel's estimator table holds while it checks a table being
// loaded: the estimators the loaded tables' rules hold (the old version of
// the table being replaced included: it is freed only after the new one is
// in; a -m rateest rule holds its estimators too, so one outlives the last
// RATEEST rule of its name), then those the new table's RATEEST rules make,
// in the order the kernel checks the rules (see Table::verify).
class RateEstimatorScope {
 public:
  // xt_rateest_tg_checkentry: a new name makes an estimator; a known one
  // must come with the same parameters (EINVAL).
  Result<void> declare(std::string_view name, RateEstimatorParams p);
  // xt_rateest_lookup, for xt_rateest_mt_checkentry (ENOENT when absent):
  // the estimator's parameters.
  std::optional<RateEstimatorParams> find(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, RateEstimatorParams>> known_;
};

}  // namespace nfemu::xt
