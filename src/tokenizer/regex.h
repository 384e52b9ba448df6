// A compiled PCRE2 pattern (UTF + Unicode properties, JIT when available) for the pre-tokenizer
// splits. Hugging Face tokenizers uses Oniguruma; the patterns in tokenizer.json files
// (\p{L}, \p{N}, \s+(?!\S), (?i:'s|...)) mean the same thing in PCRE2 with PCRE2_UCP.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace r1::tok {

class Regex {
 public:
  // Throws r1::Error naming `what` (e.g. "tokenizer.json: pre_tokenizer Split pattern") when the
  // pattern does not compile. `literal` matches `pattern` as plain text.
  Regex(const std::string& pattern, bool literal, const std::string& what);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Finds the first match in subject[from..]; the subject is the whole piece being split (so
  // look-behind/look-ahead stop at its ends) and must be valid UTF-8. Returns false when there is none.
  bool find(std::string_view subject, size_t from, size_t& begin, size_t& end) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace r1::tok
