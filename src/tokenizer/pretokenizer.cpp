#include "tokenizer/pretokenizer.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/split_patterns.h"
#include "core/utf8.h"

namespace r1::tok {
namespace {

using json = nlohmann::json;

enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// A regex split, with tokenizers' semantics: the matches and the gaps between them become spans
// marked match / not match (swapped by `invert`), then `behavior` decides how they form pieces.
class Split final : public PreTokenizer {
 public:
  Split(std::unique_ptr<SplitPattern> re, Behavior behavior, bool invert)
      : re_(std::move(re)), behavior_(behavior), invert_(invert) {}

  void split(std::vector<std::string_view>& pieces, std::deque<std::string>&) const override {
    // Scratch buffers reused across calls: encoding runs this once per word-sized piece.
    thread_local std::vector<std::string_view> out;
    thread_local std::vector<Span> spans;
    out.clear();
    for (std::string_view piece : pieces) {
      if (behavior_ == Behavior::Isolated) {  // the common case: every match and gap is a piece
        re_->split_isolated(piece, out);
        continue;
      }
      spans.clear();
      for_each_span(*re_, piece, [&](size_t b, size_t e, bool match) { spans.push_back({b, e, match != invert_}); });
      emit(piece, spans, out);
    }
    pieces.swap(out);
  }

 private:
  struct Span {
    size_t begin, end;
    bool match;
  };

  void emit(std::string_view s, const std::vector<Span>& spans, std::vector<std::string_view>& out) const {
    // Pieces are built as [begin, end) ranges, then pushed when non-empty.
    thread_local std::vector<std::pair<size_t, size_t>> ranges;
    ranges.clear();
    bool previous_match = false;
    switch (behavior_) {
      case Behavior::Isolated:  // split() hands these to split_isolated(); kept for completeness
        for (const Span& sp : spans) ranges.push_back({sp.begin, sp.end});
        break;
      case Behavior::Removed:
        for (const Span& sp : spans)
          if (!sp.match) ranges.push_back({sp.begin, sp.end});
        break;
      case Behavior::MergedWithPrevious:
        for (const Span& sp : spans) {
          if (sp.match && !previous_match && !ranges.empty()) {
            ranges.back().second = sp.end;
          } else {
            ranges.push_back({sp.begin, sp.end});
          }
          previous_match = sp.match;
        }
        break;
      case Behavior::MergedWithNext:
        for (size_t k = spans.size(); k-- > 0;) {
          const Span& sp = spans[k];
          if (sp.match && !previous_match && !ranges.empty()) {
            ranges.back().first = sp.begin;
          } else {
            ranges.push_back({sp.begin, sp.end});
          }
          previous_match = sp.match;
        }
        std::reverse(ranges.begin(), ranges.end());
        break;
      case Behavior::Contiguous:
        for (size_t k = 0; k < spans.size(); ++k) {
          const Span& sp = spans[k];
          if (k > 0 && sp.match == previous_match) {
            ranges.back().second = sp.end;
          } else {
            ranges.push_back({sp.begin, sp.end});
          }
          previous_match = sp.match;
        }
        break;
    }
    for (auto [b, e] : ranges)
      if (e > b) out.push_back(s.substr(b, e - b));
  }

  std::unique_ptr<SplitPattern> re_;
  Behavior behavior_;
  bool invert_;
};

// GPT-2's own split, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, std::unique_ptr<PreTokenizer> regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(regex)) {}

