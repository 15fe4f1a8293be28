// upviz: headless renderer of Debian upload history. Subcommands:
//   upviz log     uploads (changelogs, UDD exports) -> gource custom log
//   upviz render  gource log -> frames/video (when built with render/)
#include <CLI/CLI.hpp>

#include "upviz/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"upviz: Debian upload history, rendered"};
  app.require_subcommand(1);
  upviz::add_log_command(app);
#ifdef UPVIZ_HAVE_RENDER
  upviz::register_render_command(app);
#endif
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // Usage errors share exit status 2 with "nothing usable was read".
    app.exit(e);
    return 2;
  }
  // Each subcommand's callback stores its exit status here.
  return upviz::exit_status();
}
