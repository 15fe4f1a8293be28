#include "replay/replay.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <deque>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>

#include "conntrack/conntrack.h"
#include "log/conntrack_text.h"
#include "net/host_setup.h"
#include "net/timeline.h"
#include "packet/bytes.h"
#include "packet/grammar.h"
#include "packet/mangle.h"
#include "packet/pcap_io.h"
#include "ruleset/restore.h"
#include "stack/ct_demand.h"
#include "stack/host.h"

namespace nfemu::replay {

namespace {

namespace fs = std::filesystem;

constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
constexpr uint8_t kIpProtoSctp = 132;
constexpr uint8_t kIpProtoUdpLite = 136;
constexpr uint16_t kEtherTypeVlan = 0x8100;
constexpr uint16_t kEtherTypeQinQ = 0x88a8;
constexpr size_t kVlanTag = 4;  // TCI and the inner EtherType
constexpr size_t kSllHeader = 16;
constexpr size_t kSll2Header = 20;
constexpr uint16_t kSllOutgoing = 4;  // PACKET_OUTGOING
// The other packet types of a cooked header (if_packet.h).
constexpr uint16_t kSllBroadcast = 1, kSllMulticast = 2, kSllOtherHost = 3;
constexpr uint32_t kLoopbackIndex = 1;  // LOOPBACK_IFINDEX: lo in every namespace

std::string seconds(uint64_t us) { return fmt::format("{}.{:06}", us / 1000000, us % 1000000); }

using packet::load16;

// A LINUX_SLL2 header (tcpdump -i any): protocol, reserved, interface
// index, ARPHRD type, packet type, address length, address (8 bytes).
struct Sll2 {
  uint16_t protocol;
  uint32_t index;
  uint8_t pkttype;
  uint8_t addr_len;
  const uint8_t* addr;
};
// `d` holds at least kSll2Header bytes.
[[gnu::always_inline]] inline Sll2 sll2_header(std::span<const uint8_t> d) {
  return {load16(d.data()), packet::load32(d.data() + 4), d[10], d[11], d.data() + 12};
}

// What became of one replayed frame on one host, compared by --diff.
struct Fate {
  enum class Kind : uint8_t { Vanished, Dropped, Delivered, Forwarded };
  Kind kind = Kind::Vanished;
  packet::IfName out;
  // The datagram as it left or was delivered (after NAT).
  uint32_t saddr = 0, daddr = 0;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  bool snat = false, dnat = false;
  size_t drop = SIZE_MAX;  // index in HostRun::drops_

  bool same_as(const Fate& o) const {
    return kind == o.kind && out == o.out && saddr == o.saddr && daddr == o.daddr && sport == o.sport &&
           dport == o.dport && proto == o.proto;
  }
};

// An input interface: its name, and the same as an IfName (what the
// observer compares packets' meta.in with), made once.
struct InputName {
  std::string_view name;
  packet::IfName key;
};

// a == b for interface names (short: IFNAMSIZ is 16) without a memcmp
// call: two overlapping loads from each.
inline bool same_name(std::string_view a, std::string_view b) {
  size_t n = a.size();
  if (n != b.size()) return false;
  auto load = [](const char* p, auto word) {
    std::memcpy(&word, p, sizeof word);
    return word;
  };
  const char *x = a.data(), *y = b.data();
  if (n >= 8 && n <= 16)
    return load(x, uint64_t{}) == load(y, uint64_t{}) && load(x + n - 8, uint64_t{}) == load(y + n - 8, uint64_t{});
  if (n >= 4 && n < 8)
    return load(x, uint32_t{}) == load(y, uint32_t{}) && load(x + n - 4, uint32_t{}) == load(y + n - 4, uint32_t{});
  if (n < 4) return n == 0 || (x[0] == y[0] && x[n / 2] == y[n / 2] && x[n - 1] == y[n - 1]);
  return a == b;
}

// One host being replayed into: the observer that attributes verdicts and
// the writers of its artifacts.
class HostRun : private stack::PathObserver {
 public:
  // `compared`: fates are compared with another host's (--diff), which
  // needs the addresses and ports each packet left with; the counters
  // need only the kind and the NAT flags.
  HostRun(std::unique_ptr<stack::Host> host, std::string label, uint64_t base_us, bool compared)
      : host_(std::move(host)), base_us_(base_us), compared_(compared) {
    stats_.label = std::move(label);
    // What leaves is counted and written by on_transmit, which the host
    // calls right before on_wire for every frame that leaves a link: one
    // virtual call per frame instead of two (and no std::function).
    host_->set_observer(this);
    for (const auto& ifc : host_->interfaces())
      if (ifc.name != "lo") outs_.push_back({ifc.name, std::nullopt, 0});
  }

  stack::Host& host() { return *host_; }
  const HostStats& stats() const { return stats_; }

  Result<void> open_artifacts(const fs::path& dir) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return make_error(fmt::format("cannot create {}: {}", dir.string(), ec.message()));
    dir_ = dir;
    kern_log_.open(dir / "kern.log", std::ios::binary);
    ct_events_.open(dir / "conntrack-events.txt", std::ios::binary);
    if (!kern_log_ || !ct_events_) return make_error(fmt::format("cannot write in {}", dir.string()));
    for (auto& o : outs_) {
      auto w = packet::PcapWriter::open((dir / (o.name + ".pcap")).string());
      if (!w) return w.error();
      o.writer.emplace(std::move(*w));
    }
    return {};
  }

  // One frame arriving on ifname at virtual time now_ns (0 = first frame).
  // The host works in pkt's buffer (Host::receive_frame): the caller
  // refills the same Packet for the next frame.
  const Fate& process(packet::Packet& pkt, const InputName& in, uint64_t now_ns) {
    begin_frame(now_ns, in.key);
    ++stats_.replayed;
    host_->receive_frame(pkt, in.name, now_ns);
    end_frame();
    switch (fate_.kind) {
      case Fate::Kind::Dropped: ++stats_.dropped; break;
      case Fate::Kind::Delivered: ++stats_.delivered; break;
      case Fate::Kind::Forwarded: ++stats_.forwarded; break;
      case Fate::Kind::Vanished: break;
    }
    stats_.snat += fate_.snat;
    stats_.dnat += fate_.dnat;
    return fate_;
  }

  // One of the host's own frames, replayed as what its socket sent
  // (ReplayOptions::own_output). The packets the host makes have no input
  // interface either: the injected datagram's fate is read as a
  // received frame's, from the packets whose meta.in is empty.
  const Fate& process_own(packet::Packet& pkt, uint64_t now_ns) {
    begin_frame(now_ns, packet::IfName{});
    ++stats_.own_sent;
    own_in_flight_ = true;
    host_->send_captured(pkt, now_ns);
    own_in_flight_ = false;
    end_frame();
    switch (fate_.kind) {
      case Fate::Kind::Dropped: ++stats_.own_dropped; break;
      case Fate::Kind::Delivered: ++stats_.own_delivered; break;
      case Fate::Kind::Forwarded: ++stats_.own_out; break;
      case Fate::Kind::Vanished: break;
    }
    return fate_;
  }

  // Before a frame: the timers and expiries due by its time, a fresh fate
  // for the packets arriving on `in` (empty: the host's own).
  [[gnu::always_inline]] void begin_frame(uint64_t now_ns, const packet::IfName& in) {
    if (host_->timer_epoch() != timer_epoch_ || next_timer_ns_ <= now_ns) [[unlikely]]
      run_timers(now_ns);
    now_ns_ = now_ns;
    // The expiries' events are collected with the packet's, after it: the
    // queue keeps their order, and one look per frame is enough.
    host_->conntrack().expire_until(now_ns);
    fate_ = Fate{};
    cur_in_ = in;
    drop_chain_ = nullptr;
    drop_reason_ = SIZE_MAX;
  }
  [[gnu::always_inline]] void end_frame() {
    collect_events();
    stats_.ct_peak = std::max<uint64_t>(stats_.ct_peak, host_->conntrack().count());
  }

  std::string describe(const Fate& f) const {
    auto endpoint = [&](uint32_t a, uint16_t port) {
      return f.proto == 6 || f.proto == 17 ? fmt::format("{}:{}", packet::format_ipv4_addr(a), port)
                                           : packet::format_ipv4_addr(a);
    };
    std::string nat;
    if (f.snat || f.dnat)
      nat = fmt::format(" [{}{}{}]", f.snat ? "SNAT" : "", f.snat && f.dnat ? "+" : "", f.dnat ? "DNAT" : "");
    switch (f.kind) {
      case Fate::Kind::Dropped:
        return fmt::format("DROP by {}", f.drop < drops_.size() ? drops_[f.drop].text : "?");
      case Fate::Kind::Delivered:
        return fmt::format("delivered locally {} > {}{}", endpoint(f.saddr, f.sport), endpoint(f.daddr, f.dport), nat);
      case Fate::Kind::Forwarded:
        return fmt::format("out {} {} > {}{}", f.out.view(), endpoint(f.saddr, f.sport), endpoint(f.daddr, f.dport),
                           nat);
      case Fate::Kind::Vanished: break;
    }
    return "no verdict (consumed without a decision)";
  }

  // The host's timers due up to `until` (a listener's SYN-ACK
  // retransmissions and its request socks' expiry, fragment queues'
  // expiry), each at its own time, as the capture's clock passes them;
  // conntrack's expiries before each, as the network's run does.
  [[gnu::noinline, gnu::cold]] void run_timers(uint64_t until) {
    for (;;) {
      std::optional<uint64_t> t = host_->next_timer();
      if (!t || *t > until) {
        next_timer_ns_ = t ? *t : UINT64_MAX;
        timer_epoch_ = host_->timer_epoch();
        return;
      }
      now_ns_ = *t;
      host_->conntrack().expire_until(*t);
      host_->run_timers(*t);
      collect_events();
    }
  }

