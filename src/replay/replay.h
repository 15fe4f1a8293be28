// nfemu replay: frames from pcap files arrive on the interfaces of one host
// of a scenario, in timestamp order, on a virtual clock that follows the
// capture; what the host does with each one is counted and, with an output
// folder, written as the artifacts of spec/outputs.md (kern.log, conntrack
// events and table, iptables-save -c, one pcap per interface of what
// leaves it).
//
//   ReplayOptions o;
//   o.host = "fw";
//   o.inputs = {{"eth0", "wan.pcap"}};
//   o.out_dir = "out";
//   auto r = replay(sc, o, std::cout);   // diff lines go to the stream
//   if (!r) ... r.error();
//   std::cout << format_summary(*r);
//
// Streaming: one frame at a time through a reorder window (merge.h); the
// artifacts are appended as the run goes; counters are keyed by rule, so
// memory is bounded by the conntrack table (and the window), not by the
// capture. Frames the host cannot see as IPv4 (IPv6, ARP, other
// EtherTypes, runts, datagrams cut by the capture's snaplen) are counted
// and reported, not replayed. An 802.1Q frame of VLAN v in a capture of
// IFNAME arrives untagged on the host's interface IFNAME.v (the name `ip
// link add link IFNAME type vlan id v` gives), as on the kernel's VLAN
// device; tags of VLANs the host has no such interface for are counted.
//
// Captures should hold what arrives (tcpdump -Q in). A capture of both
// directions works when the scenario gives the interface the captured
// host's MAC: frames from that MAC (and Linux cooked "outgoing" ones) are
// counted as the host's own and skipped. With the MAC given, frames to
// other unicast MACs (a promiscuous capture) are dropped as the kernel
// drops them, before PREROUTING; broadcast and multicast frames go
// through PREROUTING and are then not forwarded (ip_forward).
//
// A capture of every interface at once (`tcpdump -i any`, LINUX_SLL2 since
// libpcap 1.10) is given as the input named "any": each frame arrives on
// the interface whose index its header carries, named by `ifindex` (the
// captured host's `ip -o link`). Index 1 is always lo there: the host's
// own traffic, skipped like the other frames it sent. So is a pcapng
// capture of several interfaces (dumpcap -i eth0 -i eth1, Wireshark): its
// frames arrive on the host's interfaces named as its interface blocks
// name theirs (frames of lo are the host's own); given an interface's
// name instead, such a file is refused.
//
// A candidate ruleset (--rules) replaces the scenario's; with `diff` both
// run in lockstep on two copies of the host and every frame whose fate
// differs (dropped / delivered / forwarded, output interface, addresses
// and ports after NAT) is written as one line.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "replay/merge.h"
#include "scenario/scenario.h"
#include "util/result.h"
#include "xtables/table.h"