  void split(std::vector<std::string_view>& pieces, std::deque<std::string>& storage) const override {
    if (add_prefix_space_) {
      for (auto& p : pieces) {
        if (p.empty() || p[0] == ' ') continue;
        std::string& prefixed = storage.emplace_back();
        prefixed.reserve(p.size() + 1);
        prefixed += ' ';
        prefixed += p;
        p = prefixed;
      }
    }
    if (regex_) regex_->split(pieces, storage);
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<PreTokenizer> regex_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> steps) : steps_(std::move(steps)) {}
  void split(std::vector<std::string_view>& pieces, std::deque<std::string>& storage) const override {
    for (const auto& s : steps_) s->split(pieces, storage);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

// DeepSeek-V3's digit, CJK and word splits, run as one scan.
class DeepSeekV3Splits final : public PreTokenizer {
 public:
  void split(std::vector<std::string_view>& pieces, std::deque<std::string>&) const override {
    thread_local std::vector<std::string_view> out;
    out.clear();
    for (std::string_view piece : pieces) splitter_.split(piece, out);
    pieces.swap(out);
  }

 private:
  DeepSeekV3Splitter splitter_;
};

// Whether list[i..i+2] are DeepSeek-V3's three Isolated splits.
bool deepseek_v3_splits_at(const json& list, size_t i) {
  const std::string_view patterns[] = {patterns::kDeepSeekDigits, patterns::kDeepSeekCjk, patterns::kDeepSeekWords};
  if (i + 3 > list.size()) return false;
  for (size_t k = 0; k < 3; ++k) {
    const json& step = list[i + k];
    if (!step.is_object() || step.value("type", json()) != "Split" || step.value("behavior", json()) != "Isolated") {
      return false;
    }
    const json pattern = step.value("pattern", json());
    if (!pattern.is_object() || pattern.value("Regex", json()) != patterns[k]) return false;
  }
  return true;
}

bool bool_field(const json& c, const char* key, bool fallback, const std::string& where) {
  if (!c.contains(key) || c[key].is_null()) return fallback;
  if (!c[key].is_boolean()) fail("{}.{}: expected true or false", where, key);
  return c[key].get<bool>();
}

Behavior parse_behavior(const json& c, const std::string& where) {
  if (!c.contains("behavior") || !c["behavior"].is_string()) fail("{}: Split needs a string \"behavior\"", where);
  const std::string b = c["behavior"].get<std::string>();
  if (b == "Removed") return Behavior::Removed;
  if (b == "Isolated") return Behavior::Isolated;
  if (b == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::MergedWithNext;
  if (b == "Contiguous") return Behavior::Contiguous;
  fail("{}.behavior: unknown \"{}\" (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)",
       where, b);
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& config, const std::string& where, bool& byte_level) {
  if (config.is_null()) return nullptr;
  if (!config.is_object() || !config.contains("type") || !config["type"].is_string()) {
    fail("{}: expected null or an object with a string \"type\"", where);
  }
  const std::string type = config["type"].get<std::string>();
  if (type == "Sequence") {
    if (!config.contains("pretokenizers") || !config["pretokenizers"].is_array()) {
      fail("{}: Sequence needs an array \"pretokenizers\"", where);
    }
    std::vector<std::unique_ptr<PreTokenizer>> steps;
    const auto& list = config["pretokenizers"];
    for (size_t i = 0; i < list.size(); ++i) {
      if (deepseek_v3_splits_at(list, i)) {
        steps.push_back(std::make_unique<DeepSeekV3Splits>());
        i += 2;
        continue;
      }
      if (auto p = make_pre_tokenizer(list[i], fmt::format("{}.pretokenizers[{}]", where, i), byte_level)) {
        steps.push_back(std::move(p));
      }
    }
    return std::make_unique<Sequence>(std::move(steps));
  }
  if (type == "Split") {
    const json* pattern = config.contains("pattern") ? &config["pattern"] : nullptr;
    std::unique_ptr<SplitPattern> re;
    if (pattern && pattern->is_object() && pattern->contains("Regex") && (*pattern)["Regex"].is_string()) {
      re = compile_split_pattern((*pattern)["Regex"].get<std::string>(), false, where + ".pattern.Regex");
    } else if (pattern && pattern->is_object() && pattern->contains("String") && (*pattern)["String"].is_string()) {
      re = compile_split_pattern((*pattern)["String"].get<std::string>(), true, where + ".pattern.String");
    } else {
      fail("{}.pattern: expected {{\"Regex\": \"...\"}} or {{\"String\": \"...\"}}", where);
    }
    return std::make_unique<Split>(std::move(re), parse_behavior(config, where), bool_field(config, "invert", false, where));
  }
  if (type == "ByteLevel") {
    byte_level = true;
    std::unique_ptr<PreTokenizer> regex;
    if (bool_field(config, "use_regex", true, where)) {
      regex = std::make_unique<Split>(compile_split_pattern(kGpt2Pattern, false, where), Behavior::Isolated, false);
    }
    return std::make_unique<ByteLevel>(bool_field(config, "add_prefix_space", true, where), std::move(regex));
  }
  if (type == "Digits") {
    const bool individual = bool_field(config, "individual_digits", false, where);
    // tokenizers groups chars with char::is_numeric(), which is Unicode category N.
    return std::make_unique<Split>(compile_split_pattern(individual ? R"(\p{N})" : R"(\p{N}+)", false, where),
                                   Behavior::Isolated, false);
  }
  fail("{}: unsupported pre_tokenizer type \"{}\" (supported: Split, ByteLevel, Digits, Sequence)", where, type);
}

}  // namespace r1::tok
