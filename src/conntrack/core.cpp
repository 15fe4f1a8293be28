// The table: allocation, hash, lookup, confirmation, expiry and events
// (nf_conntrack_core.c, nf_conntrack_ecache.c, ctnetlink's event attributes).
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <charconv>
#include <cstring>
#include <new>
#include <string>

#include "conntrack/conntrack.h"
#include "conntrack/tuple_key.h"
#include "packet/mangle.h"
#include "packet/sctp.h"

namespace nfemu::conntrack {

using namespace packet;

namespace {

constexpr uint32_t kNoTimer = UINT32_MAX;
static_assert(offsetof(Entry, use) + sizeof(Entry::use) <= 64, "a chain walk and a packet touch one cache line");
static_assert(sizeof(Entry) == 192, "three cache lines a connection (RESULTS.md's bytes per connection)");
// Regions are reserved up to this many entries at a time (256 MiB of
// address space at 160 bytes an entry); a bigger nf_conntrack_max takes
// several. With nf_conntrack_max 0 (no limit) they start small and double.
constexpr size_t kMaxRegion = size_t{1} << 21;
constexpr size_t kMinRegion = 1024;
constexpr int kEvictionRange = 8;  // NF_CT_EVICTION_RANGE


}  // namespace

bool invert_icmp_tuple(const Tuple& t, Tuple* out) {
  // invmap: the reply type of each query type; none for the others.
  uint8_t inv;
  switch (t.icmp_type) {
    case 8: inv = 0; break;    // echo -> echo reply
    case 0: inv = 8; break;
    case 13: inv = 14; break;  // timestamp
    case 14: inv = 13; break;
    case 15: inv = 16; break;  // info request
    case 16: inv = 15; break;
    case 17: inv = 18; break;  // address mask
    case 18: inv = 17; break;
    default: return false;
  }
  // As invert_tuple: fields read, two words written.
  detail::store_words(out, detail::make_lo(t.dst, t.src), detail::make_hi(t.sport, 0, t.proto, inv, t.icmp_code));
  return true;
}

std::string_view to_string(TcpState s) {
  static constexpr std::string_view kNames[] = {"NONE",      "SYN_SENT",   "SYN_RECV", "ESTABLISHED", "FIN_WAIT",
                                                "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",       "SYN_SENT2"};
  auto i = static_cast<size_t>(s);
  return i < std::size(kNames) ? kNames[i] : "UNKNOWN";
}

// A link (a bucket head or Entry::hnext) names a node: the entry, which of
// its tuples (bit 0), whether the node ends its chain (bit 1), and in the
// top 16 bits a tag of the node's hash. A walk compares the tag before the
// entry and stops at the last node without reading it: a lookup that
// misses reads the bucket and the entries that have a successor only, one
// that hits reads the entries before its own.
namespace {
constexpr uintptr_t kLastBit = 2;
constexpr unsigned kTagShift = 48;
constexpr uintptr_t kPtrMask = ((uintptr_t{1} << kTagShift) - 1) & ~uintptr_t{alignof(Entry) - 1};
static_assert(alignof(Entry) >= 4);
inline uint16_t hash_tag(uint32_t hash) { return static_cast<uint16_t>(hash); }
inline uintptr_t make_link(const Entry* ct, int dir, uint32_t hash, bool last) {
  return reinterpret_cast<uintptr_t>(ct) | static_cast<uintptr_t>(dir) | (last ? kLastBit : 0) |
         (uintptr_t{hash_tag(hash)} << kTagShift);
}
inline Entry* tag_ct(uintptr_t l) { return reinterpret_cast<Entry*>(l & kPtrMask); }
inline int tag_dir(uintptr_t l) { return static_cast<int>(l & 1); }
inline bool link_last(uintptr_t l) { return l & kLastBit; }
inline uint16_t link_tag(uintptr_t l) { return static_cast<uint16_t>(l >> kTagShift); }
}  // namespace

Table::Table(Config cfg) : cfg_(cfg) {
  hash_.assign(std::max<uint32_t>(cfg_.buckets, 1));
  if (cfg_.max) {
    add_region(std::min<size_t>(cfg_.max, kMaxRegion));
    timers_.reserve(std::min<size_t>(cfg_.max, kMaxRegion));
  }
}

Table::~Table() {
  for (const Region& r : regions_) munmap(r.base, r.size * sizeof(Entry));
}

// ---------------------------------------------------------------- sysctls

namespace {

struct SysctlDef {
  std::string_view name;
  uint32_t Config::*u32;
  bool Config::*flag;
};

constexpr SysctlDef kSysctls[] = {
    {"nf_conntrack_max", &Config::max, nullptr},
    {"nf_conntrack_buckets", &Config::buckets, nullptr},
    {"nf_conntrack_acct", nullptr, &Config::acct},
    {"nf_conntrack_checksum", nullptr, &Config::checksum},
    {"nf_conntrack_events", nullptr, &Config::events},
    {"nf_conntrack_tcp_loose", nullptr, &Config::tcp_loose},
    {"nf_conntrack_tcp_be_liberal", nullptr, &Config::tcp_be_liberal},
    {"nf_conntrack_tcp_ignore_invalid_rst", nullptr, &Config::tcp_ignore_invalid_rst},
    {"nf_conntrack_tcp_max_retrans", &Config::tcp_max_retrans, nullptr},
    {"nf_conntrack_tcp_timeout_syn_sent", &Config::tcp_timeout_syn_sent, nullptr},
    {"nf_conntrack_tcp_timeout_syn_recv", &Config::tcp_timeout_syn_recv, nullptr},
    {"nf_conntrack_tcp_timeout_established", &Config::tcp_timeout_established, nullptr},
    {"nf_conntrack_tcp_timeout_fin_wait", &Config::tcp_timeout_fin_wait, nullptr},
    {"nf_conntrack_tcp_timeout_close_wait", &Config::tcp_timeout_close_wait, nullptr},
    {"nf_conntrack_tcp_timeout_last_ack", &Config::tcp_timeout_last_ack, nullptr},
    {"nf_conntrack_tcp_timeout_time_wait", &Config::tcp_timeout_time_wait, nullptr},
    {"nf_conntrack_tcp_timeout_close", &Config::tcp_timeout_close, nullptr},
    {"nf_conntrack_tcp_timeout_max_retrans", &Config::tcp_timeout_max_retrans, nullptr},
    {"nf_conntrack_tcp_timeout_unacknowledged", &Config::tcp_timeout_unacknowledged, nullptr},
    {"nf_conntrack_udp_timeout", &Config::udp_timeout, nullptr},
    {"nf_conntrack_udp_timeout_stream", &Config::udp_timeout_stream, nullptr},
    {"nf_conntrack_icmp_timeout", &Config::icmp_timeout, nullptr},
    {"nf_conntrack_sctp_timeout_closed", &Config::sctp_timeout_closed, nullptr},
    {"nf_conntrack_sctp_timeout_cookie_wait", &Config::sctp_timeout_cookie_wait, nullptr},
    {"nf_conntrack_sctp_timeout_cookie_echoed", &Config::sctp_timeout_cookie_echoed, nullptr},
    {"nf_conntrack_sctp_timeout_established", &Config::sctp_timeout_established, nullptr},
    {"nf_conntrack_sctp_timeout_shutdown_sent", &Config::sctp_timeout_shutdown_sent, nullptr},
    {"nf_conntrack_sctp_timeout_shutdown_recd", &Config::sctp_timeout_shutdown_recd, nullptr},
    {"nf_conntrack_sctp_timeout_shutdown_ack_sent", &Config::sctp_timeout_shutdown_ack_sent, nullptr},
    {"nf_conntrack_sctp_timeout_heartbeat_sent", &Config::sctp_timeout_heartbeat_sent, nullptr},
    {"nf_conntrack_gre_timeout", &Config::gre_timeout, nullptr},
    {"nf_conntrack_gre_timeout_stream", &Config::gre_timeout_stream, nullptr},
    {"nf_conntrack_generic_timeout", &Config::generic_timeout, nullptr},
};

std::string_view short_name(std::string_view name) {
  for (std::string_view prefix : {"net.netfilter.", "net/netfilter/"})
    if (name.starts_with(prefix)) return name.substr(prefix.size());
  return name;
}

const SysctlDef* find_sysctl(std::string_view name) {
  for (const auto& d : kSysctls)
    if (d.name == name) return &d;
  return nullptr;
}

}  // namespace

Result<void> Table::set_sysctl(std::string_view full, std::string_view value) {
  std::string_view name = short_name(full);
  const SysctlDef* d = find_sysctl(name);
  if (!d) return Error{"unknown sysctl: " + std::string(full)};
  // proc_dointvec: an integer, optionally signed; the conntrack entries
  // are ints, and the kernel stores what it parsed.
  // Like proc_dointvec: surrounding blanks and a final newline are fine.
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t' || value.back() == '\n'))
    value.remove_suffix(1);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
  if (ec != std::errc() || p != value.data() + value.size() || v < 0 || v > INT32_MAX)
    return Error{"invalid value for " + std::string(full) + ": " + std::string(value)};
  if (d->flag) {
    // The boolean ones are proc_dou8vec_minmax 0..1 (events: 0..2).
    uint64_t max = name == "nf_conntrack_events" ? 2 : 1;
    if (static_cast<uint64_t>(v) > max)
      return Error{"invalid value for " + std::string(full) + ": " + std::string(value)};
    cfg_.*(d->flag) = v != 0;
    if (name == "nf_conntrack_events") cfg_.events_mode = static_cast<uint8_t>(v);
    if (name == "nf_conntrack_acct") set_acct(v != 0);
    return {};
  }
  if (name == "nf_conntrack_tcp_max_retrans" && v > 255)  // a u8
    return Error{"invalid value for " + std::string(full) + ": " + std::string(value)};
  if (name == "nf_conntrack_buckets") {
    if (v == 0) return Error{"invalid value for " + std::string(full) + ": " + std::string(value)};
    rehash(static_cast<uint32_t>(v));
  }
  if (name == "nf_conntrack_max") {
    // The pool grows with the sysctl, never with the traffic. Lowering the
    // limit keeps what is reserved.
    while (capacity_ < static_cast<uint64_t>(v))
      if (!add_region(std::min<size_t>(static_cast<size_t>(v) - capacity_, kMaxRegion))) break;
    if (timers_.capacity() < std::min<size_t>(static_cast<size_t>(v), kMaxRegion))
      timers_.reserve(std::min<size_t>(static_cast<size_t>(v), kMaxRegion));
  }
  cfg_.*(d->u32) = static_cast<uint32_t>(v);
  return {};
}

Result<uint64_t> Table::sysctl(std::string_view full) const {
  std::string_view name = short_name(full);
  if (name == "nf_conntrack_count") return static_cast<uint64_t>(count_);
  const SysctlDef* d = find_sysctl(name);
  if (!d) return Error{"unknown sysctl: " + std::string(full)};
  if (name == "nf_conntrack_events") return uint64_t{cfg_.events_mode};
  if (d->flag) return static_cast<uint64_t>(cfg_.*(d->flag) ? 1 : 0);
  return static_cast<uint64_t>(cfg_.*(d->u32));
}

void Table::set_acct(bool on) {
  cfg_.acct = on;
  // The counters are reserved as the pool is: a new connection then takes
  // a slot without allocating (past the reservation, vectors grow as the
  // pool does when nf_conntrack_max is 0).
  if (on) {
    size_t n = std::min<size_t>(cfg_.max ? cfg_.max : kMinRegion, kMaxRegion);
    if (acct_.capacity() < n) acct_.reserve(n);
    if (acct_free_.capacity() < n) acct_free_.reserve(n);
  }
}

void Table::acct_attach(Entry* ct) {
  if (!acct_free_.empty()) {
    ct->acct = acct_free_.back();
    acct_free_.pop_back();
    acct_[ct->acct - 1] = {};
    return;
  }
  acct_.emplace_back();
  ct->acct = static_cast<uint32_t>(acct_.size());
}

// ------------------------------------------------------------ pool, hash

void Table::unmap(void* p, size_t mapped) { munmap(p, mapped); }

void* Table::map_zeroed(size_t bytes, size_t* mapped) {
  constexpr size_t kHuge = size_t{2} << 20;
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  bytes = (bytes + page - 1) / page * page;
  // Huge-page aligned when big enough: map 2 MiB more and trim.
  size_t slack = bytes >= kHuge ? kHuge : 0;
  void* m = mmap(nullptr, bytes + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  auto* base = static_cast<char*>(m);
  if (slack) {
    auto addr = reinterpret_cast<uintptr_t>(base);
    size_t head = ((addr + kHuge - 1) & ~(kHuge - 1)) - addr;
    if (head) munmap(base, head);
    if (slack - head) munmap(base + head + bytes, slack - head);
    base += head;
    madvise(base, bytes, MADV_HUGEPAGE);
  }
  *mapped = bytes;
  return base;
}

bool Table::add_region(size_t entries) {
  // MAP_NORESERVE: only the pages entries are put in are backed. Under
  // strict overcommit a large reservation may fail: settle for less.
  for (size_t n = std::max(entries, size_t{1});; n /= 2) {
    void* p = mmap(nullptr, n * sizeof(Entry), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    // Links keep a tag above bit 47: entries must lie below 2^48, where
    // Linux puts every mapping not asked for higher (x86-64, arm64).
    if (p != MAP_FAILED && reinterpret_cast<uintptr_t>(p) + n * sizeof(Entry) > (uintptr_t{1} << kTagShift)) {
      munmap(p, n * sizeof(Entry));
      return false;
    }
    if (p != MAP_FAILED) {
      // A big table walks its entries at random: transparent huge pages
      // spare it most TLB misses. The first 2 MiB keep small pages, so that
      // a table with a few entries holds a few pages.
      constexpr size_t kSmall = size_t{2} << 20;
      if (n * sizeof(Entry) > 2 * kSmall)
        madvise(static_cast<char*>(p) + kSmall, n * sizeof(Entry) - kSmall, MADV_HUGEPAGE);
      regions_.push_back({static_cast<Entry*>(p), n, 0});
      capacity_ += n;
      return true;
    }
    if (n <= kMinRegion) return false;
  }
}

// A fixed-seed hash: deterministic runs (the kernel's siphash seed is
// random). Nothing observable depends on it but early_drop's choice.
uint32_t Table::hash_of(const Tuple& t, uint16_t zone_id) {
  // The tuple as two words (its 15 bytes; the padding byte is masked, it
  // may hold anything).
  return hash_words(detail::tuple_lo(t), detail::tuple_hi(t), zone_id);
}

uint32_t Table::hash_words(uint64_t lo, uint64_t hi, uint16_t zone_id) {
  // The zone id xored in, two multiplies.
  uint64_t a = lo;
  uint64_t b = hi ^ (uint64_t{zone_id} << 48);
  uint64_t h = (a ^ 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 31) ^ b) * 0x94d049bb133111ebULL;
  // bucket_index maps the high half as the kernel's reciprocal_scale does.
  return static_cast<uint32_t>(h >> 32);
}

template <typename F>
void Table::for_each_slot(F f) const {
  for (const Region& r : regions_)
    for (size_t i = 0; i < r.used; ++i) f(&r.base[i]);
}

size_t Table::bysrc_bucket(const Tuple& t, uint16_t zone) const {
  // hash_of on the source half of the tuple.
  return static_cast<size_t>((uint64_t{hash_words(detail::make_lo(t.src, 0), detail::make_hi(t.sport, 0, t.proto), zone)} *
                              bysrc_.size()) >>
                             32);
}

void Table::build_bysrc() const {
  std::vector<Entry*> linked;
  for (const Region& r : regions_)
    for (size_t i = 0; i < r.used; ++i)
      if (r.base[i].confirmed() && !r.base[i].dying()) linked.push_back(&r.base[i]);
  std::sort(linked.begin(), linked.end(), [](const Entry* a, const Entry* b) { return a->seq < b->seq; });
  bysrc_.assign(std::max<size_t>(hash_.size(), 1));
  for (Entry* e : linked) {
    size_t b = bysrc_bucket(e->tuple[kOriginal], e->zone.id_for(kOriginal));
    e->bysrc_next = bysrc_[b];
    bysrc_[b] = e;
  }
}

void Table::bysrc_unlink(Entry* ct) {
  for (Entry** p = &bysrc_[bysrc_bucket(ct->tuple[kOriginal], ct->zone.id_for(kOriginal))]; *p; p = &(*p)->bysrc_next)
    if (*p == ct) {
      *p = ct->bysrc_next;
      break;
    }
  ct->bysrc_next = nullptr;
}

void Table::rehash(uint32_t buckets) {
  hash_.assign(buckets);
  // Linked in confirmation order, as link() did: chains keep their order.
  std::vector<Entry*> linked;
  for_each_slot([&](Entry* e) {
    if (e->confirmed() && !e->dying()) linked.push_back(e);
  });
  std::sort(linked.begin(), linked.end(), [](const Entry* a, const Entry* b) { return a->seq < b->seq; });
  for (Entry* e : linked)
    for (int d = 0; d < 2; ++d) insert_node(e, d);
  if (!bysrc_.empty()) build_bysrc();
  if (++gen_ == 0) gen_ = 1;  // 0: never checked (Entry::free_gen)
}

void Table::insert_node(Entry* ct, int d) {
  uintptr_t& head = hash_[bucket_index(ct->hash[d])];
  ct->hnext[d] = head;
  head = make_link(ct, d, ct->hash[d], head == 0);
}

void Table::remove_node(Entry* ct, int d) {
  uintptr_t* before = nullptr;  // the link to the node before ct's
  for (uintptr_t* p = &hash_[bucket_index(ct->hash[d])]; *p; p = &tag_ct(*p)->hnext[tag_dir(*p)]) {
    if (tag_ct(*p) == ct && tag_dir(*p) == d) {
      *p = ct->hnext[d];
      if (!*p && before) *before |= kLastBit;
      break;
    }
    before = p;
  }
  ct->hnext[d] = 0;
}

void Table::link(Entry* ct) {
  for (int d = 0; d < 2; ++d) insert_node(ct, d);
  if (++gen_ == 0) gen_ = 1;  // 0: never checked (Entry::free_gen)
  if (!bysrc_.empty()) {
    size_t b = bysrc_bucket(ct->tuple[kOriginal], ct->zone.id_for(kOriginal));
    ct->bysrc_next = bysrc_[b];
    bysrc_[b] = ct;
  }
  ct->seq = next_seq_++;
  timer_push(ct);
}

void Table::unlink(Entry* ct) {
  for (int d = 0; d < 2; ++d) remove_node(ct, d);
  if (!bysrc_.empty()) bysrc_unlink(ct);
  timer_remove(ct);
}

// ------------------------------------------------------------ expiry heap

void Table::sift_up(uint32_t i) {
  Timer t = timers_[i];
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (timers_[parent].key <= t.key) break;
    timers_[i] = timers_[parent];
    timers_[i].ct->timer = i;
    i = parent;
  }
  timers_[i] = t;
  t.ct->timer = i;
}

void Table::sift_down(uint32_t i) {
  Timer t = timers_[i];
  const auto n = static_cast<uint32_t>(timers_.size());
  for (;;) {
    uint32_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && timers_[child + 1].key < timers_[child].key) ++child;
    if (t.key <= timers_[child].key) break;
    timers_[i] = timers_[child];
    timers_[i].ct->timer = i;
    i = child;
  }
  timers_[i] = t;
  t.ct->timer = i;
}

