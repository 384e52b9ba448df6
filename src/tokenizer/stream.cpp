#include "tokenizer/stream.h"

#include "core/utf8.h"

namespace r1::tok {

std::string StreamDecoder::push(int32_t id) {
  if (skip_special_ && tok_->is_special(id)) return {};
  pending_ += tok_->id_to_bytes(id);
  // Decoding is self-synchronizing: cutting before a trailing partial character gives the same
  // replacement characters as decoding everything at once.
  const size_t cut = utf8_complete_prefix(pending_);
  if (cut == 0) return {};
  std::string delta = utf8_lossy(std::string_view(pending_).substr(0, cut));
  pending_.erase(0, cut);
  text_ += delta;
  return delta;
}

std::string StreamDecoder::finish() {
  std::string delta = utf8_lossy(pending_);
  pending_.clear();
  text_ += delta;
  return delta;
}

}  // namespace r1::tok
