#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.h"

#include <pcre2.h>

#include "core/error.h"

namespace r1::tok {

struct Regex::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
};

namespace {

// Per-thread match data (the whole-match pair is all we read) and a JIT stack that may grow to
// 16 MiB, so very long whitespace or letter runs cannot hit the default 32 KiB limit.
struct ThreadState {
  pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 << 10, 16 << 20, nullptr);
  pcre2_match_context* ctx = pcre2_match_context_create(nullptr);
  ThreadState() { pcre2_jit_stack_assign(ctx, nullptr, stack); }
  ~ThreadState() {
    pcre2_match_context_free(ctx);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(md);
  }
};

ThreadState& thread_state() {
  thread_local ThreadState t;
  return t;
}

}  // namespace

Regex::Regex(const std::string& pattern, bool literal, const std::string& what) : impl_(std::make_unique<Impl>()) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  // PCRE2_LITERAL admits UTF but not UCP (which only matters for character classes anyway).
  const uint32_t options = PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &err, &offset,
                              nullptr);
  if (!impl_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    fail("{}: regex does not compile at offset {}: {}", what, size_t(offset), reinterpret_cast<const char*>(msg));
  }
  // JIT makes the split ~10x faster; without it (unsupported CPU) the interpreter gives the same matches.
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

Regex::~Regex() {
  if (impl_ && impl_->code) pcre2_code_free(impl_->code);
}

bool Regex::find(std::string_view subject, size_t from, size_t& begin, size_t& end) const {
  ThreadState& t = thread_state();
  pcre2_match_data* md = t.md;
  const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
  const int rc = impl_->jit ? pcre2_jit_match(impl_->code, s, subject.size(), from, 0, md, t.ctx)
                            : pcre2_match(impl_->code, s, subject.size(), from, PCRE2_NO_UTF_CHECK, md, t.ctx);
  if (rc == PCRE2_ERROR_NOMATCH) return false;
  if (rc < 0) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    fail("tokenizer: regex match failed: {}", reinterpret_cast<const char*>(msg));
  }
  const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
  begin = ov[0];
  end = ov[1];
  return true;
}

}  // namespace r1::tok