void Table::timer_push(Entry* ct) {
  timers_.push_back({ct->timeout, ct});
  sift_up(static_cast<uint32_t>(timers_.size() - 1));
}

void Table::timer_remove(Entry* ct) {
  uint32_t i = ct->timer;
  if (i == kNoTimer) return;
  ct->timer = kNoTimer;
  Timer last = timers_.back();
  timers_.pop_back();
  if (i == timers_.size()) return;
  timers_[i] = last;
  last.ct->timer = i;
  sift_up(i);
  sift_down(last.ct->timer);
}

void Table::timer_shortened(Entry* ct) {
  uint32_t i = ct->timer;
  if (i == kNoTimer || timers_[i].key <= ct->timeout) return;
  timers_[i].key = ct->timeout;
  sift_up(i);
}

Table::Memory Table::memory() const {
  Memory m;
  m.entry_size = sizeof(Entry);
  m.pool_capacity = capacity_;
  for (const Region& r : regions_) m.pool_used_bytes += r.used * sizeof(Entry);
  m.index_bytes = hash_.capacity() * sizeof(uintptr_t) + bysrc_.capacity() * sizeof(Entry*);
  m.timer_bytes = timers_.capacity() * sizeof(Timer);
  m.acct_bytes = acct_.capacity() * sizeof(Acct) + acct_free_.capacity() * sizeof(uint32_t);
  return m;
}

