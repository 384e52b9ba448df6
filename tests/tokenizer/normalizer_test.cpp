// The Unicode normalizers against ICU run on the whole text: the fast paths (ASCII, the table of
// stable code points, checking only from the first unstable one) must not change any result.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <nlohmann/json.hpp>

#include "core/utf8.h"
#include "tokenizer/normalizer.h"

namespace r1::tok {
namespace {

std::string icu_whole(const std::string& form, const std::string& text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n = form == "NFC"    ? icu::Normalizer2::getNFCInstance(status)
                              : form == "NFD"  ? icu::Normalizer2::getNFDInstance(status)
                              : form == "NFKC" ? icu::Normalizer2::getNFKCInstance(status)
                                               : icu::Normalizer2::getNFKDInstance(status);
  std::string out;
  n->normalize(icu::UnicodeString::fromUTF8(text), status).toUTF8String(out);
  return out;
}

TEST(TokenizerNormalizer, SameAsIcuOnTheWholeText) {
  // Stable characters right before unstable ones (which they combine with), unstable ones beyond the
  // table (plane 2), singletons, Hangul syllables and jamo, ASCII runs longer than eight bytes.
  const std::u32string pieces[] = {U"e", U"\u0301", U"\u0323", U"\u00e9", U"\u212B", U"\u1100", U"\u1161", U"\u11A8",
                                   U"\uAC00", U"abcdefghij", U" ", U"\u4E00", U"\U0002F800", U"\U0001F600",
                                   U"\u0958", U"\u093C", U"\uFB01", U"\u00B2", U"\u0344", U"\u0F73"};
  std::mt19937 rng(7);
  for (const char* form : {"NFC", "NFD", "NFKC", "NFKD"}) {
    const auto n = make_normalizer(nlohmann::json{{"type", form}}, "test");
    for (int k = 0; k < 3000; ++k) {
      std::string text;
      for (int p = int(rng() % 8); p > 0; --p) {
        for (char32_t c : pieces[rng() % std::size(pieces)]) utf8_append(text, c);
      }
      EXPECT_EQ(normalized(n.get(), text), icu_whole(form, text)) << form << " " << text;
    }
  }
}

}  // namespace
}  // namespace r1::tok
