#include "util/strings.h"

#include <algorithm>
#include <cctype>

namespace nfemu {

Result<std::vector<Word>> shell_split(std::string_view line) {
  std::vector<Word> words;
  size_t i = 0;
  const size_t n = line.size();
  while (i < n) {
    while (i < n && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= n) break;
    Word w;
    w.col = static_cast<int>(i) + 1;
    bool have_word = false;
    while (i < n && line[i] != ' ' && line[i] != '\t') {
      char c = line[i];
      have_word = true;
      if (c == '\'') {
        size_t end = line.find('\'', i + 1);
        if (end == std::string_view::npos)
          return make_error("unterminated single quote", 0, static_cast<int>(i) + 1);
        w.text.append(line.substr(i + 1, end - i - 1));
        i = end + 1;
      } else if (c == '"') {
        size_t start = i;
        ++i;
        bool closed = false;
        while (i < n) {
          if (line[i] == '"') {
            closed = true;
            ++i;
            break;
          }
          if (line[i] == '\\' && i + 1 < n &&
              (line[i + 1] == '"' || line[i + 1] == '\\' || line[i + 1] == '$' || line[i + 1] == '`')) {
            w.text.push_back(line[i + 1]);
            i += 2;
            continue;
          }
          w.text.push_back(line[i]);
          ++i;
        }
        if (!closed) return make_error("unterminated double quote", 0, static_cast<int>(start) + 1);
      } else if (c == '\\') {
        if (i + 1 < n) w.text.push_back(line[i + 1]);
        i += 2;
      } else {
        w.text.push_back(c);
        ++i;
      }
    }
    if (have_word) words.push_back(std::move(w));
  }
  return words;
}

static std::optional<uint64_t> parse_digits(std::string_view s, unsigned base, uint64_t max) {
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    unsigned d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return std::nullopt;
    if (d >= base) return std::nullopt;
    if (v > (UINT64_MAX - d) / base) return std::nullopt;
    v = v * base + d;
  }
  if (v > max) return std::nullopt;
  return v;
}

std::optional<uint64_t> parse_uint(std::string_view s, uint64_t max) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) return parse_digits(s.substr(2), 16, max);
  return parse_digits(s, 10, max);
}

std::optional<uint64_t> parse_uint_c(std::string_view s, uint64_t max) {
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) return parse_digits(s.substr(2), 16, max);
  if (s.size() > 1 && s[0] == '0') return parse_digits(s.substr(1), 8, max);
  return parse_digits(s, 10, max);
}

std::optional<uint64_t> scan_llu(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  bool negative = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
  if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
  uint64_t v = 0;
  bool overflow = false;
  for (; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) {
    unsigned d = static_cast<unsigned>(s[i] - '0');
    if (v > (UINT64_MAX - d) / 10) overflow = true;
    v = v * 10 + d;
  }
  if (overflow) return UINT64_MAX;
  return negative ? 0 - v : v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    if (p == std::string_view::npos) {
      out.push_back(s.substr(start));
      break;
    }
    out.push_back(s.substr(start, p - start));
    start = p + 1;
  }
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::toupper(static_cast<unsigned char>(x)) == std::toupper(static_cast<unsigned char>(y));
         });
}

}  // namespace nfemu
