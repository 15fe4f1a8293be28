#include "cli/cmd_compare.h"

#include <iostream>

#include "verify/compare.h"

namespace nfemu::cli {

CLI::App* add_compare(CLI::App& app, CompareArgs& args) {
  auto* sub = app.add_subcommand(
      "compare", "Compare two artifact directories (run --out, verify --out) after the outputs.md normalisations");
  sub->add_option("LEFT", args.left, "directory of the reference run (the kernel's)")->required();
  sub->add_option("RIGHT", args.right, "directory of the run under test (nfemu's)")->required();
  sub->add_option("--left-label", args.left_label, "name of LEFT in the diff")->capture_default_str();
  sub->add_option("--right-label", args.right_label, "name of RIGHT in the diff")->capture_default_str();
  return sub;
}

int run_compare(const CompareArgs& args) {
  auto r = verify::compare_dirs(args.left, args.right, {.left_label = args.left_label, .right_label = args.right_label});
  if (!r) {
    std::cerr << "nfemu compare: error: " << r.error().message << "\n";
    return 2;
  }
  if (r->agree) {
    std::cout << "compare: agree (" << r->files << " files)\n";
    return 0;
  }
  std::cout << r->diff;
  for (const auto& d : r->differences) std::cout << "compare: " << d.path << ": " << d.summary << "\n";
  std::cout << "compare: differ (" << r->differences.size() << " of " << r->files << " files)\n";
  return 1;
}

}  // namespace nfemu::cli
