// nfemu replay: pcap files into one host of a scenario (src/replay).
#include "cmd_replay.h"

#include <unistd.h>

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>
#include <sstream>

#include "replay/replay.h"
#include "ruleset/restore.h"
#include "scenario/scenario.h"

namespace nfemu::cli {

namespace {

constexpr int kExitBadInput = 2;

struct ReplayArgs {
  std::string scenario, host, out, rules;
  std::vector<std::string> inputs;
  std::vector<std::string> ifindex;
  bool diff = false;
  bool timing = false;
  bool fix_checksums = false;
  bool own_output = false;
  std::string classifier = "compiled";
  std::string fixlen = "del";
  double window_s = 0.001;
  size_t max_diff = 1000;
};

ReplayArgs& args() {
  static ReplayArgs a;
  return a;
}

}  // namespace

CLI::App* add_replay_command(CLI::App& app) {
  auto& a = args();
  auto* cmd = app.add_subcommand(
      "replay", "Replay pcap captures into one host of a scenario: verdicts, counters, conntrack, output pcaps");
  cmd->add_option("SCENARIO", a.scenario, "scenario file (TOML); its traffic entries are ignored")->required();
  cmd->add_option("--host", a.host, "the host the frames arrive at")->required();
  cmd->add_option("--in", a.inputs,
                  "IFNAME=FILE.pcap: frames of FILE (pcap or pcapng) arrive on IFNAME (repeatable); any=FILE: a "
                  "tcpdump -i any capture (LINUX_SLL2), each frame arriving on the interface its index names "
                  "(--ifindex), or a pcapng file of several interfaces (dumpcap -i IFNAME -i IFNAME), each frame "
                  "arriving on the host's interface named as its interface block names it")
      ->required()
      ->allow_extra_args(false);
  cmd->add_option("--ifindex", a.ifindex,
                  "IFNAME=INDEX: the interface index of IFNAME on the captured host (`ip -o link`), for --in any=FILE "
                  "(repeatable)")
      ->allow_extra_args(false);
  cmd->add_option("--out", a.out, "write DIR/HOST/{kern.log,conntrack*.txt,iptables-save.txt,IFNAME.pcap,summary.txt}");
  cmd->add_option("--rules", a.rules, "replay against this iptables-save file instead of the scenario's rules");
  cmd->add_flag("--diff", a.diff,
                "with --rules: run both rulesets and list the packets whose fate differs (exit 1 if any)");
  cmd->add_option("--reorder-window", a.window_s,
                  "sort frames up to this many seconds out of order (default 0.001); later ones are refused")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--classifier", a.classifier, "compiled (default) or linear, the reference rule walk")
      ->check(CLI::IsMember({"compiled", "linear"}));
  cmd->add_flag("--fix-checksums", a.fix_checksums,
                "recompute IPv4, TCP, UDP and ICMP checksums that do not verify before a frame arrives, as the "
                "sender's NIC put them on the wire (a capture taken on the sending host; without it, checksums left "
                "for the NIC replay as the kernel handles them on that host)");
  cmd->add_option("--fixlen", a.fixlen,
                  "datagrams the capture's snaplen cut (tcpdump -s 96): del (default) skips and counts them; pad "
                  "replays those whose headers are whole at their length, the bytes not captured as zeros and the "
                  "transport checksum taken as verified (as tcprewrite --fixlen)")
      ->check(CLI::IsMember({"del", "pad"}));
  cmd->add_flag("--own-output", a.own_output,
                "replay the frames the host sent itself (its MAC as the source, a cooked capture's outgoing ones) "
                "as its sockets' output, through OUTPUT and POSTROUTING, and let the capture answer for its "
                "sockets: nfemu then sends no RST, SYN-ACK or port unreachable to a port the host sent from. Forwards "
                "(also SNATed ones), frames to group addresses and the ICMP errors, replies and RSTs nfemu makes "
                "itself are not replayed. Without it own frames are skipped");
  cmd->add_flag("--timing", a.timing, "print the frame loop's wall time and rate on stderr (for bench/nfemu)");
  cmd->add_option("--max-diff", a.max_diff, "list at most N differing packets (all are counted; default 1000)");
  return cmd;
}

int run_replay_command() {
  auto& a = args();
  auto sc = scenario::load_scenario(a.scenario);
  if (!sc) {
    std::cerr << sc.error().format(a.scenario) << "\n";
    return kExitBadInput;
  }
  replay::ReplayOptions o;
  o.host = a.host;
  o.out_dir = a.out;
  o.diff = a.diff;
  o.linear = a.classifier == "linear";
  o.fix_checksums = a.fix_checksums;
  o.own_output = a.own_output;
  o.fixlen = a.fixlen == "pad" ? replay::ReplayOptions::FixLen::Pad : replay::ReplayOptions::FixLen::Drop;
  o.max_diff_lines = a.max_diff;
  o.window_us = static_cast<uint64_t>(std::llround(a.window_s * 1e6));
  o.progress = isatty(STDERR_FILENO) != 0;
  for (const auto& spec : a.inputs) {
    auto eq = spec.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == spec.size()) {
      std::cerr << "nfemu replay: error: --in " << spec << ": expected IFNAME=FILE.pcap\n";
      return kExitBadInput;
    }
    o.inputs.push_back({spec.substr(0, eq), spec.substr(eq + 1)});
  }
  for (const auto& spec : a.ifindex) {
    auto eq = spec.find('=');
    uint32_t index = 0;
    const char* digits = eq == std::string::npos ? nullptr : spec.c_str() + eq + 1;
    auto [end, ec] = digits ? std::from_chars(digits, spec.c_str() + spec.size(), index)
                            : std::from_chars_result{nullptr, std::errc::invalid_argument};
    if (eq == 0 || !digits || ec != std::errc{} || end != spec.c_str() + spec.size()) {
      std::cerr << "nfemu replay: error: --ifindex " << spec << ": expected IFNAME=INDEX, e.g. --ifindex wan=2\n";
      return kExitBadInput;
    }
    o.ifindex.push_back({spec.substr(0, eq), index});
  }
  if (!a.rules.empty()) {
    std::ifstream in(a.rules, std::ios::binary);
    if (!in) {
      std::cerr << a.rules << ": error: cannot open file\n";
      return kExitBadInput;
    }
    std::ostringstream text;
    text << in.rdbuf();
    xt::Ruleset rs;
    // The candidate's set matches name the replayed host's sets.
    const ipset::Registry* sets = nullptr;
    const xt::NfacctObjects* nfacct = nullptr;
    for (const auto& h : sc->hosts)
      if (h.name == a.host) {
        sets = &h.ipsets;
        nfacct = &h.nfacct;
      }
    if (auto r = ruleset::restore(text.str(), rs, {.sets = sets, .nfacct = nfacct}); !r) {
      std::cerr << r.error().format(a.rules) << "\n";
      return kExitBadInput;
    }
    o.candidate = std::move(rs);
  }
  auto sum = replay::replay(*sc, o, std::cout);
  if (!sum) {
    const Error& e = sum.error();
    if (e.line > 0) std::cerr << e.format(a.scenario) << "\n";  // from the scenario (a route...)
    else std::cerr << "nfemu replay: error: " << e.message << "\n";
    return kExitBadInput;
  }
  std::cout << replay::format_summary(*sum);
  if (a.timing) {
    double s = sum->loop_seconds;
    std::cerr << fmt::format("nfemu replay: timing: {} frames in {:.6f} s: {:.3f} Mpps, {:.1f} ns/frame\n", sum->frames, s,
                             s > 0 ? static_cast<double>(sum->frames) / s / 1e6 : 0.0,
                             sum->frames ? s * 1e9 / static_cast<double>(sum->frames) : 0.0);
  }
  for (const auto& w : sum->warnings) std::cerr << "nfemu replay: warning: " << w << "\n";
  return a.diff && sum->differences ? 1 : 0;
}

}  // namespace nfemu::cli
