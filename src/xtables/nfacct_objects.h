// The extended accounting objects of a network namespace (nfnetlink_acct):
// made outside iptables (`nfacct add NAME`), named by `-m nfacct
// --nfacct-name NAME` rules, which count every packet they see into them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nfemu::xt {

struct NfacctObject {
  std::string name;  // at most kNfacctNameMax characters
  uint64_t pkts = 0, bytes = 0;
};

// NFACCT_NAME_MAX is 32 with the NUL: nfacct and iptables cut a longer name.
constexpr size_t kNfacctNameMax = 31;

class NfacctObjects {
 public:
  // `nfacct add NAME`; false if an object of that name (cut as the tool
  // cuts it) exists already (the kernel's EBUSY).
  bool add(std::string_view name);
  std::optional<size_t> find(std::string_view name) const;
  size_t size() const { return objects_.size(); }
  bool empty() const { return objects_.empty(); }
  NfacctObject& at(size_t i) { return objects_[i]; }
  const NfacctObject& at(size_t i) const { return objects_[i]; }
  // What `nfacct list` prints: the objects in the order they were added.
  std::string list_text() const;

 private:
  std::vector<NfacctObject> objects_;
};

}  // namespace nfemu::xt
