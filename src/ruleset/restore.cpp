#include "ruleset/restore.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "ruleset/command.h"

namespace nfemu::ruleset {

Result<std::vector<Word>> restore_split(std::string_view line, bool had_newline) {
  std::vector<Word> out;
  std::string cur;
  bool have = false, quote_open = false, escaped = false;
  int start_col = 1;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    int col = static_cast<int>(i) + 1;
    if (quote_open) {
      if (escaped) {
        cur.push_back(c);
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        // The closing quote ends the word: `"a"b` is two words.
        quote_open = false;
        out.push_back({cur, start_col});
        cur.clear();
        have = false;
      } else {
        cur.push_back(c);
      }
      continue;
    }
    if (c == '"') {
      quote_open = true;
      if (!have) start_col = col;
      have = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n') {
      if (have) {
        out.push_back({cur, start_col});
        cur.clear();
        have = false;
      }
      continue;
    }
    if (!have) start_col = col;
    have = true;
    cur.push_back(c);
  }
  if (quote_open && had_newline) cur.push_back('\n');
  if (have) out.push_back({cur, start_col});
  for (const auto& w : out)
    if (w.text.size() >= 1024) return make_error("Parameter too long!", 0, w.col);
  return out;
}

namespace {

struct Block {
  xt::TableId table;
  int line;
  xt::Ruleset snapshot;  // state before the block, restored on failure
};

Error at(Error e, int line) {
  if (e.line == 0) e.line = line;
  return e;
}

}  // namespace

