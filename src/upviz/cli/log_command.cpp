// `upviz log`: reads uploads from changelogs and UDD exports, prefixes
// archive sections, writes a gource custom log. All the work is in
// src/upviz/log/; this file maps options to it and prints the summary.
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "upviz/cli/commands.h"
#include "upviz/log/apt_sections.h"
#include "upviz/log/decompress.h"
#include "upviz/log/diagnostics.h"
#include "upviz/log/history.h"
#include "upviz/log/inputs.h"
#include "upviz/log/sections.h"
#include "upviz/log/text.h"

namespace upviz {

namespace {

using namespace upviz::log;

struct LogArgs {
  std::vector<std::string> udd, changelogs, csv;
  std::string output;
  std::string sections = "apt";
  std::string components = "keep";
  std::vector<std::string> apt_config;
  std::string since, until, month;
  std::optional<int64_t> first, last;
  std::string user_re, package_re;
  int64_t max_warnings = 100;
  bool quiet = false;
};

std::string summarise_map(const std::map<std::string, int64_t, std::less<>>& m) {
  std::string s;
  for (const auto& [k, v] : m) {
    if (!s.empty()) s += ", ";
    s += fmt::format("{} {}", k, v);
  }
  return s;
}

int run_log(const LogArgs& a) {
  const auto t0 = std::chrono::steady_clock::now();
  Diagnostics diag;
  int64_t printed = 0;
  diag.sink = [&](const std::string& w) {
    if (a.max_warnings == 0 || printed < a.max_warnings) std::cerr << w << '\n';
    ++printed;
  };
  auto fail = [](const std::string& msg) {
    std::cerr << "upviz log: error: " << msg << '\n';
    return 2;
  };

  LogOptions opt;
  try {
    if (!a.user_re.empty()) opt.user.emplace(a.user_re, std::regex::ECMAScript);
    if (!a.package_re.empty()) opt.package.emplace(a.package_re, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    return fail(fmt::format("bad regular expression: {}", e.what()));
  }
  if (!a.since.empty()) {
    auto t = parse_time_spec(a.since);
    if (!t) return fail("--since: " + t.error().message);
    opt.since = t->time;
  }
  if (!a.until.empty()) {
    auto t = parse_time_spec(a.until);
    if (!t) return fail("--until: " + t.error().message);
    // A bare date means "up to the end of that day".
    opt.until = t->date_only ? t->time + 86400 : t->time + 1;
  }
  if (!a.month.empty()) {
    auto m = parse_month(a.month);
    if (!m) return fail("--month: " + m.error().message);
    opt.since = std::max(opt.since.value_or(m->first), m->first);
    opt.until = std::min(opt.until.value_or(m->second), m->second);
  }
  opt.first = a.first;
  opt.last = a.last;
  opt.components = a.components == "strip" ? ComponentMode::kStrip : ComponentMode::kKeep;

  // Inputs.
  std::vector<Upload> uploads;
  if (a.udd.empty() && a.changelogs.empty() && a.csv.empty())
    return fail("no input: give --changelogs [DIR], --udd FILE or --csv FILE");
  auto read_all = [&](InputKind kind, const std::vector<std::string>& paths) {
    for (const std::string& p : paths) {
      auto r = read_input(kind, p.empty() ? "/usr/share/doc" : p, uploads, diag);
      if (!r) return std::optional<std::string>(r.error().message);
    }
    return std::optional<std::string>();
  };
  if (auto e = read_all(InputKind::kUdd, a.udd)) return fail(*e);
  if (auto e = read_all(InputKind::kChangelogs, a.changelogs)) return fail(*e);
  if (auto e = read_all(InputKind::kCsv, a.csv)) return fail(*e);

  // Sections.
  SectionMap map;
  bool use_sections = a.sections != "none";
  std::string section_source = a.sections;
  if (a.sections == "apt") {
    std::vector<std::pair<std::string, std::string>> overrides;
    for (const std::string& kv : a.apt_config) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos) return fail(fmt::format("--apt-config '{}': want KEY=VALUE", kv));
      overrides.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }
    auto r = load_apt_sections(map, overrides, diag);
    if (!r) {
      diag.warn("apt", 0,
                fmt::format("{}; every package goes to undef/ (use --sections FILE with a "
                            "Packages or Sources index instead)",
                            r.error().message));
    } else {
      section_source = fmt::format("apt: {} versions, {} package lists in {}", r->versions,
                                   r->list_files, r->lists_dir);
    }
  } else if (use_sections) {
    auto text = read_file(a.sections);
    if (!text) return fail(fmt::format("--sections {}: {}", a.sections, text.error().message));
    int64_t n = read_index(*text, a.sections, map, diag);
    if (n == 0)
      diag.warn(a.sections, 0, "no Package stanza with a Section: is this a Packages or Sources index?");
    section_source = fmt::format("{}: {} stanzas", a.sections, n);
  }
  if (use_sections) opt.sections = &map;

