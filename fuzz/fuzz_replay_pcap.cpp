// A pcap file of arbitrary bytes replayed into a small firewall (the
// fixture of tests/replay, plus an osf --log and a SYNPROXY rule, which read
// TCP options of whatever segment comes): libpcap and replay's frame decoding must
// report, never crash. Invariant: every frame read is counted in exactly
// one category of its input, read as the capture of one interface (also
// with --fixlen pad: datagrams the snaplen cut, zero-filled) and, if it is
// LINUX_SLL2 or pcapng, as a capture of every interface (tcpdump -i any,
// dumpcap -i IFNAME -i IFNAME).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>

#include "replay/replay.h"
#include "ruleset/restore.h"

namespace {

constexpr std::string_view kScenario = R"(
[hosts.fw]
sysctl = { "net.ipv4.ip_forward" = 1 }
iptables = [
  "-t nat -A PREROUTING -i wan -p tcp --dport 8080 -j DNAT --to-destination 198.51.100.10:80",
  "-t nat -A PREROUTING -i wan -p sctp --dport 3868 -j DNAT --to-destination 198.51.100.10:38412",
  "-t mangle -A PREROUTING -p tcp -m osf --genre Linux --log 0",
  "-A FORWARD -p tcp --dport 23 -j REJECT --reject-with tcp-reset",
  "-A FORWARD -p tcp --dport 443 -j SYNPROXY --sack-perm --timestamp --wscale 7 --mss 1460",
  "-A FORWARD -p udp -j LOG --log-prefix 'udp: '",
  "-A FORWARD -m conntrack --ctstate INVALID -j DROP",
]
[hosts.fw.interfaces.wan]
addresses = ["203.0.113.1/24"]
[hosts.fw.interfaces.lan]
addresses = ["198.51.100.1/24"]
)";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto sc = nfemu::scenario::load_scenario_text(kScenario, "fuzz.toml", ".");
  if (!sc) std::abort();
  static const std::string path = "/tmp/fuzz_replay_pcap." + std::to_string(getpid()) + ".pcap";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  nfemu::replay::ReplayOptions o;
  o.host = "fw";
  o.inputs = {{"wan", path}};
  o.window_us = 1000;
  std::ostringstream diff;
  auto r = nfemu::replay::replay(*sc, o, diff);
  if (!r) return 0;
  // The same frames against a candidate that drops telnet silently and has
  // no NAT: --diff must cope with whatever the first run coped with.
  static const nfemu::xt::Ruleset candidate = [] {
    nfemu::xt::Ruleset rs;
    if (!nfemu::ruleset::restore("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                                 "-A FORWARD -p tcp --dport 23 -j DROP\nCOMMIT\n",
                                 rs))
      std::abort();
    return rs;
  }();
  o.candidate = candidate;
  o.diff = true;
  auto d = nfemu::replay::replay(*sc, o, diff);
  if (!d || d->frames != r->frames || d->hosts.size() != 2) std::abort();
  // A pcapng file's frames of another interface than its first (a later
  // section's) are counted apart.
  for (const auto& in : r->inputs) {
    uint64_t counted = in.ipv4 + in.ipv6 + in.arp + in.vlan + in.other + in.runt + in.cut + in.own + in.other_host;
    for (const auto& [index, n] : in.unnamed) counted += n;
    if (counted != in.frames) std::abort();
  }
  if (r->hosts.at(0).replayed != r->inputs[0].ipv4) std::abort();
  // --fixlen pad replays exactly the cut datagrams whose headers are whole
  // (zero-filled), and counts the others as before.
  const auto& del = r->inputs.at(0);
  if (del.padded != 0 || del.cut_in_headers > del.cut) std::abort();
  o.candidate.reset();
  o.diff = false;
  o.fixlen = nfemu::replay::ReplayOptions::FixLen::Pad;
  auto p = nfemu::replay::replay(*sc, o, diff);
  if (!p) std::abort();  // the same frames as the run above
  const auto& pad = p->inputs.at(0);
  if (pad.padded != del.cut - del.cut_in_headers || pad.cut != del.cut_in_headers ||
      pad.ipv4 != del.ipv4 + pad.padded || p->hosts.at(0).replayed != pad.ipv4)
    std::abort();
  o.fixlen = nfemu::replay::ReplayOptions::FixLen::Drop;
  // --own-output (with --diff): the own frames are counted as before, and
  // each is replayed or not replayed for one reason.
  auto own_accounted = [](const nfemu::replay::ReplaySummary& s, const nfemu::replay::ReplaySummary& without) {
    const auto& in = s.inputs.at(0);
    if (in.own != without.inputs.at(0).own || in.ipv4 != without.inputs.at(0).ipv4) std::abort();
    if (s.hosts.at(0).own_sent + s.own_forwarded + s.own_answers + s.own_group > in.own) std::abort();
    for (const auto& h : s.hosts)
      if (h.own_out + h.own_delivered + h.own_dropped > h.own_sent || h.replayed != in.ipv4) std::abort();
  };
  o.own_output = true;
  o.candidate = candidate;
  o.diff = true;
  auto w = nfemu::replay::replay(*sc, o, diff);
  if (!w) std::abort();
  own_accounted(*w, *r);
  o.own_output = false;
  // The same bytes as a capture of every interface: a LINUX_SLL2 file puts
  // each frame on the interface its index names, a pcapng one on the
  // interface of its interface block's name (any other file is refused);
  // frames of unnamed indexes and interfaces are counted apart.
  o.candidate.reset();
  o.diff = false;
  o.inputs = {{"any", path}};
  o.ifindex = {{"wan", 2}, {"lan", 3}};
  auto a = nfemu::replay::replay(*sc, o, diff);
  if (!a) return 0;
  const auto& in = a->inputs.at(0);
  uint64_t unnamed = 0, by_interface = 0;
  for (const auto& [index, n] : in.unnamed) unnamed += n;
  for (const auto& [name, n] : in.by_interface) by_interface += n;
  const uint64_t counted = in.ipv4 + in.ipv6 + in.arp + in.vlan + in.other + in.runt + in.cut + in.own + in.other_host;
  if (counted + unnamed != in.frames) std::abort();
  if (by_interface != in.ipv4 || a->hosts.at(0).replayed != in.ipv4) std::abort();
  o.own_output = true;
  auto ao = nfemu::replay::replay(*sc, o, diff);
  if (!ao) std::abort();
  own_accounted(*ao, *a);
  if (ao->inputs.at(0).unnamed != in.unnamed || ao->inputs.at(0).by_interface != in.by_interface) std::abort();
  return 0;
}
