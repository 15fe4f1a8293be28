#include "xtables/ext_util.h"

#include <fmt/format.h>

#include <cctype>

#include "util/strings.h"
#include "xtables/xt_number.h"

namespace nfemu::xt {

namespace {
struct Service {
  std::string_view name;
  uint16_t port;
  std::string_view proto;
};
constexpr Service kServices[] = {
#include "xtables/services.inc"
};
}  // namespace

std::optional<uint16_t> lookup_service(std::string_view name, std::string_view proto) {
  for (const auto& svc : kServices)
    if (svc.name == name && (proto.empty() || svc.proto == proto)) return svc.port;
  return std::nullopt;
}

Result<PortRange> parse_port_range_getaddrinfo(std::string_view s, std::string_view ext, std::string_view option) {
  PortRange r;
  int component = 0;
  size_t pos = 0;
  while (true) {
    size_t colon = s.find(':', pos);
    std::string_view part = s.substr(pos, colon == std::string_view::npos ? std::string_view::npos : colon - pos);
    if (component == 2)
      return make_error(fmt::format("{}: Too many components for option \"--{}\" (max: 2)", ext, option));
    if (!part.empty()) {
      std::optional<uint16_t> port;
      size_t p = 0;
      while (p < part.size() && std::isspace(static_cast<unsigned char>(part[p]))) ++p;
      // glibc's getaddrinfo reads a numeric service with strtoul(s, &end,
      // 10) and keeps the low 16 bits: 65536 is port 0.
      auto c = number::strtoumax(part, 10);
      if (c.end == part.size() && p < part.size() && part[p] != '-')
        port = static_cast<uint16_t>(c.value);
      else
        port = lookup_service(part, "");
      if (!port) return make_error(fmt::format("Port \"{}\" does not resolve to anything.", part));
      (component == 0 ? r.lo : r.hi) = *port;
    }
    ++component;
    if (colon == std::string_view::npos) break;
    pos = colon + 1;
  }
  if (component == 1) r.hi = r.lo;
  return r;
}

Result<uint16_t> parse_port(std::string_view s, std::string_view proto) {
  // xtables_parse_port: xtables_strtoui first ("+22" and " 22" are 22), then
  // the service name.
  if (auto v = number::strtoul_whole(s, 0, 65535)) return static_cast<uint16_t>(*v);
  if (auto svc = lookup_service(s, proto)) return *svc;
  return make_error(fmt::format("invalid port/service `{}' specified", s));
}

Result<PortRange> parse_port_range(std::string_view s, std::string_view proto) {
  size_t colon = s.find(':');
  if (colon == std::string_view::npos) {
    auto p = parse_port(s, proto);
    if (!p) return p.error();
    return PortRange{*p, *p};
  }
  PortRange r;
  std::string_view lo = s.substr(0, colon), hi = s.substr(colon + 1);
  if (!lo.empty()) {
    auto p = parse_port(lo, proto);
    if (!p) return p.error();
    r.lo = *p;
  }
  if (!hi.empty()) {
    auto p = parse_port(hi, proto);
    if (!p) return p.error();
    r.hi = *p;
  }
  if (r.lo > r.hi) return make_error("invalid portrange (min > max)");
  return r;
}

Result<std::pair<uint32_t, uint32_t>> parse_mark_mask(std::string_view s, std::string_view ext) {
  std::string_view value = s, mask;
  bool has_mask = false;
  if (size_t slash = s.find('/'); slash != std::string_view::npos) {
    value = s.substr(0, slash);
    mask = s.substr(slash + 1);
    has_mask = true;
  }
  auto v = parse_uint_c(value, UINT32_MAX);
  if (!v) return make_error(fmt::format("{}: bad mark value \"{}\"", ext, s));
  uint32_t m = 0xffffffffu;
  if (has_mask) {
    auto mv = parse_uint_c(mask, UINT32_MAX);
    if (!mv) return make_error(fmt::format("{}: bad mask value \"{}\"", ext, s));
    m = static_cast<uint32_t>(*mv);
  }
  return std::pair<uint32_t, uint32_t>{static_cast<uint32_t>(*v), m};
}

Result<uint32_t> parse_number(std::string_view s, uint32_t min, uint32_t max, std::string_view ext,
                              std::string_view option) {
  auto v = parse_uint_c(s, max);
  if (!v || *v < min)
    return make_error(fmt::format("{}: Bad value for \"--{}\" option: \"{}\" (must be {}..{})", ext, option, s, min, max));
  return static_cast<uint32_t>(*v);
}

Error bad_value(std::string_view ext, std::string_view option, std::string_view arg) {
  return make_error(fmt::format("{}: Bad value for \"--{}\" option: \"{}\"", ext, option, arg));
}

void save_string(std::string& out, std::string_view s) {
  auto plain = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  };
  bool bare = !s.empty();
  for (char c : s) bare = bare && plain(c);
  out += ' ';
  if (bare) {
    out += s;
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\' || c == '\'') out += '\\';
    out += c;
  }
  out += '"';
}

std::string hex(uint32_t v) { return fmt::format("0x{:x}", v); }

}  // namespace nfemu::xt