Entry* Table::alloc_slow(uint32_t orig_hash, uint64_t now, std::string_view* reason) {
  // __nf_conntrack_alloc: the count includes unconfirmed entries.
  if (cfg_.max && count_ + 1 > cfg_.max) {
    if (!early_drop(bucket_index(orig_hash), now)) {
      *reason = kTableFullMessage;
      return nullptr;
    }
  }
  if (Entry* ct = free_list_) {
    free_list_ = reinterpret_cast<Entry*>(ct->hnext[0]);
    return new (ct) Entry{};
  }
  while (bump_ < regions_.size() && regions_[bump_].used == regions_[bump_].size) ++bump_;
  // Only without a limit (nf_conntrack_max 0) or past a failed
  // reservation: the pool then grows by doubling.
  if (bump_ == regions_.size() && !add_region(std::clamp(capacity_, kMinRegion, kMaxRegion))) {
    *reason = kTableFullMessage;
    return nullptr;
  }
  Region& r = regions_[bump_];
  return new (&r.base[r.used++]) Entry{};
}

// Inline into in(), its one caller: a new connection below the limit
// takes the last freed entry (often the one a dropped packet's unconfirmed
// entry just gave back, still in cache); the rest is alloc_slow.
[[gnu::always_inline]] inline Entry* Table::alloc(const Tuple& orig, const Tuple& reply, Zone zone,
                                                  uint32_t orig_hash, uint64_t now, std::string_view* reason) {
  Entry* ct = free_list_;
  if (ct && !(cfg_.max && count_ + 1 > cfg_.max)) [[likely]] {
    free_list_ = reinterpret_cast<Entry*>(ct->hnext[0]);
    // As *ct = Entry{}, which GCC builds in a stack temporary (rep stos)
    // and then copies: one copy of a pristine entry instead.
    static const Entry kFresh{};
    std::memcpy(static_cast<void*>(ct), &kFresh, sizeof(Entry));
  } else {
    ct = alloc_slow(orig_hash, now, reason);
    if (!ct) return nullptr;
  }
  detail::copy_tuple(&ct->tuple[kOriginal], orig);
  detail::copy_tuple(&ct->tuple[kReply], reply);
  ct->hash[kOriginal] = orig_hash;
  ct->zone = zone;
  ct->id = next_id_++;
  ct->use = 1;  // the packet's
  ++count_;
  // init_conntrack: nf_ct_acct_ext_add, only while the sysctl is on.
  if (cfg_.acct) [[unlikely]]
    acct_attach(ct);
  return ct;
}