Result<void> restore(std::string_view text, xt::Ruleset& rs, const RestoreOptions& opts) {
  // The table whose block is open (from *name to COMMIT). Not a
  // std::optional: GCC 12 warned, wrongly, that its value might be used
  // uninitialized in the COMMIT error below.
  bool in_table = false;
  xt::TableId open_table = xt::TableId::Filter;
  int table_line = 0;
  xt::Ruleset pending;  // the namespace state with the open block applied
  int line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    const bool had_newline = nl != std::string_view::npos;
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    ++line_no;
    // iptables-restore reads with fgets and C strings: a NUL ends the line.
    if (auto z = raw.find('\0'); z != std::string_view::npos)
      return make_error("NUL byte in line (iptables-restore would silently cut the line here)", line_no,
                        static_cast<int>(z) + 1);
    if (raw.size() >= 10239)
      return make_error("line too long (iptables-restore reads at most 10239 bytes a line)", line_no);
    if (raw.empty()) continue;
    if (raw[0] == '#') continue;
    std::string_view line = raw;
    // iptables-restore compares the whole line, newline included, with
    // "COMMIT\n": CRLF files and a last COMMIT without newline fail.
    if (in_table && line == "COMMIT" && !had_newline)
      return make_error("COMMIT without a newline at the end of the file (iptables-restore does not recognise it)",
                        line_no, 1);
    if (!line.empty() && line.back() == '\r')
      return make_error("carriage return at the end of the line (CRLF line endings): iptables-restore refuses it",
                        line_no, static_cast<int>(line.size()));

    if (in_table && line == "COMMIT") {
      xt::Table* t = pending.find(open_table);
      if (auto v = t->verify(&rs); !v) {
        Error e = v.error();
        e.message += fmt::format(" (the kernel refuses table `{}' at COMMIT on line {})", xt::table_name(open_table), line_no);
        return at(e, line_no);
      }
      rs = pending;
      in_table = false;
      continue;
    }
    if (line[0] == '*' && !in_table) {
      auto words = restore_split(line.substr(1));
      if (!words || words->empty()) return make_error("table name invalid", line_no, 2);
      const std::string& name = (*words)[0].text;
      auto id = xt::table_from_name(name);
      if (!id)
        return make_error(fmt::format("can't initialize iptables table `{}': Table does not exist (do you need to insmod?)",
                                      name),
                          line_no, 2);
      pending = rs;
      xt::Table& t = pending.instantiate(*id);
      if (!opts.noflush) {
        t.flush_all();
        t.delete_user_chains();
        // Re-entering a table resets its policy counters unless the new
        // section sets them (checked on the kernel: duplicate_table_section).
        for (auto& c : t.chains()) c.counters = {};
      }
      in_table = true;
      open_table = *id;
      table_line = line_no;
      continue;
    }
    if (line[0] == ':' && in_table) {
      xt::Table& t = *pending.find(open_table);
      auto words = restore_split(line.substr(1));
      if (!words) return at(words.error(), line_no);
      if (words->empty()) return make_error("chain name invalid", line_no, 2);
      const std::string& chain = (*words)[0].text;
      if (chain.size() >= 29)
        return make_error(fmt::format("Invalid chain name `{}' (28 chars max)", chain), line_no, 2);
      xt::Chain* c = t.find(chain);
      if (!c || !c->builtin()) {
        if (c && opts.noflush) {
          (void)t.flush(chain);
        } else if (chain == "ACCEPT" || chain == "DROP" || chain == "QUEUE" || chain == "RETURN" || c) {
          // libiptc refuses standard verdict names like existing chains (EEXIST).
          return make_error(fmt::format("error creating chain '{}':File exists", chain), line_no, 2);
        } else if (auto r = t.new_chain(chain); !r) {
          return make_error(fmt::format("error creating chain '{}':{}", chain, r.error().message), line_no, 2);
        }
      }
      if (words->size() < 2) return make_error("policy invalid", line_no);
      const Word& policy = (*words)[1];
      if (policy.text != "-") {
        xt::Counters counters;
        if (opts.counters) {
          bool ok = false;
          if (words->size() >= 3) {
            // sscanf(ctrs, "[%llu:%llu]") == 2: what follows is not checked.
            std::string_view ctr = (*words)[2].text;
            if (!ctr.empty() && ctr.front() == '[') {
              auto p = scan_llu(ctr.substr(1));
              size_t colon = ctr.find(':');
              if (p && colon != std::string_view::npos) {
                // %llu stops at the first non-digit; the ':' must come right after.
                std::string_view after_p = ctr.substr(1);
                size_t k = 0;
                while (k < after_p.size() && std::isspace(static_cast<unsigned char>(after_p[k]))) ++k;
                if (k < after_p.size() && (after_p[k] == '+' || after_p[k] == '-')) ++k;
                while (k < after_p.size() && std::isdigit(static_cast<unsigned char>(after_p[k]))) ++k;
                if (k < after_p.size() && after_p[k] == ':') {
                  if (auto b = scan_llu(after_p.substr(k + 1))) {
                    counters = {*p, *b};
                    ok = true;
                  }
                }
              }
            }
          }
          if (!ok)
            return make_error(fmt::format("invalid policy counters for chain '{}'", chain), line_no,
                              words->size() >= 3 ? (*words)[2].col + 1 : 0);
        }
        if (auto r = t.set_policy(chain, policy.text, &counters); !r)
          return make_error(fmt::format("Can't set policy `{}' on `{}': {}", policy.text, chain, r.error().message),
                            line_no, policy.col + 1);
      }
      continue;
    }
    if (in_table && line[0] == '*')
      return make_error(fmt::format("table `{}' opened before COMMIT of the table opened on line {} (iptables-restore "
                                    "reads this line as a rule: Bad argument `{}')",
                                    line.substr(1), table_line, line),
                        line_no, 1);
    if (in_table) {
      xt::Table& t = *pending.find(open_table);
      std::string_view rest = line;
      int offset = 0;
      std::optional<xt::Counters> bracket;
      if (line[0] == '[') {
        auto close = line.find(']');
        if (close == std::string_view::npos) return make_error("Bad line: need ]", line_no, 1);
        // strtok(buffer + 1, ":") then strtok(NULL, "]"), each later read
        // with sscanf("%llu") when --counters is given.
        auto inner = line.substr(1, close - 1);
        size_t first = inner.find_first_not_of(':');
        if (first == std::string_view::npos) return make_error("Bad line: need :", line_no, 1);
        inner = inner.substr(first);
        auto colon = inner.find(':');
        std::string_view pcnt = inner.substr(0, colon);
        std::string_view bcnt = colon == std::string_view::npos ? std::string_view() : inner.substr(colon + 1);
        if (bcnt.find_first_not_of(':') == std::string_view::npos) return make_error("Bad line: need ]", line_no, 1);
        bcnt = bcnt.substr(bcnt.find_first_not_of(':'));
        if (opts.counters) {
          auto p = scan_llu(pcnt);
          auto b = scan_llu(bcnt);
          if (!p) return make_error("-c packet counter not numeric", line_no, 2);
          if (!b) return make_error("-c byte counter not numeric", line_no, 2);
          bracket = xt::Counters{*p, *b};
        }
        rest = line.substr(close + 1);
        offset = static_cast<int>(close) + 1;
      }
      auto words = restore_split(rest, had_newline);
      if (!words) return at(words.error(), line_no);
      for (auto& w : *words) w.col += offset;
      CommandOptions copts;
      copts.line = line_no;
      copts.in_restore = true;
      copts.preset_counters = bracket;
      copts.restore_table = open_table;
      copts.table_state = &t;
      copts.sets = opts.sets;
      copts.nfacct = opts.nfacct;
      auto cmd = parse_command(*words, copts);
      if (!cmd) return at(cmd.error(), line_no);
      // Within a block nothing reaches the kernel until COMMIT.
      if (auto r = apply_command(*cmd, pending, false); !r) {
        Error e = r.error();
        if (e.line == 0) {
          e.line = line_no;
          e.col = words->empty() ? 1 : (*words)[0].col;
        }
        return e;
      }
      continue;
    }
    return make_error("rule or chain outside of a table (a `*table' line must come first)", line_no, 1);
  }
  if (in_table) return make_error(fmt::format("COMMIT expected at line {}", line_no + 1), line_no + 1);
  return {};
}