namespace nfemu::replay {

// An interface of the captured host by its index (--ifindex wan=2).
struct IfIndex {
  std::string ifname;
  uint32_t index = 0;
};

// The input name of a capture of every interface (tcpdump -i any).
inline constexpr std::string_view kAnyInterface = "any";

struct ReplayOptions {
  std::string host;
  std::vector<Input> inputs;
  std::vector<IfIndex> ifindex;  // for inputs named "any" that are LINUX_SLL2 captures
  std::string out_dir;  // empty: no artifacts
  uint64_t window_us = 1000;
  std::optional<xt::Ruleset> candidate;
  bool diff = false;  // needs candidate
  size_t max_diff_lines = SIZE_MAX;  // beyond it the differences are only counted
  bool progress = false;  // a progress bar on stderr
  // The compiled ruleset (src/xtables/compiled) by default; linear is the
  // reference walk, kept for benchmarks and for doubt.
  bool linear = false;
  // Recompute the IPv4 header and TCP/UDP/ICMP checksums that do not
  // verify before a frame arrives (packet::repair_checksums): a capture
  // taken on the sending host holds what it left for its NIC to fill.
  bool fix_checksums = false;
  // A datagram that the capture's snaplen cut (tcpdump -s 96: headers only)
  // is skipped and counted (Drop, tcprewrite's --fixlen=del), or, when its
  // headers are whole, replayed at its length with the missing bytes as
  // zeros and its transport checksum taken as verified (Pad, --fixlen=pad):
  // counters, conntrack and NAT as the kernel had them (checked against
  // the kernel: tests/replay/kernel-any.sh). What reads the payload sees
  // zeros: string and u32 matches, the quote of an ICMP error the host
  // sends about such a datagram, and a checksum computed over the whole of
  // it (NAT's of an ICMP error whose quoted datagram it translates back,
  // CHECKSUM --checksum-fill's of one whose checksum was left for the NIC).
  // Output pcaps keep only a padded datagram's captured bytes.
  enum class FixLen { Drop, Pad };
  FixLen fixlen = FixLen::Drop;
  // The host's own frames in the captures (what it sent: its MAC as the
  // source, a cooked capture's outgoing ones) are skipped by default. With
  // own_output, those its sockets sent are replayed as its local output
  // (OUTPUT, POSTROUTING) at their time, and the host's sockets are the
  // capture's (Host::CapturedSockets): what comes to a port the host sent
  // from is answered by the capture, not by nfemu. Not replayed: frames
  // from addresses not the host's (forwarded), SNATed forwards (the same
  // datagram came in on a link within the last second), frames to a
  // multicast or broadcast address, and the answers nfemu makes itself
  // (ICMP other than requests, TCP RSTs). Their socket is root's: -m owner
  // and LOG's UID= see uid 0, as for every socket nfemu models (a capture
  // does not say which process sent a frame).
  bool own_output = false;
};

// What one host did (one column of the summary).
struct HostStats {
  std::string label;  // "fw", or "fw (candidate rules)"
  uint64_t replayed = 0;   // IPv4 frames given to the host
  uint64_t delivered = 0;  // reached a local socket layer
  uint64_t forwarded = 0;
  uint64_t dropped = 0;
  uint64_t snat = 0;  // replayed packets of connections with source NAT
  uint64_t dnat = 0;
  std::map<std::string, uint64_t, std::less<>> dropped_by;  // rule or reason -> packets
  std::map<std::string, uint64_t> out_frames;   // interface -> frames that left (generated ones too)
  uint64_t generated = 0;                        // frames the host made itself (ICMP errors, RST, replies)
  uint64_t log_lines = 0;                        // kern.log lines (LOG and TRACE)
  uint64_t ct_new = 0, ct_update = 0, ct_destroy = 0;
  uint64_t ct_peak = 0;                          // most entries at once
  std::map<std::string, uint64_t> connections;   // at the end: "tcp ESTABLISHED" -> count
  std::vector<std::string> unsupported;          // extensions met that nfemu cannot evaluate
  std::map<std::string, uint64_t> ct_invalid;    // packets conntrack found INVALID, by reason ("" none given)
  // Packets whose TCP or UDP checksum field held the pseudo header's sum
  // (CHECKSUM_PARTIAL: captured before a NIC filled it), as conntrack's
  // checksum test found them (PacketMeta::csum_partial).
  uint64_t partial = 0;
  // Segments to the host's listeners' handshakes that acknowledged another
  // ISN than nfemu's SYN-ACK (Host::foreign_isn_acks): reset by nfemu.
  uint64_t foreign_isn_acks = 0;
  // ReplayOptions::own_output: the host's own frames replayed as its
  // output, and what became of them.
  uint64_t own_sent = 0, own_out = 0, own_delivered = 0, own_dropped = 0;
};

struct ReplaySummary {
  struct InputStats {
    std::string ifname, path, linktype;
    uint64_t frames = 0, ipv4 = 0, ipv6 = 0, arp = 0, vlan = 0, other = 0, runt = 0, cut = 0, own = 0;
    uint64_t fixed = 0;  // frames whose checksums --fix-checksums recomputed
    // Of `cut` (datagrams the snaplen cut): those cut inside their headers,
    // which FixLen::Pad cannot replay either. Padded: replayed with zeros.
    uint64_t cut_in_headers = 0, padded = 0;
    // Frames to another host's MAC (PACKET_OTHERHOST), not replayed: a
    // cooked capture's packet type says so, or, when the scenario gives
    // the interface its MAC, an untagged Ethernet frame's destination.
    uint64_t other_host = 0;
    // An "any" input: the frames replayed on each interface, and the
    // frames whose interface index no IfIndex names (not replayed).
    std::vector<std::pair<std::string, uint64_t>> by_interface;
    std::map<uint32_t, uint64_t> unnamed;
    // A pcapng input's interface names, by the number Merger gives them:
    // there `unnamed` counts the frames of interfaces the host has no
    // interface of that name for (or, for an input given an interface's
    // name, of the file's interfaces after its first).
    std::vector<std::string> capture_interfaces;
  };
  std::vector<InputStats> inputs;
  std::vector<std::string> warnings;  // truncated files
  uint64_t frames = 0;
  uint64_t first_us = 0, last_us = 0;
  std::vector<HostStats> hosts;  // one, or two with diff
  bool diff = false;
  bool fix_checksums = false;
  ReplayOptions::FixLen fixlen = ReplayOptions::FixLen::Drop;
  uint64_t differences = 0;
  // ReplayOptions::own_output: own IPv4 frames not replayed, by why.
  bool own_output = false;
  uint64_t own_forwarded = 0;  // not from the host's addresses, or an SNATed forward
  uint64_t own_answers = 0;    // ICMP other than requests, TCP RSTs: nfemu makes its own
  uint64_t own_group = 0;      // to a multicast or broadcast address
  double loop_seconds = 0;  // wall time of the frame loop (not in the summary: it is not deterministic)
};

// Runs the replay; diff lines (and nothing else) go to `diff_out`.
// Fails on bad input the run cannot start or go on with: unknown host or
// interface, unreadable files, link types other than Ethernet / raw IP /
// Linux cooked, an "any" input that is neither LINUX_SLL2 (with
// `ifindex`) nor a pcapng file of named interfaces, a pcapng file of
// several interfaces given an interface's name, frames out of order
// beyond the window.
Result<ReplaySummary> replay(const scenario::Scenario& sc, const ReplayOptions& opts, std::ostream& diff_out);

// The table printed on stdout (and written to DIR/HOST/summary.txt).
std::string format_summary(const ReplaySummary& s);

}  // namespace nfemu::replay
