// ICMP rate limiting as kernel 6.18 does it, on the virtual clock.
//
// Modelled exactly (with HZ = 1000, so that a jiffy is a millisecond; on a
// kernel with another HZ the same limits hold, rounded to its tick):
// - icmpv4_mask_allow: types outside net.ipv4.icmp_ratemask, types above
//   NR_ICMP_TYPES and frag-needed are never limited.
// - icmp_global_allow: a credit counter; when it is not positive and 20 ms
//   (HZ/50) or more passed since the last refill, it gains
//   icmp_msgs_per_sec * min(elapsed, 1 s) / 1 s, capped at icmp_msgs_burst.
//   The first message finds the bucket full (jiffies starts far from 0).
// - inet_peer_xrlim_allow, keyed by the error's destination: tokens grow
//   with elapsed time, capped at 6 * icmp_ratelimit; a message costs
//   icmp_ratelimit; within one jiffy neither time nor the cap applies.
//   A new peer starts with 60 s of tokens (rate_last =
//   jiffies - 60 * HZ), so a burst of 6 messages, then one per
//   icmp_ratelimit, as tests/icmp/kernel-observed-*.txt shows.
// - ip_error's bucket shares the peer's tokens (cost 1 s, burst 5 s); its
//   cap applies on every call.
// - ip_rt_send_redirect, keyed by the redirected packet's source: the
//   first redirect goes at once, the n-th after 20 ms << n (HZ/50), none
//   after 9 (ip_rt_redirect_number) until 20.48 s (HZ/50 << 10) pass
//   without a redirected packet, which also empties the peer's tokens.
//   It shares the peer's rate_last with the two buckets above, as in the
//   kernel.
//
// Not exact: icmp_global_consume subtracts a random 0, 1 or 2 credits per
// message (get_random_u32_below(3)); nfemu subtracts the mean, 1. Peers
// are never garbage-collected (the kernel's inet_peer GC forgets idle peers,
// but a peer idle for 6 * icmp_ratelimit has a full bucket either way);
// beyond kMaxPeers the least recently used peer is forgotten.
#include <algorithm>

#include "icmp/icmp.h"

namespace nfemu::icmp {

namespace {
constexpr int64_t kHzMs = 1000;
constexpr int64_t kBurstFactor = 6;  // XRLIM_BURST_FACTOR
constexpr int64_t kErrorCostMs = 1000, kErrorBurstMs = 5000;  // ip_rt_error_cost, ip_rt_error_burst
// ip_rt_redirect_number, ip_rt_redirect_load, ip_rt_redirect_silence.
constexpr uint32_t kRedirectNumber = 9;
constexpr int64_t kRedirectLoadMs = kHzMs / 50, kRedirectSilenceMs = kRedirectLoadMs << (kRedirectNumber + 1);
constexpr uint8_t kNrIcmpTypes = 18;
int64_t to_ms(uint64_t ns) { return static_cast<int64_t>(ns / 1'000'000); }
}  // namespace

bool RateLimiter::exempt(const RateConfig& c, uint8_t type, uint8_t code) {
  if (type > kNrIcmpTypes) return true;
  if (type == kDestUnreach && code == kFragNeeded) return true;
  return !((1u << type) & c.ratemask);
}

bool RateLimiter::global_allow(const RateConfig& c, uint8_t type, uint8_t code, uint64_t now_ns,
                               bool& apply_ratelimit) {
  apply_ratelimit = false;
  if (exempt(c, type, code)) return true;
  apply_ratelimit = true;
  if (credit_ > 0) return true;
  int64_t now = to_ms(now_ns);
  int64_t delta = std::min(now - stamp_ms_, kHzMs);
  if (delta < kHzMs / 50) return false;
  int64_t incr = c.msgs_per_sec * delta / kHzMs;
  if (incr == 0) return false;
  stamp_ms_ = now;
  credit_ = std::min(credit_ + incr, c.msgs_burst);
  return true;
}

RateLimiter::Peer& RateLimiter::peer(uint32_t addr, int64_t now_ms) {
  return peers_.get(addr, now_ms, [&] { return Peer{0, now_ms - 60 * kHzMs, 0}; });
}

bool RateLimiter::peer_allow(const RateConfig& c, uint32_t dst, uint64_t now_ns) {
  int64_t now = to_ms(now_ns);
  Peer& p = peer(dst, now);
  int64_t timeout = c.ratelimit_ms;
  int64_t token = p.tokens_ms;
  // Since the lockless rewrite (6.14), time is added and the burst cap
  // applied only when a jiffy passed: an error sent in the same jiffy as
  // ip_error keeps ip_error's tokens even when icmp_ratelimit = 0 would cap
  // them at 0 (wire-edge on 6.18: two ip_errors at one instant, both sent).
  if (int64_t delta = now - p.last_ms; delta != 0) {
    p.last_ms = now;
    token = std::min(token + delta, kBurstFactor * timeout);
  }
  bool ok = false;
  if (token >= timeout) {
    token -= timeout;
    ok = true;
  }
  p.tokens_ms = token;
  if (ok) --credit_;  // icmp_global_consume, its mean (see above)
  return ok;
}

bool RateLimiter::ip_error_allow(uint32_t src, uint64_t now_ns) {
  int64_t now = to_ms(now_ns);
  Peer& p = peer(src, now);
  p.tokens_ms = std::min(p.tokens_ms + (now - p.last_ms), kErrorBurstMs);
  p.last_ms = now;
  if (p.tokens_ms < kErrorCostMs) return false;
  p.tokens_ms -= kErrorCostMs;
  return true;
}

bool RateLimiter::redirect_allow(uint32_t src, uint64_t now_ns) {
  int64_t now = to_ms(now_ns);
  Peer& p = peer(src, now);
  if (now > p.last_ms + kRedirectSilenceMs) {
    p.tokens_ms = 0;
    p.redirects = 0;
  }
  if (p.redirects >= kRedirectNumber) {
    p.last_ms = now;
    return false;
  }
  if (p.redirects != 0 && now <= p.last_ms + (kRedirectLoadMs << p.redirects)) return false;
  p.last_ms = now;
  ++p.redirects;
  return true;
}

}  // namespace nfemu::icmp
