// The address/port range of the NAT targets (SNAT, DNAT, MASQUERADE,
// REDIRECT): struct nf_nat_range2 as libxt_NAT.c fills it from
// `--to-source 192.0.2.1-192.0.2.9:1024-2047` or `--to-ports 8080`, and
// prints it back for iptables-save.
//
//   NatRange r;
//   if (auto ok = parse_nat_to("192.0.2.1:80", nat_ports_ok(ctx.ip), r); !ok) ...
//   out += " --to-destination " + r.text(false);   // "192.0.2.1:80"
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "xtables/addr.h"
#include "xtables/eval.h"
#include "xtables/extension.h"
#include "xtables/rule.h"
#include "xtables/targets/xtopt_a.h"

namespace nfemu::xt {

// NF_NAT_RANGE_* flags (linux/netfilter/nf_nat.h).
enum NatFlag : uint32_t {
  kNatMapIps = 1u << 0,
  kNatProtoSpecified = 1u << 1,
  kNatProtoRandom = 1u << 2,
  kNatPersistent = 1u << 3,
  kNatProtoRandomFully = 1u << 4,
  kNatProtoOffset = 1u << 5,
};

struct NatRange {
  uint32_t flags = 0;
  uint32_t min_ip = 0, max_ip = 0;
  uint16_t min_port = 0, max_port = 0, base_port = 0;

  // sprint_range: "ADDR[-ADDR]" and ":PORT[-PORT][/BASE]"; with skip_colon
  // (MASQUERADE, REDIRECT) a ports-only range loses its leading colon.
  std::string text(bool skip_colon) const {
    std::string s;
    if (flags & kNatMapIps) {
      s += format_ipv4(min_ip);
      if (min_ip != max_ip) {
        s += '-';
        s += format_ipv4(max_ip);
      }
    }
    if (flags & kNatProtoSpecified) {
      s += fmt::format(":{}", min_port);
      if (max_port != min_port) s += fmt::format("-{}", max_port);
      if (flags & kNatProtoOffset) s += fmt::format("/{}", base_port);
    }
    if (skip_colon && !s.empty() && s[0] == ':') s.erase(0, 1);
    return s;
  }

