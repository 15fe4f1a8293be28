// Subcommands of the `upviz` executable. Each adds itself to the app with
// its options and a callback; main.cpp only wires them up.
#pragma once

#include <CLI/CLI.hpp>

namespace upviz {

// A subcommand's callback stores its exit status here; main returns it.
inline int& exit_status() {
  static int status = 0;
  return status;
}

// `upviz log`: Debian upload history as a gource custom log (log_command.cpp).
void add_log_command(CLI::App& app);

// `upviz render`: implemented in src/upviz/render/ by the library target
// upviz_render, which includes this header so that its definition is checked
// against this declaration. main.cpp calls it only when UPVIZ_HAVE_RENDER is
// defined, which src/upviz/CMakeLists.txt does when that target exists.
void register_render_command(CLI::App& app);

}  // namespace upviz
