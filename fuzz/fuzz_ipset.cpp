// libFuzzer target for the `ipset restore` reader (ipset/ipset.h). Besides
// "never crash", it checks that every element is reachable by its key, and
// that each hash:net prefix length in use is listed once, longest first.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "ipset/ipset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  nfemu::ipset::Registry sets;
  (void)sets.restore(text);  // a failing line keeps what came before it
  for (size_t i = 0; i < sets.size(); ++i) {
    const auto& s = sets.set(static_cast<uint16_t>(i));
    if (s.by_key.size() != s.elements.size()) abort();
    for (size_t e = 0; e < s.elements.size(); ++e) {
      auto it = s.by_key.find(nfemu::ipset::element_key(s.elements[e]));
      if (it == s.by_key.end() || it->second != e) abort();
    }
    for (size_t c = 1; c < s.cidrs.size(); ++c)
      if (s.cidrs[c - 1] <= s.cidrs[c]) abort();
  }
  return 0;
}
