// Streaming detokenizer: ids arrive one at a time (as a model generates them) and come out as text
// deltas that never split a UTF-8 character. Bytes of a character that is still incomplete are held
// back until the next id completes it; bytes that can never form a character become U+FFFD at once.
// The concatenation of all deltas plus finish() equals Tokenizer::decode(all ids, skip_special).
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/tokenizer.h"

namespace r1::tok {

class StreamDecoder {
 public:
  // `skip_special`: hide special tokens (e.g. <｜end▁of▁sentence｜>); non-special added tokens such as
  // R1's <think> are always shown.
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = false)
      : tok_(&tokenizer), skip_special_(skip_special) {}

  // Feeds one id; returns the text that is now complete (often empty mid-character).
  std::string push(int32_t id);
  // Ends the stream: returns what is left (an incomplete character becomes U+FFFD).
  std::string finish();
  // Everything emitted so far.
  const std::string& text() const { return text_; }

 private:
  const Tokenizer* tok_;
  bool skip_special_;
  std::string pending_;  // raw bytes not yet emitted: a trailing, so far valid, partial character
  std::string text_;
};

}  // namespace r1::tok
