// libFuzzer target for the iptables-save parser. Besides "never crash",
// it checks a property: whatever nfemu accepts, it prints in a form that it
// reads back to the same tables (save . restore . save == save, table by
// table: the table order flips, as it does with the real tools, because the
// newest instantiated table is printed first).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <map>
#include <string>

#include "ruleset/restore.h"

static std::map<std::string, std::string> by_table(const nfemu::xt::Ruleset& rs) {
  std::map<std::string, std::string> out;
  for (const auto& t : rs.tables()) nfemu::ruleset::save_table(out[std::string(t.name())], t, {.counters = true});
  return out;
}

// A namespace with a few accounting objects, so that nfacct rules load
// (seed-nfacct.rules names them) and their saved names read back.
static const nfemu::xt::NfacctObjects& objects() {
  static const nfemu::xt::NfacctObjects o = [] {
    nfemu::xt::NfacctObjects x;
    for (const char* name : {"web", "we b", "a123456789012345678901234567890"}) x.add(name);
    return x;
  }();
  return o;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nfemu::xt::Ruleset rs;
  if (!nfemu::ruleset::restore(text, rs, {.counters = true, .nfacct = &objects()})) return 0;
  std::string first = nfemu::ruleset::save(rs, {.counters = true});
  nfemu::xt::Ruleset again;
  if (!nfemu::ruleset::restore(first, again, {.counters = true, .nfacct = &objects()})) abort();
  if (by_table(again) != by_table(rs)) abort();
  return 0;
}