  // __NAT_print for save: " --OPT RANGE" when there is a range, then the flags.
  void save(std::string& out, std::string_view option, bool skip_colon) const {
    std::string r = text(skip_colon);
    if (!r.empty()) out += fmt::format(" --{} {}", option, r);
    if (flags & kNatProtoRandom) out += " --random";
    if (flags & kNatProtoRandomFully) out += " --random-fully";
    if (flags & kNatPersistent) out += " --persistent";
  }
};

// Ports are accepted only for protocols that have them (ICMP has its id).
// libxt_NAT looks at -p as given so far, ignoring `!`.
inline bool nat_ports_ok(const IpCriteria& ip) {
  return ip.proto == 6 || ip.proto == 17 || ip.proto == 132 || ip.proto == 33 || ip.proto == 1;
}

// parse_ports: "PORT", "PORT-PORT" or "PORT-PORT/BASE"; service names for
// the first and the base port only.
inline Result<void> parse_nat_ports(std::string_view arg, bool portok, NatRange& r) {
  if (!portok) return make_error("Need TCP, UDP, SCTP or DCCP with port specification");
  r.flags |= kNatProtoSpecified;
  uint64_t port;
  std::string_view end;
  if (auto p = xtopt::strtoul_prefix(arg, 0, 65535)) {
    port = p->value;
    end = p->rest;
  } else {
    auto svc = xtopt::service_port(arg);
    if (!svc) return make_error(fmt::format("Port `{}' not valid", arg));
    port = *svc;
  }
  if (end.empty()) {
    r.min_port = r.max_port = static_cast<uint16_t>(port);
    return {};
  }
  if (end[0] == ':') return make_error("Invalid port:port syntax - use dash");
  if (end[0] != '-') return make_error(fmt::format("Garbage after port value: `{}'", end));
  arg = end.substr(1);
  auto hi = xtopt::strtoul_prefix(arg, 0, 65535);
  if (!hi) return make_error(fmt::format("Port `{}' not valid", arg));
  if (hi->value < port) return make_error(fmt::format("Port range `{}' funky", arg));
  r.min_port = static_cast<uint16_t>(port);
  r.max_port = static_cast<uint16_t>(hi->value);
  end = hi->rest;
  if (end.empty()) return {};
  if (end[0] != '/') return make_error(fmt::format("Garbage after port range: `{}'", end));
  arg = end.substr(1);
  uint64_t base;
  // Unlike the ports before it, bytes after the base port are ignored.
  if (auto b = xtopt::strtoul_prefix(arg, 1, 65535)) {
    base = b->value;
  } else {
    auto svc = xtopt::service_port(arg);
    if (!svc) return make_error(fmt::format("Port `{}' not valid", arg));
    base = *svc;
  }
  r.flags |= kNatProtoOffset;
  r.base_port = static_cast<uint16_t>(base);
  return {};
}

// parse_to: "[ADDR[-ADDR]][:PORTS]". A second colon means IPv6 to
// iptables, so the whole text is then taken as an address and refused.
inline Result<void> parse_nat_to(std::string_view arg, bool portok, NatRange& r) {
  if (arg.find('[') != std::string_view::npos) return make_error("Invalid address format");
  size_t colon = arg.find(':');
  if (colon != std::string_view::npos && arg.find(':', colon + 1) != std::string_view::npos)
    colon = std::string_view::npos;
  std::string_view addrs = arg;
  if (colon != std::string_view::npos) {
    if (auto ok = parse_nat_ports(arg.substr(colon + 1), portok, r); !ok) return ok;
    // libxt_NAT takes a colon at offset 0 or 2 ("[]:80" in IPv6) as "no
    // address", so "12:80" maps ports only.
    if (colon == 0 || colon == 2) return {};
    addrs = arg.substr(0, colon);
  }
  r.flags |= kNatMapIps;
  size_t dash = addrs.find('-');
  std::string_view lo = addrs.substr(0, dash);
  auto min = xtopt::inet_pton4(lo);
  if (!min) return make_error(fmt::format("Bad IP address \"{}\"", lo));
  r.min_ip = r.max_ip = *min;
  if (dash != std::string_view::npos) {
    std::string_view hi = addrs.substr(dash + 1);
    auto max = xtopt::inet_pton4(hi);
    if (!max) return make_error(fmt::format("Bad IP address \"{}\"", hi));
    r.max_ip = *max;
  }
  return {};
}

// What distinguishes SNAT, DNAT, MASQUERADE and REDIRECT: their options
// (all share the parser of libxt_NAT.c) and what the kernel allows.
struct NatKind {
  std::string_view name;
  std::span<const OptionSpec> options;
  std::string_view range_option;  // "to-source", "to-destination" or "to-ports"
  bool mandatory;                 // XTOPT_MAND on the range option
  bool skip_colon;                // saved as "--to-ports 80", not ":80"
  // Revision 0 stores struct nf_nat_ipv4_multi_range_compat, which has no
  // base port: a shifted range keeps its flag and saves "/0".
  bool compat;
  // DNAT_fcheck (REDIRECT revision 0) refuses shifted ranges.
  bool refuse_offset;
  HookMask hooks;
  NatRequest::Kind kind;
};

template <const NatKind& K>
class NatTarget : public TargetBase<NatTarget<K>> {
 public:
  std::string_view name() const override { return K.name; }
  std::span<const OptionSpec> options() const override { return K.options; }

  Result<void> parse(const OptionCall& opt, const ParseContext& ctx) override {
    if (opt.name == K.range_option) {
      NatRange r;
      bool portok = nat_ports_ok(ctx.ip);
      auto ok = K.range_option == "to-ports" ? parse_nat_ports(opt.arg, portok, r) : parse_nat_to(opt.arg, portok, r);
      if (!ok) return ok;
      if (K.compat) r.base_port = 0;
      uint32_t flags = range_.flags | r.flags;
      range_ = r;
      range_.flags = flags;
      have_range_ = true;
    } else if (opt.name == "random") {
      range_.flags |= kNatProtoRandom;
    } else if (opt.name == "random-fully") {
      range_.flags |= kNatProtoRandomFully;
    } else if (opt.name == "persistent") {
      range_.flags |= kNatPersistent;
    }
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (K.refuse_offset && (range_.flags & kNatProtoOffset))
      return make_error("Shifted portmap ranges not supported with this kernel");
    if (K.mandatory && !have_range_) return xtopt::must_be_specified(K.name, K.range_option);
    return {};
  }

  KernelSpec kernel_spec() const override {
    return {.hooks = K.hooks, .tables = table_mask_bit(TableId::Nat), .module = K.name};
  }

  void save(std::string& out, const IpCriteria&) const override { range_.save(out, K.range_option, K.skip_colon); }

  // The kernel's target hands the range to nf_nat_setup_info (through the
  // host, which knows interfaces and routes) and returns its verdict: a NAT
  // target ends the nat chain.
  bool can_evaluate() const override { return true; }
  TargetVerdict evaluate(EvalContext& ctx) const override {
    NatRequest req{.kind = K.kind,
                   .flags = range_.flags,
                   .min_ip = range_.min_ip,
                   .max_ip = range_.max_ip,
                   .min_port = range_.min_port,
                   .max_port = range_.max_port,
                   .base_port = range_.base_port};
    return ctx.effects ? ctx.effects->nat(req, ctx) : TargetVerdict::Accept;
  }

 private:
  NatRange range_;
  bool have_range_ = false;
};

}  // namespace nfemu::xt
