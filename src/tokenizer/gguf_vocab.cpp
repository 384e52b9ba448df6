#include "tokenizer/gguf_vocab.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/bpe.h"
#include "tokenizer/split_patterns.h"

namespace r1::tok {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// What a GGUF pre-tokenizer name stands for, in tokenizer.json terms (the canonical form below).
struct KnownPreTokenizer {
  std::vector<std::string> names;  // the first is the one the writer uses (llama.cpp's converter's)
  json pre_tokenizer, normalizer;
  bool ignore_merges;
};

json isolated_split(std::string_view regex) {
  json split = json::object();
  split["type"] = "Split";
  split["pattern"] = json::object();
  split["pattern"]["Regex"] = std::string(regex);
  split["behavior"] = "Isolated";
  split["invert"] = false;
  return split;
}

json byte_level_without_regex() {
  json step = json::object();
  step["type"] = "ByteLevel";
  step["add_prefix_space"] = false;
  step["use_regex"] = false;
  return step;
}

json sequence(std::initializer_list<json> steps) {
  json seq = json::object();
  seq["type"] = "Sequence";
  seq["pretokenizers"] = json::array();
  for (const json& s : steps) seq["pretokenizers"].push_back(s);
  return seq;
}

const std::vector<KnownPreTokenizer>& known_pre_tokenizers() {
  static const std::vector<KnownPreTokenizer> known = [] {
    json nfc = json::object();
    nfc["type"] = "NFC";
    return std::vector<KnownPreTokenizer>{
        {{"deepseek-v3"},
         sequence({isolated_split(patterns::kDeepSeekDigits), isolated_split(patterns::kDeepSeekCjk),
                   isolated_split(patterns::kDeepSeekWords), byte_level_without_regex()}),
         json(), false},
        {{"qwen2", "deepseek-r1-qwen"}, sequence({isolated_split(patterns::kQwen2), byte_level_without_regex()}), nfc,
         false},
        {{"llama-bpe", "llama3", "llama-v3"}, sequence({isolated_split(patterns::kLlama3), byte_level_without_regex()}),
         json(), true},
    };
  }();
  return known;
}

std::string known_names() {
  std::string out;
  for (const KnownPreTokenizer& k : known_pre_tokenizers()) {
    for (const std::string& n : k.names) out += (out.empty() ? "" : ", ") + n;
  }
  return out;
}

// A tokenizer.json pre_tokenizer / normalizer with the fields that do not change ids dropped
// (ByteLevel's trim_offsets) and defaults filled in, so that equal behaviour compares equal.
json canonical_pre_tokenizer(const json& p) {
  if (!p.is_object()) return p;
  const json type = p.value("type", json());
  if (type == "Sequence" && p.contains("pretokenizers") && p["pretokenizers"].is_array()) {
    json seq = json::object();
    seq["type"] = "Sequence";
    seq["pretokenizers"] = json::array();
    for (const json& s : p["pretokenizers"]) seq["pretokenizers"].push_back(canonical_pre_tokenizer(s));
    return seq;
  }
  if (type == "ByteLevel") {
    json step = json::object();
    step["type"] = "ByteLevel";
    step["add_prefix_space"] = p.value("add_prefix_space", json(true));
    step["use_regex"] = p.value("use_regex", json(true));
    return step;
  }
  if (type == "Split") {
    json split = p;
    if (!split.contains("invert")) split["invert"] = false;
    return split;
  }
  return p;
}

json canonical_normalizer(const json& n) {
  if (n.is_object() && n.value("type", json()) == "Sequence" && n.value("normalizers", json::array()).empty()) {
    return json();
  }
  return n;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json read_json(const fs::path& path) {
  const std::string text = read_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", path.string(), e.what());
  }
}

// The pre-tokenizer name of a tokenizer.json, from its pre-tokenizer, normalizer and ignore_merges.
std::string identify_pre(const json& root, const std::string& file) {
  const json pre = canonical_pre_tokenizer(root.value("pre_tokenizer", json()));
  const json normalizer = canonical_normalizer(root.value("normalizer", json()));
  const json model = root.value("model", json::object());
  const bool ignore_merges = model.is_object() && model.value("ignore_merges", json(false)) == true;
  for (const KnownPreTokenizer& k : known_pre_tokenizers()) {
    if (pre == k.pre_tokenizer && normalizer == k.normalizer && ignore_merges == k.ignore_merges) return k.names[0];
  }
  fail("{}: pre_tokenizer {} with normalizer {} and ignore_merges {} is none of the GGUF pre-tokenizers r1 can "
       "write exactly ({})",
       file, root.value("pre_tokenizer", json()).dump(), root.value("normalizer", json()).dump(), ignore_merges,
       known_names());
}

// tokenizer.json merges ("a b" or ["a", "b"]) in GGUF's "a b" form.
std::vector<std::string> gguf_merges(const json& root, const std::string& file) {
  const json model = root.value("model", json::object());
  const json merges = model.is_object() ? model.value("merges", json::array()) : json::array();
  std::vector<std::string> out;
  out.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const json& m = merges[i];
    if (m.is_string()) {
      out.push_back(m.get<std::string>());
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      const std::string a = m[0].get<std::string>(), b = m[1].get<std::string>();
      if (a.find(' ') != std::string::npos || b.find(' ') != std::string::npos) {
        fail("{}: model.merges[{}]: a token with a space cannot be written as GGUF's \"a b\"", file, i);
      }
      out.push_back(a + " " + b);
    } else {
      fail("{}: model.merges[{}]: expected \"left right\" or [\"left\", \"right\"]", file, i);
    }
  }
  return out;
}