void Table::attach(Packet& made, const Packet& orig) {
  auto* ct = static_cast<Entry*>(orig.meta.ct);
  if (!ct) return;
  put(made);
  bool orig_dir = orig.meta.ctinfo == CtInfo::New || orig.meta.ctinfo == CtInfo::Established ||
                  orig.meta.ctinfo == CtInfo::Related;
  made.meta.ct = ct;
  made.meta.ctinfo = orig_dir ? CtInfo::RelatedReply : CtInfo::Related;
  ++ct->use;
}

namespace {
inline bool expired(const Entry* ct, uint64_t now) {
  return static_cast<int32_t>(static_cast<uint32_t>(ct->timeout - now)) <= 0;
}
}  // namespace

bool Table::kill(Entry* ct, uint64_t now_ns) {
  if (ct->dying()) return false;
  ct->status |= status::kDying;
  // clean_from_lists: a master's expectations go with it.
  if (ct->helper != Helper::None) [[unlikely]]
    remove_expectations(ct);
  if (!ct->confirmed()) return true;
  // nf_ct_delete: the DESTROY event, then out of the hash.
  emit(ct, ipct::kDestroy, to_jiffies(now_ns));
  unlink(ct);
  put(ct);  // the hash's reference
  return true;
}

namespace {
// nf_ct_key_equal for the node (ct, d): same tuple, same zone id in the
// node's direction (nf_ct_zone_equal), and the node is in the chain being
// walked: the kernel's hash is keyed by the zone id, so a node hashed under
// another id is met only on a hash collision, which depends on the boot's
// random seed; nfemu never lets it match.
inline bool key_equal(const Entry* ct, int d, const Tuple& t, Zone zone, uint16_t chain_id) {
  Dir dir = static_cast<Dir>(d);
  uint16_t id = ct->zone.id_for(dir);
  return detail::same_tuple(ct->tuple[d], t) && id == zone.id_for(dir) && id == chain_id && !ct->dying();
}
}  // namespace

Entry* Table::find_in(const Tuple& t, Zone zone, uint16_t zone_id, uint32_t hash, Dir* dir) const {
  const uint16_t want = hash_tag(hash);
  for (uintptr_t n = hash_[bucket_index(hash)]; n; n = tag_ct(n)->hnext[tag_dir(n)]) {
    Entry* ct = tag_ct(n);
    int d = tag_dir(n);
    if (link_tag(n) == want && key_equal(ct, d, t, zone, zone_id)) {
      if (dir) *dir = static_cast<Dir>(d);
      return ct;
    }
    if (link_last(n)) break;
  }
  return nullptr;
}

Entry* Table::find(const Tuple& t, Zone zone, Dir* dir) const {
  uint16_t oid = zone.id_for(kOriginal), rid = zone.id_for(kReply);
  Entry* ct = find_in(t, zone, oid, hash_of(t, oid), dir);
  if (!ct && rid != oid) ct = find_in(t, zone, rid, hash_of(t, rid), dir);
  return ct;
}

[[gnu::always_inline]] inline Entry* Table::find_live_in(const Tuple& t, Zone zone, uint16_t zone_id, uint32_t hash, Dir* dir, uint64_t now) {
  // ____nf_conntrack_find reaps the expired entries it meets on the chain;
  // which ones share a chain depends on the (random) hash, so here only
  // an expired entry with the tuple looked for is reaped, which makes no
  // difference once expire_until(now) ran.
  const size_t b = bucket_index(hash);
  const uint16_t want = hash_tag(hash);
  uintptr_t n = hash_[b];
  while (n) {
    Entry* ct = tag_ct(n);
    int d = tag_dir(n);
    if (link_tag(n) == want && detail::same_tuple(ct->tuple[d], t)) {
      if (!ct->dying() && expired(ct, now)) {
        // The next node may be ct's other one: walk again after the kill.
        kill(ct, now * kNsPerJiffy);
        n = hash_[b];
        continue;
      }
      if (key_equal(ct, d, t, zone, zone_id)) {
        *dir = static_cast<Dir>(d);
        return ct;
      }
    }
    if (link_last(n)) break;
    n = ct->hnext[d];
  }
  return nullptr;
}

[[gnu::always_inline]] inline Entry* Table::find_live(const Tuple& t, Zone zone, Dir* dir, uint64_t now, uint32_t* orig_hash) {
  uint16_t oid = zone.id_for(kOriginal), rid = zone.id_for(kReply);
  *orig_hash = hash_of(t, oid);
  Entry* ct = find_live_in(t, zone, oid, *orig_hash, dir, now);
  if (!ct && rid != oid) ct = find_live_in(t, zone, rid, hash_of(t, rid), dir, now);
  return ct;
}

bool Table::early_drop(size_t bucket, uint64_t now) {
  for (int i = 0; i < kEvictionRange; ++i) {
    size_t b = (bucket + i) % hash_.size();
    unsigned drops = 0;
    uintptr_t n = hash_[b];
    while (n) {
      Entry* ct = tag_ct(n);
      uintptr_t next = ct->hnext[tag_dir(n)];
      if (!ct->dying() && expired(ct, now)) {
        kill(ct, now * kNsPerJiffy);
        n = hash_[b];
        continue;
      }
      if ((ct->status & status::kAssured) || ct->dying()) {
        n = next;
        continue;
      }
      kill(ct, now * kNsPerJiffy);
      ++drops;
      n = hash_[b];
    }
    if (drops) return true;
  }
  return false;
}

