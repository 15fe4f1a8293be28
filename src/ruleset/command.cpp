#include "ruleset/command.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "xtables/addr.h"

namespace nfemu::ruleset {

using xt::ArgKind;
using xt::IpCriteria;
using xt::OptionSpec;
using xt::TargetKind;

namespace {

// The core options of iptables (struct option original_opts[]).
struct CoreOption {
  std::string_view name;
  char letter;
  ArgKind arg;
};
constexpr CoreOption kCoreOptions[] = {
    {"append", 'A', ArgKind::Required},     {"delete", 'D', ArgKind::Required},
    {"check", 'C', ArgKind::Required},      {"insert", 'I', ArgKind::Required},
    {"replace", 'R', ArgKind::Required},    {"list", 'L', ArgKind::Optional},
    {"list-rules", 'S', ArgKind::Optional}, {"flush", 'F', ArgKind::Optional},
    {"zero", 'Z', ArgKind::Optional},       {"new-chain", 'N', ArgKind::Required},
    {"delete-chain", 'X', ArgKind::Optional}, {"rename-chain", 'E', ArgKind::Required},
    {"policy", 'P', ArgKind::Required},     {"source", 's', ArgKind::Required},
    {"destination", 'd', ArgKind::Required}, {"src", 's', ArgKind::Required},
    {"dst", 'd', ArgKind::Required},        {"protocol", 'p', ArgKind::Required},
    {"in-interface", 'i', ArgKind::Required}, {"jump", 'j', ArgKind::Required},
    {"table", 't', ArgKind::Required},      {"match", 'm', ArgKind::Required},
    {"numeric", 'n', ArgKind::None},        {"out-interface", 'o', ArgKind::Required},
    {"verbose", 'v', ArgKind::None},        {"wait", 'w', ArgKind::Optional},
    {"wait-interval", 'W', ArgKind::Optional}, {"exact", 'x', ArgKind::None},
    {"fragments", 'f', ArgKind::None},      {"version", 'V', ArgKind::None},
    {"help", 'h', ArgKind::Optional},       {"line-numbers", '0', ArgKind::None},
    {"modprobe", 'M', ArgKind::Required},   {"set-counters", 'c', ArgKind::Required},
    {"goto", 'g', ArgKind::Required},       {"ipv4", '4', ArgKind::None},
    {"ipv6", '6', ArgKind::None},
};

// getopt's short option string of iptables: letter -> argument kind.
std::optional<ArgKind> short_option(char c) {
  switch (c) {
    case 'A': case 'C': case 'D': case 'R': case 'I': case 'M': case 'N': case 'E': case 'P':
    case 'o': case 'p': case 's': case 'd': case 'j': case 'i': case 't': case 'm': case 'c': case 'g':
      return ArgKind::Required;
    case 'L': case 'S': case 'F': case 'Z': case 'X': case 'h': case 'w': case 'W':
      return ArgKind::Optional;
    case 'V': case 'f': case 'b': case 'v': case 'n': case 'x': case '4': case '6':
      return ArgKind::None;
    default:
      return std::nullopt;
  }
}

bool can_invert(char c) {
  switch (c) {
    case 's': case 'd': case 'p': case 'i': case 'o': case 'f':
      return true;
    default:
      return false;
  }
}

// A loaded extension instance and the order it was loaded in.
struct Loaded {
  xt::Match* match = nullptr;
  xt::Target* target = nullptr;
  std::span<const OptionSpec> options() const { return match ? match->options() : target->options(); }
  std::string_view name() const { return match ? match->name() : target->name(); }
};

struct ResolvedLong {
  const CoreOption* core = nullptr;
  int ext_index = -1;  // index into the loaded list
  const OptionSpec* spec = nullptr;
};

class Parser {
 public:
  Parser(std::span<const Word> words, const CommandOptions& opts)
      : words_(words), opts_(opts), registry_(opts.registry ? *opts.registry : xt::Registry::builtin()) {}

  Result<Command> run();

