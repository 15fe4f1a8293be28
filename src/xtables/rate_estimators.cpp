#include "xtables/rate_estimators.h"

#include <fmt/format.h>

namespace nfemu::xt {

RateEstimator::RateEstimator(RateEstimatorParams p) : params_(p) {
  // (HZ / 4) << intvl_log jiffies: HZ / 4 is 62 at HZ 250, not 62.5.
  const unsigned intvl_log = static_cast<unsigned>(p.interval + 2);
  period_ns_ = (uint64_t{250 / 4} << intvl_log) * kEstJiffyNs;
  next_ns_ = period_ns_;
}

void RateEstimator::advance(uint64_t now_ns) {
  const unsigned intvl_log = static_cast<unsigned>(params_.interval + 2);
  const unsigned ewma = params_.ewma_log;
  while (next_ns_ <= now_ns) {
    // est_timer, in u64 arithmetic: a falling rate makes the difference
    // wrap, which the addition undoes.
    uint64_t brate = (bytes_ - last_bytes_) << (10 - intvl_log);
    brate = (brate >> ewma) - (avbps_ >> ewma);
    uint64_t rate = (packets_ - last_packets_) << (10 - intvl_log);
    rate = (rate >> ewma) - (avpps_ >> ewma);
    avbps_ += brate;
    avpps_ += rate;
    last_bytes_ = bytes_;
    last_packets_ = packets_;
    next_ns_ += period_ns_;
    // Nothing comes in until now (the counts move only at count()) and both
    // averages are below 2^ewma: every further update changes nothing.
    if ((avbps_ >> ewma) == 0 && (avpps_ >> ewma) == 0 && next_ns_ <= now_ns) {
      next_ns_ += (now_ns - next_ns_) / period_ns_ * period_ns_;
      if (next_ns_ <= now_ns) next_ns_ += period_ns_;
    }
  }
}

void RateEstimator::count(uint64_t now_ns, uint32_t len) {
  advance(now_ns);
  bytes_ += len;
  ++packets_;
}

RateEstimator::Sample RateEstimator::read(uint64_t now_ns) {
  advance(now_ns);
  return {avbps_ >> 8, avpps_ >> 8};
}

size_t RateEstimators::find_or_add(std::string_view name, RateEstimatorParams p) {
  if (long i = find(name); i >= 0) return static_cast<size_t>(i);
  entries_.push_back({std::string(name), RateEstimator(p)});
  return entries_.size() - 1;
}

long RateEstimators::find(std::string_view name) const {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].name == name) return static_cast<long>(i);
  return -1;
}

Result<void> RateEstimatorScope::declare(std::string_view name, RateEstimatorParams p) {
  for (const auto& [n, params] : known_) {
    if (n != name) continue;
    if (params == p) return {};
    return make_error(fmt::format(
        "RATEEST: estimator `{}' exists already with another --rateest-interval or --rateest-ewmalog (the kernel's "
        "EINVAL: iptables-restore fails at COMMIT); give every RATEEST rule of one name the same two values",
        name));
  }
  known_.emplace_back(std::string(name), p);
  return {};
}

std::optional<RateEstimatorParams> RateEstimatorScope::find(std::string_view name) const {
  for (const auto& kv : known_)
    if (kv.first == name) return kv.second;
  return std::nullopt;
}

}  // namespace nfemu::xt
