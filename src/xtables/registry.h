// The registry of extensions: name -> factory. Every file under matches/
// and targets/ defines register_match_<file>() / register_target_<file>(),
// collected at configure time (builtin_extensions.cpp is generated), so
// adding an extension never edits a central list by hand.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "xtables/extension.h"

namespace nfemu::xt {

class Registry {
 public:
  using MatchFactory = std::function<std::unique_ptr<Match>()>;
  using TargetFactory = std::function<std::unique_ptr<Target>()>;

  // All extensions built into nfemu.
  static const Registry& builtin();

  void add_match(std::string_view name, MatchFactory f) { matches_.emplace(std::string(name), std::move(f)); }
  void add_target(std::string_view name, TargetFactory f) { targets_.emplace(std::string(name), std::move(f)); }
  template <class M>
  void add_match(std::string_view name) {
    add_match(name, [] { return std::make_unique<M>(); });
  }
  template <class T>
  void add_target(std::string_view name) {
    add_target(name, [] { return std::make_unique<T>(); });
  }

  // nullptr when unknown. Names are case sensitive, as in iptables.
  std::unique_ptr<Match> make_match(std::string_view name) const;
  std::unique_ptr<Target> make_target(std::string_view name) const;
  bool has_target(std::string_view name) const { return targets_.count(std::string(name)) != 0; }

 private:
  std::map<std::string, MatchFactory, std::less<>> matches_;
  std::map<std::string, TargetFactory, std::less<>> targets_;
};

}  // namespace nfemu::xt