 private:
  Error err(std::string msg, size_t word_index) const {
    int col = word_index < words_.size() ? words_[word_index].col : 0;
    return make_error(std::move(msg), opts_.line, col);
  }
  bool has_arg_word() const {
    return pos_ < words_.size() && !words_[pos_].text.empty() && words_[pos_].text[0] != '-' &&
           words_[pos_].text[0] != '!';
  }
  Result<ResolvedLong> resolve_long(std::string_view name, size_t wi) const;
  Result<void> core(char letter, std::optional<std::string> arg, size_t wi);
  Result<void> set_command(Op op, size_t wi);
  Result<void> extension_option(int ext_index, const OptionSpec& spec, std::optional<std::string> arg, size_t wi);
  bool load_proto_match();

  std::span<const Word> words_;
  const CommandOptions& opts_;
  const xt::Registry& registry_;
  size_t pos_ = 0;
  bool invert_ = false;
  size_t invert_word_ = 0;

  Command cmd_;
  bool have_command_ = false;
  bool have_table_ = false;
  std::string options_seen_;  // core letters given, for "multiple -X flags"
  IpCriteria ip_;
  std::vector<xt::AddrMask> saddrs_, daddrs_;
  std::vector<std::unique_ptr<xt::Match>> matches_;
  std::unique_ptr<xt::Target> target_;
  std::vector<Loaded> loaded_;  // in load order
  std::string jumpto_;
  bool is_goto_ = false;
  size_t jump_word_ = 0, policy_word_ = 0, protocol_word_ = 0;  // where -j/-g's and -P's names are
  std::string protocol_;
  bool proto_used_ = false;
  std::optional<xt::Counters> counters_;
  bool ipv6_only_ = false;
  std::vector<std::vector<std::string>> seen_ext_options_;  // per loaded, non-repeatable options given
};

Result<ResolvedLong> Parser::resolve_long(std::string_view name, size_t wi) const {
  // getopt_long: an exact match wins; otherwise a unique prefix. The merged
  // option list is: core options, then extensions newest first.
  std::vector<ResolvedLong> all;
  for (const auto& c : kCoreOptions) all.push_back({&c, -1, nullptr});
  for (int i = static_cast<int>(loaded_.size()) - 1; i >= 0; --i)
    for (const auto& spec : loaded_[i].options()) all.push_back({nullptr, i, &spec});
  auto name_of = [](const ResolvedLong& r) { return r.core ? r.core->name : r.spec->name; };
  for (const auto& r : all)
    if (name_of(r) == name) return r;
  std::vector<ResolvedLong> prefixed;
  for (const auto& r : all)
    if (name_of(r).substr(0, name.size()) == name) prefixed.push_back(r);
  if (prefixed.empty()) return err(fmt::format("unknown option \"--{}\"", name), wi);
  for (const auto& r : prefixed) {
    // Entries that are the same option (e.g. --src and --source) are not ambiguous.
    bool same = (r.core && prefixed[0].core && r.core->letter == prefixed[0].core->letter) ||
                (!r.core && !prefixed[0].core && r.ext_index == prefixed[0].ext_index && r.spec == prefixed[0].spec);
    if (!same) return err(fmt::format("option '--{}' is ambiguous", name), wi);
  }
  return prefixed[0];
}

Result<void> Parser::set_command(Op op, size_t wi) {
  if (have_command_) return err("Cannot use more than one command option at a time", wi);
  if (invert_) return err("unexpected ! flag before a command", invert_word_);
  cmd_.op = op;
  have_command_ = true;
  return {};
}

bool Parser::load_proto_match() {
  if (protocol_.empty() || proto_used_) return false;
  std::string name = protocol_;
  if (auto num = parse_uint_c(protocol_, 255)) {
    auto n = xt::protocol_name(static_cast<uint16_t>(*num));
    if (!n) return false;
    name = std::string(*n);
  }
  // Already loaded by -m: nothing new to try.
  for (const auto& l : loaded_)
    if (l.match && l.match->name() == name) return false;
  auto m = registry_.make_match(name);
  if (!m) return false;
  proto_used_ = true;
  if (protocol_word_ < words_.size()) m->source_col = words_[protocol_word_].col;
  loaded_.push_back({m.get(), nullptr});
  seen_ext_options_.emplace_back();
  matches_.push_back(std::move(m));
  return true;
}

Result<void> Parser::extension_option(int ext_index, const OptionSpec& spec, std::optional<std::string> arg,
                                      size_t wi) {
  Loaded& ext = loaded_[ext_index];
  if (invert_ && !spec.invertible)
    return err(fmt::format("{}: option \"--{}\" cannot be inverted.", ext.name(), spec.name), invert_word_);
  auto& seen = seen_ext_options_[ext_index];
  if (!spec.repeatable) {
    if (std::find(seen.begin(), seen.end(), spec.name) != seen.end())
      return err(fmt::format("{}: option \"--{}\" can only be used once.", ext.name(), spec.name), wi);
    seen.emplace_back(spec.name);
  }
  xt::OptionCall call;
  call.name = spec.name;
  call.invert = invert_;
  std::string arg2;
  if (spec.arg == ArgKind::Required || spec.arg == ArgKind::Two) {
    if (!arg) {
      if (pos_ >= words_.size()) return err(fmt::format("option \"--{}\" requires an argument", spec.name), wi);
      arg = words_[pos_++].text;
    }
  }
  if (spec.arg == ArgKind::Two) {
    if (!has_arg_word()) return err(fmt::format("--{} requires two args.", spec.name), wi);
    arg2 = words_[pos_++].text;
  }
  if ((spec.arg == ArgKind::None || spec.arg == ArgKind::Trailing) && arg)
    return err(fmt::format("option '--{}' doesn't allow an argument", spec.name), wi);
  if (spec.arg == ArgKind::Trailing && pos_ < words_.size()) {
    const std::string& next = words_[pos_].text;
    if (next.empty() || (next[0] != '-' && next[0] != '!')) arg = words_[pos_++].text;
  }
  if (arg) {
    call.arg = *arg;
    call.has_arg = true;
  }
  call.arg2 = arg2;
  xt::ParseContext ctx{ip_, cmd_.table, opts_.sets, opts_.nfacct};
  Result<void> r = ext.match ? ext.match->parse(call, ctx) : ext.target->parse(call, ctx);
  invert_ = false;
  if (!r) return err(r.error().message, wi);
  return {};
}

Result<void> Parser::core(char c, std::optional<std::string> arg, size_t wi) {
  auto need_arg = [&]() -> Result<std::string> {
    if (arg) return *arg;
    if (pos_ >= words_.size()) return err(fmt::format("option requires an argument -- '{}'", c), wi);
    return words_[pos_++].text;
  };
  auto optional_arg = [&]() -> std::optional<std::string> {
    if (arg) return arg;
    if (has_arg_word()) return words_[pos_++].text;
    return std::nullopt;
  };
  auto rulenum = [&](const std::string& s, size_t at) -> Result<int> {
    auto v = parse_uint_c(s, INT32_MAX);
    if (!v || *v < 1) return err(fmt::format("Invalid rule number `{}'", s), at);
    return static_cast<int>(*v);
  };
  if (invert_ && !can_invert(c)) return err(fmt::format("cannot have ! before -{}", c), invert_word_);
  if (std::string_view("sdpiofjgtc").find(c) != std::string_view::npos) {
    if (options_seen_.find(c) != std::string::npos) return err(fmt::format("multiple -{} flags not allowed", c), wi);
    options_seen_.push_back(c);
  }
  const bool inv = invert_;
  invert_ = false;
  switch (c) {
    case 'A': case 'C': case 'N': case 'I': case 'R': case 'D': case 'E': case 'P': {
      static const std::pair<char, Op> ops[] = {{'A', Op::Append}, {'C', Op::Check},   {'N', Op::NewChain},
                                                {'I', Op::Insert}, {'R', Op::Replace}, {'D', Op::Delete},
                                                {'E', Op::RenameChain}, {'P', Op::Policy}};
      Op op = std::find_if(std::begin(ops), std::end(ops), [&](auto& p) { return p.first == c; })->second;
      if (auto r = set_command(op, wi); !r) return r;
      auto chain = need_arg();
      if (!chain) return chain.error();
      cmd_.chain = *chain;
      if (c == 'I') {
        cmd_.rulenum = 1;
        if (has_arg_word()) {
          auto n = rulenum(words_[pos_].text, pos_);
          if (!n) return n.error();
          ++pos_;
          cmd_.rulenum = *n;
        }
      } else if (c == 'R') {
        if (!has_arg_word()) return err("-R requires a rule number", wi);
        auto n = rulenum(words_[pos_].text, pos_);
        if (!n) return n.error();
        ++pos_;
        cmd_.rulenum = *n;
      } else if (c == 'D') {
        if (has_arg_word()) {
          auto n = rulenum(words_[pos_].text, pos_);
          if (!n) return n.error();
          ++pos_;
          cmd_.rulenum = *n;
          cmd_.op = Op::DeleteNum;
        }
      } else if (c == 'E') {
        if (!has_arg_word()) return err("-E requires old-chain-name and new-chain-name", wi);
        cmd_.new_name = words_[pos_++].text;
      } else if (c == 'P') {
        if (!has_arg_word()) return err("-P requires a chain and a policy", wi);
        policy_word_ = pos_;
        cmd_.policy = words_[pos_++].text;
      } else if (c == 'N') {
        const std::string& n = cmd_.chain;
        if (n.size() >= 29) return err(fmt::format("chain name `{}' too long (must be under 29 chars)", n), wi);
        if (n.empty()) return err("empty chain name is not allowed", wi);
        if (n[0] == '-' || n[0] == '!') return err("chain name not allowed to start with `-' or `!'", wi);
        if (registry_.has_target(n) || n == "ACCEPT" || n == "DROP" || n == "QUEUE" || n == "RETURN")
          return err("chain name may not clash with target name", wi);
      }
      return {};
    }
    case 'L': case 'S': case 'F': case 'Z': case 'X': {
      Op op = c == 'L' ? Op::List : c == 'S' ? Op::ListRules : c == 'F' ? Op::Flush : c == 'Z' ? Op::Zero : Op::DeleteChain;
      if (auto r = set_command(op, wi); !r) return r;
      if (auto chain = optional_arg()) cmd_.chain = *chain;
      return {};
    }
    case 's': case 'd': {
      auto a = need_arg();
      if (!a) return a.error();
      auto list = xt::parse_addr_list(*a);
      if (!list) return err(list.error().message, wi);
      if (inv && list->size() > 1) return err("! not allowed with multiple source or destination IP addresses", wi);
      (c == 's' ? saddrs_ : daddrs_) = *list;
      if (inv) ip_.inv |= c == 's' ? IpCriteria::kInvSrc : IpCriteria::kInvDst;
      return {};
    }
    case 'p': {
      auto a = need_arg();
      if (!a) return a.error();
      protocol_word_ = wi;
      protocol_ = *a;
      std::transform(protocol_.begin(), protocol_.end(), protocol_.begin(),
                     [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
      uint16_t proto;
      if (auto v = parse_uint_c(protocol_, 255)) proto = static_cast<uint16_t>(*v);
      else if (auto n = xt::protocol_from_name(protocol_)) proto = *n;
      else return err(fmt::format("unknown protocol \"{}\" specified", *a), wi);
      ip_.proto = proto;
      if (inv) ip_.inv |= IpCriteria::kInvProto;
      if (proto == 0 && inv) return err("rule would never match protocol", wi);
      return {};
    }
    case 'i': case 'o': {
      auto a = need_arg();
      if (!a) return a.error();
      auto m = xt::parse_iface(*a);
      if (!m) return err(m.error().message, wi);
      (c == 'i' ? ip_.in : ip_.out) = *m;
      if (inv) ip_.inv |= c == 'i' ? IpCriteria::kInvIn : IpCriteria::kInvOut;
      return {};
    }
    case 'f':
      ip_.frag = true;
      if (inv) ip_.inv |= IpCriteria::kInvFrag;
      return {};
    case 'j': case 'g': {
      jump_word_ = arg ? wi : pos_;
      auto a = need_arg();
      if (!a) return a.error();
      if (options_seen_.find(c == 'j' ? 'g' : 'j') != std::string::npos)
        return err("Cannot use -j and -g together", wi);
      jumpto_ = *a;
      is_goto_ = c == 'g';
      if (!is_goto_) {
        if (auto t = registry_.make_target(jumpto_)) {
          loaded_.push_back({nullptr, t.get()});
          seen_ext_options_.emplace_back();
          target_ = std::move(t);
        }
      }
      return {};
    }
    case 'm': {
      if (inv) return err("unexpected ! flag before --match", wi);
      auto a = need_arg();
      if (!a) return a.error();
      auto m = registry_.make_match(*a);
      if (!m) return err(fmt::format("Couldn't load match `{}':No such file or directory", *a), wi);
      m->source_col = words_[wi].col;
      loaded_.push_back({m.get(), nullptr});
      seen_ext_options_.emplace_back();
      matches_.push_back(std::move(m));
      return {};
    }
    case 't': {
      auto a = need_arg();
      if (!a) return a.error();
      if (opts_.in_restore)
        return err(fmt::format("The -t option (seen in line {}) cannot be used in iptables-restore.", opts_.line), wi);
      auto t = xt::table_from_name(*a);
      if (!t)
        return err(fmt::format("can't initialize iptables table `{}': Table does not exist (do you need to insmod?)", *a),
                   wi);
      cmd_.table = *t;
      have_table_ = true;
      return {};
    }
    case 'c': {
      auto a = need_arg();
      if (!a) return a.error();
      // As xshared.c: "P,B" or "P B", each read with sscanf("%llu").
      std::string pc = *a, bc;
      if (auto comma = pc.find(',', 1); comma != std::string::npos) {
        bc = pc.substr(comma + 1);
      } else if (has_arg_word()) {
        bc = words_[pos_++].text;
      } else {
        return err("-c requires packet and byte counter", wi);
      }
      auto p = scan_llu(pc), b = scan_llu(bc);
      if (!p) return err(fmt::format("-c packet counter not numeric"), wi);
      if (!b) return err(fmt::format("-c byte counter not numeric"), wi);
      counters_ = xt::Counters{*p, *b};
      return {};
    }
    case 'w': case 'W':
      if (opts_.in_restore) return err(fmt::format("You cannot use `-{}' from iptables-restore", c), wi);
      optional_arg();
      return {};
    case 'M':
      return need_arg().ok() ? Result<void>{} : Result<void>{err("option requires an argument -- 'M'", wi)};
    case 'n': case 'v': case 'x': case '0': case '4': case 'b':
      return {};
    case '6':
      // iptables-legacy-restore silently skips a rule meant for IPv6 only.
      if (opts_.in_restore) {
        ipv6_only_ = true;
        return {};
      }
      return err("This is the IPv4 version of iptables.", wi);
    case 'V': case 'h':
      return err(fmt::format("-{} is not a ruleset command", c), wi);
  }
  return err(fmt::format("unknown option -- '{}'", c), wi);
}

Result<Command> Parser::run() {
  if (opts_.restore_table) {
    cmd_.table = *opts_.restore_table;
  }
  if (opts_.preset_counters) {
    counters_ = opts_.preset_counters;
    options_seen_.push_back('c');
  }
  while (pos_ < words_.size()) {
    size_t wi = pos_;
    const std::string& w = words_[pos_++].text;
    if (w == "!") {
      if (invert_) return err("multiple `!' flags not allowed", wi);
      invert_ = true;
      invert_word_ = wi;
      continue;
    }
    if (w.size() > 2 && w[0] == '-' && w[1] == '-') {
      std::string_view body = std::string_view(w).substr(2);
      std::optional<std::string> inline_arg;
      if (auto eq = body.find('='); eq != std::string_view::npos) {
        inline_arg = std::string(body.substr(eq + 1));
        body = body.substr(0, eq);
      }
      auto resolved = resolve_long(body, wi);
      if (!resolved) {
        // As iptables: an unknown option may belong to the protocol's match.
        if (load_proto_match()) {
          --pos_;
          continue;
        }
        return resolved.error();
      }
      if (resolved->core) {
        const CoreOption& co = *resolved->core;
        if (co.arg == ArgKind::None && inline_arg)
          return err(fmt::format("option '--{}' doesn't allow an argument", co.name), wi);
        if (auto r = core(co.letter, inline_arg, wi); !r) return r.error();
      } else {
        if (auto r = extension_option(resolved->ext_index, *resolved->spec, inline_arg, wi); !r) return r.error();
      }
      continue;
    }
    if (w.size() >= 2 && w[0] == '-' && w != "--") {
      // A cluster of short options: "-A", "-AINPUT", "-fv".
      for (size_t k = 1; k < w.size(); ++k) {
        char c = w[k];
        auto kind = short_option(c);
        if (!kind) {
          if (load_proto_match()) {
            // getopt would report it; iptables then retries with the protocol's options.
          }
          return err(fmt::format("invalid option -- '{}'", c), wi);
        }
        if (*kind == ArgKind::None) {
          if (auto r = core(c, std::nullopt, wi); !r) return r.error();
          continue;
        }
        std::optional<std::string> attached;
        if (k + 1 < w.size()) attached = w.substr(k + 1);
        if (auto r = core(c, attached, wi); !r) return r.error();
        break;
      }
      continue;
    }
    return err(fmt::format("Bad argument `{}'", w), wi);
  }
  if (invert_) return err("no command specified after `!'", invert_word_);
  if (!have_command_) return err("no command specified", 0);
  if (ipv6_only_) {
    cmd_.skip = true;
    return std::move(cmd_);
  }

  // Final checks of the extensions, in load order (x6_fcheck).
  xt::ParseContext ctx{ip_, cmd_.table, opts_.sets, opts_.nfacct};
  for (auto& m : matches_)
    if (auto r = m->final_check(ctx); !r) return err(r.error().message, 0);
  if (target_)
    if (auto r = target_->final_check(ctx); !r) return err(r.error().message, 0);

  // do_parse (xshared.c): iptables itself refuses DROP in nat, as a
  // policy (-P) or a rule's -j/-g, in any command, before the kernel sees
  // anything. A restore file's ":PREROUTING DROP" line is not a command
  // and passes (both checked on 6.18 with iptables-legacy 1.8.9).
  if (cmd_.table == xt::TableId::Nat && (cmd_.policy == "DROP" || jumpto_ == "DROP"))
    return err("The \"nat\" table is not intended for filtering, the use of DROP is therefore inhibited.",
               jumpto_ == "DROP" ? jump_word_ : policy_word_);

  const bool rule_command = cmd_.op == Op::Append || cmd_.op == Op::Check || cmd_.op == Op::Delete ||
                            cmd_.op == Op::Insert || cmd_.op == Op::Replace;
  if (!rule_command) {
    if (!saddrs_.empty() || !daddrs_.empty() || ip_.proto || !matches_.empty() || !jumpto_.empty())
      return err("Illegal option with this command", 0);
    return std::move(cmd_);
  }
  if (cmd_.chain == "PREROUTING" || cmd_.chain == "INPUT") {
    if (!ip_.out.empty() || (ip_.inv & IpCriteria::kInvOut))
      if (options_seen_.find('o') != std::string::npos) return err(fmt::format("Can't use -o with {}", cmd_.chain), 0);
  }
  if (cmd_.chain == "POSTROUTING" || cmd_.chain == "OUTPUT") {
    if (options_seen_.find('i') != std::string::npos) return err(fmt::format("Can't use -i with {}", cmd_.chain), 0);
  }
  if (cmd_.chain.size() >= 29)
    return err(fmt::format("chain name `{}' too long (must be under 29 chars)", cmd_.chain), 0);

  xt::Rule base;
  base.ip = ip_;
  base.line = opts_.line;
  if (!jumpto_.empty() && jump_word_ < words_.size()) base.target_col = words_[jump_word_].col;
  if (counters_) base.counters = *counters_;
  for (auto& m : matches_) base.matches.push_back(std::move(m));
  if (!jumpto_.empty()) {
    if (jumpto_ == "ACCEPT") base.kind = TargetKind::Accept;
    else if (jumpto_ == "DROP") base.kind = TargetKind::Drop;
    else if (jumpto_ == "QUEUE") base.kind = TargetKind::Queue;
    else if (jumpto_ == "RETURN") base.kind = TargetKind::Return;
    else if (target_) {
      base.kind = TargetKind::Extension;
      base.target = std::move(target_);
    } else {
      base.kind = is_goto_ ? TargetKind::Goto : TargetKind::Jump;
      base.chain_target = jumpto_;
      bool is_chain = opts_.table_state && opts_.table_state->is_chain(jumpto_);
      if (opts_.table_state && !is_chain) {
        if (is_goto_) return err(fmt::format("goto '{}' is not a chain", jumpto_), 0);
        return err(fmt::format("Couldn't load target `{}':No such file or directory", jumpto_), 0);
      }
      if (is_chain && opts_.table_state->find(jumpto_)->builtin())
        return err(fmt::format("cannot jump to built-in chain `{}'", jumpto_), 0);
    }
  }
  if (saddrs_.empty()) saddrs_.push_back({0, 0});
  if (daddrs_.empty()) daddrs_.push_back({0, 0});
  for (const auto& s : saddrs_) {
    for (const auto& d : daddrs_) {
      xt::Rule r = base.clone();
      r.ip.src = s.addr;
      r.ip.smsk = s.mask;
      r.ip.dst = d.addr;
      r.ip.dmsk = d.mask;
      cmd_.rules.push_back(std::move(r));
    }
  }
  return std::move(cmd_);
}

}  // namespace

Result<Command> parse_command(std::span<const Word> words, const CommandOptions& opts) {
  Parser p(words, opts);
  return p.run();
}

Result<void> apply_command(Command& cmd, xt::Ruleset& rs, bool verify) {
  if (cmd.skip) return {};
  // A single iptables command is all-or-nothing, like its one kernel
  // commit. Inside a restore block the caller discards the whole block
  // instead, so no snapshot is taken there (it would make loading O(n^2)).
  std::optional<xt::Ruleset> before_state;
  if (verify) before_state = rs;
  xt::Table& t = rs.instantiate(cmd.table);
  auto fail = [&](Error e) -> Result<void> {
    if (before_state) rs = std::move(*before_state);
    return e;
  };
  Result<void> r;
  switch (cmd.op) {
    case Op::Append:
      for (auto& rule : cmd.rules)
        if (r = t.append(cmd.chain, std::move(rule)); !r) break;
      cmd.rules.clear();
      break;
    case Op::Insert: {
      int n = cmd.rulenum;
      for (auto& rule : cmd.rules)
        if (r = t.insert(cmd.chain, rule.clone(), n++); !r) break;
      break;
    }
    case Op::Replace:
      if (cmd.rules.size() != 1) return fail(make_error("Replacement rule does not specify a unique address"));
      r = t.replace(cmd.chain, cmd.rules[0].clone(), cmd.rulenum);
      break;
    case Op::Delete:
      for (auto& rule : cmd.rules)
        if (r = t.delete_matching(cmd.chain, rule); !r) break;
      break;
    case Op::DeleteNum: r = t.delete_num(cmd.chain, cmd.rulenum); break;
    case Op::Check: {
      const xt::Chain* c = t.find(cmd.chain);
      if (!c) { r = make_error("No chain/target/match by that name."); break; }
      for (auto& rule : cmd.rules) {
        std::string want = rule.spec_text();
        bool found = std::any_of(c->rules.begin(), c->rules.end(), [&](const xt::Rule& x) { return x.spec_text() == want; });
        if (!found) { r = make_error("Bad rule (does a matching rule exist in that chain?)."); break; }
      }
      break;
    }
    case Op::Flush:
      if (cmd.chain.empty()) t.flush_all();
      else r = t.flush(cmd.chain);
      break;
    case Op::Zero: r = t.zero(cmd.chain); break;
    case Op::NewChain: r = t.new_chain(cmd.chain); break;
    case Op::DeleteChain:
      if (cmd.chain.empty()) {
        // -X without a chain deletes every empty, unreferenced user chain.
        std::vector<std::string> names;
        for (auto& c : t.chains())
          if (!c.builtin()) names.push_back(c.name);
        for (auto& n : names)
          if (r = t.delete_chain(n); !r) break;
      } else {
        r = t.delete_chain(cmd.chain);
      }
      break;
    case Op::RenameChain: r = t.rename_chain(cmd.chain, cmd.new_name); break;
    case Op::Policy: r = t.set_policy(cmd.chain, cmd.policy, nullptr); break;
    case Op::List: case Op::ListRules: break;
  }
  if (!r) return fail(r.error());
  if (verify) {
    // before_state: the namespace as the kernel has it while it checks the
    // new table (the old table's estimators still exist).
    if (auto v = rs.find(cmd.table)->verify(&*before_state); !v) return fail(v.error());
  }
  return {};
}

}  // namespace nfemu::ruleset