// GGUF keeps an added token's text and whether it is special, nothing else: the other flags must be
// what tokenizer_from_gguf assumes.
void check_added_tokens_fit(const json& root, const std::string& file) {
  const bool has_normalizer = !canonical_normalizer(root.value("normalizer", json())).is_null();
  for (const json& a : root.value("added_tokens", json::array())) {
    if (!a.is_object()) continue;  // the tokenizer loader has rejected these already
    for (const char* key : {"lstrip", "rstrip", "single_word", "normalized"}) {
      const bool normalized = key == std::string_view("normalized");
      if (normalized && !has_normalizer) continue;  // without a normalizer it makes no difference
      const json fallback = normalized ? json(a.value("special", json(false)) != true) : json(false);  // as tokenizers
      if (a.value(key, fallback) == true) {
        fail("{}: added token {} has \"{}\": true, which GGUF metadata cannot carry", file,
             a.value("content", json()).dump(), key);
      }
    }
  }
}

// tokenizer_config.json's chat_template (a string, or named templates of which "default"), else
// chat_template.jinja beside it.
std::string chat_template_of(const json& config, const fs::path& dir) {
  const json t = config.value("chat_template", json());
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {
    for (const json& named : t) {
      if (named.is_object() && named.value("name", json()) == "default" && named.value("template", json()).is_string()) {
        return named["template"].get<std::string>();
      }
    }
    return std::string();
  }
  if (fs::is_regular_file(dir / "chat_template.jinja")) return read_file(dir / "chat_template.jinja");
  return std::string();
}

// The embedding rows config.json declares (vocab_size), 0 when it does not say.
size_t embedding_rows(const fs::path& dir) {
  const fs::path path = dir / "config.json";
  if (!fs::is_regular_file(path)) return 0;
  const json config = read_json(path);
  const json rows = config.is_object() ? config.value("vocab_size", json()) : json();
  if (rows.is_null()) return 0;
  if (!rows.is_number_integer() || rows.get<int64_t>() < 0 || rows.get<int64_t>() > kMaxId + 1) {
    fail("{}: vocab_size: expected an integer in 0..{}", path.string(), kMaxId + 1);
  }
  return size_t(rows.get<int64_t>());
}

}  // namespace