void Table::expire_due(uint64_t now) {
  // expire_until found something due. Pop the due ones; an entry
  // refreshed since it was keyed goes back with its deadline. Collected
  // first, then killed in (deadline, id) order.
  due_.clear();
  while (!timers_.empty() && timers_[0].key <= now) {
    Entry* e = timers_[0].ct;
    // timeout <= now yet not expired: only after a gap of 2^31 jiffies,
    // where the 32-bit comparison wraps; it is due rather than looping.
    if (expired(e, now) || e->timeout <= now) {
      due_.push_back(e);
      timer_remove(e);
    } else {
      timers_[0].key = e->timeout;
      sift_down(0);
    }
  }
  std::sort(due_.begin(), due_.end(), [](const Entry* a, const Entry* b) {
    if (a->timeout != b->timeout) return a->timeout < b->timeout;
    return a->id < b->id;
  });
  for (Entry* e : due_) {
    // The event carries the time the entry timed out.
    uint64_t at = std::min(now, e->timeout);
    kill(e, at * kNsPerJiffy);
  }
}

// ----------------------------------------------------------------- events

View Table::view(const Entry& ct, uint64_t now_ns) const {
  View v;
  fill_view(ct, now_ns, v);
  return v;
}

void Table::fill_view(const Entry& ct, uint64_t now_ns, View& v) const {
  v.id = ct.id;
  v.orig = ct.tuple[kOriginal];
  v.reply = ct.tuple[kReply];
  v.status = ct.status;
  v.mark = ct.mark;
  // ctnetlink_dump_zone_id: a zone id other than 0 is sent once, as
  // CTA_ZONE when it applies to both directions, else inside its tuple.
  v.zone = ct.zone.dir == Zone::kDirBoth ? ct.zone.id : 0;
  v.zone_orig = ct.zone.dir == Zone::kDirOrig ? ct.zone.id : 0;
  v.zone_reply = ct.zone.dir == Zone::kDirReply ? ct.zone.id : 0;
  v.has_tcp_state = ct.proto() == kIpProtoTcp;
  if (v.has_tcp_state) v.tcp_state = ct.tcp.state;
  v.has_sctp_state = ct.proto() == kIpProtoSctp;
  if (v.has_sctp_state) v.sctp_state = ct.sctp.state;
  uint64_t now = to_jiffies(now_ns);
  int64_t left = ct.confirmed() ? static_cast<int32_t>(static_cast<uint32_t>(ct.timeout - now))
                                : static_cast<int64_t>(ct.timeout);
  v.timeout_s = left > 0 ? static_cast<uint32_t>(left / static_cast<int64_t>(kHz)) : 0;
  v.use = ct.use;
  v.has_timeout = true;
  v.has_mark = true;
  const Counter* k = counters(ct);
  v.has_counters = k != nullptr;
  v.helper = ct.helper;
  v.counters[kOriginal] = k ? k[kOriginal] : Counter{};
  v.counters[kReply] = k ? k[kReply] : Counter{};
}

void Table::emit(Entry* ct, uint32_t mask, uint64_t now) {
  // An entry with a template's event mask has its event extension even
  // with nf_conntrack_events 0 (nf_ct_ecache_ext_add, case 0).
  if (!cfg_.events && ct->ctmask == kAllEvents) return;
  // nf_ct_deliver_cached_events / nf_conntrack_eventmask_report: nothing
  // is sent unless one of the events is in the entry's ctmask.
  if (!(mask & ct->ctmask)) return;
  // Built where it is queued: no Event on the stack copied in after.
  Event& ev = events_.emplace_back();
  ev.mask = mask;
  ev.time_ns = now * kNsPerJiffy;
  fill_view(*ct, ev.time_ns, ev.view);
  // ctnetlink_conntrack_event: which attributes the message carries.
  if (mask & ipct::kDestroy) {
    ev.type = EventType::Destroy;
    ev.view.has_timeout = ev.view.timeout_s != 0;  // skip_zero
    ev.view.helper = Helper::None;
    // protoinfo with destroy=true: the TCP state only
  } else {
    ev.type = (mask & (ipct::kNew | ipct::kRelated)) ? EventType::New : EventType::Update;
    ev.view.has_tcp_state = ev.view.has_tcp_state && (mask & ipct::kProtoinfo);
    ev.view.has_sctp_state = ev.view.has_sctp_state && (mask & ipct::kProtoinfo);
    // Only a DESTROY message carries the counters.
    ev.view.has_counters = false;
  }
  ev.view.has_mark = ct->mark != 0 || (mask & ipct::kMark);
}

void Table::deliver(Entry* ct, uint64_t now) {
  // nf_ct_deliver_cached_events
  if (!ct->confirmed() || ct->dying()) return;
  uint32_t events = ct->event_cache;
  ct->event_cache = 0;
  if (events) emit(ct, events, now);
}

std::vector<Event> Table::take_events() {
  std::vector<Event> out;
  out.swap(events_);
  return out;
}

void Table::set_mark(Entry* ct, uint32_t mark) {
  if (ct->mark != mark) {
    ct->mark = mark;
    event_cache(ct, ipct::kMark);
  }
}

bool Table::label(const Entry* ct, unsigned bit) const {
  if (!ct->labelled) return false;
  const auto& bits = labels_.at(ct);
  return (bits[bit / 64] >> (bit % 64)) & 1u;
}

void Table::set_label(Entry* ct, unsigned bit) {
  if (label(ct, bit)) return;
  auto& bits = labels_[ct];
  if (!ct->labelled) bits = {};  // the entry's first label: nothing of a former one at this address
  bits[bit / 64] |= uint64_t{1} << (bit % 64);
  ct->labelled = 1;
  event_cache(ct, ipct::kLabel);
}

std::vector<View> Table::dump(uint64_t now_ns) const {
  uint64_t now = to_jiffies(now_ns);
  std::vector<const Entry*> live;
  for_each_slot([&](const Entry* e) {
    if (e->confirmed() && !e->dying() && !expired(e, now)) live.push_back(e);
  });
  // Confirmation order. seq numbers are distinct and below next_seq_:
  // while that range is not much wider than the live set, placing each
  // entry at its seq is a linear sort (a sort's compares each read a
  // random entry).
  bool placed = false;
  if (next_seq_ <= 4 * live.size() + 4096) {
    std::vector<const Entry*> by_seq(next_seq_, nullptr);
    placed = std::all_of(live.begin(), live.end(), [&](const Entry* e) {
      if (e->seq >= by_seq.size()) return false;  // only after next_seq_ wrapped
      by_seq[e->seq] = e;
      return true;
    });
    if (placed) {
      live.clear();
      for (const Entry* e : by_seq)
        if (e) live.push_back(e);
    }
  }
  if (!placed) std::sort(live.begin(), live.end(), [](const Entry* a, const Entry* b) { return a->seq < b->seq; });
  std::vector<View> out;
  out.reserve(live.size());
  for (const Entry* e : live) out.push_back(view(*e, now_ns));
  return out;
}

// -------------------------------------------------------------------- NAT

bool Table::set_reply_tuple(Entry* ct, const Tuple& reply) {
  if (ct->confirmed()) return false;
  ct->tuple[kReply] = reply;
  return true;
}

bool Table::tuple_taken(const Tuple& t, Zone zone, const Entry* ignored) const {
  // nf_conntrack_tuple_taken: `t` is the reply tuple NAT would give the
  // entry; the chain of the zone's reply-direction id is walked.
  uint16_t rid = zone.id_for(kReply);
  uint32_t hash = hash_of(t, rid);
  const uint16_t want = hash_tag(hash);
  for (uintptr_t n = hash_[bucket_index(hash)]; n; n = tag_ct(n)->hnext[tag_dir(n)]) {
    const Entry* ct = tag_ct(n);
    int d = tag_dir(n);
    if (link_tag(n) == want && ct != ignored && key_equal(ct, d, t, zone, rid)) return true;
    if (link_last(n)) break;
  }
  // Free, and not because `ignored` was skipped (an unconfirmed entry is
  // in no chain): remember it for confirm().
  if (!ignored || !ignored->confirmed()) free_memo_ = {t, zone, hash, gen_};
  return false;
}

