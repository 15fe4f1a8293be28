#include "xtables/rule.h"

#include <fmt/format.h>

#include "xtables/addr.h"

namespace nfemu::xt {

Result<IfaceMatch> parse_iface(std::string_view text) {
  if (text.size() + 1 > kIfNameSize)
    return make_error(fmt::format("interface name `{}' must be shorter than IFNAMSIZ ({})", text, kIfNameSize - 1));
  IfaceMatch m;
  for (size_t i = 0; i < text.size(); ++i) m.name[i] = text[i];
  if (text.empty()) return m;
  size_t covered = text.back() == '+' ? text.size() - 1 : text.size() + 1;
  for (size_t i = 0; i < covered; ++i) m.mask[i] = 0xff;
  return m;
}

std::string format_iface(const IfaceMatch& m) {
  std::string out;
  if (m.empty()) return out;
  for (int i = 0; i < kIfNameSize; ++i) {
    if (m.mask[i] != 0) {
      if (m.name[i] != '\0') out.push_back(m.name[i]);
    } else {
      if (m.name[i - 1] != '\0') out.push_back('+');
      break;
    }
  }
  return out;
}

static void save_addr(std::string& out, const char* opt, uint32_t addr, uint32_t mask, bool invert) {
  if (!mask && !addr && !invert) return;
  out += fmt::format("{} {} {}", invert ? " !" : "", opt, format_addr_mask(addr, mask));
}

void IpCriteria::save(std::string& o) const {
  save_addr(o, "-s", src, smsk, inv & kInvSrc);
  save_addr(o, "-d", dst, dmsk, inv & kInvDst);
  if (!in.empty()) o += fmt::format("{} -i {}", (inv & kInvIn) ? " !" : "", format_iface(in));
  if (!out.empty()) o += fmt::format("{} -o {}", (inv & kInvOut) ? " !" : "", format_iface(out));
  if (proto) {
    const char* neg = (inv & kInvProto) ? " !" : "";
    if (auto name = protocol_name(proto))
      o += fmt::format("{} -p {}", neg, *name);
    else
      o += fmt::format("{} -p {}", neg, proto);
  }
  if (frag) o += fmt::format("{} -f", (inv & kInvFrag) ? " !" : "");
}

Rule Rule::clone() const {
  Rule r;
  r.ip = ip;
  for (auto& m : matches) r.matches.push_back(m->clone());
  r.kind = kind;
  r.chain_target = chain_target;
  if (target) r.target = target->clone();
  r.counters = counters;
  r.line = line;
  r.target_col = target_col;
  return r;
}

std::string_view Rule::target_name() const {
  switch (kind) {
    case TargetKind::None: return "";
    case TargetKind::Accept: return "ACCEPT";
    case TargetKind::Drop: return "DROP";
    case TargetKind::Queue: return "QUEUE";
    case TargetKind::Return: return "RETURN";
    case TargetKind::Jump:
    case TargetKind::Goto: return chain_target;
    case TargetKind::Extension: return target->saved_name();
  }
  return "";
}

std::string Rule::spec_text() const {
  std::string out;
  ip.save(out);
  for (auto& m : matches) {
    out += " -m ";
    out += m->saved_name();
    m->save(out, ip);
  }
  switch (kind) {
    case TargetKind::None: break;
    case TargetKind::Goto: out += fmt::format(" -g {}", chain_target); break;
    case TargetKind::Extension:
      out += fmt::format(" -j {}", target->saved_name());
      target->save(out, ip);
      break;
    default: out += fmt::format(" -j {}", target_name()); break;
  }
  return out;
}

}  // namespace nfemu::xt
