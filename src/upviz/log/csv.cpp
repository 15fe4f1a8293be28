#include "upviz/log/csv.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "upviz/log/text.h"

namespace upviz::log {

std::vector<CsvRecord> split_csv(std::string_view text, char sep, std::string_view file,
                                 Diagnostics& diag) {
  std::vector<CsvRecord> out;
  CsvRecord rec;
  std::string field;
  int line = 1;
  rec.line = 1;
  bool quoted = false;
  bool any = false;  // the current record has content
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == '"' && field.empty()) {
      quoted = true;
      any = true;
    } else if (c == sep) {
      rec.fields.push_back(std::move(field));
      field.clear();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty()) {
        rec.fields.push_back(std::move(field));
        out.push_back(std::move(rec));
      }
      field.clear();
      rec = CsvRecord{};
      any = false;
      ++line;
      rec.line = line;
    } else {
      field += c;
      any = true;
    }
  }
  if (quoted) {
    diag.skip(file, rec.line, "unterminated quote in CSV record");
  } else if (any || !field.empty()) {
    rec.fields.push_back(std::move(field));
    out.push_back(std::move(rec));
  }
  return out;
}

namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string_view strip(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "Jane Doe <jane@example.org>" -> "Jane Doe".
std::string name_of(std::string_view addr) {
  size_t lt = addr.find('<');
  if (lt != std::string_view::npos) return std::string(strip(addr.substr(0, lt)));
  return std::string(strip(addr));
}

}  // namespace

std::vector<Upload> read_upload_history_csv(std::string_view text, std::string_view file,
                                            Diagnostics& diag) {
  std::vector<Upload> out;
  // Spreadsheet exports start with a byte order mark.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  // The separator is whatever the header uses: psql writes commas, other
  // exports tabs or semicolons.
  std::string_view first = text.substr(0, text.find('\n'));
  char sep = ',';
  if (first.find(',') == std::string_view::npos) {
    if (first.find('\t') != std::string_view::npos)
      sep = '\t';
    else if (first.find(';') != std::string_view::npos)
      sep = ';';
  }
  std::vector<CsvRecord> recs = split_csv(text, sep, file, diag);
  if (recs.empty()) {
    diag.warn(file, 0, "empty CSV file");
    return out;
  }
  const auto& header = recs.front().fields;
  auto col = [&](std::string_view name) -> int {
    for (size_t i = 0; i < header.size(); ++i)
      if (lower(strip(header[i])) == name) return static_cast<int>(i);
    return -1;
  };
  int c_source = col("source"), c_version = col("version"), c_date = col("date");
  int c_user[] = {col("changed_by_name"), col("changed_by"), col("signed_by_name"),
                  col("maintainer_name")};
  if (c_source < 0 || c_date < 0) {
    diag.skip(file, 1, "CSV header without source and date columns",
              fmt::format("header is '{}'", first.substr(0, 120)));
    return out;
  }
  for (size_t r = 1; r < recs.size(); ++r) {
    const CsvRecord& rec = recs[r];
    auto get = [&](int c) -> std::string_view {
      return c >= 0 && static_cast<size_t>(c) < rec.fields.size() ? strip(rec.fields[c])
                                                                   : std::string_view();
    };
    if (rec.fields.size() != header.size()) {
      diag.skip(file, rec.line, "CSV record with wrong field count",
                fmt::format("{} fields, header has {}", rec.fields.size(), header.size()));
      continue;
    }
    std::string_view source = get(c_source);
    if (source.empty()) {
      diag.skip(file, rec.line, "CSV record without source");
      continue;
    }
    std::string_view date = get(c_date);
    auto t = parse_iso_datetime(date);
    if (!t) {
      auto t2 = parse_rfc2822_date(date);
      if (!t2) {
        diag.skip(file, rec.line, "bad date in CSV record",
                  fmt::format("'{}': {}", date, t.error().message));
        continue;
      }
      t = t2;
    }
    std::string user;
    for (int c : c_user) {
      user = name_of(get(c));
      if (!user.empty()) break;
    }
    if (user.empty()) {
      diag.skip(file, rec.line, "empty uploader");
      continue;
    }
    Upload u;
    u.time = *t;
    u.user = std::move(user);
    u.source = std::string(source);
    u.version = std::string(get(c_version));
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace upviz::log
