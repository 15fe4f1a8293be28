#include "scenario/sysctl.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace nfemu::scenario {
namespace {

const std::vector<std::string> kIfs = {"lo", "eth0", "eth0.100"};

std::string check(std::string_view name, SysctlInput v) {
  auto r = check_sysctl(name, v, kIfs);
  if (!r) return r.error().message;
  if (const auto* i = std::get_if<int64_t>(&*r)) return std::to_string(*i);
  return "\"" + std::get<std::string>(*r) + "\"";
}

TEST(SysctlTest, KnownNames) {
  EXPECT_EQ(check("net.ipv4.ip_forward", int64_t{1}), "1");
  EXPECT_EQ(check("net.ipv4.conf.all.rp_filter", int64_t{2}), "2");
  EXPECT_EQ(check("net.ipv4.conf.default.rp_filter", int64_t{0}), "0");
  EXPECT_EQ(check("net.ipv4.conf.eth0.accept_local", int64_t{1}), "1");
  EXPECT_EQ(check("net.ipv4.conf.lo.route_localnet", int64_t{1}), "1");
  // sysctl(8) spells the dots of an interface name as slashes.
  EXPECT_EQ(check("net.ipv4.conf.eth0/100.rp_filter", int64_t{1}), "1");
  EXPECT_EQ(check("net.ipv4.conf.eth0.100.rp_filter", int64_t{1}), "1");
  EXPECT_EQ(check("net.netfilter.nf_conntrack_tcp_timeout_established", int64_t{600}), "600");
  EXPECT_EQ(check("net.netfilter.nf_conntrack_icmp_timeout", int64_t{10}), "10");
  EXPECT_EQ(check("net.ipv4.icmp_ratemask", std::string("0x1818")), "6168");
  EXPECT_EQ(check("net.ipv4.ip_default_ttl", std::string(" 32 ")), "32");
  for (const auto& n : known_sysctls()) {
    if (n.find("IFNAME") == std::string::npos && n != "net.ipv4.ip_local_port_range") {
      EXPECT_EQ(check(n, int64_t{1}), "1") << n;
    }
  }
}

TEST(SysctlTest, Refusals) {
  EXPECT_EQ(check("net.ipv4.ip_forwarding", int64_t{1}),
            "unknown sysctl `net.ipv4.ip_forwarding' (nfemu models only the sysctls listed in src/scenario/sysctl.cpp)");
  EXPECT_EQ(check("net.ipv4.conf.eth1.rp_filter", int64_t{1}),
            "unknown sysctl `net.ipv4.conf.eth1.rp_filter': this host has no interface `eth1'");
  EXPECT_EQ(check("net.ipv4.conf.eth0.rp_filtre", int64_t{1}),
            "unknown sysctl `net.ipv4.conf.eth0.rp_filtre' (nfemu models only the sysctls listed in "
            "src/scenario/sysctl.cpp)");
  EXPECT_EQ(check("net.netfilter.nf_conntrack_tcp_timeout_establish", int64_t{1}),
            "unknown sysctl `net.netfilter.nf_conntrack_tcp_timeout_establish' (nfemu models only the sysctls listed "
            "in src/scenario/sysctl.cpp)");
  EXPECT_EQ(check("net.ipv4.ip_default_ttl", int64_t{0}), "value 0 is out of range for net.ipv4.ip_default_ttl (1..255)");
  EXPECT_EQ(check("net.ipv4.ip_default_ttl", int64_t{256}),
            "value 256 is out of range for net.ipv4.ip_default_ttl (1..255)");
  EXPECT_EQ(check("net.ipv4.conf.all.rp_filter", int64_t{3}),
            "value 3 is out of range for net.ipv4.conf.all.rp_filter (0..2)");
  EXPECT_EQ(check("net.ipv4.icmp_msgs_per_sec", int64_t{-1}),
            "value -1 is out of range for net.ipv4.icmp_msgs_per_sec (0..2147483647)");
  EXPECT_EQ(check("net.netfilter.nf_conntrack_udp_timeout", int64_t{2147484}),
            "value 2147484 is out of range for net.netfilter.nf_conntrack_udp_timeout (0..2147483)");
  EXPECT_EQ(check("net.ipv4.ip_forward", std::string("yes")), "net.ipv4.ip_forward takes an integer, not \"yes\"");
}

TEST(SysctlTest, PortRange) {
  EXPECT_EQ(check("net.ipv4.ip_local_port_range", std::string("32768\t60999")), "\"32768 60999\"");
  EXPECT_EQ(check("net.ipv4.ip_local_port_range", std::string("1024 1024")), "\"1024 1024\"");
  EXPECT_EQ(check("net.ipv4.ip_local_port_range", std::string("2000 1000")),
            "invalid net.ipv4.ip_local_port_range \"2000 1000\": the kernel wants 1024 <= LOW <= HIGH <= 65535");
  EXPECT_EQ(check("net.ipv4.ip_local_port_range", std::string("1023 2000")),
            "invalid net.ipv4.ip_local_port_range \"1023 2000\": the kernel wants 1024 <= LOW <= HIGH <= 65535");
  EXPECT_EQ(check("net.ipv4.ip_local_port_range", int64_t{1000}),
            "net.ipv4.ip_local_port_range takes two numbers in a string, as \"32768 60999\"");
  EXPECT_EQ(check("net.ipv4.ip_local_port_range", std::string("1000")),
            "net.ipv4.ip_local_port_range takes two numbers, as \"32768 60999\", not \"1000\"");
}

// Whatever nfemu accepts, the kernel must accept too: both ends of every
// range are written in a fresh, anonymous network namespace.
TEST(SysctlKernelTest, KernelAcceptsEveryAcceptedValue) {
  if (getuid() != 0) GTEST_SKIP() << "SKIPPED: writing sysctls in a network namespace needs root";
  if (std::system("unshare -n true 2>/dev/null") != 0) GTEST_SKIP() << "SKIPPED: cannot create a network namespace";
  std::string script = "iptables-legacy -t raw -A PREROUTING -m conntrack --ctstate NEW 2>/dev/null\n";
  for (const auto& r : known_sysctl_ranges()) {
    if (r.name == "net.netfilter.nf_conntrack_max") continue;  // read-only in a namespace
    std::string name = r.name;
    if (auto p = name.find("IFNAME"); p != std::string::npos) name.replace(p, 6, "lo");
    for (int64_t v : {r.min, r.max})
      script += "sysctl -q -w " + name + "=" + std::to_string(v) + " >/dev/null 2>&1 || echo " + name + "=" +
                std::to_string(v) + "\n";
  }
  for (const char* range : {"1024 1024", "1024 65535"})
    script += std::string("sysctl -q -w net.ipv4.ip_local_port_range=\"") + range + "\" >/dev/null 2>&1 || echo " +
              range + "\n";
  std::string refused;
  FILE* p = popen(("unshare -n sh -c '" + script + "'").c_str(), "r");
  ASSERT_TRUE(p);
  char buf[256];
  while (fgets(buf, sizeof buf, p)) refused += buf;
  pclose(p);
  EXPECT_EQ(refused, "") << "the kernel refuses these values that nfemu accepts";
}

}  // namespace
}  // namespace nfemu::scenario
