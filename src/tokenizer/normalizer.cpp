#include "tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstring>

#include "core/error.h"

namespace r1::tok {
namespace {

// One of ICU's four normalization forms. ASCII is normal in every form, so it skips ICU entirely.
// The index of the first byte >= 0x80 (text.size() when all is ASCII), eight bytes at a time.
size_t first_non_ascii(std::string_view text) {
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t eight;
    std::memcpy(&eight, text.data() + i, 8);
    if (eight & 0x8080808080808080ull) break;
  }
  while (i < text.size() && static_cast<unsigned char>(text[i]) < 0x80) ++i;
  return i;
}

class UnicodeForm final : public Normalizer {
 public:
  UnicodeForm(const icu::Normalizer2* n) : n_(n) {}

  bool normalize(std::string_view text, std::string& out) const override {
    const size_t first = first_non_ascii(text);
    if (first == text.size()) return false;
    // Only the text from the character before the first non-ASCII one can change: an ASCII
    // character followed by ASCII stays as it is in every form.
    const std::string_view tail = text.substr(first > 0 ? first - 1 : 0);
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
  const icu::Normalizer2* n_;
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

const icu::Normalizer2* icu_form(const std::string& type, const std::string& where) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = nullptr;
  if (type == "NFC") n = icu::Normalizer2::getNFCInstance(status);
  if (type == "NFD") n = icu::Normalizer2::getNFDInstance(status);
  if (type == "NFKC") n = icu::Normalizer2::getNFKCInstance(status);
  if (type == "NFKD") n = icu::Normalizer2::getNFKDInstance(status);
  if (!n || U_FAILURE(status)) fail("{}: ICU has no {} normalizer ({})", where, type, u_errorName(status));
  return n;
}

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& config, const std::string& where) {
  if (config.is_null()) return nullptr;
  if (!config.is_object() || !config.contains("type") || !config["type"].is_string()) {
    fail("{}: expected null or an object with a string \"type\"", where);
  }
  const std::string type = config["type"].get<std::string>();
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    return std::make_unique<UnicodeForm>(icu_form(type, where));
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
