// `upviz render`: the command-line face of the renderer.
//
// register_render_command adds the `render` subcommand to the upviz CLI11
// app. The subcommand takes its arguments raw and parses them itself, so that
// gource's `-WIDTHxHEIGHT` spelling works and so that every usage error exits
// with status 2 whatever the parent app does with CLI11's own codes.
//
//   CLI::App app{"upviz"};
//   upviz::register_render_command(app);
//   CLI11_PARSE(app, argc, argv);
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace upviz {

void register_render_command(CLI::App& app);

// Runs `upviz render ARGS...` (ARGS without the program and subcommand
// names) and returns the exit status: 0, or 2 for any error.
int run_render_command(const std::vector<std::string>& args);

// Gource's `-1920x1080` becomes `--viewport 1920x1080`; other arguments pass.
std::vector<std::string> translate_gource_args(const std::vector<std::string>& args);

}  // namespace upviz
