// A scenario file (shared/spec/scenario.md) read into plain, fully
// validated data: hosts with their interfaces, addresses, routes, sysctls,
// listening sockets and loaded iptables rules; links; traffic in time
// order. Everything that could make a run fail for a reason other than the
// packets themselves is refused here, with `FILE:LINE:COL: error: WHAT`.
//
//   auto sc = scenario::load_scenario("tests/scenarios/icmp-nat-dmz.toml");
//   if (!sc) { std::cerr << sc.error().format(path) << '\n'; return 2; }
//   for (const auto& h : sc->hosts) ...
//
// An error inside an iptables-save file names that file: Error::file is
// set then, and Error::format(path) prints it instead of the scenario's.
//
// Beyond the format's own words, the loader accepts (and documents here):
// - `[hosts.H.interfaces.lo]` adds addresses (and an mtu) to the loopback;
// - sysctl names written as bare dotted keys under [hosts.H.sysctl];
// - values of integer sysctls as strings ("1", "0x10"), as written to /proc;
// - in `routes`: ip's optional `to`, types unicast/local/unreachable/
//   prohibit/blackhole, via/dev/src/metric/scope/proto/onlink, `table`
//   main or local; iproute2's short address forms (10/8) and netmasks.
// It refuses what it cannot model faithfully: other route types and
// tables, `ip addr add` options (brd, peer...), sysctls it does not know.
// An iptables-save file is loaded as `iptables-restore` without
// --counters loads it: [packets:bytes] in it are ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "packet/addr.h"
#include "packet/grammar.h"
#include "ipset/ipset.h"
#include "util/result.h"
#include "xtables/nfacct_objects.h"
#include "xtables/table.h"

namespace nfemu::scenario {

// Refusing oversized scenarios up front keeps a typo (or a fuzzer) from
// turning into minutes of loading. Defaults are documented values of the
// format; callers (the CLI) may raise or lower them.
struct Limits {
  size_t max_hosts = 64;
  size_t max_interfaces_per_host = 32;  // declared interfaces; lo is not counted
  size_t max_traffic = 100000;          // [[traffic]] entries
  // Rules of all tables together. Real rulesets with address blocklists pass
  // 100000 (so does issue 5's nat benchmark at 100k filter rules); a million
  // loads and compiles in ~5 s and ~1 GB (bench/nfemu/RESULTS.md).
  size_t max_rules_per_host = 1000000;
  size_t max_routes_per_host = 10000;   // `routes` entries
  // Default net.netfilter.nf_conntrack_max: what a 6.x kernel on a machine
  // with 4 GiB or more sets (one entry per hash bucket, 262144 buckets).
  int64_t conntrack_max = 262144;
};

struct LoadOptions {
  Limits limits;
};

struct Address {
  uint32_t addr = 0;  // host order
  uint8_t prefix_len = 32;
  bool secondary = false;  // the kernel's IFA_F_SECONDARY: another address of the same subnet came first
  uint32_t broadcast() const;  // addr | ~mask when prefix_len <= 30, else 0 (none), as iproute2 sets brd
  uint32_t network() const;
  bool operator==(const Address&) const = default;
};

struct Interface {
  std::string name;
  std::vector<Address> addresses;  // in the order given; lo starts with 127.0.0.1/8
  packet::Mac mac{};               // lo: 00:00:00:00:00:00
  uint32_t mtu = 1500;             // lo: 65536
  uint32_t group = 0;              // `ip link set DEV group N`: the devgroup match reads it
  bool loopback = false;
  int line = 0;  // where the interface is declared (0 for the implicit lo)
};

// Route types, tables and scopes with the kernel's meaning (rtnetlink.h).
enum class RouteType : uint8_t { Unicast, Local, Broadcast, Unreachable, Prohibit, Blackhole };
enum class RouteTable : uint8_t { Local, Main };  // looked up in this order
enum class RouteOrigin : uint8_t { Kernel, User };  // proto kernel (from addresses), or a `routes` entry
inline constexpr uint8_t kScopeUniverse = 0;
inline constexpr uint8_t kScopeSite = 200;
inline constexpr uint8_t kScopeLink = 253;
inline constexpr uint8_t kScopeHost = 254;
inline constexpr uint8_t kScopeNowhere = 255;

struct Route {
  RouteType type = RouteType::Unicast;
  RouteTable table = RouteTable::Main;
  RouteOrigin origin = RouteOrigin::User;
  uint32_t dst = 0;  // host order, no bits beyond prefix_len
  uint8_t prefix_len = 0;
  std::optional<uint32_t> via;  // gateway
  int dev = -1;                 // index in Host::interfaces (resolved from `via` when not given); -1 for
                                // unreachable, prohibit, blackhole
  std::optional<uint32_t> src;  // preferred source
  uint32_t metric = 0;
  uint8_t scope = kScopeUniverse;
  bool onlink = false;
  std::string text;  // as written (empty for kernel routes)
  int line = 0;
};

enum class Proto : uint8_t { Tcp, Udp };
struct Listener {
  Proto proto = Proto::Tcp;
  uint16_t port = 0;
  bool operator==(const Listener&) const = default;
};

// A sysctl value as written to /proc/sys: a number, or text for the few
// that take several numbers (net.ipv4.ip_local_port_range = "32768 60999").
using SysctlValue = std::variant<int64_t, std::string>;

struct Host {
  std::string name;
  int line = 0;
  // Only the sysctls the file sets, by their dotted names; the kernel
  // defaults hold for the rest.
  std::map<std::string, SysctlValue> sysctls;
  // IP sets (docs/scenario-extensions.md), made before the rules that
  // name them; ipset_restore holds their lines for `ipset restore`.
  ipset::Registry ipsets;
  xt::NfacctObjects nfacct;  // `nfacct add NAME` before the rules, in this order
  std::string ipset_restore;
  xt::Ruleset ruleset;
  // The host's FIB after configuration: the kernel's routes derived from
  // the addresses (local, broadcast, connected), then `routes` in order.
  std::vector<Route> routes;
  std::vector<Listener> listeners;
  std::vector<Interface> interfaces;  // lo first, then as in the file
  int64_t conntrack_max = 0;          // nf_conntrack_max: the sysctl, else Limits::conntrack_max

