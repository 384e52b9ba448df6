#include "tokenizer/tokenizer.h"

#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "core/utf8.h"
#include "tokenizer/word_cache.h"

namespace r1::tok {

using json = nlohmann::json;

struct Tokenizer::Impl {
  std::string name;
  std::unique_ptr<Bpe> bpe;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::vector<AddedToken> added;
  AddedTokenMatcher raw_matcher, normalized_matcher;
  StringIdMap added_ids;  // content -> id

  // Per id: vocabulary string, raw bytes, flags.
  std::vector<std::string> pieces;
  std::vector<std::string> bytes;
  std::vector<uint8_t> special, is_added;

  std::optional<int32_t> bos, eos, pad;
  std::vector<int32_t> prefix, suffix;

  mutable std::mutex cache_mutex;  // held (try_lock) by the encode() using the cache
  mutable WordCache cache;

  void encode_plain(std::string_view text, std::vector<int32_t>& out, bool use_cache) const;
};

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse_json(std::string_view text, const std::string& name) {
  try {
    return json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    fail("{}: not valid JSON: {}", name, e.what());
  }
}

bool flag(const json& obj, const char* key, bool fallback, const std::string& where) {
  if (!obj.contains(key) || obj[key].is_null()) return fallback;
  if (!obj[key].is_boolean()) fail("{}.{}: expected true or false", where, key);
  return obj[key].get<bool>();
}

// tokenizer_config.json token fields: "text", {"content": "text", ...} or null.
std::optional<std::string> config_token(const json& config, const char* key, const std::string& name) {
  if (!config.contains(key) || config[key].is_null()) return std::nullopt;
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  fail("{}: {}: expected a string, {{\"content\": ...}} or null", name, key);
}

// The "single" template of a TemplateProcessing post-processor (possibly inside a Sequence).
const json* find_template(const json& pp) {
  if (!pp.is_object()) return nullptr;
  const json type = pp.value("type", json());
  if (type == "TemplateProcessing") return &pp;
  if (type == "Sequence" && pp.contains("processors") && pp["processors"].is_array()) {
    for (const auto& p : pp["processors"])
      if (const json* t = find_template(p)) return t;
  }
  return nullptr;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

bool Tokenizer::dir_has_tokenizer(const std::string& dir) {
  return std::filesystem::is_regular_file(std::filesystem::path(dir) / "tokenizer.json");
}

Tokenizer Tokenizer::from_dir(const std::string& dir) {
  const std::filesystem::path d(dir);
  const auto tj = d / "tokenizer.json", tc = d / "tokenizer_config.json";
  if (!std::filesystem::is_regular_file(tj)) fail("{}: no tokenizer.json in this directory", dir);
  const std::string config = std::filesystem::is_regular_file(tc) ? read_file(tc) : std::string();
  return from_json(read_file(tj), config, tj.string());
}

Tokenizer Tokenizer::from_json(std::string_view tokenizer_json, std::string_view config_json, const std::string& name) {
  const json root = parse_json(tokenizer_json, name);
  const json config = config_json.empty() ? json::object() : parse_json(config_json, "tokenizer_config.json");
  return from_json_values(root, config, name);
}

Tokenizer Tokenizer::from_json_values(const json& tokenizer, const json& config, const std::string& name) {
  // The loader checks the fields it reads; anything it missed still ends as one clear r1::Error.
  try {
    return load(tokenizer, config, name);
  } catch (const json::exception& e) {
    fail("{}: unexpected structure: {}", name, e.what());
  }
}

Tokenizer Tokenizer::load(const json& root, const json& config, const std::string& name) {
  auto impl = std::make_unique<Impl>();
  Impl& t = *impl;
  t.name = name;
  if (!root.is_object()) fail("{}: expected a JSON object", name);
  if (!root.contains("model")) fail("{}: missing \"model\"", name);
  t.bpe = std::make_unique<Bpe>(root["model"], name + ": model");
  t.normalizer = make_normalizer(root.value("normalizer", json()), name + ": normalizer");
  bool byte_level = false;
  t.pre_tokenizer = make_pre_tokenizer(root.value("pre_tokenizer", json()), name + ": pre_tokenizer", byte_level);
  if (!byte_level) fail("{}: pre_tokenizer: expected a ByteLevel step (only byte-level BPE is supported)", name);
  const json decoder = root.value("decoder", json());
  if (!decoder.is_null() && (!decoder.is_object() || decoder.value("type", json()) != "ByteLevel")) {
    fail("{}: decoder: expected type ByteLevel (only byte-level BPE is supported)", name);
  }

  // Added tokens.
  const json added = root.value("added_tokens", json::array());
  if (!added.is_array()) fail("{}: added_tokens: expected an array", name);
  for (size_t i = 0; i < added.size(); ++i) {
    const json& a = added[i];
    const std::string where = fmt::format("{}: added_tokens[{}]", name, i);
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
        !a["content"].is_string()) {
      fail("{}: expected an object with integer \"id\" and string \"content\"", where);
    }
    AddedToken tok;
    const int64_t id = a["id"].get<int64_t>();
    if (id < 0 || id > kMaxId) fail("{}.id: {} is out of range 0..{}", where, id, kMaxId);
    tok.id = int32_t(id);
    tok.content = a["content"].get<std::string>();
    if (tok.content.empty() || !utf8_valid(tok.content)) fail("{}.content: expected non-empty UTF-8 text", where);
    tok.special = flag(a, "special", false, where);
    tok.lstrip = flag(a, "lstrip", false, where);
    tok.rstrip = flag(a, "rstrip", false, where);
    tok.normalized = flag(a, "normalized", !tok.special, where);
    tok.single_word = flag(a, "single_word", false, where);
    t.added_ids.emplace(tok.content, tok.id);
    t.added.push_back(std::move(tok));
  }
  {
    std::vector<AddedToken> raw, norm;
    std::vector<std::string> raw_patterns, norm_patterns;
    for (const AddedToken& a : t.added) {
      if (a.normalized && t.normalizer) {
        norm.push_back(a);
        norm_patterns.push_back(normalized(t.normalizer.get(), a.content));
      } else {
        raw.push_back(a);  // without a normalizer both passes see the same text: one pass suffices
        raw_patterns.push_back(a.content);
      }
    }
    t.raw_matcher = AddedTokenMatcher(raw, raw_patterns);
    t.normalized_matcher = AddedTokenMatcher(norm, norm_patterns);
  }

  // Per-id tables.
  size_t n = t.bpe->tokens().size();
  for (const AddedToken& a : t.added) n = std::max(n, size_t(a.id) + 1);
  t.pieces.assign(n, std::string());
  t.bytes.assign(n, std::string());
  t.special.assign(n, 0);
  t.is_added.assign(n, 0);
  for (size_t id = 0; id < t.bpe->tokens().size(); ++id) {
    const std::string& s = t.bpe->tokens()[id];
    t.pieces[id] = s;
    // A vocab entry outside the byte map (not produced by byte-level BPE) decodes as its own text.
    auto raw = byte_level_to_bytes(s);
    t.bytes[id] = raw ? std::move(*raw) : s;
  }
  for (const AddedToken& a : t.added) {
    t.pieces[size_t(a.id)] = a.content;
    t.bytes[size_t(a.id)] = a.content;  // added tokens decode to their content, as transformers does
    t.special[size_t(a.id)] = a.special;
    t.is_added[size_t(a.id)] = 1;
  }

  // tokenizer_config.json: special tokens and BOS/EOS policy.
  const std::string cname = "tokenizer_config.json";
  if (!config.is_object()) fail("{}: expected a JSON object", cname);
  Tokenizer tk(std::move(impl));
  auto lookup = [&](const char* key) -> std::optional<int32_t> {
    auto s = config_token(config, key, cname);
    if (!s) return std::nullopt;
    auto id = tk.token_to_id(*s);
    if (!id) fail("{}: {} \"{}\" is not in the vocabulary of {}", cname, key, *s, name);
    return id;
  };
  Impl& ti = *tk.impl_;
  ti.bos = lookup("bos_token");
  ti.eos = lookup("eos_token");
  ti.pad = lookup("pad_token");
  const json post_processor = root.value("post_processor", json());
  if (config.contains("add_bos_token") || config.contains("add_eos_token")) {
    if (flag(config, "add_bos_token", false, cname) && ti.bos) ti.prefix.push_back(*ti.bos);
    if (flag(config, "add_eos_token", false, cname) && ti.eos) ti.suffix.push_back(*ti.eos);
  } else if (const json* tp = find_template(post_processor)) {
    const std::string where = name + ": post_processor TemplateProcessing";
    if (!tp->contains("single") || !(*tp)["single"].is_array()) fail("{}: expected an array \"single\"", where);
    bool after = false;
    for (const json& item : (*tp)["single"]) {
      if (item.contains("Sequence")) {
        after = true;
      } else if (item.contains("SpecialToken") && item["SpecialToken"].is_object() &&
                 item["SpecialToken"].contains("id") && item["SpecialToken"]["id"].is_string()) {
        const std::string tok = item["SpecialToken"]["id"].get<std::string>();
        std::vector<int32_t> ids;
        const json& specials = tp->value("special_tokens", json::object());
        if (specials.is_object() && specials.contains(tok) && specials[tok].contains("ids") &&
            specials[tok]["ids"].is_array()) {
          for (const json& i : specials[tok]["ids"]) {
            if (!i.is_number_integer()) fail("{}: special_tokens[\"{}\"].ids: expected integers", where, tok);
            ids.push_back(i.get<int32_t>());
          }
        } else if (auto id = tk.token_to_id(tok)) {
          ids.push_back(*id);
        } else {
          fail("{}: special token \"{}\" is not in the vocabulary", where, tok);
        }
        (after ? ti.suffix : ti.prefix).insert((after ? ti.suffix : ti.prefix).end(), ids.begin(), ids.end());
      } else {
        fail("{}: single: expected {{\"SpecialToken\": ...}} or {{\"Sequence\": ...}} items", where);
      }
    }
  }
  return tk;
}

void Tokenizer::Impl::encode_plain(std::string_view text, std::vector<int32_t>& out, bool use_cache) const {
  // Scratch reused across calls (one section of text per call).
  thread_local std::vector<std::string_view> words;
  thread_local std::deque<std::string> storage;
  thread_local std::vector<uint64_t> hashes;
  words.assign(1, text);
  storage.clear();
  if (pre_tokenizer) pre_tokenizer->split(words, storage);
  if (!use_cache) {
    for (std::string_view w : words) bpe->encode_word(w, out);
    return;
  }
  // Single bytes (a space, a digit in Qwen's split) are their byte's token; longer words go through the
  // cache. Cache lookups are mostly cache misses, and independent: hash and prefetch kAhead words ahead.
  const auto cached = [](std::string_view w) { return w.size() > 1 && w.size() <= WordCache::kMaxWordBytes; };
  constexpr size_t kAhead = 8;
  const size_t n = words.size();
  hashes.resize(n);
  const auto start_lookup = [&](size_t i) {
    if (!cached(words[i])) return;
    hashes[i] = WordCache::hash(words[i]);
    cache.prefetch(hashes[i]);
  };
  for (size_t i = 0; i < std::min(n, kAhead); ++i) start_lookup(i);
  for (size_t i = 0; i < n; ++i) {
    if (i + kAhead < n) start_lookup(i + kAhead);
    const std::string_view w = words[i];
    if (w.size() == 1) {
      if (const int32_t id = bpe->byte_token(static_cast<unsigned char>(w[0])); id >= 0) out.push_back(id);
      continue;
    }
    if (!cached(w)) {
      bpe->encode_word(w, out);
      continue;
    }
    const int32_t* ids;
    size_t ids_n;
    if (cache.find(w, hashes[i], ids, ids_n)) {
      for (size_t k = 0; k < ids_n; ++k) out.push_back(ids[k]);  // few ids: cheaper than insert()
      continue;
    }
    const size_t before = out.size();
    bpe->encode_word(w, out);
    cache.insert(w, hashes[i], out.data() + before, out.size() - before);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view input, bool add_special) const {
  const Impl& t = *impl_;
  std::string repaired;
  std::string_view text = input;
  if (!utf8_valid(input)) {
    repaired = utf8_lossy(input);
    text = repaired;
  }
  std::unique_lock<std::mutex> lock(t.cache_mutex, std::try_to_lock);
  const bool use_cache = lock.owns_lock();

  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_special) out = t.prefix;
  thread_local std::vector<Section> sections, inner;  // scratch reused across calls: no allocation per call
  sections.clear();
  t.raw_matcher.split(text, sections);
  for (const Section& s : sections) {
    if (s.id >= 0) {
      out.push_back(s.id);
      continue;
    }
    std::string norm;
    std::string_view piece = text.substr(s.begin, s.end - s.begin);
    if (t.normalizer && t.normalizer->normalize(piece, norm)) piece = norm;
    if (t.normalized_matcher.empty()) {
      t.encode_plain(piece, out, use_cache);
      continue;
    }
    inner.clear();
    t.normalized_matcher.split(piece, inner);
    for (const Section& s2 : inner) {
      if (s2.id >= 0) {
        out.push_back(s2.id);
      } else {
        t.encode_plain(piece.substr(s2.begin, s2.end - s2.begin), out, use_cache);
      }
    }
  }
  if (add_special) out.insert(out.end(), t.suffix.begin(), t.suffix.end());
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  const Impl& t = *impl_;
  std::string raw;
  for (int32_t id : ids) {
    if (id < 0 || size_t(id) >= t.bytes.size()) continue;
    if (skip_special && t.special[size_t(id)]) continue;
    raw += t.bytes[size_t(id)];
  }
  return utf8_valid(raw) ? raw : utf8_lossy(raw);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view piece) const {
  if (auto it = impl_->added_ids.find(piece); it != impl_->added_ids.end()) return it->second;
  if (auto it = impl_->bpe->vocab().find(piece); it != impl_->bpe->vocab().end()) return it->second;
  return std::nullopt;
}

const std::string& Tokenizer::id_to_piece(int32_t id) const {
  static const std::string none;
  return id >= 0 && size_t(id) < impl_->pieces.size() ? impl_->pieces[size_t(id)] : none;
}

std::string_view Tokenizer::id_to_bytes(int32_t id) const {
  return id >= 0 && size_t(id) < impl_->bytes.size() ? std::string_view(impl_->bytes[size_t(id)]) : std::string_view();
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && size_t(id) < impl_->special.size() && impl_->special[size_t(id)];
}
bool Tokenizer::is_added(int32_t id) const {
  return id >= 0 && size_t(id) < impl_->is_added.size() && impl_->is_added[size_t(id)];
}
int32_t Tokenizer::vocab_size() const { return int32_t(impl_->pieces.size()); }
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }
std::optional<int32_t> Tokenizer::pad_id() const { return impl_->pad; }
const std::vector<int32_t>& Tokenizer::special_prefix() const { return impl_->prefix; }
const std::vector<int32_t>& Tokenizer::special_suffix() const { return impl_->suffix; }

std::string Tokenizer::normalize(std::string_view text) const {
  const std::string valid = utf8_valid(text) ? std::string(text) : utf8_lossy(text);
  // Added-token contents are left as they are; only the text between them is normalized.
  std::vector<Section> sections;
  impl_->raw_matcher.split(valid, sections);
  std::string out;
  for (const Section& s : sections) {
    const std::string_view piece = std::string_view(valid).substr(s.begin, s.end - s.begin);
    out += s.id >= 0 ? std::string(piece) : normalized(impl_->normalizer.get(), piece);
  }
  return out;
}

}  // namespace r1::tok
