#include "upviz/render/command.h"

#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "upviz/render/gource_log.h"
#include "upviz/render/options.h"
#include "upviz/render/output.h"
#include "upviz/render/renderer.h"

namespace upviz {
namespace {

using render::RenderOptions;

struct UsageError {
  std::string message;
};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "1920x1080", optionally with gource's trailing '!' (no resize).
bool parse_viewport(std::string s, int& w, int& h) {
  if (!s.empty() && s.back() == '!') s.pop_back();
  const size_t x = s.find('x');
  if (x == std::string::npos) return false;
  const std::string ws = s.substr(0, x), hs = s.substr(x + 1);
  if (!all_digits(ws) || !all_digits(hs) || ws.size() > 5 || hs.size() > 5) return false;
  w = std::stoi(ws);
  h = std::stoi(hs);
  return w >= 16 && h >= 16 && w <= 8192 && h <= 8192;
}

int64_t parse_bitrate(const std::string& s) {
  if (s.empty()) throw UsageError{"--bitrate: empty value"};
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  double v = 0;
  try {
    v = std::stod(s.substr(0, i));
  } catch (...) {
    throw UsageError{"--bitrate: '" + s + "' is not a bit rate (e.g. 13000K, 8M)"};
  }
  const std::string unit = s.substr(i);
  if (unit == "k" || unit == "K") v *= 1e3;
  else if (unit == "m" || unit == "M") v *= 1e6;
  else if (!unit.empty()) throw UsageError{"--bitrate: '" + s + "' is not a bit rate (e.g. 13000K, 8M)"};
  if (v < 1000 || v > 1e10) throw UsageError{"--bitrate: " + s + " is out of range"};
  return static_cast<int64_t>(v);
}

int64_t parse_date_option(const std::string& name, const std::string& s) {
  auto t = render::parse_datetime(s);
  if (!t) throw UsageError{name + ": '" + s + "' is not a date (YYYY-MM-DD[ HH:MM[:SS]][ +HH])"};
  return *t;
}

void parse_hide(const std::string& list, render::HideFlags& h) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item == "date") h.date = true;
    else if (item == "files") h.files = true;
    else if (item == "filenames") h.filenames = true;
    else if (item == "users") h.users = true;
    else if (item == "usernames") h.usernames = true;
    else if (item == "tree") h.tree = true;
    else if (item == "dirnames") h.dirnames = true;
    else if (item == "root") h.root = true;
    else if (item == "mouse" || item == "progress" || item == "bloom") {
      // gource's interactive decorations; a render never has them
    } else {
      throw UsageError{"--hide: unknown element '" + item +
                       "' (date, files, filenames, users, usernames, tree, dirnames, root)"};
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
}

void report_bad_lines(const render::RenderReport& r) {
  if (r.bad_lines == 0) return;
  std::string lines;
  for (size_t i = 0; i < r.first_bad_lines.size(); ++i)
    lines += (i ? ", " : "") + std::to_string(r.first_bad_lines[i]);
  std::fprintf(stderr, "upviz render: skipped %lld malformed line%s (first at line%s %s)\n",
               static_cast<long long>(r.bad_lines), r.bad_lines == 1 ? "" : "s",
               r.first_bad_lines.size() == 1 ? "" : "s", lines.c_str());
}

}  // namespace

std::vector<std::string> translate_gource_args(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (const std::string& a : args) {
    const size_t x = a.find('x');
    if (a.size() > 3 && a[0] == '-' && x != std::string::npos && all_digits(a.substr(1, x - 1)) &&
        (all_digits(a.substr(x + 1)) || (a.back() == '!' && all_digits(a.substr(x + 1, a.size() - x - 2))))) {
      out.push_back("--viewport");
      out.push_back(a.substr(1));
    } else {
      out.push_back(a);
    }
  }
  return out;
}

