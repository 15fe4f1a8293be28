// nfemu: the command-line front end. Thin by design: every subcommand is a
// few calls into the libraries.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cmd_compare.h"
#include "cli/cmd_replay.h"
#include "net/json.h"
#include "cli/cmd_verify.h"
#include "net/network.h"
#include "ruleset/restore.h"
#include "scenario/scenario.h"

namespace {

constexpr int kExitBadInput = 2;

bool read_file(const std::string& path, std::string& out) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    out = ss.str();
    return true;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

// Loads FILE as iptables-legacy-restore would; prints the error and
// returns false when the kernel tools would refuse it.
bool load(const std::string& path, bool counters, nfemu::xt::Ruleset& rs) {
  std::string text;
  if (!read_file(path, text)) {
    std::cerr << path << ": error: cannot open file\n";
    return false;
  }
  auto r = nfemu::ruleset::restore(text, rs, {.counters = counters});
  if (!r) {
    std::cerr << r.error().format(path == "-" ? "<stdin>" : path) << "\n";
    return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nfemu: an offline, deterministic emulator of Linux Netfilter"};
  app.require_subcommand(1);

  std::string check_file;
  auto* check = app.add_subcommand("check", "Exit 0 when the kernel would accept this iptables-save file, 2 otherwise");
  check->add_option("FILE", check_file, "iptables-save file ('-' for standard input)")->required();

  std::string save_file;
  bool print_counters = false, load_counters = false;
  auto* save = app.add_subcommand("save", "Print the ruleset as iptables-legacy-save would after iptables-legacy-restore");
  save->add_option("FILE", save_file, "iptables-save file ('-' for standard input)")->required();
  save->add_flag("-c", print_counters, "Print rule counters, as iptables-save -c");
  save->add_flag("--counters", load_counters, "Load counters from the file, as iptables-restore --counters");

  std::string run_file, out_dir;
  auto* run = app.add_subcommand("run", "Emulate a scenario: print the timeline, and with --out write the artifacts");
  run->add_option("SCENARIO", run_file, "scenario file (TOML, see shared/spec/scenario.md)")->required();
  run->add_option("--out", out_dir, "write kern.log, conntrack events and table, iptables-save and pcaps here");
  bool run_json = false;
  run->add_flag("--json", run_json, "print the timeline and the hosts' end state as JSON (docs/json.md)");

  nfemu::cli::CompareArgs compare_args;
  auto* compare = nfemu::cli::add_compare(app, compare_args);

  auto* replay = nfemu::cli::add_replay_command(app);

  nfemu::cli::VerifyArgs verify_args;
  auto* verify = app.add_subcommand("verify", "Run a scenario on the real kernel (network namespaces, root) and in "
                                              "nfemu; compare the artifacts (exit 0 agree, 1 differ, 2 cannot run)");
  verify->add_option("SCENARIO", verify_args.scenario, "scenario file (TOML)")->required();
  verify->add_option("--out", verify_args.out_dir, "write DIR/kernel and DIR/nfemu here (default: a temporary folder)");
  verify->add_flag("--keep", verify_args.keep, "keep the folder and the tools' raw outputs (DIR/raw)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : kExitBadInput;
  }

  if (*compare) return nfemu::cli::run_compare(compare_args);
  if (*check) {
    nfemu::xt::Ruleset rs;
    return load(check_file, false, rs) ? 0 : kExitBadInput;
  }
  if (*run) {
    auto sc = nfemu::scenario::load_scenario(run_file);
    if (!sc) {
      std::cerr << sc.error().format(run_file) << "\n";
      return kExitBadInput;
    }
    auto net = nfemu::net::Network::build(*sc);
    if (!net) {
      std::cerr << net.error().format(run_file) << "\n";
      return kExitBadInput;
    }
    (*net)->run();
    std::cout << (run_json ? nfemu::net::run_json(**net, run_file) : (*net)->timeline_text());
    if (!(*net)->unsupported().empty()) {
      std::cerr << "nfemu: note: not evaluated yet (treated as no match / continue):";
      for (const auto& e : (*net)->unsupported()) std::cerr << " " << e;
      std::cerr << "\n";
    }
    if (!out_dir.empty()) {
      if (auto w = (*net)->write_artifacts(out_dir); !w) {
        std::cerr << w.error().format(out_dir) << "\n";
        return kExitBadInput;
      }
    }
    return 0;
  }
  if (*replay) return nfemu::cli::run_replay_command();
  if (*verify) return nfemu::cli::cmd_verify(verify_args);
  if (*save) {
    nfemu::xt::Ruleset rs;
    if (!load(save_file, load_counters, rs)) return kExitBadInput;
    std::cout << nfemu::ruleset::save(rs, {.counters = print_counters});
    return 0;
  }
  return 0;
}