void save_table(std::string& out, const xt::Table& t, const SaveOptions& opts) {
  out += fmt::format("*{}\n", t.name());
  std::vector<const xt::Chain*> order;
  for (const auto& c : t.chains())
    if (c.builtin()) order.push_back(&c);
  std::vector<const xt::Chain*> user;
  for (const auto& c : t.chains())
    if (!c.builtin()) user.push_back(&c);
  // libiptc keeps user chains sorted by strcmp.
  std::sort(user.begin(), user.end(), [](const xt::Chain* a, const xt::Chain* b) { return a->name < b->name; });
  order.insert(order.end(), user.begin(), user.end());
  for (const xt::Chain* c : order) {
    if (c->builtin())
      out += fmt::format(":{} {} [{}:{}]\n", c->name, c->policy == xt::Policy::Accept ? "ACCEPT" : "DROP",
                         c->counters.packets, c->counters.bytes);
    else
      out += fmt::format(":{} - [0:0]\n", c->name);
  }
  for (const xt::Chain* c : order) {
    for (const xt::Rule& r : c->rules) {
      if (opts.counters) out += fmt::format("[{}:{}] ", r.counters.packets, r.counters.bytes);
      out += "-A ";
      out += c->name;
      out += r.spec_text();
      out += '\n';
    }
  }
  out += "COMMIT\n";
}

std::string save(const xt::Ruleset& rs, const SaveOptions& opts) {
  std::string out;
  for (const auto& t : rs.tables()) save_table(out, t, opts);
  return out;
}

Result<void> apply_iptables_line(std::string_view line, xt::Ruleset& rs, int line_number,
                                 const ipset::Registry* sets, const xt::NfacctObjects* nfacct) {
  auto words = shell_split(line);
  if (!words) {
    Error e = words.error();
    e.line = line_number;
    return e;
  }
  std::span<const Word> args(*words);
  if (!args.empty() && (args[0].text == "iptables" || args[0].text == "iptables-legacy")) args = args.subspan(1);
  // Look the table up first so that -j can tell chains from targets.
  xt::TableId table = xt::TableId::Filter;
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i].text == "-t" || args[i].text == "--table")
      if (auto t = xt::table_from_name(args[i + 1].text)) table = *t;
  xt::Ruleset probe = rs;
  CommandOptions copts;
  copts.line = line_number;
  copts.table_state = &probe.instantiate(table);
  copts.sets = sets;
  copts.nfacct = nfacct;
  auto cmd = parse_command(args, copts);
  if (!cmd) return cmd.error();
  if (auto r = apply_command(*cmd, rs, true); !r) {
    Error e = r.error();
    if (e.line == 0) e.line = line_number;
    return e;
  }
  return {};
}

}  // namespace nfemu::ruleset