  Result<void> finish(uint64_t now_ns) {
    if (host_->timer_epoch() != timer_epoch_ || next_timer_ns_ <= now_ns) run_timers(now_ns);
    now_ns_ = now_ns;
    auto& ct = host_->conntrack();
    ct.expire_until(now_ns);
    collect_events();
    std::vector<std::string> table;
    for (const auto& v : ct.dump(now_ns)) {
      std::string state(log::ct_proto_name(v.orig.proto));
      if (v.has_tcp_state) state += fmt::format(" {}", conntrack::to_string(v.tcp_state));
      if (v.has_sctp_state) state += fmt::format(" {}", conntrack::to_string(v.sctp_state));
      if (v.status & conntrack::status::kAssured) state += " [ASSURED]";
      else if (!(v.status & conntrack::status::kSeenReply)) state += " [UNREPLIED]";
      ++stats_.connections[state];
      if (!dir_.empty()) table.push_back(net::conntrack_list_text(v));
    }
    write_pending_texts();
    for (const auto& d : drops_)
      if (d.count) stats_.dropped_by[d.text] += d.count;
    for (const auto& c : chain_drops_)
      for (size_t i = 0; i < c->counts.size(); ++i)
        if (c->counts[i]) stats_.dropped_by[drops_[c->texts[i]].text] += c->counts[i];
    for (const auto& o : outs_) stats_.out_frames[o.name] = o.frames;
    for (const auto& [reason, n] : invalid_) stats_.ct_invalid[reason] += n;
    stats_.foreign_isn_acks = host_->foreign_isn_acks();
    if (dir_.empty()) return {};
    std::sort(table.begin(), table.end());
    std::ofstream list(dir_ / "conntrack.txt", std::ios::binary);
    for (const auto& l : table) list << l << '\n';
    std::ofstream save(dir_ / "iptables-save.txt", std::ios::binary);
    save << ruleset::save(host_->ruleset(), {.counters = true});
    if (!host_->nfacct().empty()) {
      std::ofstream acct(dir_ / "nfacct.txt", std::ios::binary);
      acct << host_->nfacct().list_text();
      if (!acct) return make_error(fmt::format("write error in {}", dir_.string()));
    }
    kern_log_.close();
    ct_events_.close();
    if (!list || !save || !kern_log_ || !ct_events_)
      return make_error(fmt::format("write error in {}", dir_.string()));
    for (auto& o : outs_)
      if (o.writer)
        if (auto r = o.writer->close(); !r) return r;
    return {};
  }

  void write_summary(const std::string& text) {
    if (dir_.empty()) return;
    std::ofstream out(dir_ / "summary.txt", std::ios::binary);
    out << text;
  }

 private:
  struct Out {
    std::string name;
    std::optional<packet::PcapWriter> writer;
    uint64_t frames;
  };
  struct DropEntry {
    std::string text;
    uint64_t count = 0;
  };

  bool original(const packet::Packet& pkt) const { return pkt.meta.in == cur_in_; }

  void collect_events() {
    auto& ct = host_->conntrack();
    if (ct.events().empty()) return;
    ct.take_events(&events_);  // swaps buffers: no allocation once both are warm
    for (const auto& ev : events_) {
      switch (ev.type) {
        case conntrack::EventType::New: ++stats_.ct_new; break;
        case conntrack::EventType::Update: ++stats_.ct_update; break;
        case conntrack::EventType::Destroy: ++stats_.ct_destroy; break;
      }
      if (ct_events_.is_open()) {
        net::conntrack_event_text(ct_line_, ev);
        ct_events_ << ct_line_ << '\n';
      }
    }
  }

  void wire(std::string_view ifname, const packet::Packet& pkt) {
    if (pkt.meta.in.empty() && !own_in_flight_) ++stats_.generated;
    for (auto& o : outs_) {
      if (!same_name(o.name, ifname)) continue;
      ++o.frames;
      if (!o.writer) return;
      // A padded datagram is written as the capture had it: its real bytes.
      auto frame = pkt.frame();
      const size_t real = frame.size() - pkt.size() + pkt.meta.captured_len;
      if (pkt.meta.captured_len && real < frame.size()) [[unlikely]]
        o.writer->write(base_us_ + now_ns_ / 1000, frame.first(real), static_cast<uint32_t>(frame.size()));
      else
        o.writer->write(base_us_ + now_ns_ / 1000, frame);
      return;
    }
  }

  // Drops by a rule or a chain's policy are counted in a cell of that
  // chain, by rule number (the policy's is cell 0: rule numbers start at
  // 1): one 8-byte counter per drop, 80 KB for a 10k-rule chain (it was a
  // 256 KB hash table of rule addresses, then a 190 KB vector of texts with
  // their counts: two cache misses per drop).
  struct ChainDrops {
    const char* key;  // the chain name's bytes: one chain of one table
    std::vector<uint64_t> counts;
    std::vector<uint32_t> texts;  // index in drops_, from the cell's first verdict
  };
  ChainDrops& chain_drops(const char* key) {
    if (last_chain_ && last_chain_->key == key) [[likely]]
      return *last_chain_;
    for (auto& c : chain_drops_)
      if (c->key == key) return *(last_chain_ = c.get());
    chain_drops_.push_back(std::make_unique<ChainDrops>(ChainDrops{key, {}, {}}));
    return *(last_chain_ = chain_drops_.back().get());
  }
  // A table's verdict other than ACCEPT: its rule, policy or hotdrop, which
  // the packet's drop (on_drop) is then counted against. Out of line: the
  // accepting tables of most packets need none of it.
  [[gnu::noinline]] void table_verdict(xt::Hook hook, xt::TableId t, const xt::VerdictSource& ev) {
    if (!ev.chain.empty()) {
      ChainDrops& c = chain_drops(ev.chain.data());
      size_t cell = ev.rule ? static_cast<size_t>(ev.rulenum) : 0;
      if (cell >= c.counts.size()) {
        c.counts.resize(cell + 1);
        c.texts.resize(cell + 1, UINT32_MAX);
      }
      // The text is made at the cell's first verdict (a cell counted
      // already has one: texts[] is read only then).
      if (c.counts[cell] == 0 && c.texts[cell] == UINT32_MAX) [[unlikely]]
        first_verdict(c, cell, t, ev);
      drop_chain_ = &c;
      drop_cell_ = cell;
      drop_reason_ = SIZE_MAX;
    } else {
      std::string text = fmt::format("{} {} (no rule matched: hotdrop)", xt::table_name(t), xt::hook_chain_name(hook));
      drop_chain_ = nullptr;
      drop_reason_ = reason_index(text);
    }
  }
  // The cell's text is written when it is first read: at the end, or at
  // once when every packet's fate is compared (--diff prints it). A rule's
  // text is its spec printed back (Rule::spec_text), some 7000
  // instructions: made in the frame loop for each of the 4768 dropping
  // rules of the 1M-frame fw benchmark, that was 1.6 % of its instructions.
  [[gnu::noinline, gnu::cold]] void first_verdict(ChainDrops& c, size_t cell, xt::TableId t,
                                                  const xt::VerdictSource& ev) {
    c.texts[cell] = static_cast<uint32_t>(drops_.size());
    drops_.push_back({{}, 0});
    PendingText p{c.texts[cell], t, ev.chain.data(), static_cast<uint32_t>(ev.chain.size()), ev.rulenum, ev.rule};
    if (compared_) drops_.back().text = drop_text(p);
    else pending_texts_.push_back(p);
  }
  // What first_verdict saw; the rule and the chain's name stay where they
  // are until the host goes (replay changes no rule).
  struct PendingText {
    uint32_t drop;  // index in drops_
    xt::TableId table;
    const char* chain;
    uint32_t chain_len;
    int rulenum;
    const xt::Rule* rule;  // nullptr: the chain's policy
  };
  static std::string drop_text(const PendingText& p) {
    // The event's table is the one walked: TraceEvent::table is
    // xt::Table::name(), table_name of its id.
    const std::string_view table = xt::table_name(p.table), chain(p.chain, p.chain_len);
    return p.rule ? fmt::format("{} {} rule {}: -A {}{}", table, chain, p.rulenum, chain, p.rule->spec_text())
                  : fmt::format("{} {} policy", table, chain);
  }
  void write_pending_texts() {
    for (const auto& p : pending_texts_) drops_[p.drop].text = drop_text(p);
    pending_texts_.clear();
  }

  void leave(Fate::Kind kind, const packet::Packet& pkt) {
    fate_.kind = kind;
    stats_.partial += pkt.meta.csum_partial;
    // A dropped datagram may be one ip_rcv refused: its header is not to
    // be read. Drops compare by kind alone anyway.
    if (kind == Fate::Kind::Dropped) return;
    if (auto* ct = static_cast<const conntrack::Entry*>(pkt.meta.ct)) {
      fate_.snat = ct->status & conntrack::status::kSrcNat;
      fate_.dnat = ct->status & conntrack::status::kDstNat;
    }
    if (!compared_) return;
    auto ip = pkt.ip();
    fate_.saddr = ip.saddr();
    fate_.daddr = ip.daddr();
    fate_.proto = ip.protocol();
    auto l4 = ip.payload();
    if ((fate_.proto == 6 || fate_.proto == 17) && ip.frag_offset() == 0 && l4.size() >= 4) {
      fate_.sport = load16(l4.data());
      fate_.dport = load16(l4.data() + 2);
    }
  }

  // Only what gave each verdict is counted: it is read in on_table, and
  // no call is made for every rule a packet matches.
  bool watches_rules() const override { return false; }
  void on_table(const stack::Host& h, xt::Hook hook, xt::TableId t, xt::Verdict v, const packet::Packet& pkt) override {
    if (!original(pkt)) return;
    if (v != xt::Verdict::Accept) table_verdict(hook, t, *h.verdict_source());
  }
  size_t reason_index(std::string_view reason) {
    auto it = reasons_.find(reason);
    if (it != reasons_.end()) return it->second;
    reasons_.emplace(std::string(reason), drops_.size());
    drops_.push_back({std::string(reason), 0});
    return drops_.size() - 1;
  }
  void on_drop(const stack::Host&, std::string_view reason, const packet::Packet& pkt) override {
    if (!original(pkt)) return;
    leave(Fate::Kind::Dropped, pkt);
    if (drop_chain_) {
      ++drop_chain_->counts[drop_cell_];
      if (compared_) fate_.drop = drop_chain_->texts[drop_cell_];
      return;
    }
    fate_.drop = drop_reason_ != SIZE_MAX ? drop_reason_ : reason_index(reason);
    ++drops_[fate_.drop].count;
  }
  void on_local_deliver(const stack::Host&, const packet::Packet& pkt) override {
    if (original(pkt)) leave(Fate::Kind::Delivered, pkt);
  }
  void on_transmit(const stack::Host&, std::string_view ifname, const packet::Packet& pkt) override {
    if (ifname == "lo") return;
    // The name compared as it comes (no IfName made on the stack and read
    // back at once: a store-forwarding stall per frame).
    wire(ifname, pkt);
    if (!original(pkt)) return;
    leave(Fate::Kind::Forwarded, pkt);
    if (compared_) fate_.out = packet::IfName(ifname);
  }
  // The summary and the artifacts show no NAT step: the host need not
  // copy each NATed datagram's start for on_nat.
  bool watches_nat() const override { return false; }
  void on_unsupported(const stack::Host&, std::string_view extension) override {
    if (std::find(stats_.unsupported.begin(), stats_.unsupported.end(), extension) == stats_.unsupported.end())
      stats_.unsupported.emplace_back(extension);
  }
  void on_conntrack_invalid(const stack::Host&, xt::Hook, std::string_view reason, const packet::Packet& pkt) override {
    if (!original(pkt)) return;
    // A handful of reasons: a linear search, and a string only for a new one.
    for (auto& [text, n] : invalid_)
      if (text == reason) {
        ++n;
        return;
      }
    invalid_.emplace_back(std::string(reason), 1);
  }
  void on_kernel_log(const stack::Host&, const std::string& line) override {
    ++stats_.log_lines;
    if (kern_log_.is_open()) kern_log_ << line << '\n';
  }
  // Without --out the lines are only counted.
  bool wants_log_text() const override { return kern_log_.is_open(); }

