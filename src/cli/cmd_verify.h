// `nfemu verify SCENARIO [--out DIR] [--keep]`: the scenario on the real
// kernel (network namespaces) and in nfemu, artifacts compared file by file
// (spec/outputs.md). Exit 0 when they agree, 1 when they differ, 2 when the
// scenario is refused or the kernel side cannot run here.
#pragma once

#include <string>

namespace nfemu::cli {

struct VerifyArgs {
  std::string scenario;
  std::string out_dir;  // empty: a temporary folder, removed unless keep
  bool keep = false;
};

int cmd_verify(const VerifyArgs& args);

}  // namespace nfemu::cli
