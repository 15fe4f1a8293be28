#include "cli/cmd_verify.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <filesystem>
#include <iostream>

#include "net/network.h"
#include "scenario/scenario.h"
#include "verify/compare.h"
#include "verify/kernel_plan.h"
#include "verify/kernel_run.h"

namespace nfemu::cli {

namespace {

constexpr int kAgree = 0, kDiffer = 1, kCannot = 2;

// The folder of one verify run: DIR/kernel, DIR/nfemu, and DIR/raw (the
// tools' own outputs, kept with --keep). A temporary DIR goes away at the
// end unless --keep.
struct OutDir {
  std::string path;
  bool temporary = false;
  bool keep = false;
  ~OutDir() {
    std::error_code ec;
    if (path.empty()) return;
    if (temporary && !keep) std::filesystem::remove_all(path, ec);
    else if (!keep) std::filesystem::remove_all(std::filesystem::path(path) / "raw", ec);
  }
};

}  // namespace

int cmd_verify(const VerifyArgs& args) {
  namespace fs = std::filesystem;
  const std::string& file = args.scenario;
  auto sc = scenario::load_scenario(file);
  if (!sc) {
    std::cerr << sc.error().format(file) << "\n";
    return kCannot;
  }
  if (auto why = verify::kernel_unavailable()) {
    std::cerr << "nfemu verify: cannot run the kernel side: " << *why << "\n";
    return kCannot;
  }
  auto raw = verify::read_raw_rules(file, *sc);
  if (!raw) {
    std::cerr << raw.error().format(file) << "\n";
    return kCannot;
  }
  auto plan = verify::plan_kernel(*sc, *raw, verify::make_run_id());
  if (!plan) {
    std::cerr << plan.error().format(file) << "\n";
    return kCannot;
  }

  OutDir dir;
  dir.keep = args.keep;
  std::error_code ec;
  if (args.out_dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "nfemu-verify.XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::cerr << "nfemu verify: cannot create a temporary folder\n";
      return kCannot;
    }
    dir.path = tmpl;
    dir.temporary = true;
  } else {
    dir.path = args.out_dir;
    // Files of an earlier run would be compared as if this run wrote them.
    for (const char* sub : {"kernel", "nfemu", "raw"}) fs::remove_all(fs::path(dir.path) / sub, ec);
    fs::create_directories(dir.path, ec);
    if (ec) {
      std::cerr << "nfemu verify: cannot create " << dir.path << ": " << ec.message() << "\n";
      return kCannot;
    }
  }
  std::string kdir = (fs::path(dir.path) / "kernel").string();
  std::string ndir = (fs::path(dir.path) / "nfemu").string();
  std::string rdir = (fs::path(dir.path) / "raw").string();

  verify::install_signal_handlers();
  for (const auto& n : plan->notes) std::cerr << "verify: note: " << n << "\n";
  std::cerr << fmt::format("verify: {}: running on the kernel ({:.1f} s of traffic) in namespaces {}-*\n", file,
                           static_cast<double>(sc->end_ns) / 1e9, plan->id);
  auto k = verify::run_kernel(*sc, *raw, *plan, {.out_dir = kdir, .raw_dir = rdir});
  if (!k) {
    const Error& e = k.error();
    std::cerr << e.format(file) << "\n";
    if (e.message.find(verify::kKernelRefusedRule) != std::string::npos)
      std::cerr << "verify: FIDELITY BUG: nfemu accepts a rule that the kernel refuses (see above)\n";
    return kCannot;
  }
  for (const auto& n : k->notes) std::cerr << "verify: note: " << n << "\n";
  if (verify::interrupted()) {
    std::cerr << "nfemu verify: interrupted\n";
    return kCannot;
  }

  auto net = net::Network::build(*sc);
  if (!net) {
    std::cerr << net.error().format(file) << "\n";
    return kCannot;
  }
  (*net)->run();
  if (auto w = (*net)->write_artifacts(ndir); !w) {
    std::cerr << w.error().format(ndir) << "\n";
    return kCannot;
  }
  if (!(*net)->unsupported().empty()) {
    std::cerr << "verify: note: nfemu does not evaluate yet:";
    for (const auto& e : (*net)->unsupported()) std::cerr << " " << e;
    std::cerr << "\n";
  }

  auto cmp = verify::compare_dirs(kdir, ndir);
  if (!cmp) {
    std::cerr << cmp.error().format(dir.path) << "\n";
    return kCannot;
  }
  for (const auto& d : cmp->differences) std::cout << "  " << d.path << ": " << d.summary << "\n";
  std::cout << cmp->diff;
  if (!cmp->diff.empty() && cmp->diff.back() != '\n') std::cout << "\n";
  if (args.keep || !dir.temporary) std::cout << "verify: artifacts in " << dir.path << "\n";
  if (cmp->agree) {
    std::cout << "verify: " << file << ": agree\n";
    return kAgree;
  }
  std::cout << fmt::format("verify: {}: differ ({} file{})\n", file, cmp->differences.size(),
                           cmp->differences.size() == 1 ? "" : "s");
  return kDiffer;
}

}  // namespace nfemu::cli