  std::unique_ptr<stack::Host> host_;
  uint64_t base_us_;
  bool compared_;
  uint64_t now_ns_ = 0;
  // What run_timers last learned: the host's next timer, and its epoch then.
  uint64_t next_timer_ns_ = UINT64_MAX;
  uint64_t timer_epoch_ = 0;
  HostStats stats_;
  fs::path dir_;
  std::ofstream kern_log_, ct_events_;
  std::string ct_line_;  // the event line being written, its capacity kept
  std::vector<std::pair<std::string, uint64_t>> invalid_;  // conntrack INVALID, by reason
  std::vector<conntrack::Event> events_;
  std::vector<Out> outs_;
  Fate fate_;
  packet::IfName cur_in_;
  bool own_in_flight_ = false;  // process_own: what leaves is the capture's, not made by the host
  // The packet's last rule event in the table being walked (TraceEvent's
  // fields but the table's, copied one by one). chain null: none since the
  // last table's end (an xt::Chain's name, a std::string, is never null).
  // What the packet's drop is counted against: a chain's cell, or a
  // reason (index in drops_), or neither (the drop's own reason).
  ChainDrops* drop_chain_ = nullptr;
  size_t drop_cell_ = 0;
  size_t drop_reason_ = SIZE_MAX;
  std::vector<DropEntry> drops_;  // every drop text; the counts of reasons
  std::vector<PendingText> pending_texts_;  // drops_ whose text is not written yet
  std::vector<std::unique_ptr<ChainDrops>> chain_drops_;
  ChainDrops* last_chain_ = nullptr;
  std::map<std::string, size_t, std::less<>> reasons_;
};

// Draws `[#####     ]  45%  1.2M frames` on stderr, at most five times a second.
class Progress {
 public:
  // `label` starts the line: what is being read.
  explicit Progress(bool on, const char* label = "") : on_(on), label_(label) {}
  void update(uint64_t frames, uint64_t done, uint64_t total) {
    if (!on_ || (frames & 1023) != 0) return;
    auto now = std::chrono::steady_clock::now();
    if (now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    draw(frames, done, total);
  }
  void end(uint64_t frames, uint64_t total) {
    if (!on_) return;
    draw(frames, total, total);
    std::fputc('\n', stderr);
  }

 private:
  void draw(uint64_t frames, uint64_t done, uint64_t total) {
    constexpr int kWidth = 30;
    double frac = total ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total)) : 0;
    int filled = static_cast<int>(frac * kWidth);
    std::fprintf(stderr, "\r%s[%s%s] %3d%%  %llu frames", label_, std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(), static_cast<int>(frac * 100),
                 static_cast<unsigned long long>(frames));
    std::fflush(stderr);
  }
  bool on_;
  const char* label_;
  std::chrono::steady_clock::time_point last_{};
};

// Where frames arrive. A port is an interface of the host frames arrive
// on: its MAC and its neighbour's, the header given to frames captured
// without one (raw IP, Linux cooked), and its name. A plain input's frames
// all arrive on one port; an "any" input's on the port its LINUX_SLL2
// header's interface index names.
struct InputLink {
  packet::Mac own{};
  packet::Mac peer{};
  // The scenario gave the interface its MAC (not the default one), so a
  // frame to another unicast MAC is one the kernel would have classed
  // PACKET_OTHERHOST. With the default MAC the capture's MACs are not the
  // host's anyway: every unicast frame is taken as addressed to it.
  bool mac_given = false;
};
struct Ports {
  std::vector<InputLink> links;   // by port
  std::vector<InputName> names;   // by port
  struct Route {
    size_t port = 0;        // a plain input's
    bool by_index = false;  // "any": the frame's interface index says
    // A pcapng "any" input: the port of each of its interfaces (by the
    // number Merger gives it), worked out from their names as frames meet
    // them (a later section may describe more): kNoPort where the host has
    // no interface of that name, kLoopPort for lo (the host's own traffic).
    mutable std::vector<int32_t> by_name;
    uint32_t named = 0;  // by_name is used (to_packet tests it with the frame's interface)
    const std::vector<PcapngInterface>* capture_ifaces = nullptr;  // the Merger's, read as it reads the file
    std::vector<std::pair<std::string, int32_t>> host_ports;        // the host's interfaces by name
    static constexpr int32_t kNoPort = -1, kLoopPort = -2;
    // "any" inputs: the ports of their interfaces start here, in the order
    // of the input's by_interface counts.
    bool per_interface = false;
    size_t first_port = 0;
    // An Ethernet input's VLANs: an 802.1Q frame of VLAN v arrives on the
    // host's interface named IFNAME.v (the name `ip link add link IFNAME
    // type vlan id v` gives), untagged, as the kernel's VLAN device
    // receives it. Tags of other VLANs: not replayed (counted; the kernel
    // makes them PACKET_OTHERHOST, which ip_rcv drops).
    std::vector<std::pair<uint16_t, size_t>> vlans;
    std::optional<size_t> vlan_port(uint16_t vid) const {
      for (const auto& [v, p] : vlans)
        if (v == vid) return p;
      return std::nullopt;
    }
  };
  std::vector<Route> of_input;
  // Interface index -> port: the few --ifindex names, whose ports follow
  // the plain inputs' (an "any" input's by_interface is in this order).
  std::vector<std::pair<uint32_t, size_t>> of_index;
  size_t first_index_port = 0;

  std::optional<size_t> port_of_index(uint32_t index) const {
    for (const auto& [i, port] : of_index)
      if (i == index) return port;
    return std::nullopt;
  }
};

