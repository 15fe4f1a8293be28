// A unified diff (context 2) of two normalised artifacts. Blocks (frames)
// are aligned first, then the lines of each replaced stretch, so a frame
// that changed in one byte shows as one changed hex row under its line.
// The alignment is an LCS after stripping the common prefix and suffix;
// beyond kMaxCells of table the middle is listed as removed then added.
#include <fmt/format.h>

#include <cstdlib>
#include <functional>

#include "verify/compare_internal.h"

namespace nfemu::verify::detail {

namespace {

constexpr size_t kMaxCells = size_t{4} << 20;  // 16 MB of uint32_t
constexpr size_t kContext = 2;
constexpr size_t kMaxDiffLines = 400;

enum class Op : uint8_t { Equal, Del, Ins };
struct Edit {
  Op op;
  size_t l, r;  // index on the left (Equal, Del) and on the right (Equal, Ins)
};

std::vector<Edit> align(size_t n, size_t m, const std::function<bool(size_t, size_t)>& eq) {
  std::vector<Edit> out;
  size_t pre = 0;
  while (pre < n && pre < m && eq(pre, pre)) ++pre;
  size_t suf = 0;
  while (suf < n - pre && suf < m - pre && eq(n - 1 - suf, m - 1 - suf)) ++suf;
  for (size_t i = 0; i < pre; ++i) out.push_back({Op::Equal, i, i});
  size_t a = n - pre - suf, b = m - pre - suf;
  if (a * b <= kMaxCells) {
    // lcs[i][j]: LCS length of the middle suffixes from i and j.
    std::vector<uint32_t> lcs((a + 1) * (b + 1), 0);
    auto at = [&](size_t i, size_t j) -> uint32_t& { return lcs[i * (b + 1) + j]; };
    for (size_t i = a; i-- > 0;)
      for (size_t j = b; j-- > 0;)
        at(i, j) = eq(pre + i, pre + j) ? at(i + 1, j + 1) + 1 : std::max(at(i + 1, j), at(i, j + 1));
    size_t i = 0, j = 0;
    while (i < a || j < b) {
      if (i < a && j < b && eq(pre + i, pre + j)) {
        out.push_back({Op::Equal, pre + i++, pre + j++});
      } else if (j == b || (i < a && at(i + 1, j) >= at(i, j + 1))) {
        out.push_back({Op::Del, pre + i++, 0});
      } else {
        out.push_back({Op::Ins, 0, pre + j++});
      }
    }
  } else {
    for (size_t i = 0; i < a; ++i) out.push_back({Op::Del, pre + i, 0});
    for (size_t j = 0; j < b; ++j) out.push_back({Op::Ins, 0, pre + j});
  }
  for (size_t k = 0; k < suf; ++k) out.push_back({Op::Equal, n - suf + k, m - suf + k});
  return out;
}

struct LineEdit {
  Op op;
  const std::string* text;
};

// A hash of what must be equal in a block, so that the LCS table mostly
// compares numbers.
std::vector<size_t> hashes(const Normalized& n, bool fuzzy) {
  std::vector<size_t> out;
  out.reserve(n.blocks.size());
  std::hash<std::string> h;
  for (size_t i = 0; i < n.blocks.size(); ++i) {
    size_t v = 0;
    if (fuzzy) v = h(n.keys[i]);
    else
      for (const auto& l : n.blocks[i].lines) v = v * 1000003u ^ h(l);
    out.push_back(v);
  }
  return out;
}

}  // namespace

DiffResult diff(const Normalized& left, const Normalized& right) {
  bool fuzzy = left.fuzzy_timeout && right.fuzzy_timeout && left.keys.size() == left.blocks.size() &&
               right.keys.size() == right.blocks.size();
  std::vector<size_t> lh = hashes(left, fuzzy), rh = hashes(right, fuzzy);
  auto block_eq = [&](size_t i, size_t j) {
    if (lh[i] != rh[j]) return false;
    if (fuzzy) {
      if (left.keys[i] != right.keys[j]) return false;
      long a = left.timeouts[i], b = right.timeouts[j];
      return (a < 0) == (b < 0) && std::labs(a - b) <= 1;
    }
    return left.blocks[i].lines == right.blocks[j].lines;
  };
  std::vector<Edit> blocks = align(left.blocks.size(), right.blocks.size(), block_eq);

  // Lines, with each replaced stretch of blocks aligned again line by line.
  std::vector<LineEdit> lines;
  DiffResult res;
  for (size_t k = 0; k < blocks.size();) {
    if (blocks[k].op == Op::Equal) {
      for (const auto& l : left.blocks[blocks[k].l].lines) lines.push_back({Op::Equal, &l});
      ++k;
      continue;
    }
    std::vector<const std::string*> del, ins;
    size_t ndel = 0, nins = 0;
    for (; k < blocks.size() && blocks[k].op != Op::Equal; ++k) {
      if (blocks[k].op == Op::Del) {
        ++ndel;
        for (const auto& l : left.blocks[blocks[k].l].lines) del.push_back(&l);
      } else {
        ++nins;
        for (const auto& l : right.blocks[blocks[k].r].lines) ins.push_back(&l);
      }
    }
    res.equal = false;
    res.differing += std::max(ndel, nins);
    for (const Edit& e : align(del.size(), ins.size(), [&](size_t i, size_t j) { return *del[i] == *ins[j]; })) {
      if (e.op == Op::Equal) lines.push_back({Op::Equal, del[e.l]});
      else if (e.op == Op::Del) lines.push_back({Op::Del, del[e.l]});
      else lines.push_back({Op::Ins, ins[e.r]});
    }
  }
  if (res.equal) return res;

  // Hunks: changes closer than two contexts share one.
  size_t printed = 0;
  size_t lno = 0, rno = 0;  // lines consumed before position k
  std::vector<size_t> lpos(lines.size() + 1), rpos(lines.size() + 1);
  for (size_t k = 0; k < lines.size(); ++k) {
    lpos[k] = lno;
    rpos[k] = rno;
    if (lines[k].op != Op::Ins) ++lno;
    if (lines[k].op != Op::Del) ++rno;
  }
  lpos[lines.size()] = lno;
  rpos[lines.size()] = rno;
  for (size_t k = 0; k < lines.size();) {
    if (lines[k].op == Op::Equal) {
      ++k;
      continue;
    }
    size_t start = k >= kContext ? k - kContext : 0;
    size_t end = k;  // one past the last change of the hunk
    size_t scan = k;
    while (scan < lines.size()) {
      if (lines[scan].op != Op::Equal) {
        end = scan + 1;
        ++scan;
        continue;
      }
      size_t run = scan;
      while (run < lines.size() && lines[run].op == Op::Equal) ++run;
      if (run == lines.size() || run - scan > 2 * kContext) break;
      scan = run;
    }
    size_t stop = std::min(lines.size(), end + kContext);
    size_t lcount = lpos[stop] - lpos[start], rcount = rpos[stop] - rpos[start];
    // As diff -u: a range of length 0 names the line before it.
    res.text += fmt::format("@@ -{},{} +{},{} @@\n", lcount ? lpos[start] + 1 : lpos[start], lcount,
                            rcount ? rpos[start] + 1 : rpos[start], rcount);
    for (size_t q = start; q < stop; ++q) {
      if (printed == kMaxDiffLines) {
        res.text += fmt::format("... (diff cut after {} lines)\n", kMaxDiffLines);
        return res;
      }
      char mark = lines[q].op == Op::Equal ? ' ' : lines[q].op == Op::Del ? '-' : '+';
      res.text += mark;
      res.text += *lines[q].text;
      res.text += '\n';
      ++printed;
    }
    k = stop;
  }
  return res;
}

}  // namespace nfemu::verify::detail
