// What a request may make the model write, applied token by token (runtime/scheduler.h's
// TokenConstraint). Output goes through up to five phases:
//   reasoning -- free text until the model closes its thinking block; with a reasoning budget, the
//                close tag is forced once the budget is spent;
//   prefix    -- tokens the answer must start with (a forced tool call: the family's opening markup
//                up to the arguments);
//   content   -- free, or restricted by an inner constraint (response_format JSON, tool arguments);
//   suffix    -- once the inner constraint is complete, tokens that must follow (the call's closing
//                markup), then an end token.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "runtime/scheduler.h"

namespace r1::server {

class OutputControl : public TokenConstraint {
 public:
  struct Options {
    int64_t vocab = 0;  // logits per step
    bool starts_in_reasoning = false;
    std::optional<int64_t> reasoning_budget;
    std::vector<int32_t> close_reasoning;  // the tokens of "</think>"
    std::vector<int32_t> prefix;
    std::unique_ptr<TokenConstraint> content;  // may be null
    std::vector<int32_t> suffix;               // only with `content`
  };
  explicit OutputControl(Options o);

  void mask(float* logits, std::span<const int32_t> end_tokens) override;
  void accept(int32_t token) override;

 private:
  enum class Phase { Reasoning, Prefix, Content, Suffix, End };
  void next_phase();
  void force(float* logits, int32_t token) const;

  Options o_;
  Phase phase_ = Phase::Reasoning;
  int64_t reasoning_tokens_ = 0;
  size_t close_matched_ = 0;  // tokens of the close tag seen in a row
  size_t forced_ = 0;         // tokens of the prefix or suffix written
};

}  // namespace r1::server
