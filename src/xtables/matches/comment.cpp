// -m comment: a free-text note that never affects matching (xt_comment.c,
// libxt_comment.c). The kernel keeps 256 bytes, NUL included, so longer
// comments are cut at 255 characters.
#include <fmt/format.h>

#include "xtables/ext_util.h"
#include "xtables/match_facts.h"
#include "xtables/registry.h"
#include "xtables/rule.h"

namespace nfemu::xt {
namespace {

constexpr size_t kMaxCommentLen = 256;  // XT_MAX_COMMENT_LEN


class CommentMatch : public MatchBase<CommentMatch> {
 public:
  std::string_view name() const override { return "comment"; }
  std::span<const OptionSpec> options() const override {
    static constexpr OptionSpec kOptions[] = {{"comment", ArgKind::Required, false}};
    return kOptions;
  }

  Result<void> parse(const OptionCall& opt, const ParseContext&) override {
    comment_ = std::string(opt.arg.substr(0, kMaxCommentLen - 1));
    have_ = true;
    return {};
  }

  Result<void> final_check(const ParseContext&) override {
    if (!have_) return make_error("comment: option \"--comment\" must be specified");
    return {};
  }

  void save(std::string& out, const IpCriteria&) const override {
    out += " --comment";
    // The kernel stores a C string: anything after an embedded NUL is gone.
    save_string(out, std::string_view(comment_).substr(0, comment_.find('\0')));
  }

  bool can_evaluate() const override { return true; }
  MatchOutcome evaluate(const EvalContext&) const override { return MatchOutcome::Match; }
  void describe(MatchFacts& f) const override { f.pure = true; }

 private:
  std::string comment_;
  bool have_ = false;
};

}  // namespace

void register_match_comment(Registry& r) { r.add_match<CommentMatch>("comment"); }

}  // namespace nfemu::xt