// A header for a frame captured without one (Linux cooked, raw IP): the
// port's MACs, the link-layer source the capture kept if it kept one. A
// cooked header's packet type says what eth_type_trans made of the
// destination (the host's stack and the pkttype match read it from the
// destination MAC): broadcast and multicast get a group address.
[[gnu::always_inline]] inline void cook(packet::EthernetHeader& eth, const InputLink& link, uint16_t ethertype,
                                        uint16_t addr_len, const uint8_t* addr, uint16_t pkttype = 0) {
  eth.dst = link.own;
  if (pkttype == kSllBroadcast) [[unlikely]]
    eth.dst = packet::Mac{0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  else if (pkttype == kSllMulticast) [[unlikely]]
    eth.dst = packet::Mac{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
  eth.src = link.peer;
  eth.ethertype = ethertype;
  if (addr_len == 6) std::copy_n(addr, 6, eth.src.begin());
}

// eth_type_trans: a unicast frame to a MAC not the interface's is
// PACKET_OTHERHOST, which ip_rcv drops before PREROUTING (a capture in
// promiscuous mode holds them). Tagged frames: the VLAN device decides,
// not modelled. Apart, like zero_fill: it keeps to_packet small.
[[gnu::cold, gnu::noinline]] bool to_other_host(const packet::EthernetHeader& eth, bool untagged) {
  return untagged && !(eth.dst[0] & 1);
}

// A datagram the snaplen cut, zero-filled to its length (ReplayOptions::
// FixLen::Pad). Apart: the frame loop inlines Packet::assign only while
// to_packet stays small.
[[gnu::cold, gnu::noinline]] void zero_fill(packet::Packet& pkt, size_t full, size_t captured) {
  pkt.resize(full);
  pkt.meta.captured_len = static_cast<uint16_t>(captured);
}

// The length on the wire of a datagram that the capture's snaplen cut, if
// everything the kernel's netfilter reads of it is in the capture: the
// IPv4 header with its options, the transport header (conntrack's tuple
// and state, the port and flag matches), an ICMP error's quoted IPv4 and
// transport headers. Else 0: zeros would stand for header fields. A later
// fragment has no transport header. The length is the IPv4 total length,
// or the frame's own if that was shorter on the wire (the kernel drops
// such a datagram: so does the host).
[[gnu::noinline]] size_t padded_length(std::span<const uint8_t> l3, size_t wire_len) {
  auto whole = [&](size_t n) { return n <= l3.size(); };
  if (!whole(packet::kIpv4MinHeader) || (l3[0] >> 4) != 4) return 0;
  const size_t ihl = size_t{l3[0] & 0x0fu} * 4;
  if (ihl < packet::kIpv4MinHeader || !whole(ihl)) return 0;
  const size_t full = std::min<size_t>(load16(l3.data() + 2), wire_len);
  if ((load16(l3.data() + 6) & 0x1fff) != 0) return full;
  switch (l3[9]) {
    case packet::kIpProtoTcp:
      return whole(ihl + packet::kTcpMinHeader) && whole(ihl + size_t{l3[ihl + 12]} / 16 * 4) ? full : 0;
    case packet::kIpProtoUdp:
    case kIpProtoUdpLite: return whole(ihl + packet::kUdpHeader) ? full : 0;
    case kIpProtoSctp: return whole(ihl + 16) ? full : 0;  // the common header and the first chunk's
    case packet::kIpProtoIcmp: {
      const size_t inner = ihl + packet::kIcmpHeader;
      if (!whole(inner)) return 0;
      if (!packet::icmp_is_error(l3[ihl])) return full;
      if (!whole(inner + packet::kIpv4MinHeader)) return 0;
      return whole(inner + size_t{l3[inner] & 0x0fu} * 4 + 8) ? full : 0;
    }
    default: return full;
  }
}

// A pcapng input's frame: the port of the host's interface named as the
// frame's interface (f.interface), or false (counted) where there is none;
// `outbound` where its epb_flags say the captured host sent it. A plain
// input's pcapng file has one interface; frames of another one (a later
// section's) are not replayed. A frame received in promiscuous mode was
// for another host (PACKET_OTHERHOST).
[[gnu::cold, gnu::noinline]] bool pcapng_port(const MergedFrame& f, const Ports::Route& route,
                                              ReplaySummary::InputStats& in, size_t& port, bool& outbound) {
  const uint32_t direction = f.flags & PcapngPacket::kDirectionMask;
  outbound = direction == PcapngPacket::kOutbound;
  if (!outbound && (f.flags & PcapngPacket::kReceptionMask) == PcapngPacket::kPromiscuous)
    return ++in.other_host, false;
  if (!route.named && f.interface == 0) return true;
  // Interfaces new to this input get their ports by name.
  for (size_t k = route.by_name.size(); route.capture_ifaces && k <= f.interface && k < route.capture_ifaces->size();
       ++k) {
    const std::string& name = (*route.capture_ifaces)[k].name;
    int32_t p = name == "lo" ? Ports::Route::kLoopPort : Ports::Route::kNoPort;
    for (const auto& [host_name, host_port] : route.host_ports)
      if (host_name == name) p = host_port;
    route.by_name.push_back(p);
  }
  if (f.interface < route.by_name.size()) {
    const int32_t p = route.by_name[f.interface];
    if (p >= 0) {
      port = static_cast<size_t>(p);
      return true;
    }
    if (p == Ports::Route::kLoopPort) return ++in.own, false;  // the host talking to itself
  }
  ++in.unnamed[f.interface];
  return false;
}

// The frame as the host's receive() takes it, written into `pkt` (whose
// buffer is reused frame after frame) with the port it arrives on: an
// Ethernet frame carrying IPv4, or false and the reason it is not replayed
// (counted in `in`).
// Inlined into both frame loops: a call per frame showed in callgrind.
// The host's own frames (`own`) are counted and skipped, or, with
// own_output, returned like the others for HostRun::process_own.
[[gnu::always_inline]] inline bool to_packet(const MergedFrame& f, const Ports& ports, bool pad, bool own_output,
                                             ReplaySummary::InputStats& in, packet::Packet& pkt, size_t& port,
                                             bool& own_out) {
  // A local, not own_out: stores through a bool& that may alias the
  // counters made GCC reload it after each.
  bool own = false;
  std::span<const uint8_t> d = f.data;
  const Ports::Route& route = ports.of_input[f.input];
  port = route.port;
  bool outbound = false;  // a pcapng frame's epb_flags say so
  if ((f.interface | f.flags | route.named) != 0) [[unlikely]] {
    if (!pcapng_port(f, route, in, port, outbound)) return false;
  }
  packet::EthernetHeader eth;
  std::span<const uint8_t> l3;
  if (f.linktype == kDltEthernet) {
    if (d.size() < packet::kEthernetHeader) return ++in.runt, false;
    std::memcpy(eth.dst.data(), d.data(), 6);
    std::memcpy(eth.src.data(), d.data() + 6, 6);
    eth.ethertype = load16(d.data() + 12);
    l3 = d.subspan(packet::kEthernetHeader);
    if (eth.ethertype == kEtherTypeVlan && l3.size() >= kVlanTag) [[unlikely]] {
      // VLAN 0 is a priority tag: the frame is the link's own.
      const uint16_t vid = load16(l3.data()) & 0x0fff;
      std::optional<size_t> to = vid == 0 ? std::optional<size_t>(port) : route.vlan_port(vid);
      if (to) {
        port = *to;
        eth.ethertype = load16(l3.data() + 2);
        l3 = l3.subspan(kVlanTag);
      }
    }
    const InputLink& link = ports.links[port];
    if (eth.src == link.own || outbound) {  // the host's own output, captured both ways
      ++in.own;
      if (!own_output) return false;
      own = true;
    } else if (link.mac_given && eth.dst != link.own) [[unlikely]] {
      if (to_other_host(eth, port == route.port)) return ++in.other_host, false;
    }
  } else if (f.linktype == kDltLinuxSll) {
    if (d.size() < kSllHeader) return ++in.runt, false;
    const uint16_t pkttype = load16(d.data());
    if (pkttype == kSllOutgoing || outbound) {
      ++in.own;
      if (!own_output) return false;
      own = true;
    }
    if (pkttype == kSllOtherHost) return ++in.other_host, false;
    cook(eth, ports.links[port], load16(d.data() + 14), load16(d.data() + 4), d.data() + 6, pkttype);
    l3 = d.subspan(kSllHeader);
  } else if (f.linktype == kDltLinuxSll2) {
    if (d.size() < kSll2Header) return ++in.runt, false;
    const Sll2 h = sll2_header(d);
    if (h.index == kLoopbackIndex) return ++in.own, false;  // the host talking to itself
    if (h.pkttype == kSllOutgoing || outbound) {
      ++in.own;
      if (!own_output) return false;
      own = true;
    }
    if (h.pkttype == kSllOtherHost) return ++in.other_host, false;
    if (route.by_index) {
      auto p = ports.port_of_index(h.index);
      if (!p) {
        if (!own) ++in.unnamed[h.index];
        return false;
      }
      port = *p;
    }
    cook(eth, ports.links[port], h.protocol, h.addr_len, h.addr, h.pkttype);
    l3 = d.subspan(kSll2Header);
  } else {  // raw IP: the version nibble says which
    if (d.empty()) return ++in.runt, false;
    if (outbound) [[unlikely]] {
      ++in.own;
      if (!own_output) return false;
      own = true;
    }
    cook(eth, ports.links[port], (d[0] >> 4) == 4 ? packet::kEtherTypeIpv4 : (d[0] >> 4) == 6 ? kEtherTypeIpv6 : 0, 0,
         nullptr);
    l3 = d;
  }
  // An own frame is counted as own, whatever it carries.
  if (own && eth.ethertype != packet::kEtherTypeIpv4) [[unlikely]]
    return false;
  switch (eth.ethertype) {
    case packet::kEtherTypeIpv4: break;
    case kEtherTypeIpv6: return ++in.ipv6, false;
    case packet::kEtherTypeArp: return ++in.arp, false;
    case kEtherTypeVlan:
    case kEtherTypeQinQ: return ++in.vlan, false;
    default: return ++in.other, false;
  }
  // A datagram longer than what was captured (snaplen): as it is, the host
  // would see a different packet; with its headers whole it can be padded
  // (ReplayOptions::FixLen). Link padding cut off is fine.
  size_t full = 0;
  if (f.data.size() < f.orig_len && l3.size() >= 4 && load16(l3.data() + 2) > l3.size()) [[unlikely]] {
    full = padded_length(l3, l3.size() + (f.orig_len - f.data.size()));
    if (own) {
      if (!full || !pad) return false;
    } else {
      if (!full) ++in.cut_in_headers;
      if (!full || !pad) return ++in.cut, false;
      ++in.padded;
    }
  }
  // One path for both (a second copy of it made GCC call set_mac_header
  // out of line: 26 instructions a frame).
  if (!own) [[likely]] {
    ++in.ipv4;
    if (route.per_interface) ++in.by_interface[port - route.first_port].second;
  }
  pkt.assign(l3);
  pkt.meta = packet::PacketMeta{};
  if (full) [[unlikely]] zero_fill(pkt, full, l3.size());
  pkt.set_mac_header(eth);
  own_out = own;
  return true;
}

// Appends one formatted line to a string.
struct Lines {
  std::string& o;
  template <class... A>
  void operator()(fmt::format_string<A...> f, A&&... a) {
    fmt::format_to(std::back_inserter(o), f, std::forward<A>(a)...);
    o += '\n';
  }
};

// A difference's frame in the packet grammar when it can say it exactly,
// its payload's text cut after kDiffDataShown bytes (a real capture's
// segments carry up to ~64k of them); else its addresses, ports and flags
// as the timeline writes them (a real SYN's timestamp and window-scale
// options are beyond the grammar). The ordinal and the capture's frame
// number beside it say which frame it was either way.
constexpr size_t kDiffDataShown = 48;

std::string frame_text(const packet::Packet& pkt) {
  auto ip = packet::parse_ipv4(pkt.data());
  if (!ip) return fmt::format("{} bytes ({})", pkt.size(), ip.error().message);
  auto spec = packet::spec_from_packet(*ip);
  if (!spec) return fmt::format("{}, {} bytes", net::describe_headers(pkt.data()), pkt.size());
  if (spec->data.size() <= kDiffDataShown) return packet::format_spec(*spec);
  const size_t whole = spec->data.size();
  spec->data.resize(kDiffDataShown);
  spec->payload = kDiffDataShown;
  return fmt::format("{}... ({} bytes of data)", packet::format_spec(*spec), whole);
}

// Whether Table::prefetch may read pkt: the IPv4 header and the datagram
// it announces lie within the bytes (receive_frame checks the rest, the
// checksum included, before conntrack sees the packet).
bool header_in_bounds(const packet::Packet& pkt) {
  auto d = pkt.data();
  if (d.size() < 20 || (d[0] >> 4) != 4) return false;
  size_t ihl = size_t{d[0] & 0x0fu} * 4;
  size_t total = load16(d.data() + 2);
  return ihl >= 20 && ihl <= total && total <= d.size();
}

// ReplayOptions::own_output: which of the host's own frames its sockets
// sent. A forward leaves with the host's MAC too: one whose source is not
// the host's address is told at once; one that source NAT gave the host's
// address (MASQUERADE, or the reply of a DNATed connection) is known by
// the datagram it was when it came in on a link: the kernel forwards the
// IP id, destination, protocol and length unchanged, and NAT rewrites
// only the ports (an ICMP echo's id) and checksums of the transport
// bytes. Those came in within the last second: a forward takes far less,
// and a 4-way table of 16384 sets keeps a second of 65536 frames.
class OwnFrames {
 public:
  enum class Kind : uint8_t { Output, Forwarded, Answer, Group };

  // Every replayed (not own) frame, as it arrives.
  void arrived(const packet::Packet& pkt, uint64_t ts_us) {
    if (!header_in_bounds(pkt)) return;
    const uint64_t key = identity_of(pkt.ip());
    Way* set = &ways_[(key & (kSets - 1)) * kWays];
    Way* oldest = set;
    for (size_t w = 0; w < kWays; ++w) {
      if (set[w].key == key) {
        set[w].ts_us = ts_us;
        return;
      }
      if (set[w].ts_us < oldest->ts_us) oldest = &set[w];
    }
    *oldest = {key, ts_us};
  }

  // An own frame's kind. The frames that came in up to kLookahead frames
  // after it in the merged stream must have been given to arrived() first:
  // a forward's two copies may carry the same time stamp, the outgoing one
  // first when its capture is the first --in (nfemu run's captures do).
  static constexpr uint64_t kLookahead = 8;
  Kind classify(const stack::Host& h, const packet::Packet& pkt, uint64_t ts_us) const {
    const Kind k = prejudge(h, pkt);
    return k == Kind::Output && came_in(identity(pkt.ip()), ts_us) ? Kind::Forwarded : k;
  }
  // All but the last test: Output here may still be a forward.
  static Kind prejudge(const stack::Host& h, const packet::Packet& pkt) {
    if (!header_in_bounds(pkt)) return Kind::Forwarded;
    auto ip = pkt.ip();
    const uint32_t daddr = ip.daddr();
    if ((daddr >> 28) == 0xe || daddr == 0xffffffffu || h.fib().addr_type(daddr) == stack::RouteType::Broadcast)
      return Kind::Group;
    if (h.fib().addr_type(ip.saddr()) != stack::RouteType::Local) return Kind::Forwarded;
    auto l4 = ip.payload();
    if (ip.frag_offset() == 0) {
      // The answers nfemu makes itself: every ICMP message but a request
      // (echo, timestamp, information, address mask), and RSTs.
      if (ip.protocol() == packet::kIpProtoIcmp && !l4.empty() && l4[0] != 8 && l4[0] != 13 && l4[0] != 15 &&
          l4[0] != 17)
        return Kind::Answer;
      if (ip.protocol() == packet::kIpProtoTcp && l4.size() >= packet::kTcpMinHeader &&
          packet::ConstTcpView(l4).has(packet::tcp_flag::kRst))
        return Kind::Answer;
    }
    return Kind::Output;
  }
  // Whether a datagram of this identity came in within the window.
  bool came_in(uint64_t key, uint64_t ts_us) const {
    const Way* set = &ways_[(key & (kSets - 1)) * kWays];
    for (size_t w = 0; w < kWays; ++w)
      if (set[w].key == key && set[w].ts_us + kWindowUs >= ts_us) return true;
    return false;
  }

  static uint64_t identity(packet::ConstIpv4View ip);

 private:
  struct Way {
    uint64_t key = 0;
    uint64_t ts_us = 0;
  };
  static constexpr size_t kSets = 16384, kWays = 4;
  static constexpr uint64_t kWindowUs = 1000000;

  static uint64_t identity_of(packet::ConstIpv4View ip) {
    uint64_t h = (uint64_t{ip.id()} << 48 | uint64_t{ip.protocol()} << 40 | uint64_t{ip.total_length()} << 24) ^
                 ip.daddr();
    h *= 0x9e3779b97f4a7c15u;
    auto l4 = ip.payload();
    // The transport bytes NAT leaves alone, up to 40 of them (a later
    // fragment's are all payload).
    size_t from = 0, skip_at = SIZE_MAX;
    if (ip.frag_offset() == 0) {
      switch (ip.protocol()) {
        case packet::kIpProtoTcp: from = 4, skip_at = 16; break;
        case packet::kIpProtoUdp: from = 4, skip_at = 6; break;
        case packet::kIpProtoIcmp: from = 6; break;
        default: break;
      }
    }
    const size_t end = std::min(l4.size(), from + 40);
    for (size_t i = from; i < end; ++i) {
      if (i == skip_at || i == skip_at + 1) continue;
      h = (h ^ l4[i]) * 0x100000001b3u;
    }
    return h | 1;  // never 0: an empty way's key
  }
  std::vector<Way> ways_ = std::vector<Way>(kSets * kWays);
};

uint64_t OwnFrames::identity(packet::ConstIpv4View ip) { return identity_of(ip); }

// Whether a datagram's checksum is one left for a NIC (CHECKSUM_PARTIAL),
// which NAT must update as a sum, when the capture is replayed with
// --fixlen pad. Conntrack tells for a whole datagram (it verifies it:
// Table::bad_checksum) but skips a padded one, whose checksum covers bytes
// nobody has: a field holding the pseudo header's sum is partial, or a
// full checksum that happens to equal that sum (one datagram in 65536; a
// 5000-frame capture of a sender's all-zero payloads met one). The
// interface decides: partial sums come from senders with checksum offload
// (veth, virtio), which leave every datagram's to the NIC. So a padded
// datagram's field counts as partial only on an interface where a whole
// datagram already showed one (`partial_seen`, per port), which a flow's
// first, short packets do.
[[gnu::cold, gnu::noinline]] void settle_partial_sum(packet::Packet& pkt, uint8_t& partial_seen) {
  if (!header_in_bounds(pkt)) return;
  if (pkt.meta.captured_len) {
    pkt.meta.csum_partial = partial_seen && packet::holds_pseudo_header_sum(pkt.ip());
    return;
  }
  if (!partial_seen && packet::l4_checksum_partial(pkt.ip())) partial_seen = 1;
}

// The same holds for a whole datagram: on such an interface a field
// holding the pseudo header's sum is partial even when the datagram
// happens to verify with it. Conntrack's test sees only the datagram and
// took one for a full checksum in a CI run of kernel-any.sh (phase 1z: 16
// partial sums, one of them verifying; NAT updated it as a full one, the
// kernel as a sum). An interface counts once a datagram of it was found
// partial (run_frames, as each is processed), so a capture without
// partial sums pays one byte's test per frame.
[[gnu::cold, gnu::noinline]] void partial_by_interface(packet::Packet& pkt) {
  if (header_in_bounds(pkt) && packet::holds_pseudo_header_sum(pkt.ip())) pkt.meta.csum_partial = true;
}

// --fix-checksums: a padded datagram's transport checksum covers bytes
// nobody has (and counts as verified): only its header's is repaired.
bool repair_checksums(packet::Packet& pkt) {
  if (!pkt.meta.transport_checksum_verified()) return packet::repair_checksums(pkt.ip());
  auto ip = pkt.ip();
  if (ip.checksum_ok()) return false;
  ip.update_checksum();
  return true;
}

// One frame read ahead of the one being processed.
// The scenario's host and, with --diff, the candidate's.
constexpr size_t kMaxHosts = 2;
struct Slot {
  packet::Packet pkt;
  bool ok = false;
  // ok, the headers conntrack reads are there, and hash[k] is the packet's
  // hash in the k-th conntrack table (prefetch_entry's input).
  bool lookup = false;
  std::array<uint32_t, kMaxHosts> hash{};
  size_t input = 0;
  size_t port = 0;  // where the frame arrives (Ports)
  bool own = false;  // the host's own frame (ReplayOptions::own_output)
  uint64_t now_ns = 0;
  uint64_t ordinal = 0;  // in the merged stream, 1-based (diff lines)
  uint64_t frame_no = 0, ts_us = 0;
};

// The frame loop: frames read ahead of the one being processed (each
// counted as read and its Packet filled; with conntrack, its bucket
// prefetched, then the entry the bucket names kEntryAhead frames before it
// is processed: the lookup's cache miss was most of an established
// packet's). Without conntrack there is nothing to prefetch: a frame or
// two ahead (kRing 2) ran faster than 8 to 16 (the slots' buffers crowd
// the cache). Every frame read is processed, also when reading on failed:
// that error comes after them. `process(slot)` gives a frame to the
// host(s); `tables` are their conntrack tables, empty without conntrack.
// Returns the virtual time of the last frame.
template <size_t kRing, size_t kBatch, class Process>
Result<uint64_t> run_frames(Merger& merger, std::optional<MergedFrame> first, std::span<const conntrack::Table* const> tables,
                            const ReplayOptions& opts, const Ports& ports, uint64_t base_us,
                            ReplaySummary& sum, Progress& progress, OwnFrames* own_frames, Process&& process) {
  // Frames are read kBatch at a time whenever no more than kRing - kBatch
  // wait.
  static_assert(kBatch < kRing);
  constexpr size_t kEntryAhead = 4;
  std::array<Slot, kRing> ring;
  size_t head = 0, count = 0;
  const bool pad = opts.fixlen == ReplayOptions::FixLen::Pad;
  const bool prefetch = !tables.empty();
  std::vector<uint8_t> partial_seen(ports.links.size());  // settle_partial_sum, partial_by_interface
  uint8_t* const seen_partial = partial_seen.data();
  auto admit = [&](const MergedFrame& fr) {
    Slot& slot = ring[(head + count) % kRing];
    ++count;
    ++sum.frames;
    auto& in = sum.inputs[fr.input];
    ++in.frames;
    if (sum.frames == 1) sum.first_us = fr.ts_us;
    sum.last_us = fr.ts_us;
    slot.input = fr.input;
    slot.now_ns = (fr.ts_us - base_us) * 1000;
    slot.ordinal = sum.frames;
    slot.frame_no = fr.frame_no;
    slot.ts_us = fr.ts_us;
    slot.ok = to_packet(fr, ports, pad, opts.own_output, in, slot.pkt, slot.port, slot.own);
    // As read, not as processed: the own frames before it are classified
    // knowing it (OwnFrames::kLookahead).
    if (own_frames && slot.ok && !slot.own) [[unlikely]]
      own_frames->arrived(slot.pkt, fr.ts_us);
    if (pad && slot.ok) [[unlikely]]
      settle_partial_sum(slot.pkt, partial_seen[slot.port]);
    if (opts.fix_checksums && slot.ok && header_in_bounds(slot.pkt) && repair_checksums(slot.pkt)) ++in.fixed;
    slot.lookup = prefetch && slot.ok && header_in_bounds(slot.pkt);
    for (size_t k = 0; slot.lookup && k < tables.size(); ++k)
      slot.lookup = tables[k]->prefetch(slot.pkt, {}, &slot.hash[k]);
  };
  std::array<MergedFrame, kBatch> batch;
  bool more = first.has_value();
  auto refill = [&] {
    size_t n = merger.next(batch);
    for (size_t i = 0; i < n; ++i) admit(batch[i]);
    more = n == kBatch;  // fewer: the end, or an error to report after these
  };
  if (first) {
    admit(*first);
    refill();
  }
  uint64_t now_ns = 0;
  while (count) {
    if (more && count <= kRing - kBatch) refill();
    Slot& slot = ring[head];
    if (prefetch && count > kEntryAhead) {
      const Slot& later = ring[(head + kEntryAhead) % kRing];
      if (later.lookup)
        for (size_t k = 0; k < tables.size(); ++k) tables[k]->prefetch_entry(later.hash[k]);
    }
    now_ns = slot.now_ns;
    if (slot.ok) {
      if (seen_partial[slot.port]) [[unlikely]]
        if (!slot.pkt.meta.captured_len) partial_by_interface(slot.pkt);
      process(slot);
      // Not from the host's own output: its sums are left for its NIC
      // whatever its peers send.
      if (slot.pkt.meta.csum_partial && !slot.own) [[unlikely]]
        seen_partial[slot.port] = 1;
    }
    head = (head + 1) % kRing;
    --count;
    if (opts.progress) progress.update(sum.frames, merger.bytes_read(), merger.bytes_total());
  }
  if (merger.failed()) return merger.error();
  return now_ns;
}

// The VLAN id of interface `name` if it is parent.VID (VID 1 to 4094).
std::optional<uint16_t> vlan_of(std::string_view name, std::string_view parent) {
  if (name.size() <= parent.size() + 1 || !name.starts_with(parent) || name[parent.size()] != '.') return std::nullopt;
  std::string_view digits = name.substr(parent.size() + 1);
  unsigned vid = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), vid);
  if (ec != std::errc{} || end != digits.data() + digits.size() || vid < 1 || vid > 4094) return std::nullopt;
  return static_cast<uint16_t>(vid);
}