int run_render_command(const std::vector<std::string>& raw_args) {
  RenderOptions o;
  CLI::App app{"Render a gource custom log as an animation, headless: a PPM stream, a video or a PNG.\n"
               "  upviz render LOG [-WIDTHxHEIGHT] [options] -o OUT\n"
               "LOG is a gource custom log (TIMESTAMP|USER|A/M/D|PATH[|COLOUR]) or - for standard input.\n"
               "OUT is - or *.ppm (PPM stream), *.webm (VP8/VP9), *.mp4 or *.mkv (H.264).",
               "upviz render"};
  std::string viewport, start_date, stop_date, hide, log_format = "custom", bitrate;
  std::vector<std::string> snapshot;
  bool stop_at_end = false, no_progress = false;
  app.add_option("log", o.log_path, "gource custom log, or - for standard input")->required();
  app.add_option("-o,--output-ppm-stream", o.output, "output: - or *.ppm, *.webm, *.mp4, *.mkv");
  app.add_option("--viewport", viewport, "WIDTHxHEIGHT (also written -WIDTHxHEIGHT); default 1024x768");
  app.add_option("-r,--output-framerate", o.framerate, "frames per second (default 60)")->check(CLI::Range(1, 240));
  app.add_option("-s,--seconds-per-day", o.seconds_per_day, "seconds of video per day of log (default 10)")
      ->check(CLI::PositiveNumber);
  app.add_option("-a,--auto-skip-seconds", o.auto_skip_seconds,
                 "skip to the next entry after this many idle seconds; 0 never (default 3)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--start-date", start_date, "ignore entries before this date (YYYY-MM-DD [HH:MM:SS] [+HH])");
  app.add_option("--stop-date", stop_date, "stop at this date");
  app.add_option("--title", o.title, "title in the bottom left corner");
  app.add_flag("--key", o.key, "show a key of file extension colours");
  app.add_option("--hide", hide, "comma list of: date, files, filenames, users, usernames, tree, dirnames, root");
  app.add_option("-i,--file-idle-time", o.file_idle_time, "seconds before an idle file goes; 0 never (default)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-files", o.max_files, "most files on screen; 0 no limit (default)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--date-format", o.date_format, "strftime format of the date caption (UTC)");
  app.add_option("--font-size", o.font_size, "font size in pixels (default 16)")->check(CLI::Range(4, 200));
  app.add_option("--log-format", log_format, "only 'custom' is read");
  app.add_flag("--stop-at-end", stop_at_end, "accepted; a render always stops at the end of the log");
  app.add_option("--bitrate", bitrate, "video bit rate, e.g. 13000K or 8M");
  app.add_option("--crf", o.crf, "constant rate factor (x264 0-51, vpx 4-63)")->check(CLI::Range(0, 63));
  app.add_option("--codec", o.codec, "video encoder: vp8, vp9, h264 or a libavcodec encoder name");
  app.add_option("--snapshot", snapshot, "TIME OUT.png: one frame at TIME (video seconds, or a log date)")
      ->expected(2);
  app.add_option("--threads", o.threads, "raster threads (default: one per core, at most 8)")
      ->check(CLI::Range(1, 64));
  app.add_flag("--no-progress", no_progress, "no progress display on a terminal");

  try {
    std::vector<std::string> args = translate_gource_args(raw_args);
    std::reverse(args.begin(), args.end());  // CLI11 takes the vector back to front
    app.parse(args);
    o.progress = !no_progress;
    if (log_format != "custom") throw UsageError{"--log-format: only 'custom' is supported, not '" + log_format + "'"};
    if (!viewport.empty() && !parse_viewport(viewport, o.width, o.height))
      throw UsageError{"bad viewport '" + viewport + "': expected WIDTHxHEIGHT, each 16 to 8192"};
    if (!start_date.empty()) o.start_date = parse_date_option("--start-date", start_date);
    if (!stop_date.empty()) o.stop_date = parse_date_option("--stop-date", stop_date);
    if (!hide.empty()) parse_hide(hide, o.hide);
    if (!bitrate.empty()) o.bitrate = parse_bitrate(bitrate);
    if (!snapshot.empty()) {
      const std::string& when = snapshot[0];
      if (auto d = render::parse_datetime(when)) {
        o.snapshot_date = *d;
      } else {
        try {
          size_t used = 0;
          const double sec = std::stod(when, &used);
          if (used != when.size() || !(sec >= 0)) throw 0;
          o.snapshot_seconds = sec;
        } catch (...) {
          throw UsageError{"--snapshot: '" + when + "' is neither seconds nor a date"};
        }
      }
      if (!o.output.empty() && o.output != snapshot[1])
        throw UsageError{"--snapshot writes its own PNG; drop -o"};
      o.output = snapshot[1];
      if (render::output_kind(o.output) != render::OutputKind::Png)
        throw UsageError{"--snapshot: the output must be a .png file, not '" + o.output + "'"};
    } else {
      if (o.output.empty()) throw UsageError{"no output: give -o OUT (- for a PPM stream on standard output)"};
      const auto kind = render::output_kind(o.output);
      if (kind == render::OutputKind::Png) throw UsageError{"a .png output needs --snapshot TIME"};
      if (kind == render::OutputKind::Unknown)
        throw UsageError{"unknown output type '" + o.output + "' (use -, .ppm, .webm, .mp4 or .mkv)"};
      if (kind == render::OutputKind::Video && (o.width % 2 || o.height % 2))
        throw UsageError{"video outputs need an even width and height, not " + std::to_string(o.width) + "x" +
                         std::to_string(o.height)};
    }
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "upviz render: error: %s\nRun 'upviz render --help' for the options.\n", e.what());
    return 2;
  } catch (const UsageError& e) {
    std::fprintf(stderr, "upviz render: error: %s\n", e.message.c_str());
    return 2;
  }

  nfemu::Result<render::RenderReport> result = nfemu::make_error("");
  uint64_t size = 0;
  if (o.log_path == "-") {
    std::ios_base::sync_with_stdio(false);
    result = render::render(o, std::cin, 0);
  } else {
    struct stat st {};
    if (stat(o.log_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      std::fprintf(stderr, "upviz render: error: %s is a directory, not a gource log\n", o.log_path.c_str());
      return 2;
    }
    std::ifstream in(o.log_path, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "upviz render: error: cannot open %s\n", o.log_path.c_str());
      return 2;
    }
    if (S_ISREG(st.st_mode)) size = static_cast<uint64_t>(st.st_size);
    result = render::render(o, in, size);
  }
  if (!result) {
    std::fprintf(stderr, "upviz render: error: %s\n", result.error().message.c_str());
    return 2;
  }
  report_bad_lines(*result);
  return 0;
}

void register_render_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("render", "render a gource custom log as a video, headless (gource's options)");
  // Everything after `render` is ours, untouched: see run_render_command.
  sub->prefix_command();
  sub->set_help_flag();
  sub->callback([sub] {
    const int rc = run_render_command(sub->remaining());
    if (rc != 0) throw CLI::RuntimeError(rc);
  });
}

}  // namespace upviz
