// Text artifacts (outputs.md): kern.log, conntrack -E / -L and
// iptables-save, each with exactly its own normalisation.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "verify/compare_internal.h"

namespace nfemu::verify::detail {

namespace {

struct Token {
  size_t pos, len;
};

std::vector<Token> tokens(std::string_view line) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (i > start) out.push_back({start, i - start});
  }
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

std::string_view basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Splits into lines; a missing final newline is a line of its own, so that
// it cannot hide behind the normalisation.
std::vector<std::string> split_lines(std::string_view content) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < content.size()) {
    size_t nl = content.find('\n', start);
    if (nl == std::string_view::npos) {
      lines.emplace_back(content.substr(start));
      lines.emplace_back("\\ No newline at end of file");
      break;
    }
    lines.emplace_back(content.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

}  // namespace

namespace {

// The ID= of the packet described by tokens [from, to) becomes ID=* when
// that packet is host-generated (outputs.md): ICMP errors and echo replies,
// TCP RST and SYN-ACK. The IP ID is the ID= right after TTL=; an echo's
// own ID= (its identifier) comes later and stays.
void star_host_generated_id(std::string& out, std::string_view line, const std::vector<Token>& toks, size_t from,
                            size_t to) {
  auto text = [&](size_t i) { return line.substr(toks[i].pos, toks[i].len); };
  std::string_view proto, type;
  bool rst = false, syn = false, ack = false, after_ttl = false;
  size_t ip_id = to;
  for (size_t i = from; i < to; ++i) {
    std::string_view t = text(i);
    if (i == from && starts_with(t, "[")) t.remove_prefix(1);
    if (after_ttl && starts_with(t, "ID=") && ip_id == to) ip_id = i;
    after_ttl = starts_with(t, "TTL=");
    if (proto.empty() && starts_with(t, "PROTO=")) proto = t.substr(6);
    else if (!proto.empty() && type.empty() && starts_with(t, "TYPE=")) type = t.substr(5);
    else if (t == "RST") rst = true;
    else if (t == "SYN") syn = true;
    else if (t == "ACK") ack = true;
  }
  bool host_gen = false;
  if (proto == "ICMP")
    host_gen = type == "0" || type == "3" || type == "4" || type == "5" || type == "11" || type == "12";
  else if (proto == "TCP")
    host_gen = rst || (syn && ack);
  if (host_gen && ip_id < to) out.replace(toks[ip_id].pos, toks[ip_id].len, "ID=*");
}

}  // namespace

std::string normalize_kern_log_line(std::string_view line) {
  auto toks = tokens(line);
  // The line's own packet ends where an ICMP error quotes the offending
  // one; the quote is judged on its own fields (a quoted SYN-ACK's ID is
  // the listener's random one, a quoted echo request's is the sender's).
  size_t top = toks.size();
  for (size_t i = 0; i < toks.size(); ++i)
    if (starts_with(line.substr(toks[i].pos, toks[i].len), "[SRC=")) {
      top = i;
      break;
    }
  std::string out(line);
  // The quote first: replacing there keeps the positions before it valid.
  if (top < toks.size()) star_host_generated_id(out, line, toks, top, toks.size());
  star_host_generated_id(out, line, toks, 0, top);
  return out;
}

CtLine split_conntrack_line(std::string_view line) {
  auto toks = tokens(line);
  auto text = [&](size_t i) { return line.substr(toks[i].pos, toks[i].len); };
  size_t timeout = toks.size();
  for (size_t i = 0; i + 1 < toks.size(); ++i) {
    std::string_view t = text(i);
    if (t.find('=') != std::string_view::npos) break;
    if (all_digits(t) && all_digits(text(i + 1))) {
      timeout = i + 1;
      break;
    }
  }
  // Replacements from the end so that earlier positions stay valid.
  CtLine out;
  out.text = std::string(line);
  for (size_t i = toks.size(); i-- > 0;) {
    // id= right after code= is the ICMP echo identifier of a tuple, part of
    // the connection; any other id= is the conntrack id (-o id).
    if (starts_with(text(i), "id=") && !(i > 0 && starts_with(text(i - 1), "code=")))
      out.text.replace(toks[i].pos, toks[i].len, "id=*");
  }
  out.key = out.text;
  long value = 0;
  std::string_view t = timeout < toks.size() ? text(timeout) : std::string_view();
  if (!t.empty() && std::from_chars(t.data(), t.data() + t.size(), value).ec == std::errc()) {
    out.timeout = value;
    // Built from pieces rather than with replace(pos, len, "*"), on which
    // GCC 12 reports a false -Wrestrict (GCC bugs 105329, 105651).
    const size_t pos = toks[timeout].pos, len = toks[timeout].len;
    std::string key;
    key.reserve(out.text.size() - len + 1);
    key.append(out.text, 0, pos);
    key += '*';
    key.append(out.text, pos + len);
    out.key = std::move(key);
  }
  return out;
}

Normalized normalize_text(std::string_view path, std::string_view content) {
  std::string_view name = basename(path);
  Normalized out;
  std::vector<std::string> lines = split_lines(content);
  if (name == "conntrack.txt" || name == "conntrack-events.txt") {
    std::vector<CtLine> ct;
    for (const auto& l : lines) ct.push_back(split_conntrack_line(l));
    // conntrack -L is sorted as text, timeouts included: an entry at 100 s
    // sorts before one at 99 s. Order by what must be equal instead.
    if (name == "conntrack.txt")
      std::stable_sort(ct.begin(), ct.end(), [](const CtLine& a, const CtLine& b) {
        return std::tie(a.key, a.timeout) < std::tie(b.key, b.timeout);
      });
    out.fuzzy_timeout = true;
    for (auto& c : ct) {
      out.blocks.push_back({{c.text}});
      out.keys.push_back(std::move(c.key));
      out.timeouts.push_back(c.timeout);
    }
    return out;
  }
  bool kern = name == "kern.log";
  bool save = name == "iptables-save.txt";
  for (auto& l : lines) {
    if (save && (starts_with(l, "# Generated by") || starts_with(l, "# Completed on"))) continue;
    out.blocks.push_back({{kern ? normalize_kern_log_line(l) : std::move(l)}});
  }
  return out;
}

}  // namespace nfemu::verify::detail