// A pcapng interface as messages name it: its if_name, or its number.
std::string capture_interface_name(const std::string& name, size_t number) {
  return name.empty() ? fmt::format("interface {} (no name)", number) : name;
}

std::string capture_interface_names(const std::vector<PcapngInterface>& ifaces) {
  std::string names;
  for (size_t k = 0; k < ifaces.size(); ++k)
    names += (names.empty() ? "" : ", ") + capture_interface_name(ifaces[k].name, k);
  return names;
}

// The summary's name of an input's format: its link type, and for pcapng
// the file's interfaces' link types ("pcapng: EN10MB (1), RAW (101)").
std::string capture_format(const Merger& merger, size_t input) {
  if (!merger.is_pcapng(input)) return linktype_name(merger.linktype(input));
  std::vector<int> types;
  for (const auto& x : merger.interfaces(input))
    if (std::find(types.begin(), types.end(), x.linktype) == types.end()) types.push_back(x.linktype);
  std::string text = "pcapng:";
  for (int t : types) text += (text.size() > 7 ? ", " : " ") + linktype_name(t);
  return text;
}

// "; the capture's incoming frames (of its first 100000) carry 2 (120
// frames), 3 (80 frames)": what an "any" capture's LINUX_SLL2 headers say,
// for the message
// that asks for --ifindex (empty if the file cannot tell). Only the first
// frames are read: a day's capture would take as long as its replay.
std::string indexes_in(const std::string& path) {
  constexpr uint64_t kLook = 100000;
  auto m = Merger::open({{std::string(kAnyInterface), path}});
  if (!m || m->linktype(0) != kDltLinuxSll2) return "";
  std::map<uint32_t, uint64_t> frames;
  MergedFrame f;
  for (uint64_t n = 0; n < kLook && m->next(f); ++n) {
    if (f.data.size() < kSll2Header) continue;
    const Sll2 h = sll2_header(f.data);
    if (h.pkttype != kSllOutgoing) ++frames[h.index];
  }
  std::string list;
  for (const auto& [index, n] : frames)
    list += fmt::format("{}{} ({} frames{})", list.empty() ? "" : ", ", index, n, index == kLoopbackIndex ? ", lo" : "");
  return list.empty() ? "" : fmt::format("; the capture's incoming frames (of its first {}) carry {}", kLook, list);
}