bool Table::unique_tuple_taken(const Tuple& t, Zone zone, const Entry* ignored) const {
  Tuple reply;
  if (!invert_tuple(t, &reply)) return false;
  return tuple_taken(reply, zone, ignored);
}

// ---------------------------------------------------------- the hot path

void Table::refresh(Entry* ct, uint64_t extra, const Ctx& c) {
  // __nf_ct_refresh_acct: every tracker's nf_ct_refresh_acct is where a
  // packet is counted; one that returns before it (INVALID, a TCP packet
  // ignored or a retransmitted SYN) counts nothing.
  acct_update(ct, c.dir, c.bytes);
  if (ct->status & status::kFixedTimeout) return;
  if (ct->confirmed()) {
    uint64_t before = ct->timeout;
    ct->timeout = c.now + extra;
    // Later: the heap's key stays a lower bound. Earlier: fix the key now.
    if (ct->timeout < before) timer_shortened(ct);
  } else {
    ct->timeout = extra;
  }
}

namespace {

constexpr uint8_t kIpProtoGre = 47, kIpProtoUdplite = 136;

// nf_ct_get_tuple for IPv4. False when the transport header is too short
// for the tuple (then there is no conntrack: INVALID).
[[gnu::always_inline]] inline bool get_tuple(ConstIpv4View ip, std::span<const uint8_t> l4, Tuple* t) {
  // Built in registers, stored as two words (detail::store_words): the
  // hash reads it back as words at once.
  const uint64_t lo = detail::make_lo(ip.saddr(), ip.daddr());
  const uint8_t proto = ip.protocol();
  uint64_t hi = detail::make_hi(0, 0, proto);
  switch (proto) {
    case kIpProtoTcp:
    case kIpProtoUdp:
    case kIpProtoSctp:
    case kIpProtoUdplite:
      if (l4.size() < 4) return false;
      hi = detail::make_hi(load16(l4.data()), load16(l4.data() + 2), proto);
      break;
    case kIpProtoGre:
      // gre_pkt_to_tuple: only version 1 (PPTP) has keys; the call id is
      // the destination key. No PPTP helper here, so no source key.
      if (l4.size() >= 8 && (l4[1] & 0x07) == 1) {
        if (load16(l4.data() + 2) != 0x880b) return false;  // not PPP
        hi = detail::make_hi(0, load16(l4.data() + 6), proto);
      }
      break;
    case kIpProtoIcmp:
      if (l4.size() < kIcmpHeader) return false;
      hi = detail::make_hi(load16(l4.data() + 4), 0, proto, l4[0], l4[1]);
      break;
    default:
      break;
  }
  detail::store_words(t, lo, hi);
  return true;
}

// nf_conntrack_inet_error's lookup key: the tuple of the datagram an ICMP
// error quotes (l4: the ICMP message, at least its header), inverted.
// Returns why there is none (in()'s reason), empty on success.
std::string_view error_lookup_tuple(std::span<const uint8_t> l4, Tuple* inv) {
  std::span<const uint8_t> quote = l4.subspan(kIcmpHeader);
  if (quote.size() < kIpv4MinHeader) return "short inner header";
  ConstIpv4View inner(quote);
  if (inner.frag_offset() != 0 || inner.header_len() < kIpv4MinHeader || inner.header_len() > quote.size())
    return "bad inner header";
  Tuple orig;
  if (!get_tuple(inner, quote.subspan(inner.header_len()), &orig)) return "short inner transport header";
  if (!invert_tuple(orig, inv)) return "inner tuple not invertible";
  return {};
}

}  // namespace

bool packet_tuple(const Packet& pkt, Tuple* t) {
  ConstIpv4View ip = pkt.ip();
  if (ip.frag_offset() != 0) return false;
  return get_tuple(ip, ip.payload(), t);
}

std::shared_ptr<Entry> make_template(Zone zone, uint16_t ctmask, Helper helper) {
  auto t = std::make_shared<Entry>();
  t->zone = zone;
  t->ctmask = ctmask;
  t->helper = helper;
  t->status = status::kTemplate | status::kConfirmed;  // nf_ct_tmpl_alloc; __set_bit(IPS_CONFIRMED_BIT)
  return t;
}

LookupResult Table::in(Packet& pkt, Hook hook, Zone zone, uint64_t now_ns) {
  LookupResult r;
  // nf_conntrack_in: a template is read, then dropped from the packet.
  uint16_t ctmask = kAllEvents;
  const Entry* tmpl = nullptr;
  if (is_template(pkt.meta.ct)) {
    tmpl = static_cast<const Entry*>(pkt.meta.ct);
    zone = tmpl->zone;
    // nf_ct_zone_tmpl: --zone mark takes the id from the packet's mark.
    if (zone.flags & Zone::kFromMark) zone = Zone(static_cast<uint16_t>(pkt.meta.mark), 0, zone.dir);
    ctmask = tmpl->ctmask;
    pkt.meta.ct = nullptr;
    pkt.meta.ctinfo = CtInfo::New;
  }
  // Already tracked (a packet looping back) or NOTRACK: nothing to do.
  if (pkt.meta.ct || pkt.meta.ctinfo == CtInfo::Untracked) {
    r.ct = static_cast<Entry*>(pkt.meta.ct);
    r.ctinfo = pkt.meta.ctinfo;
    return r;
  }
  Ctx c{hook, to_jiffies(now_ns), {}};
  ConstIpv4View ip = std::as_const(pkt).ip();
  // ipv4_get_l4proto: non-first fragments are not tracked.
  if (ip.frag_offset() != 0) {
    r.reason = "fragment";
    return r;
  }
  size_t dataoff = ip.header_len();
  std::span<const uint8_t> l4 = ip.payload();

  if (ip.protocol() == kIpProtoIcmp) {
    bool handled = false;
    LookupResult er = icmp_error(pkt, dataoff, zone, c, &handled);
    if (handled) return er;
  }

  for (int attempt = 0; attempt < 2; ++attempt) {
    Tuple t;
    if (!get_tuple(ip, l4, &t)) {
      r.reason = "short packet";
      return r;
    }
    // resolve_normal_ct
    Dir dir = kOriginal;
    uint32_t orig_hash;
    Entry* ct = find_live(t, zone, &dir, c.now, &orig_hash);
    bool created = false;
    if (!ct) {
      Tuple reply;
      if (!invert_tuple(t, &reply)) {
        r.reason = "no reply tuple";
        return r;
      }
      std::string_view why;
      ct = alloc(t, reply, zone, orig_hash, c.now, &why);
      if (!ct) {
        r.verdict = Verdict::Drop;
        r.reason = why;
        return r;
      }
      // find_live walked the original tuple's chain: confirm() need not,
      // unless something is linked meanwhile.
      ct->free_gen = gen_;
      ct->ctmask = ctmask;
      created = true;
      if (!expects_.empty() || (tmpl && tmpl->helper != Helper::None)) [[unlikely]]
        init_helper(ct, t, zone, tmpl, c.now);
    } else {
      ++ct->use;  // the packet's reference
    }
    CtInfo ctinfo;
    if (dir == kReply)
      ctinfo = CtInfo::EstablishedReply;
    else if (ct->status & status::kSeenReply)
      ctinfo = CtInfo::Established;
    else if (ct->status & status::kExpected)
      ctinfo = CtInfo::Related;
    else
      ctinfo = CtInfo::New;

    // nf_conntrack_handle_packet
    c.dir = dir;
    c.bytes = ip.total_length();
    Action a;
    switch (t.proto) {
      case kIpProtoTcp: a = tcp_packet(ct, pkt, dataoff, dir, c); break;
      case kIpProtoUdp: a = udp_packet(ct, pkt, dataoff, c); break;
      case kIpProtoSctp: a = sctp_packet(ct, pkt, dir, c); break;
      case kIpProtoIcmp: a = icmp_packet(ct, c); break;
      case kIpProtoUdplite: a = udplite_packet(ct, pkt, c); break;
      case kIpProtoGre: a = gre_packet(ct, c); break;
      default:
        refresh(ct, uint64_t{cfg_.generic_timeout} * kHz, c);
        a = Action::Accept;
        break;
    }
    if (a != Action::Accept) {
      put(ct);
      if (a == Action::Repeat) continue;
      r.reason = c.reason;
      if (a == Action::Drop) r.verdict = Verdict::Drop;
      return r;
    }
    if (ctinfo == CtInfo::EstablishedReply && !(ct->status & status::kSeenReply)) {
      ct->status |= status::kSeenReply;
      event_cache(ct, ipct::kReply);
    }
    pkt.meta.ct = ct;
    pkt.meta.ctinfo = ctinfo;
    r.ct = ct;
    r.ctinfo = ctinfo;
    r.is_new = created;
    return r;
  }
  // A second reopen in a row cannot happen: the first killed the entry.
  r.verdict = Verdict::Drop;
  return r;
}