Tokenizer tokenizer_from_gguf(const GgufVocab& v) {
  if (v.model != "gpt2") {
    fail("tokenizer.ggml.model: \"{}\" is not supported (r1 reads byte-level BPE vocabularies, \"gpt2\")", v.model);
  }
  const KnownPreTokenizer* pre = nullptr;
  for (const KnownPreTokenizer& k : known_pre_tokenizers()) {
    if (std::find(k.names.begin(), k.names.end(), v.pre) != k.names.end()) pre = &k;
  }
  if (!pre) fail("tokenizer.ggml.pre: \"{}\" is not supported (r1 knows {})", v.pre, known_names());
  if (!v.token_types.empty() && v.token_types.size() != v.tokens.size()) {
    fail("tokenizer.ggml.token_type: {} entries for {} tokens", v.token_types.size(), v.tokens.size());
  }
  if (int64_t(v.tokens.size()) > kMaxId + 1) fail("tokenizer.ggml.tokens: {} tokens, at most {}", v.tokens.size(), kMaxId + 1);
  const auto type_of = [&](size_t id) { return v.token_types.empty() ? int32_t(kGgufNormal) : v.token_types[id]; };

  // The tokenizer.json this metadata stands for.
  json vocab = json::object(), added = json::array();
  for (size_t id = 0; id < v.tokens.size(); ++id) {
    switch (type_of(id)) {
      case kGgufNormal:
      case kGgufUnknown:
      case kGgufByte:
        vocab.emplace(v.tokens[id], int64_t(id));  // a repeated text keeps its first id
        break;
      case kGgufControl:
      case kGgufUserDefined: {
        json a = json::object();
        a["id"] = int64_t(id);
        a["content"] = v.tokens[id];
        a["special"] = type_of(id) == kGgufControl;
        a["normalized"] = false;  // GGUF added tokens are matched on the text as given, as llama.cpp does
        added.push_back(std::move(a));
        break;
      }
      case kGgufUnused:
        break;  // padding rows of the embedding: no token
      default:
        fail("tokenizer.ggml.token_type[{}]: {} is not a token type (1..6)", id, type_of(id));
    }
  }
  json model = json::object();
  model["type"] = "BPE";
  model["vocab"] = std::move(vocab);
  model["merges"] = v.merges;
  model["ignore_merges"] = pre->ignore_merges;
  json root = json::object();
  root["model"] = std::move(model);
  root["normalizer"] = pre->normalizer;
  root["pre_tokenizer"] = pre->pre_tokenizer;
  root["added_tokens"] = std::move(added);
  root["decoder"] = byte_level_without_regex();

  // BOS / EOS / padding by their text, as tokenizer_config.json names them.
  struct Special {
    const char* field;  // tokenizer.ggml.<field>
    const char* config_key;
    const std::optional<int64_t>& id;
    std::optional<int32_t> (Tokenizer::*loaded)() const;
  };
  const Special specials[] = {{"bos_token_id", "bos_token", v.bos_id, &Tokenizer::bos_id},
                              {"eos_token_id", "eos_token", v.eos_id, &Tokenizer::eos_id},
                              {"padding_token_id", "pad_token", v.pad_id, &Tokenizer::pad_id}};
  json config = json::object();
  config["add_bos_token"] = v.add_bos;
  config["add_eos_token"] = v.add_eos;
  for (const Special& s : specials) {
    if (!s.id) continue;
    if (*s.id < 0 || size_t(*s.id) >= v.tokens.size() || type_of(size_t(*s.id)) == kGgufUnused) {
      fail("tokenizer.ggml.{}: {} is not the id of a token", s.field, *s.id);
    }
    config[s.config_key] = v.tokens[size_t(*s.id)];
  }
  Tokenizer t = Tokenizer::from_json_values(root, config, "GGUF tokenizer metadata");
  for (const Special& s : specials) {  // a text shared by two tokens would name the other one
    const std::optional<int32_t> loaded = (t.*s.loaded)();
    if (s.id && (!loaded || *loaded != *s.id)) {
      fail("tokenizer.ggml.{}: {}, but its text \"{}\" is also token {}", s.field, *s.id, v.tokens[size_t(*s.id)],
           loaded.value_or(-1));
    }
  }
  return t;
}

GgufVocab gguf_vocab_from_dir(const std::string& model_dir) {
  const fs::path dir(model_dir), tokenizer_path = dir / "tokenizer.json", config_path = dir / "tokenizer_config.json";
  if (!fs::is_regular_file(tokenizer_path)) fail("{}: no tokenizer.json in this directory", model_dir);
  const std::string file = tokenizer_path.string();
  const json root = read_json(tokenizer_path);
  const json config = fs::is_regular_file(config_path) ? read_json(config_path) : json::object();
  const Tokenizer t = Tokenizer::from_json_values(root, config, file);

  GgufVocab v;
  v.model = "gpt2";
  v.pre = identify_pre(root, file);
  check_added_tokens_fit(root, file);
  const size_t n = std::max(size_t(t.vocab_size()), embedding_rows(dir));
  v.tokens.resize(n);
  v.token_types.resize(n);
  for (size_t id = 0; id < n; ++id) {
    const std::string& piece = t.id_to_piece(int32_t(id));
    if (t.is_added(int32_t(id))) {
      v.tokens[id] = piece;
      v.token_types[id] = t.is_special(int32_t(id)) ? kGgufControl : kGgufUserDefined;
    } else if (!piece.empty()) {
      v.tokens[id] = piece;
      v.token_types[id] = kGgufNormal;
    } else {  // a hole in the ids or an embedding row beyond the tokens
      v.tokens[id] = "[PAD" + std::to_string(id) + "]";
      v.token_types[id] = kGgufUnused;
    }
  }
  v.merges = gguf_merges(root, file);

  // What encode(text, add_special = true) adds must be "the BOS token" / "the EOS token" to be said in GGUF.
  v.bos_id = t.bos_id();
  v.eos_id = t.eos_id();
  v.pad_id = t.pad_id();
  const auto as_gguf_flag = [&](const std::vector<int32_t>& ids, std::optional<int64_t>& id, bool& add, const char* name) {
    if (ids.empty()) return;
    if (ids.size() != 1 || (id && *id != ids[0])) {
      fail("{}: encoding with special tokens adds {} where GGUF can only say \"add the {} token\"", file,
           fmt::join(ids, ","), name);
    }
    id = ids[0];
    add = true;
  };
  as_gguf_flag(t.special_prefix(), v.bos_id, v.add_bos, "BOS");
  as_gguf_flag(t.special_suffix(), v.eos_id, v.add_eos, "EOS");
  v.chat_template = chat_template_of(config, dir);
  return v;
}

}  // namespace r1::tok
