#include "tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "core/utf8.h"

namespace r1::tok {
namespace {

// One of ICU's four normalization forms. Most text is normal already, and most of it can be seen
// to be without ICU: ASCII is normal in every form, and so is text whose every code point is
// "stable" -- combining class 0 and quick-check Yes for the form: it neither changes on its own nor
// interacts with its neighbours (whatever combines with a preceding character has quick-check
// Maybe). A bit table answers that for the BMP and plane 1 (emoji); other code points ask ICU.
class UnicodeForm final : public Normalizer {
 public:
  UnicodeForm(const icu::Normalizer2* n, UProperty quick_check) : n_(n), stable_(kTableEnd / 64) {
    for (UChar32 c = 0; c < UChar32(kTableEnd); ++c) {
      if (u_getCombiningClass(c) == 0 && u_getIntPropertyValue(c, quick_check) == UNORM_YES) {
        stable_[size_t(c) / 64] |= uint64_t(1) << (c % 64);
      }
    }
  }

  bool normalize(std::string_view text, std::string& out) const override {
    const size_t unstable = first_unstable(text);
    if (unstable == text.size()) return false;
    // Everything before the character ahead of the first unstable one is final (a stable character
    // has a boundary before it); ICU checks the rest.
    size_t from = unstable;
    if (from > 0) {
      --from;
      while (from > 0 && (static_cast<unsigned char>(text[from]) & 0xC0) == 0x80) --from;
    }
    const std::string_view tail = text.substr(from);
    UErrorCode status = U_ZERO_ERROR;
    if (n_->isNormalizedUTF8(icu::StringPiece(tail.data(), int32_t(tail.size())), status) && U_SUCCESS(status)) {
      return false;
    }
    status = U_ZERO_ERROR;
    const icu::StringPiece piece(text.data(), int32_t(text.size()));
    std::string result;
    icu::StringByteSink<std::string> sink(&result);
    n_->normalizeUTF8(0, piece, sink, nullptr, status);
    if (U_FAILURE(status)) fail("tokenizer: Unicode normalization failed: {}", u_errorName(status));
    out = std::move(result);
    return true;
  }

 private:
  static constexpr char32_t kTableEnd = 0x20000;

  // The start of the first code point of valid UTF-8 `text` that is not known to be stable,
  // text.size() when there is none. ASCII (stable in every form) is skipped eight bytes at a time.
  size_t first_unstable(std::string_view text) const {
    size_t i = 0;
    while (i < text.size()) {
      uint64_t eight;
      if (i + 8 <= text.size() && (std::memcpy(&eight, text.data() + i, 8), (eight & 0x8080808080808080ull) == 0)) {
        i += 8;
        continue;
      }
      if (static_cast<unsigned char>(text[i]) < 0x80) {
        ++i;
        continue;
      }
      size_t next = i;
      const char32_t c = utf8_next(text, next);
      if (c >= kTableEnd || !(stable_[c / 64] >> (c % 64) & 1)) return i;
      i = next;
    }
    return text.size();
  }

  const icu::Normalizer2* n_;
  std::vector<uint64_t> stable_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}

  bool normalize(std::string_view text, std::string& out) const override {
    bool changed = false;
    std::string current;
    for (const auto& p : parts_) {
      std::string next;
      if (p->normalize(changed ? std::string_view(current) : text, next)) {
        current = std::move(next);
        changed = true;
      }
    }
    if (changed) out = std::move(current);
    return changed;
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

std::unique_ptr<Normalizer> unicode_form(const std::string& type, const std::string& where) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  UProperty quick_check = UCHAR_NFC_QUICK_CHECK;
  if (type == "NFC") n = icu::Normalizer2::getNFCInstance(status);
  if (type == "NFD") n = icu::Normalizer2::getNFDInstance(status), quick_check = UCHAR_NFD_QUICK_CHECK;
  if (type == "NFKC") n = icu::Normalizer2::getNFKCInstance(status), quick_check = UCHAR_NFKC_QUICK_CHECK;
  if (type == "NFKD") n = icu::Normalizer2::getNFKDInstance(status), quick_check = UCHAR_NFKD_QUICK_CHECK;
  if (!n || U_FAILURE(status)) fail("{}: ICU has no {} normalizer ({})", where, type, u_errorName(status));
  return std::make_unique<UnicodeForm>(n, quick_check);
}

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& config, const std::string& where) {
  if (config.is_null()) return nullptr;
  if (!config.is_object() || !config.contains("type") || !config["type"].is_string()) {
    fail("{}: expected null or an object with a string \"type\"", where);
  }
  const std::string type = config["type"].get<std::string>();
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    return unicode_form(type, where);
  }
  if (type == "Sequence") {
    if (!config.contains("normalizers") || !config["normalizers"].is_array()) {
      fail("{}: Sequence needs an array \"normalizers\"", where);
    }
    std::vector<std::unique_ptr<Normalizer>> parts;
    const auto& list = config["normalizers"];
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto n = make_normalizer(list[i], fmt::format("{}.normalizers[{}]", where, i))) parts.push_back(std::move(n));
    }
    if (parts.empty()) return nullptr;
    if (parts.size() == 1) return std::move(parts[0]);
    return std::make_unique<Sequence>(std::move(parts));
  }
  fail("{}: unsupported normalizer type \"{}\" (supported: NFC, NFD, NFKC, NFKD, Sequence)", where, type);
}

std::string normalized(const Normalizer* n, std::string_view text) {
  std::string out;
  if (n && n->normalize(text, out)) return out;
  return std::string(text);
}

}  // namespace r1::tok