bool Table::lookup_hash(const Packet& pkt, Zone zone, uint32_t* hash) const {
  ConstIpv4View ip = pkt.ip();
  if (ip.frag_offset() != 0) return false;
  std::span<const uint8_t> l4 = ip.payload();
  Tuple t;
  if (ip.protocol() == kIpProtoIcmp) {
    // As icmp_error: a short message or an unknown type is refused before
    // any lookup; an error looks up its quote's connection.
    if (l4.size() < kIcmpHeader || l4[0] > 18) return false;
    if (icmp_is_error(l4[0])) {
      if (!error_lookup_tuple(l4, &t).empty()) return false;
      *hash = hash_of(t, zone.id_for(kOriginal));
      return true;
    }
  }
  if (!get_tuple(ip, l4, &t)) return false;
  *hash = hash_of(t, zone.id_for(kOriginal));
  return true;
}

const void* Table::prefetch_address(const Packet& pkt, Zone zone) const {
  uint32_t hash;
  if (!lookup_hash(pkt, zone, &hash)) return nullptr;
  return hash_.data() + bucket_index(hash);
}

bool Table::prefetch(const Packet& pkt, Zone zone, uint32_t* hash) const {
  if (!lookup_hash(pkt, zone, hash)) return false;
  __builtin_prefetch(hash_.data() + bucket_index(*hash));
  return true;
}

const void* Table::prefetch_entry_address(const Packet& pkt, Zone zone) const {
  uint32_t hash;
  if (!lookup_hash(pkt, zone, &hash)) return nullptr;
  return prefetch_entry_address(hash);
}

const void* Table::prefetch_entry_address(uint32_t hash) const {
  // find_live_in's first comparison: the first node whose tag matches.
  const uint16_t want = hash_tag(hash);
  for (uintptr_t n = hash_[bucket_index(hash)]; n;) {
    const Entry* ct = tag_ct(n);
    const int d = tag_dir(n);
    if (link_tag(n) == want) return &ct->tuple[d];
    if (link_last(n)) break;
    n = ct->hnext[d];
  }
  return nullptr;
}

void Table::prefetch_entry(uint32_t hash) const {
  if (const void* a = prefetch_entry_address(hash)) __builtin_prefetch(a);
}

Verdict Table::confirm(Packet& pkt, uint64_t now_ns, ConfirmInfo* info) {
  auto* ct = static_cast<Entry*>(pkt.meta.ct);
  if (!ct) return Verdict::Accept;
  uint64_t now = to_jiffies(now_ns);
  // nf_confirm: the helper reads the packet first (not an ICMP error
  // about the connection, RELATED_REPLY).
  if ((ct->helper != Helper::None || (ct->status & status::kSeqAdjust)) &&
      pkt.meta.ctinfo != CtInfo::RelatedReply) [[unlikely]] {
    if (ct->helper == Helper::Ftp && ftp_help(pkt, ct, pkt.meta.ctinfo, now, info) == Verdict::Drop)
      return Verdict::Drop;
    if (ct->helper == Helper::Tftp && tftp_help(pkt, ct, now, info) == Verdict::Drop) return Verdict::Drop;
    if (ct->helper == Helper::Irc && irc_help(pkt, ct, pkt.meta.ctinfo, now, info) == Verdict::Drop)
      return Verdict::Drop;
    if (ct->helper == Helper::Sane && sane_help(pkt, ct, pkt.meta.ctinfo, now, info) == Verdict::Drop)
      return Verdict::Drop;
    if (ct->helper == Helper::Amanda && amanda_help(pkt, ct, pkt.meta.ctinfo, now, info) == Verdict::Drop)
      return Verdict::Drop;
    // Then the sequence numbers a NAT helper's rewrite shifted.
    if ((ct->status & status::kSeqAdjust) && !seq_adjust(pkt, ct, pkt.meta.ctinfo)) return Verdict::Drop;
  }
  if (!ct->confirmed()) {
    // REJECT attaches replies to unconfirmed entries: not ours to insert.
    bool reply_dir = pkt.meta.ctinfo == CtInfo::EstablishedReply || pkt.meta.ctinfo == CtInfo::RelatedReply;
    if (reply_dir) return Verdict::Accept;
    if (ct->dying()) return Verdict::Drop;
    ct->timeout += now;  // relative to confirmation time
    // __nf_conntrack_confirm: each tuple in the chain of its own
    // direction's zone id.
    // An absence already seen at this link generation (in()'s lookup,
    // NAT's last nf_nat_used_tuple) still holds: no walk again.
    const Tuple& rt = ct->tuple[kReply];
    uint16_t rid = ct->zone.id_for(kReply);
    bool reply_free = free_memo_.gen == gen_ && detail::same_tuple(free_memo_.t, rt) && free_memo_.zone == ct->zone;
    ct->hash[kReply] = reply_free ? free_memo_.hash : hash_of(rt, rid);
    Dir d;
    Entry* other = nullptr;
    if (ct->free_gen != gen_)
      other = find_in(ct->tuple[kOriginal], ct->zone, ct->zone.id_for(kOriginal), ct->hash[kOriginal], &d);
    if (!other && !reply_free) other = find_in(rt, ct->zone, rid, ct->hash[kReply], &d);
    if (other) {
      // nf_ct_resolve_clash: UDP may take over an identical entry.
      // nf_ct_match: both tuples and the zone in both directions.
      bool same = other->tuple[kOriginal] == ct->tuple[kOriginal] && other->tuple[kReply] == ct->tuple[kReply] &&
                  other->zone.id_for(kOriginal) == ct->zone.id_for(kOriginal) &&
                  other->zone.id_for(kReply) == ct->zone.id_for(kReply);
      if (ct->proto() == kIpProtoUdp && same) {
        // nf_ct_acct_merge: the winner counts the packet (one, with the
        // loser's bytes in its direction).
        if (const Counter* k = counters(*ct)) {
          Dir pd = pkt.meta.ctinfo == CtInfo::EstablishedReply ? kReply : kOriginal;
          acct_update(other, pd, k[pd].bytes);
        }
        ++other->use;
        put(ct);
        pkt.meta.ct = other;
        deliver(other, now);
        return Verdict::Accept;
      }
      ct->timeout -= now;
      return Verdict::Drop;
    }
    ct->status |= status::kConfirmed;
    ++ct->use;  // the hash's reference
    link(ct);
    event_cache(ct, ct->master ? ipct::kRelated : ipct::kNew);
  }
  deliver(ct, now);
  return Verdict::Accept;
}

