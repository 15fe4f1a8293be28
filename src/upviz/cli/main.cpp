// upviz: headless visualisations of upload histories. Thin: each subcommand
// registers itself and does its own work.
#include <CLI/CLI.hpp>

#ifdef UPVIZ_HAVE_RENDER
#include "upviz/render/command.h"
#endif

int main(int argc, char** argv) {
  CLI::App app{"upviz: render upload histories as gource-style animations"};
  app.require_subcommand(1);
#ifdef UPVIZ_HAVE_RENDER
  upviz::register_render_command(app);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    // Usage errors exit 2, like the subcommands' own errors.
    return rc == 0 ? 0 : (e.get_name() == "RuntimeError" ? rc : 2);
  }
  return 0;
}
