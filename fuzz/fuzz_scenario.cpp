// libFuzzer target for the scenario loader (src/scenario/scenario.h):
// nothing may crash, every error must carry a position inside the text,
// and every scenario accepted must be self-consistent, as the emulator
// indexes it without checks: lo first, routes and links pointing at real
// interfaces, traffic in time order, the end one second after the last.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "scenario/scenario.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nfemu::scenario;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  LoadOptions opts;
  opts.limits.max_traffic = 200;
  opts.limits.max_rules_per_host = 200;
  opts.limits.max_routes_per_host = 200;
  // No rules file is ever found: the loader must say so, not crash.
  auto sc = load_scenario_text(text, "fuzz.toml", "/nonexistent-nfemu-fuzz", opts);
  if (!sc) {
    const auto& e = sc.error();
    if (e.message.empty() || e.line < 0 || e.col < 0) std::abort();
    size_t lines = 1;
    for (char c : text) lines += c == '\n';
    if (e.file.empty() && static_cast<size_t>(e.line) > lines + 1) std::abort();
    return 0;
  }
  if (sc->hosts.empty() || sc->hosts.size() > opts.limits.max_hosts) std::abort();
  for (const auto& h : sc->hosts) {
    if (h.interfaces.empty() || h.interfaces[0].name != "lo" || !h.interfaces[0].loopback) std::abort();
    if (h.interfaces.size() > opts.limits.max_interfaces_per_host + 1) std::abort();
    for (size_t i = 1; i < h.interfaces.size(); ++i) {
      const auto& ifc = h.interfaces[i];
      if (ifc.name.empty() || ifc.name.size() > 15 || (ifc.mac[0] & 1) || ifc.mtu < 68) std::abort();
    }
    for (const auto& r : h.routes) {
      if (r.dev >= static_cast<int>(h.interfaces.size()) || r.prefix_len > 32) std::abort();
      if (r.prefix_len < 32 && (r.dst & (~uint32_t(0) >> r.prefix_len))) std::abort();
    }
    if (h.rule_count() > opts.limits.max_rules_per_host) std::abort();
  }
  for (const auto& l : sc->links)
    for (auto e : {l.a, l.b})
      if (e.host >= sc->hosts.size() || e.iface == 0 || e.iface >= sc->hosts[e.host].interfaces.size()) std::abort();
  int64_t last = 0;
  for (const auto& t : sc->traffic) {
    if (t.at_ns < last || t.host >= sc->hosts.size()) std::abort();
    if (t.origin == Origin::On && (t.iface == 0 || t.iface >= sc->hosts[t.host].interfaces.size())) std::abort();
    last = t.at_ns;
  }
  if (sc->end_ns != last + 1000000000) std::abort();
  return 0;
}