// ReplayOptions::own_output: the host's sockets as the captures show
// them, read before the replay (a server's port must be known when the
// first segment comes to it, before the host's answer is in the capture):
// the ports its own TCP segments and UDP datagrams left from, and the
// other protocols it sent. A read error ends this pass; the replay reports
// it.
// `inputs`: the summary's, copied for the counts this pass makes (an "any"
// input's has its interfaces).
std::unique_ptr<stack::Host::CapturedSockets> captured_sockets(const ReplayOptions& opts,
                                                                const Ports& ports_of_replay, const stack::Host& host,
                                                                std::vector<ReplaySummary::InputStats> stats) {
  auto sockets = std::make_unique<stack::Host::CapturedSockets>();
  auto merger = Merger::open(opts.inputs, {.window_us = opts.window_us});
  if (!merger) return sockets;
  // This pass reads ahead of the replay's merger: pcapng interfaces by the
  // names its own merger has read.
  Ports ports = ports_of_replay;
  for (size_t i = 0; i < ports.of_input.size(); ++i) {
    auto& route = ports.of_input[i];
    if (!route.named) continue;
    route.capture_ifaces = &merger->interfaces(i);
    route.by_name.clear();
  }
  const bool pad = opts.fixlen == ReplayOptions::FixLen::Pad;
  OwnFrames own;
  packet::Packet pkt;
  MergedFrame f;
  Progress progress(opts.progress, "the host's sockets: ");
  uint64_t frames = 0;
  // Own frames that may be the host's output, decided kLookahead frames
  // later (as the replay decides them): what they would mark.
  struct Pending {
    uint64_t decide_at;  // frame count
    uint64_t key, ts_us;
    uint8_t proto;
    int32_t port;  // -1: none
  };
  std::deque<Pending> pending;
  auto settle = [&](const Pending& p) {
    if (own.came_in(p.key, p.ts_us)) return;  // a forward
    if (p.proto == packet::kIpProtoTcp && p.port >= 0) sockets->tcp.set(static_cast<size_t>(p.port));
    else if (p.proto == packet::kIpProtoUdp && p.port >= 0) sockets->udp.set(static_cast<size_t>(p.port));
    else if (p.proto != packet::kIpProtoTcp && p.proto != packet::kIpProtoUdp && p.proto != packet::kIpProtoIcmp)
      sockets->protocols.set(p.proto);
  };
  while (merger->next(f)) {
    progress.update(++frames, merger->bytes_read(), merger->bytes_total());
    for (; !pending.empty() && pending.front().decide_at < frames; pending.pop_front()) settle(pending.front());
    size_t port = 0;
    bool is_own = false;
    if (!to_packet(f, ports, pad, true, stats[f.input], pkt, port, is_own)) continue;
    if (!is_own) {
      own.arrived(pkt, f.ts_us);
      continue;
    }
    if (OwnFrames::prejudge(host, pkt) != OwnFrames::Kind::Output) continue;
    auto ip = pkt.ip();
    auto l4 = ip.payload();
    int32_t sport = -1;
    if (ip.frag_offset() == 0 && ((ip.protocol() == packet::kIpProtoTcp && l4.size() >= packet::kTcpMinHeader) ||
                                  (ip.protocol() == packet::kIpProtoUdp && l4.size() >= packet::kUdpHeader)))
      sport = load16(l4.data());
    pending.push_back({frames + OwnFrames::kLookahead, OwnFrames::identity(ip), f.ts_us, ip.protocol(), sport});
  }
  for (const auto& p : pending) settle(p);
  progress.end(frames, merger->bytes_total());
  return sockets;
}

}  // namespace

