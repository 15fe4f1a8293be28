#include "xtables/registry.h"

namespace nfemu::xt {

void register_builtin_extensions(Registry& r);  // generated

const Registry& Registry::builtin() {
  static const Registry registry = [] {
    Registry r;
    register_builtin_extensions(r);
    return r;
  }();
  return registry;
}

std::unique_ptr<Match> Registry::make_match(std::string_view name) const {
  auto it = matches_.find(name);
  return it == matches_.end() ? nullptr : it->second();
}

std::unique_ptr<Target> Registry::make_target(std::string_view name) const {
  auto it = targets_.find(name);
  return it == targets_.end() ? nullptr : it->second();
}

}  // namespace nfemu::xt
