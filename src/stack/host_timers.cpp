// A listener's SYN-ACK timer (net/ipv4/inet_connection_sock.c,
// reqsk_timer_handler): the request sock's timer first fires
// TCP_TIMEOUT_INIT (1 s) after the SYN-ACK; each firing retransmits the
// SYN-ACK and doubles the wait (1, 3, 7, 15, 31 s after the SYN), until
// net.ipv4.tcp_synack_retries (5) retransmissions have gone; the next
// expiry (63 s) drops the request sock. The handshake's ACK (the child
// socket takes over) or an in-window RST stops it. Fragment queues have
// timers too (ip_expire, defrag.cpp).
#include <algorithm>
#include <limits>

#include "icmp/icmp.h"
#include "packet/headers.h"
#include "stack/host.h"

namespace nfemu::stack {

namespace {
constexpr uint64_t kTimeoutInitNs = 1'000'000'000;     // TCP_TIMEOUT_INIT
constexpr uint64_t kRtoMaxNs = 120'000'000'000;        // TCP_RTO_MAX
}  // namespace

void Host::add_request(packet::ConstIpv4View syn, uint32_t irs, uint32_t isn, const packet::Packet& synack,
                       uint64_t now_ns) {
  packet::ConstTcpView th(syn.payload());
  TcpConn c{syn.saddr(), syn.daddr(), th.sport(), th.dport(), isn, false};
  c.irs = irs;
  if (!spare_synacks_.empty()) {
    c.synack = std::move(spare_synacks_.back());
    spare_synacks_.pop_back();
  }
  c.synack = synack;  // into the spare's buffer: no allocation
  c.timer_ns = now_ns + kTimeoutInitNs;
  tcp_conns_.push_back(std::move(c));
  ++timer_epoch_;
}

void Host::drop_request(std::vector<TcpConn>::iterator it) {
  spare_synacks_.push_back(std::move(it->synack));
  tcp_conns_.erase(it);
}

void Host::note_syn_cookie(uint16_t port, uint64_t now_ns) {
  // tcp_synq_overflow: the listener remembers when it last sent one.
  for (auto& [p, at] : syn_cookie_ns_)
    if (p == port) {
      at = now_ns;
      return;
    }
  syn_cookie_ns_.emplace_back(port, now_ns);
}

Host::CookieCheck Host::cookie_check(packet::ConstIpv4View ip, packet::ConstTcpView th, uint64_t now_ns) const {
  // cookie_v4_check: only with syncookies on, for a bare ACK, and only
  // while the listener sent cookies in the last two minutes
  // (tcp_synq_no_recent_overflow, TCP_SYNCOOKIE_VALID); the cookie is
  // nfemu's ISN for the 4-tuple (the kernel's also dates it: at most two
  // minutes, which the window above keeps). A valid one makes the child
  // socket unless the accept queue is full (the ACK is then dropped); any
  // other ACK goes on to the listener, which resets it.
  namespace f = packet::tcp_flag;
  if (sysctl("net.ipv4.tcp_syncookies") == 0 || th.has(f::kRst) || th.has(f::kSyn)) return CookieCheck::NoCookie;
  const uint64_t* sent = nullptr;
  for (const auto& [p, at] : syn_cookie_ns_)
    if (p == th.dport()) sent = &at;
  if (!sent || now_ns > *sent + kSynCookieValidNs) return CookieCheck::NoCookie;
  if (th.ack_seq() - 1 != icmp::initial_sequence(ip.saddr(), ip.daddr(), th.sport(), th.dport()))
    return CookieCheck::NoCookie;
  size_t unaccepted = 0;
  for (const auto& c : tcp_conns_) unaccepted += c.established && c.dport == th.dport();
  return unaccepted > kListenBacklog ? CookieCheck::Dropped : CookieCheck::Accepted;
}

bool Host::synrecv_rst_in_window(const TcpConn& c, uint32_t seq) {
  // tcp_in_window(seq, seq, rcv_nxt, rcv_nxt + window) with the window the
  // SYN-ACK offered (build_syn_ack: 65535 rounded down to the MSS).
  uint32_t rcv_nxt = c.irs + 1;
  uint32_t wnd = 0;
  if (c.synack.size() >= 36) {
    auto d = c.synack.ip().payload();
    wnd = static_cast<uint32_t>(d[14]) << 8 | d[15];
  }
  uint32_t off = seq - rcv_nxt;
  return off == 0 || off < wnd;
}

std::optional<uint64_t> Host::next_timer() const {
  std::optional<uint64_t> t = next_frag_expiry();
  for (const auto& c : tcp_conns_)
    if (!c.established && (!t || c.timer_ns < *t)) t = c.timer_ns;
  return t;
}

void Host::run_timers(uint64_t until) {
  ++timer_epoch_;
  expire_fragments(until);
  int64_t retries = sysctl("net.ipv4.tcp_synack_retries");
  for (size_t i = 0; i < tcp_conns_.size();) {
    TcpConn& c = tcp_conns_[i];
    if (c.established || c.timer_ns > until) {
      ++i;
      continue;
    }
    if (c.num_timeout >= retries) {
      // The request sock expires: a late ACK now meets the listener (RST).
      drop_request(tcp_conns_.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    uint64_t at = c.timer_ns;
    ++c.num_timeout;
    c.timer_ns = at + std::min(kTimeoutInitNs << c.num_timeout, kRtoMaxNs);
    // local_out may answer on loopback and touch tcp_conns_: send a copy
    // after the bookkeeping, and look the entry up again next round.
    AnswerBuffer copy(*this);
    copy.get() = c.synack;
    local_out_kept(copy.get(), at);
  }
}

}  // namespace nfemu::stack