Result<ReplaySummary> replay(const scenario::Scenario& sc, const ReplayOptions& opts, std::ostream& diff_out) {
  int hi = sc.host_index(opts.host);
  if (hi < 0) {
    std::string names;
    for (const auto& h : sc.hosts) names += (names.empty() ? "" : ", ") + h.name;
    return make_error(fmt::format("the scenario has no host {} (it has {})", opts.host, names));
  }
  if (opts.diff && !opts.candidate) return make_error("--diff needs --rules: the candidate ruleset to compare with");
  if (opts.inputs.empty()) return make_error("no input: give at least one --in IFNAME=FILE.pcap");
  const scenario::Host& sh = sc.hosts[static_cast<size_t>(hi)];
  auto no_interface = [&](std::string_view what, std::string_view ifname) {
    std::string names;
    for (const auto& i : sh.interfaces)
      if (!i.loopback) names += (names.empty() ? "" : ", ") + i.name;
    return make_error(fmt::format("{}: host {} has no interface {} (it has {})", what, sh.name, ifname, names));
  };
  bool any_input = false;
  for (const auto& in : opts.inputs) {
    if (in.ifname == kAnyInterface) {
      any_input = true;
      continue;
    }
    if (in.ifname == "lo" || !sh.find_interface(in.ifname))
      return no_interface(fmt::format("--in {}={}", in.ifname, in.path), in.ifname);
  }
  for (size_t k = 0; k < opts.ifindex.size(); ++k) {
    const IfIndex& x = opts.ifindex[k];
    std::string what = fmt::format("--ifindex {}={}", x.ifname, x.index);
    if (!any_input) return make_error(what + ": it names the interfaces of a capture given as --in any=FILE; there is none");
    if (x.index == kLoopbackIndex) return make_error(what + ": index 1 is lo, whose frames are the host's own");
    if (x.index == 0) return make_error(what + ": interface indexes start at 1");
    if (x.ifname == "lo" || !sh.find_interface(x.ifname)) return no_interface(what, x.ifname);
    for (size_t j = 0; j < k; ++j) {
      if (opts.ifindex[j].index == x.index)
        return make_error(fmt::format("{}: index {} is also --ifindex {}", what, x.index, opts.ifindex[j].ifname));
      if (opts.ifindex[j].ifname == x.ifname)
        return make_error(fmt::format("{}: {} is also index {}", what, x.ifname, opts.ifindex[j].index));
    }
  }

  auto merger = Merger::open(opts.inputs, {.window_us = opts.window_us});
  if (!merger) return merger.error();
  // Inputs whose frames arrive on the interfaces their pcapng interface
  // blocks name.
  std::vector<bool> by_name(opts.inputs.size());
  bool by_index_input = false;
  for (size_t i = 0; i < opts.inputs.size(); ++i) {
    const Input& in = opts.inputs[i];
    const auto& ifaces = merger->interfaces(i);
    const bool any = in.ifname == kAnyInterface;
    if (!any && ifaces.size() > 1)
      return make_error(fmt::format(
          "--in {}={}: the file holds the frames of {} interfaces ({}); give it as --in any={}: each frame then "
          "arrives on the host's interface of the name its pcapng interface block gives",
          in.ifname, in.path, ifaces.size(), capture_interface_names(ifaces), in.path));
    if (!any) continue;
    // (A pcapng file without interfaces has no frames to route.) A cooked
    // capture of every interface at once is one interface named "any":
    // LINUX_SLL2's frames say theirs by index, LINUX_SLL's do not say.
    auto all_at_once = [](const PcapngInterface& x) {
      return x.linktype == kDltLinuxSll2 || (x.linktype == kDltLinuxSll && x.name == kAnyInterface);
    };
    by_name[i] = merger->is_pcapng(i) && (ifaces.empty() || !std::all_of(ifaces.begin(), ifaces.end(), all_at_once));
    if (by_name[i]) continue;
    if (merger->linktype(i) != kDltLinuxSll2)
      return make_error(fmt::format(
          "--in any={0}: a {1} capture does not say which interface each frame came in on (LINUX_SLL2 does: "
          "tcpdump -i any with libpcap 1.10 or later; so does a pcapng file of several interfaces: dumpcap -i "
          "IFNAME -i IFNAME); give its interface instead: --in IFNAME={0}",
          in.path, linktype_name(merger->linktype(i))));
    by_index_input = true;
    if (opts.ifindex.empty())
      return make_error(fmt::format(
          "--in any={}: each frame of a tcpdump -i any capture arrives on the interface whose index it carries; "
          "name the indexes with --ifindex IFNAME=INDEX (`ip -o link` on the captured host lists them){}",
          in.path, indexes_in(in.path)));
  }
  if (!opts.ifindex.empty() && !by_index_input)
    return make_error(fmt::format(
        "--ifindex {}={}: the --in any= captures here are pcapng files whose frames arrive on the interfaces their "
        "interface blocks name; --ifindex names the indexes of a tcpdump -i any capture (LINUX_SLL2)",
        opts.ifindex[0].ifname, opts.ifindex[0].index));

  ReplaySummary sum;
  sum.diff = opts.diff;
  sum.fix_checksums = opts.fix_checksums;
  sum.fixlen = opts.fixlen;
  for (size_t i = 0; i < opts.inputs.size(); ++i) {
    sum.inputs.push_back({opts.inputs[i].ifname, opts.inputs[i].path, capture_format(*merger, i)});
    if (opts.inputs[i].ifname == kAnyInterface)
      for (const auto& x : opts.ifindex) sum.inputs.back().by_interface.emplace_back(x.ifname, 0);
  }

  // Read the first frame before building hosts: the pcap timestamps of the
  // artifacts are the capture's, the virtual clock starts at 0 with it.
  auto first = merger->next();
  if (!first) return first.error();
  uint64_t base_us = *first ? (*first)->ts_us : 0;

  std::vector<std::unique_ptr<HostRun>> runs;
  auto add_run = [&](const xt::Ruleset* rules, std::string label, fs::path dir) -> Result<void> {
    auto h = net::build_host(sc, static_cast<size_t>(hi));
    if (!h) return h.error();
    if (rules) (*h)->ruleset() = *rules;
    // connbytes_mt_check: the replaced rules may turn accounting on too.
    if (rules && stack::ruleset_forces_acct((*h)->ruleset())) (*h)->conntrack().set_acct(true);
    (*h)->set_realtime_base_ns(base_us * 1000);
    (*h)->set_classifier(opts.linear ? stack::Host::Classifier::Linear : stack::Host::Classifier::Compiled);
    runs.push_back(std::make_unique<HostRun>(std::move(*h), std::move(label), base_us, opts.diff));
    if (!opts.out_dir.empty())
      if (auto r = runs.back()->open_artifacts(dir); !r) return r;
    return {};
  };
  fs::path out(opts.out_dir);
  if (opts.diff) {
    if (auto r = add_run(nullptr, sh.name + " (scenario rules)", out / sh.name); !r) return r.error();
    if (auto r = add_run(&*opts.candidate, sh.name + " (candidate rules)", out / "candidate" / sh.name); !r)
      return r.error();
  } else {
    const xt::Ruleset* rules = opts.candidate ? &*opts.candidate : nullptr;
    if (auto r = add_run(rules, opts.candidate ? sh.name + " (candidate rules)" : sh.name, out / sh.name); !r)
      return r.error();
  }

  Progress progress(opts.progress);
  auto loop_start = std::chrono::steady_clock::now();
  // Resolved once: the neighbour is a lookup by interface name.
  Ports ports;
  auto add_port = [&](const std::string& ifname) {
    const stack::Host& h = runs[0]->host();
    const packet::Mac mac = h.find_interface(ifname)->mac;
    ports.links.push_back({mac, h.neighbour ? h.neighbour(ifname, 0) : packet::Mac{},
                           mac != scenario::default_mac(h.name(), ifname)});
    ports.names.push_back({ifname, packet::IfName(ifname)});
    return ports.links.size() - 1;
  };
  for (size_t k = 0; k < opts.inputs.size(); ++k) {
    const Input& i = opts.inputs[k];
    bool any = i.ifname == kAnyInterface;
    ports.of_input.push_back({any ? 0 : add_port(i.ifname), any && !by_name[k]});
    if (by_name[k]) {
      Ports::Route& route = ports.of_input.back();
      route.per_interface = true;
      route.named = 1;
      route.first_port = ports.links.size();
      route.capture_ifaces = &merger->interfaces(k);
      for (const auto& vi : sh.interfaces) {
        if (vi.loopback) {
          route.host_ports.emplace_back(vi.name, Ports::Route::kLoopPort);
          continue;
        }
        route.host_ports.emplace_back(vi.name, static_cast<int32_t>(add_port(vi.name)));
        sum.inputs[k].by_interface.emplace_back(vi.name, 0);
      }
    }
    if (any) continue;
    for (const auto& vi : sh.interfaces) {
      auto vid = vlan_of(vi.name, i.ifname);
      if (vid) ports.of_input.back().vlans.emplace_back(*vid, add_port(vi.name));
    }
  }
  ports.first_index_port = ports.links.size();
  for (const auto& x : opts.ifindex) ports.of_index.emplace_back(x.index, add_port(x.ifname));
  for (auto& route : ports.of_input)
    if (route.by_index) route.per_interface = true, route.first_port = ports.first_index_port;
  std::vector<const conntrack::Table*> tables;
  for (auto& r : runs)
    if (r->host().conntrack_enabled()) tables.push_back(&r->host().conntrack());
  if (tables.size() > kMaxHosts) return make_error("replay: more hosts with conntrack than run_frames keeps hashes for");
  // With conntrack each frame is read 8 to 16 frames before it is
  // processed; without, 1 to 2 (see run_frames).
  // --own-output: the sockets the captures show, and the frames that came
  // in (to tell SNATed forwards from the host's own datagrams).
  std::unique_ptr<stack::Host::CapturedSockets> sockets;
  std::unique_ptr<OwnFrames> own;
  if (opts.own_output) {
    sum.own_output = true;
    sockets = captured_sockets(opts, ports, runs[0]->host(), sum.inputs);
    for (auto& r : runs) r->host().set_captured_sockets(sockets.get());
    own = std::make_unique<OwnFrames>();
  }
  // --own-output reads at least OwnFrames::kLookahead frames ahead too.
  static_assert(OwnFrames::kLookahead <= 16 - 8);
  auto loop = [&](auto&& process) {
    return tables.empty() && !own
               ? run_frames<2, 1>(*merger, *first, tables, opts, ports, base_us, sum, progress, own.get(), process)
               : run_frames<16, 8>(*merger, *first, tables, opts, ports, base_us, sum, progress, own.get(), process);
  };
  // Whether an own frame is replayed; counts those that are not.
  auto own_replayed = [&](const Slot& slot) {
    switch (own->classify(runs[0]->host(), slot.pkt, slot.ts_us)) {
      case OwnFrames::Kind::Output: return true;
      case OwnFrames::Kind::Forwarded: ++sum.own_forwarded; break;
      case OwnFrames::Kind::Answer: ++sum.own_answers; break;
      case OwnFrames::Kind::Group: ++sum.own_group; break;
    }
    return false;
  };
  Result<uint64_t> last = uint64_t{0};
  if (runs.size() == 1) {
    HostRun& run = *runs[0];
    last = loop([&](Slot& slot) {
      if (slot.own) [[unlikely]] {
        if (own_replayed(slot)) run.process_own(slot.pkt, slot.now_ns);
        return;
      }
      run.process(slot.pkt, ports.names[slot.port], slot.now_ns);
    });
  } else {
    // Both hosts work on copies: the slot keeps the frame as read, for the
    // text of a difference (made only then).
    packet::Packet work;  // reused: no allocation per frame once warm
    last = loop([&](Slot& slot) {
      const InputName& name = ports.names[slot.port];
      if (slot.own && !own_replayed(slot)) [[unlikely]]
        return;
      work = slot.pkt;
      const Fate a = slot.own ? runs[0]->process_own(work, slot.now_ns) : runs[0]->process(work, name, slot.now_ns);
      // What conntrack found of the frame's checksum (run_frames learns
      // the interface's partial sums from it), the second run too.
      if (!slot.own) slot.pkt.meta.csum_partial = work.meta.csum_partial;
      work = slot.pkt;
      const Fate& b = slot.own ? runs[1]->process_own(work, slot.now_ns) : runs[1]->process(work, name, slot.now_ns);
      if (a.same_as(b)) return;
      if (++sum.differences <= opts.max_diff_lines)
        diff_out << fmt::format("frame {} ({} #{}) at {} {} {}: {}\n  scenario:  {}\n  candidate: {}\n", slot.ordinal,
                                opts.inputs[slot.input].path, slot.frame_no, seconds(slot.ts_us),
                                slot.own ? "sent by the host on" : "on", name.name, frame_text(slot.pkt),
                                runs[0]->describe(a), runs[1]->describe(b));
    });
  }
  if (!last) return last.error();
  uint64_t now_ns = *last;
  sum.loop_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - loop_start).count();
  progress.end(sum.frames, merger->bytes_total());
  sum.warnings = merger->warnings();
  for (size_t i = 0; i < opts.inputs.size(); ++i) {
    sum.inputs[i].linktype = capture_format(*merger, i);  // with a later section's interfaces
    if (!ports.of_input[i].by_index)
      for (const auto& x : merger->interfaces(i)) sum.inputs[i].capture_interfaces.push_back(x.name);
  }
  for (auto& r : runs) {
    if (auto ok = r->finish(now_ns); !ok) return ok.error();
    sum.hosts.push_back(r->stats());
  }
  if (!opts.out_dir.empty()) {
    std::string text = format_summary(sum);
    for (auto& r : runs) r->write_summary(text);
  }
  return sum;
}

