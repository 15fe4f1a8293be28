#include "xtables/addr.h"

#include <fmt/format.h>

#include <array>
#include <utility>

#include "util/strings.h"
#include "xtables/xt_number.h"

namespace nfemu::xt {

std::optional<uint32_t> parse_ipv4(std::string_view s, bool is_mask) {
  // libxtables copies into a 20-byte buffer first; longer text is cut.
  if (s.size() > 19) s = s.substr(0, 19);
  uint32_t bytes[4] = {0, 0, 0, 0};
  size_t pos = 0;
  for (int i = 0; i < 3; ++i) {
    size_t dot = s.find('.', pos);
    if (dot == std::string_view::npos) {
      if (is_mask) return std::nullopt;
      auto v = parse_uint_c(s.substr(pos), 255);
      if (!v) return std::nullopt;
      bytes[i] = static_cast<uint32_t>(*v);
      return (bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3];
    }
    auto v = parse_uint_c(s.substr(pos, dot - pos), 255);
    if (!v) return std::nullopt;
    bytes[i] = static_cast<uint32_t>(*v);
    pos = dot + 1;
  }
  auto v = parse_uint_c(s.substr(pos), 255);
  if (!v) return std::nullopt;
  bytes[3] = static_cast<uint32_t>(*v);
  return (bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3];
}

static Result<uint32_t> parse_mask_part(std::string_view m) {
  if (auto dotted = parse_ipv4(m, true)) return *dotted;
  auto bits = parse_uint_c(m, 32);
  if (!bits) return make_error(fmt::format("invalid mask `{}' specified", m));
  return prefix_to_mask(static_cast<int>(*bits));
}

// inet_aton's forms, which iptables reaches through getaddrinfo when its
// own dotted parser fails: "0x7f000001", "4294967295", "10.65535" (the last
// part fills the remaining bytes).
static std::optional<uint32_t> parse_inet_aton(std::string_view s) { return number::inet_aton(s); }

static Result<AddrMask> parse_one(std::string_view s) {
  std::string_view host = s;
  uint32_t mask = 0xffffffffu;
  if (size_t slash = s.rfind('/'); slash != std::string_view::npos) {
    host = s.substr(0, slash);
    auto m = parse_mask_part(s.substr(slash + 1));
    if (!m) return m.error();
    mask = *m;
  }
  // A null mask makes the address irrelevant ("any/0"), so it is never resolved.
  if (mask == 0) return AddrMask{0, 0};
  auto a = parse_ipv4(host);
  if (!a) a = parse_inet_aton(host);
  if (!a) return make_error(fmt::format("host/network `{}' not found", host));
  return AddrMask{*a & mask, mask};
}

Result<AddrMask> parse_addr_mask(std::string_view s) { return parse_one(s); }

Result<std::vector<AddrMask>> parse_addr_list(std::string_view s) {
  std::vector<AddrMask> out;
  for (auto part : split(s, ',')) {
    if (part.empty()) return make_error(fmt::format("host/network `{}' not found", s));
    auto r = parse_one(part);
    if (!r) return r.error();
    out.push_back(*r);
  }
  return out;
}

std::string format_ipv4(uint32_t a) {
  return fmt::format("{}.{}.{}.{}", a >> 24, (a >> 16) & 0xff, (a >> 8) & 0xff, a & 0xff);
}

int mask_prefix_len(uint32_t mask) {
  for (int bits = 32; bits >= 0; --bits)
    if (prefix_to_mask(bits) == mask) return bits;
  return -1;
}

std::string format_addr_mask(uint32_t addr, uint32_t mask) {
  int bits = mask_prefix_len(mask);
  if (bits >= 0) return fmt::format("{}/{}", format_ipv4(addr), bits);
  return fmt::format("{}/{}", format_ipv4(addr), format_ipv4(mask));
}

namespace {
// Debian netbase's /etc/protocols: official names only. Aliases there are
// the same names in upper case, and iptables lower-cases -p first.
constexpr std::array<std::pair<uint16_t, std::string_view>, 56> kProtocols = {{
    {0, "ip"},        {0, "hopopt"},      {1, "icmp"},           {2, "igmp"},       {3, "ggp"},
    {4, "ipencap"},   {5, "st"},          {6, "tcp"},            {8, "egp"},        {9, "igp"},
    {12, "pup"},      {17, "udp"},        {20, "hmp"},           {22, "xns-idp"},   {27, "rdp"},
    {29, "iso-tp4"},  {33, "dccp"},       {36, "xtp"},           {37, "ddp"},       {38, "idpr-cmtp"},
    {41, "ipv6"},     {43, "ipv6-route"}, {44, "ipv6-frag"},     {45, "idrp"},      {46, "rsvp"},
    {47, "gre"},      {50, "esp"},        {51, "ah"},            {57, "skip"},      {58, "ipv6-icmp"},
    {59, "ipv6-nonxt"}, {60, "ipv6-opts"}, {73, "rspf"},         {81, "vmtp"},      {88, "eigrp"},
    {89, "ospf"},     {93, "ax.25"},      {94, "ipip"},          {97, "etherip"},   {98, "encap"},
    {103, "pim"},     {108, "ipcomp"},    {112, "vrrp"},         {115, "l2tp"},     {124, "isis"},
    {132, "sctp"},    {133, "fc"},        {135, "mobility-header"}, {136, "udplite"}, {137, "mpls-in-ip"},
    {138, "manet"},   {139, "hip"},       {140, "shim6"},        {141, "wesp"},     {142, "rohc"},
    {143, "ethernet"},
}};
// libxtables' own fallback names (xtables_chain_protos) not in netbase.
constexpr std::array<std::pair<uint16_t, std::string_view>, 3> kChainProtos = {{
    {58, "icmpv6"}, {135, "mh"}, {0, "all"}}};
}  // namespace

std::optional<uint16_t> protocol_from_name(std::string_view name) {
  for (auto& [num, n] : kProtocols)
    if (n == name) return num;
  for (auto& [num, n] : kChainProtos)
    if (n == name) return num;
  return std::nullopt;
}

std::optional<std::string_view> protocol_name(uint16_t proto) {
  for (auto& [num, n] : kProtocols)
    if (num == proto) return n;
  return std::nullopt;
}

}  // namespace nfemu::xt
