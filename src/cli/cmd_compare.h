// nfemu compare LEFT RIGHT: are two artifact directories (spec/outputs.md)
// the same run, up to the normalisations outputs.md allows?
//
//   nfemu::cli::CompareArgs args;
//   CLI::App* sub = nfemu::cli::add_compare(app, args);
//   ... app.parse ...
//   if (*sub) return nfemu::cli::run_compare(args);
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace nfemu::cli {

struct CompareArgs {
  std::string left, right;
  std::string left_label = "kernel", right_label = "nfemu";
};

CLI::App* add_compare(CLI::App& app, CompareArgs& args);
// Prints the differing files and their diff; 0 agree, 1 differ, 2 a
// directory or file cannot be read.
int run_compare(const CompareArgs& args);

}  // namespace nfemu::cli
