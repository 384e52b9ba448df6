#include "tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace r1::tok {
namespace {

// One of ICU's four normalization forms. ASCII is normal in every form, so it skips ICU entirely.
class UnicodeForm final : public Normalizer {
 public:
  UnicodeForm(const icu::Normalizer2* n) : n_(n) {}

  bool normalize(std::string_view text, std::string& out) const override {
    bool ascii = true;
    for (unsigned char c : text) ascii &= c < 0x80;
    if (ascii) return false;
    UErrorCode status = U_ZERO_ERROR;
    const icu::StringPiece piece(text.data(), int32_t(text.size()));
    if (n_->isNormalizedUTF8(piece, status) && U_SUCCESS(status)) return false;
    status = U_ZERO_ERROR;
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