std::string format_summary(const ReplaySummary& s) {
  std::string o;
  Lines line{o};
  double span = s.frames ? static_cast<double>(s.last_us - s.first_us) / 1e6 : 0;
  line("frames read: {} over {:.6f} s of capture", s.frames, span);
  line("  {:<10} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {}", "interface", "frames", "IPv4", "IPv6",
       "ARP", "VLAN", "other", "short", "own", "file");
  for (const auto& in : s.inputs)
    line("  {:<10} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}  {} ({})", in.ifname, in.frames, in.ipv4, in.ipv6,
         in.arp, in.vlan, in.other, in.runt + in.cut, in.own, in.path, in.linktype);
  line("  (only IPv4 is replayed; short: runts and datagrams cut by the snaplen; own: frames the host sent itself)");
  uint64_t own_frames = 0;
  for (const auto& in : s.inputs) own_frames += in.own;
  if (s.own_output) {
    line("  own frames (--own-output): {} replayed as the host's output; not replayed: {} forwards, {} answers nfemu "
         "makes itself (ICMP other than requests, RSTs), {} to a group address",
         s.hosts.empty() ? 0 : s.hosts[0].own_sent, s.own_forwarded, s.own_answers, s.own_group);
  } else if (own_frames > 0) {
    line("  (own frames are skipped: what the host's sockets sent is not replayed, and their peers' answers find "
         "none; --own-output replays them as its output)");
  }
  // An "any" capture's tagged frames are also there untagged, on the
  // VLAN device's index: --ifindex is the fix there, not a name.
  if (std::any_of(s.inputs.begin(), s.inputs.end(),
                  [](const auto& in) { return in.vlan > 0 && in.ifname != kAnyInterface; }))
    line("  (VLAN: a frame tagged with VLAN v of a capture of IFNAME arrives on the host's interface IFNAME.v; "
         "counted here: tags of VLANs the host has no such interface for)");
  for (const auto& in : s.inputs) {
    if (!in.by_interface.empty()) {
      std::string per_if;
      for (const auto& [name, n] : in.by_interface)
        per_if += fmt::format("{}{} {}", per_if.empty() ? "" : ", ", name, n);
      line("  {} {}: IPv4 replayed on {}", in.ifname, in.path, per_if);
    }
    if (in.unnamed.empty()) continue;
    uint64_t n = 0;
    std::string which;
    for (const auto& [index, frames] : in.unnamed) {
      n += frames;
      // An index of LINUX_SLL2, or the number of a pcapng interface.
      std::string what = index < in.capture_interfaces.size()
                             ? capture_interface_name(in.capture_interfaces[index], index)
                             : std::to_string(index);
      which += fmt::format("{}{} ({} frames)", which.empty() ? "" : ", ", what, frames);
    }
    if (in.capture_interfaces.empty())
      line("  {} {}: {} frames not replayed: no --ifindex names their interface index: {}", in.ifname, in.path, n,
           which);
    else if (in.ifname == kAnyInterface)
      line("  {} {}: {} frames not replayed: the host has no interface of the name of the one they were captured on: "
           "{}", in.ifname, in.path, n, which);
    else
      line("  {} {}: {} frames not replayed: captured on another interface than the file's first ({}); --in any={} "
           "replays each interface's: {}",
           in.ifname, in.path, n, capture_interface_name(in.capture_interfaces[0], 0), in.path, which);
  }
  uint64_t other_host = 0;
  for (const auto& in : s.inputs) other_host += in.other_host;
  if (other_host > 0)
    line("  for other hosts: {} frames to a MAC that is not their interface's, not replayed (PACKET_OTHERHOST: "
         "the kernel drops them before PREROUTING)",
         other_host);
  uint64_t cut = 0, cut_in_headers = 0, padded = 0;
  for (const auto& in : s.inputs) cut += in.cut, cut_in_headers += in.cut_in_headers, padded += in.padded;
  if (s.fixlen == ReplayOptions::FixLen::Pad && cut + padded > 0)
    line("  cut by the snaplen (--fixlen pad): {} datagrams replayed at their length, the bytes not captured as zeros; "
         "{} cut inside their headers, not replayed",
         padded, cut_in_headers);
  else if (cut > 0)
    line("  cut by the snaplen: {} datagrams not replayed (short); --fixlen pad replays the {} whose headers are whole, "
         "the bytes not captured as zeros",
         cut, cut - cut_in_headers);
  if (s.fix_checksums) {
    uint64_t fixed = 0;
    for (const auto& in : s.inputs) fixed += in.fixed;
    line("  checksums recomputed (--fix-checksums): {} frames", fixed);
  }
  for (const auto& w : s.warnings) line("warning: {}", w);
  for (const auto& h : s.hosts) {
    line("");
    line("{}:", h.label);
    line("  packets in:  {:>10}   delivered locally {}, forwarded {}, dropped {}", h.replayed, h.delivered,
         h.forwarded, h.dropped);
    uint64_t out = 0;
    std::string per_if;
    for (const auto& [name, n] : h.out_frames) {
      out += n;
      per_if += fmt::format("{}{} {}", per_if.empty() ? "" : ", ", name, n);
    }
    line("  packets out: {:>10}   {}{}(generated by the host: {})", out, per_if, per_if.empty() ? "" : " ",
         h.generated);
    if (s.own_output)
      line("  own output:  {:>10}   out {}, delivered locally {}, dropped {}", h.own_sent, h.own_out, h.own_delivered,
           h.own_dropped);
    line("  NATed:       {:>10}   SNAT {}, DNAT {}", h.snat + h.dnat, h.snat, h.dnat);
    if (!h.dropped_by.empty()) {
      line("  dropped by:");
      std::vector<std::pair<uint64_t, std::string>> by;
      for (const auto& [what, n] : h.dropped_by) by.emplace_back(n, what);
      std::stable_sort(by.begin(), by.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      // The full per-rule counts are in iptables-save.txt; a long tail
      // would drown the table.
      constexpr size_t kShown = 20;
      for (size_t i = 0; i < by.size() && i < kShown; ++i) line("    {:>10}  {}", by[i].first, by[i].second);
      if (by.size() > kShown) {
        uint64_t rest = 0;
        for (size_t i = kShown; i < by.size(); ++i) rest += by[i].first;
        line("    {:>10}  ({} more rules and reasons)", rest, by.size() - kShown);
      }
    }
    line("  connections: {:>10}   new (conntrack events NEW {}, UPDATE {}, DESTROY {}); at most {} entries at once",
         h.ct_new, h.ct_new, h.ct_update, h.ct_destroy, h.ct_peak);
    if (h.partial > 0)
      line("  partial sums: {:>9}   packets whose TCP/UDP checksum field held the pseudo header's sum, left for a "
           "NIC (CHECKSUM_PARTIAL): good to conntrack, updated as sums by NAT (--fix-checksums fills them as the NIC "
           "did)",
           h.partial);
    if (!h.ct_invalid.empty()) {
      uint64_t total = 0;
      std::vector<std::pair<uint64_t, std::string>> by;
      for (const auto& [reason, n] : h.ct_invalid) {
        total += n;
        by.emplace_back(n, reason.empty() ? "no reason logged" : reason);
      }
      std::stable_sort(by.begin(), by.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      line("  INVALID:     {:>10}   packets of ctstate INVALID, by reason:", total);
      for (const auto& [n, reason] : by) line("    {:>10}  {}", n, reason);
      if (h.ct_invalid.count("bad checksum") && !s.fix_checksums) {
        line("  (bad checksum: corrupt, or left unfilled by a sender whose offload does not write the pseudo");
        line("   header's sum, as Linux's does; --fix-checksums recomputes them, or the scenario sets");
        line("   net.netfilter.nf_conntrack_checksum = 0)");
      }
      // An ACK after a SYN nobody answered: the usual sign of a capture
      // that holds one direction of its connections.
      if (h.ct_invalid.count("packet (index 3) in dir 0 invalid, state SYN_SENT")) {
        line("  (index 3 in dir 0, state SYN_SENT: ACKs after a SYN whose answer this host never saw; when the");
        line("   answers came in on another interface, give its capture too: --in IFNAME=FILE.pcap)");
      }
    }
    if (h.foreign_isn_acks) {
      // The capture's side of the host (its SYN-ACKs) is skipped as the
      // host's own output; nfemu's listener answered with its own ISN.
      line("  segments to listeners' handshakes acknowledging another ISN than nfemu's: {} (reset)", h.foreign_isn_acks);
      line("  (the captured host's own ISN, which nfemu cannot know: nfemu answers SYNs itself, so connections");
      line("   to the host's own sockets part from the capture at their third segment)");
    }
    if (!h.connections.empty()) {
      line("  connections at the end, by state:");
      for (const auto& [state, n] : h.connections) line("    {:>10}  {}", n, state);
    }
    line("  LOG/TRACE lines: {}", h.log_lines);
    if (!h.unsupported.empty()) {
      std::string u;
      for (const auto& e : h.unsupported) u += " " + e;
      line("  not evaluated yet (treated as no match / continue):{}", u);
    }
  }
  if (s.diff) {
    line("");
    line("packets whose fate differs: {}", s.differences);
  }
  return o;
}

}  // namespace nfemu::replay