  const Interface* find_interface(std::string_view name) const;
  int interface_index(std::string_view name) const;  // -1 when absent
  // The integer value of a sysctl the file set, else fallback.
  int64_t sysctl_int(std::string_view name, int64_t fallback) const;
  size_t rule_count() const;
};

struct Endpoint {
  size_t host = 0;   // index in Scenario::hosts
  size_t iface = 0;  // index in Host::interfaces
  bool operator==(const Endpoint&) const = default;
};

struct Link {
  Endpoint a, b;
  int line = 0;
};

enum class Origin : uint8_t { From, On };

struct Traffic {
  double at = 0;      // seconds, as written
  int64_t at_ns = 0;  // at rounded to nanoseconds; non-decreasing over Scenario::traffic
  Origin origin = Origin::From;
  size_t host = 0;  // `from` host, or the host of `on`
  size_t iface = 0; // `on` only: index in Host::interfaces
  std::string text; // the packet as written
  packet::PacketSpec packet;
  int line = 0;
};

struct Scenario {
  std::string path;
  std::vector<Host> hosts;  // as in the file
  std::vector<Link> links;
  std::vector<Traffic> traffic;  // as in the file, which is time order
  int64_t end_ns = 0;            // last traffic at_ns + 1 s (1 s without traffic)
  double end_time = 0;
  Limits limits;

  const Host* find_host(std::string_view name) const;
  int host_index(std::string_view name) const;  // -1 when absent
  // The other end of the cable on this interface, if any.
  std::optional<Endpoint> peer(Endpoint e) const;
};

// Reads and validates a scenario file; iptables-save files are read
// relative to its folder.
Result<Scenario> load_scenario(const std::string& path, const LoadOptions& opts = {});
// The same from text: path_for_messages names the file in errors,
// base_dir resolves relative iptables-save paths ("" = current folder).
Result<Scenario> load_scenario_text(std::string_view text, const std::string& path_for_messages,
                                    const std::string& base_dir, const LoadOptions& opts = {});

// `02:` + the first five bytes of SHA-256("HOST/IFNAME").
packet::Mac default_mac(std::string_view host, std::string_view ifname);

}  // namespace nfemu::scenario