  const int64_t read = static_cast<int64_t>(uploads.size());
  LogResult res = build_log(std::move(uploads), opt, diag);

  // Output.
  std::ofstream file;
  std::ostream* out = &std::cout;
  if (!a.output.empty() && a.output != "-") {
    file.open(a.output, std::ios::binary | std::ios::trunc);
    if (!file) return fail(fmt::format("{}: cannot open for writing", a.output));
    out = &file;
  }
  std::string buf;
  for (const LogLine& l : res.lines) {
    buf += l.text();
    buf += '\n';
    if (buf.size() > (1 << 16)) {
      out->write(buf.data(), static_cast<std::streamsize>(buf.size()));
      buf.clear();
    }
  }
  out->write(buf.data(), static_cast<std::streamsize>(buf.size()));
  out->flush();
  if (!*out) return fail(fmt::format("{}: write failed", a.output.empty() ? "stdout" : a.output));

  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (a.max_warnings != 0 && printed > a.max_warnings)
    std::cerr << fmt::format("upviz log: {} more warnings not shown (--max-warnings 0 shows all)\n",
                             printed - a.max_warnings);
  if (!a.quiet) {
    std::cerr << fmt::format("upviz log: read {} uploads ({})\n", read, summarise_map(diag.counts));
    if (diag.skipped_total() > 0)
      std::cerr << fmt::format("upviz log: skipped {}: {}\n", diag.skipped_total(),
                               summarise_map(diag.skipped));
    std::cerr << fmt::format(
        "upviz log: {} duplicate uploads merged, {} filtered out, {} names sanitised, "
        "wrote {} lines in {:.2f}s\n",
        res.duplicates, res.filtered_out, res.names_sanitised, res.lines.size(), secs);
    if (use_sections && res.sources > 0)
      std::cerr << fmt::format(
          "upviz log: sections ({}): {} of {} sources have a section ({:.1f}%), {} undef\n",
          section_source, res.sources_with_section, res.sources,
          100.0 * static_cast<double>(res.sources_with_section) / static_cast<double>(res.sources),
          res.sources - res.sources_with_section);
  }
  if (read == 0) {
    std::cerr << "upviz log: error: nothing usable was read\n";
    return 2;
  }
  if (res.lines.empty()) std::cerr << "upviz log: warning: no upload matches the filters\n";
  return 0;
}

}  // namespace

void add_log_command(CLI::App& app) {
  auto args = std::make_shared<LogArgs>();
  CLI::App* cmd = app.add_subcommand(
      "log", "Write Debian upload history as a gource custom log (ts|user|A/M|section/source)");
  cmd->add_option("--udd", args->udd, "UDD gource export (plain, .gz, .bz2; - for stdin)")
      ->type_name("FILE");
  cmd->add_option("--changelogs", args->changelogs,
                  "Directory of */changelog.Debian.gz (default /usr/share/doc), or one changelog")
      ->type_name("[DIR]")
      ->expected(0, 1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--csv", args->csv, "UDD upload_history CSV export")->type_name("FILE");
  cmd->add_option("-o,--output", args->output, "Output file (default standard output)")
      ->type_name("FILE");
  cmd->add_option("--sections", args->sections,
                  "Section source: apt (local APT cache), none, or a Packages/Sources index FILE")
      ->type_name("apt|none|FILE")
      ->default_str("apt");
  cmd->add_option("--components", args->components,
                  "keep (contrib/net) or strip (net) archive components")
      ->check(CLI::IsMember({"keep", "strip"}))
      ->default_str("keep");
  cmd->add_option("--apt-config", args->apt_config,
                  "APT configuration item KEY=VALUE, as apt-get -o (e.g. Dir=/srv/chroot)")
      ->type_name("KEY=VALUE");
  cmd->add_option("--since", args->since, "Keep uploads at or after DATE (YYYY-MM-DD, ISO, RFC 2822, UNIX seconds)")
      ->type_name("DATE");
  cmd->add_option("--until", args->until, "Keep uploads up to DATE (a bare date includes that day)")
      ->type_name("DATE");
  cmd->add_option("--month", args->month, "Keep uploads of one month (UTC)")->type_name("YYYY-MM");
  cmd->add_option("--first", args->first, "Keep the first N uploads (after the other filters)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--last", args->last, "Keep the last N uploads (after the other filters)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--user", args->user_re, "Keep uploads whose uploader matches REGEX")
      ->type_name("REGEX");
  cmd->add_option("--package", args->package_re, "Keep uploads whose source matches REGEX")
      ->type_name("REGEX");
  cmd->add_option("--max-warnings", args->max_warnings, "Print at most N warnings (0: all)")
      ->default_str("100");
  cmd->add_flag("-q,--quiet", args->quiet, "No summary on standard error");
  cmd->callback([args]() { exit_status() = run_log(*args); });
}

}  // namespace upviz
