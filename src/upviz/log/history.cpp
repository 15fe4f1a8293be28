#include "upviz/log/history.h"

#include <algorithm>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "upviz/log/gource.h"
#include "upviz/log/text.h"

namespace upviz::log {

std::string LogLine::text() const { return format_gource_line(time, user, type, path); }

namespace {

// Keys point into the uploads vector, which outlives every table here:
// no per-upload string is built just to look something up.
struct PairHash {
  template <class A, class B>
  size_t operator()(const std::pair<A, B>& p) const {
    size_t h = std::hash<A>{}(p.first);
    return h ^ (std::hash<B>{}(p.second) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
  }
};

}  // namespace

LogResult build_log(std::vector<Upload> uploads, const LogOptions& opt, Diagnostics& diag) {
  LogResult res;
  res.uploads_in = static_cast<int64_t>(uploads.size());
  std::stable_sort(uploads.begin(), uploads.end(),
                   [](const Upload& a, const Upload& b) { return a.time < b.time; });

  // One upload per (source, version). Inputs without versions (the UDD
  // gource log) fall back to (source, time): the UDD date is the changelog
  // date, so the same upload read from both is kept once.
  using SV = std::string_view;
  std::unordered_set<std::pair<SV, SV>, PairHash> by_version;
  // (source, time) -> registered by an upload that has a version
  std::unordered_map<std::pair<SV, int64_t>, bool, PairHash> by_time;
  std::unordered_set<SV> sources_seen;
  by_version.reserve(uploads.size());
  by_time.reserve(uploads.size());
  struct Kept {
    Upload* u;
    char type;
  };
  std::vector<Kept> kept;
  kept.reserve(uploads.size());
  for (Upload& u : uploads) {
    std::pair<SV, int64_t> tkey{u.source, u.time};
    auto t = by_time.find(tkey);
    bool dup;
    if (!u.version.empty()) {
      dup = !by_version.insert({SV(u.source), SV(u.version)}).second ||
            (t != by_time.end() && !t->second);
    } else {
      dup = t != by_time.end();
    }
    if (dup) {
      ++res.duplicates;
      continue;
    }
    if (t == by_time.end()) by_time.emplace(tkey, !u.version.empty());
    char type = sources_seen.insert(u.source).second ? 'A' : 'M';
    kept.push_back({&u, type});
  }

  std::vector<Kept> sel;
  for (const Kept& k : kept) {
    const Upload& u = *k.u;
    bool keep = (!opt.since || u.time >= *opt.since) && (!opt.until || u.time < *opt.until) &&
                (!opt.user || std::regex_search(u.user, *opt.user)) &&
                (!opt.package || std::regex_search(u.source, *opt.package));
    if (keep)
      sel.push_back(k);
    else
      ++res.filtered_out;
  }
  if (opt.first && static_cast<int64_t>(sel.size()) > *opt.first) {
    res.filtered_out += static_cast<int64_t>(sel.size()) - *opt.first;
    sel.resize(static_cast<size_t>(*opt.first));
  }
  if (opt.last && static_cast<int64_t>(sel.size()) > *opt.last) {
    size_t drop = sel.size() - static_cast<size_t>(*opt.last);
    res.filtered_out += static_cast<int64_t>(drop);
    sel.erase(sel.begin(), sel.begin() + static_cast<std::ptrdiff_t>(drop));
  }

  std::unordered_map<SV, std::string> path_of;  // source -> path, looked up once
  std::set<std::string> sanitised_names;
  for (const Kept& k : sel) {
    Upload& u = *k.u;
    LogLine line;
    line.time = u.time;
    line.type = k.type;
    line.user = u.user;
    if (sanitise_field(line.user)) sanitised_names.insert(u.user);
    if (line.user.empty()) {
      diag.skip("", 0, "empty uploader", u.source + " " + u.version);
      continue;
    }
    auto it = path_of.find(u.source);
    if (it == path_of.end()) {
      std::string name = u.source;
      if (sanitise_field(name, true)) sanitised_names.insert(u.source);
      std::string path = name;
      bool known = false;
      if (opt.sections) {
        std::optional<std::string> sec = opt.sections->lookup(u.source);
        if (!sec && !u.lineage.empty() && u.lineage != u.source)
          sec = opt.sections->lookup(u.lineage);
        std::string s = sec ? apply_component_mode(*sec, opt.components) : std::string();
        known = !s.empty();
        // A section is a path: keep its '/', drop anything gource would
        // split on.
        if (known) sanitise_field(s);
        path = (known ? s : std::string("undef")) + "/" + name;
      }
      ++res.sources;
      if (known) ++res.sources_with_section;
      it = path_of.emplace(SV(u.source), std::move(path)).first;
    }
    line.path = it->second;
    res.lines.push_back(std::move(line));
  }
  res.names_sanitised = static_cast<int64_t>(sanitised_names.size());
  return res;
}

}  // namespace upviz::log
