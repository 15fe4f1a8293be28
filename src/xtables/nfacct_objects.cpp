#include "xtables/nfacct_objects.h"

#include <fmt/format.h>

namespace nfemu::xt {

bool NfacctObjects::add(std::string_view name) {
  name = name.substr(0, kNfacctNameMax);
  if (find(name)) return false;
  objects_.push_back({std::string(name), 0, 0});
  return true;
}

std::optional<size_t> NfacctObjects::find(std::string_view name) const {
  for (size_t i = 0; i < objects_.size(); ++i)
    if (objects_[i].name == name) return i;
  return std::nullopt;
}

std::string NfacctObjects::list_text() const {
  // nfacct's plain output (nfacct_snprintf_plain): counts as %020llu.
  std::string out;
  for (const auto& o : objects_) out += fmt::format("{{ pkts = {:020}, bytes = {:020} }} = {};\n", o.pkts, o.bytes, o.name);
  return out;
}

}  // namespace nfemu::xt
