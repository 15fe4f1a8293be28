// A scenario brought to life: one stack::Host per scenario host, links
// between interfaces, traffic injected at its virtual time, and every
// observable the spec names (spec/outputs.md) collected per host: the
// timeline, kern.log (LOG and TRACE lines), conntrack -E events, the
// conntrack -L table and iptables-save -c at the end, one pcap per
// interface.
//
//   auto sc = scenario::load_scenario("fw.toml");
//   auto net = net::Network::build(*sc);
//   (*net)->run();
//   (*net)->write_artifacts("out/");
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/timeline.h"
#include "scenario/scenario.h"
#include "stack/host.h"
#include "util/result.h"

namespace nfemu::net {

struct Frame {
  uint64_t ts_ns = 0;
  std::vector<uint8_t> bytes;
};

struct HostRecord {
  std::vector<std::string> kern_log;
  std::vector<std::string> conntrack_events;
  std::vector<std::string> conntrack_table;  // at the end, sorted as text
  std::vector<conntrack::View> conntrack_views;  // the same entries, same order
  std::string iptables_save;                 // at the end
  std::map<std::string, std::vector<Frame>> captures;  // per interface (not lo)
};

class Network : private stack::PathObserver {
 public:
  static Result<std::unique_ptr<Network>> build(const scenario::Scenario& sc);
  ~Network() override;

  // Runs every traffic entry, then the scenario's last second.
  void run();

  // What happened, one event per decision, in order (timeline.h).
  const std::vector<Event>& events() const { return events_; }
  // The events for people: grouped under their traffic entries.
  std::string timeline_text() const { return render_timeline(events_); }
  // The events flat, one "TIME HOST: TEXT" line each (after run()).
  const std::vector<std::string>& timeline() const { return timeline_; }
  const scenario::Scenario& scenario() const { return sc_; }
  const std::vector<std::unique_ptr<stack::Host>>& hosts() const { return hosts_; }
  const HostRecord& record(const std::string& host) const { return records_.at(host); }
  // Extensions met on the packet path that nfemu cannot evaluate yet.
  const std::vector<std::string>& unsupported() const { return unsupported_; }
  Result<void> write_artifacts(const std::string& dir) const;

 private:
  explicit Network(const scenario::Scenario& sc) : sc_(sc) {}
  struct Pending {
    size_t host;
    std::string ifname;
    packet::Packet pkt;
  };
  void wire(size_t host_index, std::string_view ifname, packet::Packet& pkt);
  void drain();
  // Fires the hosts' timers due up to `until`, earliest first, each at its
  // own time (a listener's SYN-ACK retransmissions).
  void run_timers_until(uint64_t until);
  void collect_events(size_t host_index);
  void collect_events(const stack::Host& h);
  void capture(size_t host_index, std::string_view ifname, const packet::Packet& pkt);
  Event& add(const stack::Host& h, EventKind kind);
  Event& add(const std::string& host, EventKind kind);

  void on_rule(const stack::Host&, xt::Hook, const xt::TraceEvent&, const packet::Packet&) override;
  void on_table(const stack::Host&, xt::Hook, xt::TableId, xt::Verdict, const packet::Packet&) override;
  void on_drop(const stack::Host&, std::string_view reason, const packet::Packet&) override;
  void on_stolen(const stack::Host&, std::string_view reason, const packet::Packet&) override;
  void on_local_deliver(const stack::Host&, const packet::Packet&) override;
  void on_transmit(const stack::Host&, std::string_view ifname, const packet::Packet&) override;
  void on_unsupported(const stack::Host&, std::string_view extension) override;
  void on_kernel_log(const stack::Host&, const std::string& line) override;
  void on_expectation(const stack::Host&, const conntrack::Expectation& exp) override;
  void on_conntrack(const stack::Host&, xt::Hook, const packet::Packet&) override;
  void on_nat(const stack::Host&, xt::Hook, stack::NatStep, std::span<const uint8_t> before,
              const packet::Packet& after) override;

  const scenario::Scenario& sc_;
  std::vector<std::unique_ptr<stack::Host>> hosts_;
  std::map<std::string, HostRecord> records_;
  std::vector<Pending> queue_;
  std::vector<Event> events_;
  std::vector<std::string> timeline_;
  int traffic_ = -1;  // the traffic entry being played
  std::vector<std::string> unsupported_;
  uint64_t now_ns_ = 0;
};

}  // namespace nfemu::net
