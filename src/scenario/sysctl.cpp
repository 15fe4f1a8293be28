#include "scenario/sysctl.h"

#include <algorithm>
#include <climits>
#include <optional>

#include <fmt/format.h>

#include "util/strings.h"

namespace nfemu::scenario {

namespace {

enum class Kind { Int, PortRange };

struct Known {
  std::string_view name;  // after net.ipv4.conf.X. for per-interface entries
  int64_t min, max;
  Kind kind = Kind::Int;
};

// proc_dointvec_jiffies refuses values above INT_MAX / HZ; HZ=1000 is the
// largest in use, so this bound holds on every kernel.
constexpr int64_t kJiffiesMax = INT_MAX / 1000;
constexpr int64_t kIntMax = INT_MAX;

// The net.netfilter names are those conntrack::Table::set_sysctl models
// (timestamp and log_invalid change outputs nfemu does not write).
// Ranges are the kernel's (proc_do*_minmax, u8 booleans) or, where the
// kernel stores any int, the values Documentation/networking documents:
// a scenario with rp_filter = 7 is a mistake, not an experiment.
constexpr Known kGlobal[] = {
    {"net.ipv4.ip_forward", 0, 1},
    {"net.ipv4.ip_default_ttl", 1, 255},
    {"net.ipv4.ip_no_pmtu_disc", 0, 3},
    {"net.ipv4.ipfrag_time", 0, kJiffiesMax},  // seconds a fragment queue lives
    {"net.ipv4.ipfrag_max_dist", 0, kIntMax},
    {"net.ipv4.ip_early_demux", 0, 1},
    {"net.ipv4.tcp_early_demux", 0, 1},
    // LOW may not reach below ip_unprivileged_port_start (1024 by default).
    {"net.ipv4.ip_local_port_range", 1024, 65535, Kind::PortRange},
    {"net.ipv4.icmp_errors_use_inbound_ifaddr", 0, 1},
    {"net.ipv4.icmp_ratelimit", 0, kIntMax},  // milliseconds
    {"net.ipv4.icmp_ratemask", 0, kIntMax},
    {"net.ipv4.icmp_msgs_per_sec", 0, kIntMax},
    {"net.ipv4.icmp_msgs_burst", 0, kIntMax},
    {"net.ipv4.icmp_echo_ignore_all", 0, 1},
    {"net.ipv4.icmp_echo_ignore_broadcasts", 0, 1},
    {"net.ipv4.icmp_ignore_bogus_error_responses", 0, 1},
    {"net.ipv4.tcp_timestamps", 0, 2},
    {"net.ipv4.tcp_sack", 0, 1},
    {"net.ipv4.tcp_window_scaling", 0, 1},
    {"net.ipv4.tcp_ecn", 0, 2},
    {"net.ipv4.tcp_syncookies", 0, 2},
    {"net.ipv4.tcp_syn_retries", 1, 127},
    {"net.ipv4.tcp_synack_retries", 0, 255},
    // Read-only outside the initial namespace (since 4.x), so `nfemu verify'
    // cannot set it per host; nfemu honours it as the table's size.
    {"net.netfilter.nf_conntrack_max", 0, kIntMax},
    {"net.netfilter.nf_conntrack_tcp_loose", 0, 1},
    {"net.netfilter.nf_conntrack_tcp_be_liberal", 0, 1},
    {"net.netfilter.nf_conntrack_tcp_ignore_invalid_rst", 0, 1},
    {"net.netfilter.nf_conntrack_tcp_max_retrans", 0, 255},
    {"net.netfilter.nf_conntrack_checksum", 0, 1},
    {"net.netfilter.nf_conntrack_acct", 0, 1},
    {"net.netfilter.nf_conntrack_events", 0, 2},
    {"net.netfilter.nf_conntrack_generic_timeout", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_gre_timeout", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_gre_timeout_stream", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_icmp_timeout", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_udp_timeout", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_udp_timeout_stream", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_tcp_timeout_syn_sent", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_tcp_timeout_syn_recv", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_tcp_timeout_established", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_tcp_timeout_fin_wait", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_tcp_timeout_close_wait", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_tcp_timeout_last_ack", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_tcp_timeout_time_wait", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_tcp_timeout_close", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_tcp_timeout_max_retrans", 0, kJiffiesMax},
    {"net.netfilter.nf_conntrack_tcp_timeout_unacknowledged", 0, kJiffiesMax},
};

// net.ipv4.conf.{all,default,IFNAME}.NAME
constexpr Known kPerInterface[] = {
    {"forwarding", 0, 1},      {"rp_filter", 0, 2},        {"accept_local", 0, 1},
    {"route_localnet", 0, 1},  {"log_martians", 0, 1},     {"send_redirects", 0, 1},
    {"accept_redirects", 0, 1}, {"secure_redirects", 0, 1}, {"accept_source_route", 0, 1},
};

constexpr std::string_view kConfPrefix = "net.ipv4.conf.";

// What a write through proc_dointvec accepts: optional '-', then decimal,
// 0x hex or leading-0 octal; blanks around it are ignored.
std::optional<int64_t> parse_proc_int(std::string_view s) {
  s = trim(s);
  bool neg = !s.empty() && s[0] == '-';
  if (neg) s.remove_prefix(1);
  auto v = parse_uint_c(s, uint64_t(INT_MAX) + 1);
  if (!v) return std::nullopt;
  return neg ? -int64_t(*v) : int64_t(*v);
}

Result<SysctlValue> check_value(std::string_view name, const Known& k, const SysctlInput& value) {
  if (k.kind == Kind::PortRange) {
    const auto* text = std::get_if<std::string>(&value);
    if (!text) return make_error(fmt::format("{} takes two numbers in a string, as \"32768 60999\"", name));
    // proc_dointvec_minmax takes any blanks between the numbers.
    std::vector<std::string_view> parts;
    std::string_view rest = *text;
    while (!rest.empty()) {
      size_t start = rest.find_first_not_of(" \t\n");
      if (start == std::string_view::npos) break;
      rest.remove_prefix(start);
      size_t end = std::min(rest.find_first_of(" \t\n"), rest.size());
      parts.push_back(rest.substr(0, end));
      rest.remove_prefix(end);
    }
    std::optional<int64_t> lo, hi;
    if (parts.size() == 2) lo = parse_proc_int(parts[0]), hi = parse_proc_int(parts[1]);
    if (!lo || !hi) return make_error(fmt::format("{} takes two numbers, as \"32768 60999\", not \"{}\"", name, *text));
    if (*lo < k.min || *hi > k.max || *hi < *lo)
      return make_error(fmt::format("invalid {} \"{}\": the kernel wants {} <= LOW <= HIGH <= {}", name, *text,
                                    k.min, k.max));
    return SysctlValue(fmt::format("{} {}", *lo, *hi));
  }
  int64_t v;
  if (const auto* n = std::get_if<int64_t>(&value)) {
    v = *n;
  } else {
    auto p = parse_proc_int(std::get<std::string>(value));
    if (!p) return make_error(fmt::format("{} takes an integer, not \"{}\"", name, std::get<std::string>(value)));
    v = *p;
  }
  if (v < k.min || v > k.max)
    return make_error(fmt::format("value {} is out of range for {} ({}..{})", v, name, k.min, k.max));
  return SysctlValue(v);
}

}  // namespace

Result<SysctlValue> check_sysctl(std::string_view name, const SysctlInput& value,
                                 const std::vector<std::string>& ifnames) {
  for (const auto& k : kGlobal)
    if (k.name == name) return check_value(name, k, value);
  if (starts_with(name, kConfPrefix)) {
    std::string_view rest = name.substr(kConfPrefix.size());
    size_t dot = rest.rfind('.');
    if (dot != std::string_view::npos) {
      // sysctl(8) writes an interface name's dots as slashes (eth0.100 -> eth0/100).
      std::string dev(rest.substr(0, dot));
      std::replace(dev.begin(), dev.end(), '/', '.');
      std::string_view leaf = rest.substr(dot + 1);
      for (const auto& k : kPerInterface) {
        if (k.name != leaf) continue;
        if (dev != "all" && dev != "default" && std::find(ifnames.begin(), ifnames.end(), dev) == ifnames.end())
          return make_error(fmt::format("unknown sysctl `{}': this host has no interface `{}'", name, dev));
        return check_value(name, k, value);
      }
    }
  }
  return make_error(fmt::format("unknown sysctl `{}' (nfemu models only the sysctls listed in "
                                "src/scenario/sysctl.cpp)",
                                name));
}

std::vector<SysctlRange> known_sysctl_ranges() {
  std::vector<SysctlRange> out;
  for (const auto& k : kGlobal)
    if (k.kind == Kind::Int) out.push_back({std::string(k.name), k.min, k.max});
  for (const auto& k : kPerInterface) out.push_back({fmt::format("{}IFNAME.{}", kConfPrefix, k.name), k.min, k.max});
  return out;
}

std::vector<std::string> known_sysctls() {
  std::vector<std::string> out;
  for (const auto& k : kGlobal) out.emplace_back(k.name);
  for (const auto& k : kPerInterface) out.push_back(fmt::format("{}IFNAME.{}", kConfPrefix, k.name));
  return out;
}

}  // namespace nfemu::scenario