// ------------------------------------------------------------------- ICMP

Table::Action Table::icmp_packet(Entry* ct, Ctx& c) {
  // nf_conntrack_icmp_packet: only queries may create a connection.
  switch (ct->tuple[kOriginal].icmp_type) {
    case 8: case 13: case 15: case 17: break;
    default:
      c.reason = "icmp: can't create new conn";
      return Action::Invalid;
  }
  refresh(ct, uint64_t{cfg_.icmp_timeout} * kHz, c);
  return Action::Accept;
}

LookupResult Table::icmp_error(Packet& pkt, size_t dataoff, Zone zone, Ctx& c, bool* handled) {
  // nf_conntrack_icmpv4_error
  LookupResult r;
  *handled = true;
  ConstIpv4View ip = std::as_const(pkt).ip();
  std::span<const uint8_t> l4 = ip.payload();
  (void)dataoff;
  if (l4.size() < kIcmpHeader) {
    r.reason = "short packet";
    return r;
  }
  if (bad_checksum(pkt, c)) {
    r.reason = "bad hw icmp checksum";
    return r;
  }
  uint8_t type = l4[0];
  if (type > 18) {  // NR_ICMP_TYPES
    r.reason = "invalid icmp type";
    return r;
  }
  if (!icmp_is_error(type)) {
    *handled = false;
    return r;
  }
  // nf_conntrack_inet_error: the connection of the quoted datagram.
  Tuple inv;
  if (std::string_view why = error_lookup_tuple(l4, &inv); !why.empty()) {
    r.reason = why;
    return r;
  }
  Dir dir;
  uint32_t inv_hash;
  Entry* ct = find_live(inv, zone, &dir, c.now, &inv_hash);
  if (!ct) {
    r.reason = "no connection for the inner header";
    return r;
  }
  if (ip.daddr() != ct->tuple[dir].dst) {
    r.reason = "outer daddr != inner";
    return r;
  }
  ++ct->use;
  CtInfo ctinfo = dir == kReply ? CtInfo::RelatedReply : CtInfo::Related;
  pkt.meta.ct = ct;
  pkt.meta.ctinfo = ctinfo;
  r.ct = ct;
  r.ctinfo = ctinfo;
  return r;
}

// -------------------------------------------------------------------- UDP

Table::Action Table::udp_packet(Entry* ct, Packet& pkt, size_t dataoff, Ctx& c) {
  ConstIpv4View ip = pkt.ip();
  std::span<const uint8_t> l4 = ip.payload();
  (void)dataoff;
  // udp_error
  if (l4.size() < kUdpHeader) {
    c.reason = "short packet";
    return Action::Invalid;
  }
  uint16_t len = load16(l4.data() + 4);
  if (len > l4.size() || len < kUdpHeader) {
    c.reason = "truncated/malformed packet";
    return Action::Invalid;
  }
  if (load16(l4.data() + 6) != 0 && bad_checksum(pkt, c)) {
    c.reason = "bad checksum";
    return Action::Invalid;
  }
  if (!ct->confirmed()) ct->udp_stream_ts = 2 * kHz + c.now;
  if (ct->status & status::kSeenReply) {
    uint64_t extra = uint64_t{cfg_.udp_timeout} * kHz;
    bool stream = false;
    // Still active two seconds after the first packet: a stream.
    if (static_cast<int64_t>(c.now - ct->udp_stream_ts) > 0) {
      extra = uint64_t{cfg_.udp_timeout_stream} * kHz;
      stream = !(ct->status & status::kAssured);
    }
    refresh(ct, extra, c);
    if (ct->status & status::kNatClash) return Action::Accept;
    if (stream) {
      ct->status |= status::kAssured;
      event_cache(ct, ipct::kAssured);
    }
  } else {
    refresh(ct, uint64_t{cfg_.udp_timeout} * kHz, c);
  }
  return Action::Accept;
}

// --------------------------------------------------------- UDP-Lite, GRE

Table::Action Table::udplite_packet(Entry* ct, const Packet& pkt, Ctx& c) {
  ConstIpv4View ip = pkt.ip();
  std::span<const uint8_t> l4 = ip.payload();
  // udplite_error
  if (l4.size() < kUdpHeader) {
    c.reason = "short packet";
    return Action::Invalid;
  }
  size_t cscov = load16(l4.data() + 4);
  if (cscov == 0) {
    cscov = l4.size();
  } else if (cscov < kUdpHeader || cscov > l4.size()) {
    c.reason = "invalid checksum coverage";
    return Action::Invalid;
  }
  if (load16(l4.data() + 6) == 0) {
    c.reason = "checksum missing";
    return Action::Invalid;
  }
  if (c.hook == Hook::PreRouting && cfg_.checksum) {
    // nf_checksum_partial is given IPPROTO_UDP, not IPPROTO_UDPLITE, for
    // the pseudo-header: Linux checks UDP-Lite sums that way (verified).
    uint32_t sum = pseudo_header_sum(ip.saddr(), ip.daddr(), kIpProtoUdp, static_cast<uint32_t>(l4.size()));
    if (csum_fold(csum_bytes(l4.first(cscov), sum)) != 0xffff) {
      c.reason = "bad checksum";
      return Action::Invalid;
    }
  }
  // nf_conntrack_udplite_packet: no two-second rule.
  if (ct->status & status::kSeenReply) {
    refresh(ct, uint64_t{cfg_.udp_timeout_stream} * kHz, c);
    if (ct->status & status::kNatClash) return Action::Accept;
    if (!(ct->status & status::kAssured)) {
      ct->status |= status::kAssured;
      event_cache(ct, ipct::kAssured);
    }
  } else {
    refresh(ct, uint64_t{cfg_.udp_timeout} * kHz, c);
  }
  return Action::Accept;
}

Table::Action Table::gre_packet(Entry* ct, Ctx& c) {
  // nf_conntrack_gre_packet. (The kernel copies the timeouts into a new
  // entry; here a later sysctl change also reaches existing ones.)
  if (ct->status & status::kSeenReply) {
    refresh(ct, uint64_t{cfg_.gre_timeout_stream} * kHz, c);
    if (ct->status & status::kNatClash) return Action::Accept;
    if (!(ct->status & status::kAssured)) {
      ct->status |= status::kAssured;
      event_cache(ct, ipct::kAssured);
    }
  } else {
    refresh(ct, uint64_t{cfg_.gre_timeout} * kHz, c);
  }
  return Action::Accept;
}

}  // namespace nfemu::conntrack
