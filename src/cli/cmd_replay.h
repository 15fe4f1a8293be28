// `nfemu replay` registration, so that main.cpp only adds two lines.
#pragma once

#include <CLI/CLI.hpp>

namespace nfemu::cli {

CLI::App* add_replay_command(CLI::App& app);
int run_replay_command();  // after parsing, when the subcommand was given

}  // namespace nfemu::cli
