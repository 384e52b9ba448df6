// The JSON pushdown automaton behind response_format (see json_constraint.h for what it generates).
//
// A thread is a stack of Frames linked child -> parent through arena indices. Frames are never
// changed in place: consuming a byte pushes a new top frame (and maybe children) that shares the rest
// of the stack, so trying a byte in mask() costs one small copy and backing out is truncating the
// arena. A value's parent frame is its *continuation*: the container already advanced to the state
// it is in once the value is done, so finishing a value is just returning to the parent index.
// Values without a closing byte (numbers, literals such as `true` or enum number prefixes) end by an
// epsilon step: while they could end, the byte is also offered to the parent.
#include "server/json_constraint.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace r1::server {

namespace {

using json = nlohmann::json;
using i128 = __int128;

constexpr uint32_t kNoLimit = UINT32_MAX;
constexpr uint32_t kAdditional = UINT32_MAX;  // object frame: the current key is not a listed one
constexpr size_t kMaxThreads = 64;             // beyond this, extra alternatives are dropped (still sound)
constexpr int kMaxIntDigits = 15;
constexpr int kMaxFracDigits = 6;
constexpr int64_t kUnit = 1000000;  // numbers are compared in units of 10^-kMaxFracDigits

i128 pow10(int k) {
  i128 r = 1;
  while (k-- > 0) r *= 10;
  return r;
}

bool is_ws(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }
bool is_hex(uint8_t c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

}  // namespace

// ---- compiled schema --------------------------------------------------------------------------------

enum class Kind : uint8_t { Union, Object, Array, String, Number, Literal };

struct Node {
  Kind kind = Kind::Union;
  std::vector<uint32_t> alts;  // Union
  // Object: listed properties, their keys as serialized JSON string contents sorted bytewise.
  std::vector<uint32_t> prop_nodes;
  uint64_t required = 0;            // bit i: prop_nodes[i] is required
  int64_t additional = -1;          // node of values under other keys, -1: no other keys
  std::vector<std::string> keys;    // sorted
  std::vector<uint32_t> key_prop;   // keys[j] is property key_prop[j]
  // Array
  uint32_t items = 0, min_items = 0, max_items = kNoLimit;
  // String
  uint32_t min_len = 0, max_len = kNoLimit;
  // Number: closed range in units, already rounded to whole numbers for integers
  bool integer = false, bounded = false;
  i128 lo = 0, hi = 0;
  // Literal: serialized JSON texts, sorted and unique
  std::vector<std::string> lits;
};

struct JsonConstraint::Grammar {
  std::vector<Node> nodes;
  uint32_t root = 0;
};

// ---- frames ------------------------------------------------------------------------------------------

enum FrameKind : uint8_t { F_ROOT, F_OBJECT, F_KEY, F_ARRAY, F_STRING, F_NUMBER, F_LITERAL };
enum : uint8_t { R_BEFORE, R_DONE };
enum : uint8_t { O_OPEN, O_COMMA, O_AFTER_KEY, O_BEFORE_VALUE, O_AFTER_VALUE };
enum : uint8_t { A_OPEN, A_COMMA, A_AFTER };
enum : uint8_t { S_IN, S_ESC, S_HEX, S_UTF8 };  // strings and keys
enum : uint8_t { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC };
constexpr uint8_t kKeyFree = 1;   // key frame: the key may still be a free (additional) key
constexpr uint8_t kNegative = 1;  // number frame

struct JsonConstraint::Frame {
  int32_t parent = -1;
  uint32_t node = 0;
  uint8_t kind = F_ROOT;
  uint8_t state = 0;
  uint8_t ws = 0;     // containers: whitespace bytes in the current gap
  uint8_t flags = 0;
  uint16_t depth = 0; // containers open, this one included
  uint32_t count = 0; // string/key: code points; array: items; object: current property; number: int digits; literal: bytes matched
  uint32_t aux = 0;   // string/key: escape or UTF-8 progress; number: fraction digits
  uint32_t lo = 0, hi = 0;  // literal/key: candidate range; number: fraction value in lo
  uint64_t bits = 0;  // object: properties seen; key: bytes matched; number: integer part

  bool same_content(const Frame& o) const {
    return node == o.node && kind == o.kind && state == o.state && ws == o.ws && flags == o.flags &&
           depth == o.depth && count == o.count && aux == o.aux && lo == o.lo && hi == o.hi && bits == o.bits;
  }
};

using Frame = JsonConstraint::Frame;
using Grammar = JsonConstraint::Grammar;

namespace {

// One byte of string content after the opening quote. Returns -1: not allowed, 1: the closing
// quote, 0: consumed; `starts_char` is set when the byte begins a character (for length counting).
int string_byte(Frame& f, uint8_t c, bool& starts_char) {
  starts_char = false;
  switch (f.state) {
    case S_IN:
      if (c == '"') return 1;
      starts_char = true;
      if (c == '\\') {
        f.state = S_ESC;
        return 0;
      }
      if (c < 0x20) return -1;
      if (c < 0x80) return 0;
      {
        // Lead byte: continuation count and the range of the first continuation byte (excludes
        // overlongs, UTF-16 surrogates and code points above U+10FFFF).
        uint32_t n, lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) n = 1;
        else if (c == 0xE0) n = 2, lo = 0xA0;
        else if (c == 0xED) n = 2, hi = 0x9F;
        else if (c >= 0xE1 && c <= 0xEF) n = 2;
        else if (c == 0xF0) n = 3, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3) n = 3;
        else if (c == 0xF4) n = 3, hi = 0x8F;
        else return -1;
        f.state = S_UTF8;
        f.aux = n | (lo << 16) | (hi << 24);
        return 0;
      }
    case S_UTF8: {
      const uint32_t lo = (f.aux >> 16) & 0xFF, hi = f.aux >> 24;
      if (c < lo || c > hi) return -1;
      const uint32_t n = (f.aux & 0xFF) - 1;
      f.aux = n | (0x80u << 16) | (0xBFu << 24);
      if (n == 0) f.state = S_IN, f.aux = 0;
      return 0;
    }
    case S_ESC:
      if (c == 'u') {
        f.state = S_HEX;
        f.aux = 4;
        return 0;
      }
      if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' || c == 'r' || c == 't') {
        f.state = S_IN;
        return 0;
      }
      return -1;
    case S_HEX: {
      if (!is_hex(c)) return -1;
      const uint32_t left = f.aux & 0xFF;
      // \uD800-\uDFFF would need a surrogate pair; those characters are written as UTF-8 instead.
      if (left == 4 && (c == 'd' || c == 'D')) f.aux |= 0x100;
      if (left == 3 && (f.aux & 0x100) && !is_digit(c) ) return -1;
      if (left == 3 && (f.aux & 0x100) && (c == '8' || c == '9')) return -1;
      f.aux = (left - 1) | (f.aux & 0x100);
      if (left == 1) f.state = S_IN, f.aux = 0;
      return 0;
    }
  }
  return -1;
}

// Narrows the sorted candidate range [lo, hi) of `strs`, all sharing their first `pos` bytes, to
// those whose byte at `pos` is c.
void narrow(const std::vector<std::string>& strs, uint32_t& lo, uint32_t& hi, size_t pos, uint8_t c) {
  auto first = strs.begin() + lo, last = strs.begin() + hi;
  auto below = [&](const std::string& s) { return s.size() <= pos || uint8_t(s[pos]) < c; };
  auto b = std::partition_point(first, last, below);
  auto e = std::partition_point(b, last, [&](const std::string& s) { return uint8_t(s[pos]) == c; });
  lo = uint32_t(b - strs.begin());
  hi = uint32_t(e - strs.begin());
}

// Whether some complete number reachable from the number frame f lies in the node's range.
bool number_feasible(const Node& n, const Frame& f) {
  if (!n.bounded) return true;
  const bool neg = f.flags & kNegative;
  const i128 frac_top = n.integer ? 0 : kUnit - 1;
  auto overlaps = [&](i128 a, i128 b) {  // magnitudes [a, b] in units
    const i128 lo = neg ? -b : a, hi = neg ? -a : b;
    return std::max(lo, n.lo) <= std::min(hi, n.hi);
  };
  const i128 p = i128(f.bits);
  switch (f.state) {
    case N_MINUS: return overlaps(0, (pow10(kMaxIntDigits) - 1) * kUnit + frac_top);
    case N_ZERO: return overlaps(0, frac_top);
    case N_INT:
      for (int k = 0; k + int(f.count) <= kMaxIntDigits; ++k) {
        const i128 base = p * pow10(k);
        if (overlaps(base * kUnit, (base + pow10(k) - 1) * kUnit + frac_top)) return true;
      }
      return false;
    case N_DOT: return overlaps(p * kUnit, p * kUnit + kUnit - 1);
    case N_FRAC: {
      const i128 step = pow10(kMaxFracDigits - int(f.aux));
      const i128 a = p * kUnit + i128(f.lo) * step;
      return overlaps(a, a + step - 1);
    }
  }
  return false;
}

bool number_can_end(const Node& n, const Frame& f) {
  if (f.state != N_ZERO && f.state != N_INT && f.state != N_FRAC) return false;
  if (!n.bounded) return true;
  i128 v = i128(f.bits) * kUnit;
  if (f.state == N_FRAC) v += i128(f.lo) * pow10(kMaxFracDigits - int(f.aux));
  if (f.flags & kNegative) v = -v;
  return v >= n.lo && v <= n.hi;
}

// Consumes c into the number frame f; false if c cannot continue the number.
bool number_byte(const Node& n, Frame& f, uint8_t c) {
  switch (f.state) {
    case N_MINUS:
      if (c == '0') f.state = N_ZERO;
      else if (is_digit(c)) f.state = N_INT, f.bits = c - '0', f.count = 1;
      else return false;
      break;
    case N_ZERO:
    case N_INT:
      if (c == '.' && !n.integer) f.state = N_DOT;
      else if (f.state == N_INT && is_digit(c) && f.count < kMaxIntDigits) f.bits = f.bits * 10 + (c - '0'), ++f.count;
      else return false;
      break;
    case N_DOT:
    case N_FRAC:
      if (!is_digit(c) || f.aux >= kMaxFracDigits) return false;
      f.state = N_FRAC;
      f.lo = f.lo * 10 + (c - '0');
      ++f.aux;
      break;
    default: return false;
  }
  return number_feasible(n, f);
}

}  // namespace

// ---- vocabulary ----------------------------------------------------------------------------------------

TokenVocabulary::TokenVocabulary(const tok::Tokenizer& t) {
  size_ = t.vocab_size();
  offsets_.assign(size_t(size_) + 1, 0);
  std::vector<int32_t> ids;
  for (int32_t id = 0; id < size_; ++id) {
    offsets_[size_t(id)] = uint32_t(data_.size());
    if (t.is_added(id) || t.is_special(id)) continue;
    const std::string_view b = t.id_to_bytes(id);
    if (b.empty()) continue;
    data_.append(b);
    ids.push_back(id);
  }
  offsets_[size_t(size_)] = uint32_t(data_.size());
  std::sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) {
    const auto x = bytes(a), y = bytes(b);
    return x != y ? x < y : a < b;
  });
  // Sorted strings in order are a preorder walk of their trie: each one shares a prefix with the
  // previous, closes the nodes past it and opens new ones.
  std::vector<uint32_t> path;  // node index per depth - 1
  std::string_view prev;
  for (int32_t id : ids) {
    const std::string_view s = bytes(id);
    size_t common = 0;
    while (common < s.size() && common < prev.size() && s[common] == prev[common]) ++common;
    common = std::min(common, path.size());
    while (path.size() > common) {
      trie_[path.back()].skip = uint32_t(trie_.size());
      path.pop_back();
    }
    while (path.size() < s.size()) {
      path.push_back(uint32_t(trie_.size()));
      trie_.push_back({0, uint32_t(trie_tokens_.size()), 0, uint16_t(path.size()), uint8_t(s[path.size() - 1])});
    }
    TrieNode& leaf = trie_[path.back()];
    if (leaf.token_count == 0) leaf.first_token = uint32_t(trie_tokens_.size());
    trie_tokens_.push_back(id);
    ++leaf.token_count;
    max_depth_ = std::max(max_depth_, int(s.size()));
    prev = s;
  }
  while (!path.empty()) {
    trie_[path.back()].skip = uint32_t(trie_.size());
    path.pop_back();
  }
  if (max_depth_ > 65535) fail("tokenizer: a token of {} bytes is too long for the JSON constraint", max_depth_);
}

std::string_view TokenVocabulary::bytes(int32_t id) const {
  if (id < 0 || id >= size_) return {};
  return std::string_view(data_).substr(offsets_[size_t(id)], offsets_[size_t(id) + 1] - offsets_[size_t(id)]);
}

// ---- schema compiler ---------------------------------------------------------------------------------

namespace {

const std::set<std::string, std::less<>> kAnnotations = {
    "description", "title",    "default",         "examples",         "$schema", "$id",
    "$comment",    "format",   "deprecated",      "readOnly",         "writeOnly", "contentEncoding",
    "contentMediaType", "$defs", "definitions",   "strict"};
const std::set<std::string, std::less<>> kSupported = {
    "type",     "properties", "required", "additionalProperties", "items",   "minItems",
    "maxItems", "uniqueItems", "enum",    "const",                "anyOf",   "oneOf",
    "allOf",    "$ref",       "minLength", "maxLength",           "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "nullable"};

const char* kTypes[] = {"object", "array", "string", "number", "integer", "boolean", "null"};

class Compiler {
 public:
  Compiler(Grammar& g, const json& root) : g_(g), root_(root) {}

  uint32_t any() {
    if (any_ >= 0) return uint32_t(any_);
    any_ = int64_t(reserve());
    Node obj;
    obj.kind = Kind::Object;
    obj.additional = any_;
    Node arr;
    arr.kind = Kind::Array;
    arr.items = uint32_t(any_);
    Node str;
    str.kind = Kind::String;
    Node num;
    num.kind = Kind::Number;
    Node lit;
    lit.kind = Kind::Literal;
    lit.lits = {"false", "null", "true"};
    Node u;
    u.kind = Kind::Union;
    any_object_ = add(std::move(obj));
    u.alts = {any_object_, add(std::move(arr)), add(std::move(str)), add(std::move(num)), add(std::move(lit))};
    g_.nodes[size_t(any_)] = std::move(u);
    return uint32_t(any_);
  }
  uint32_t any_object() {
    any();
    return any_object_;
  }

  uint32_t compile(const json& s, const std::string& path) {
    if (s.is_boolean()) {
      if (s.get<bool>()) return any();
      fail("{}: the schema 'false' allows no value", path);
    }
    if (!s.is_object()) fail("{}: expected a schema (an object or a boolean), got {}", path, s.type_name());
    std::vector<std::string> constraints;  // supported keywords present, for combination checks
    for (auto& [key, value] : s.items()) {
      if (kAnnotations.count(key)) continue;
      if (!kSupported.count(key)) fail("{}: keyword '{}' is not supported", path, key);
      constraints.push_back(key);
    }
    auto only = [&](const char* keyword, std::initializer_list<const char*> allowed) {
      for (const auto& k : constraints) {
        if (k == keyword) continue;
        if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; }) != allowed.end()) continue;
        fail("{}: keyword '{}' next to '{}' is not supported", path, k, keyword);
      }
    };
    const bool nullable = s.contains("nullable") && bool_value(s["nullable"], path + ".nullable");

    if (s.contains("$ref")) {
      only("$ref", {"nullable"});
      return maybe_null(ref(s["$ref"], path + ".$ref"), nullable);
    }
    if (s.contains("allOf")) {
      only("allOf", {"nullable"});
      const json& all = s["allOf"];
      if (!all.is_array() || all.size() != 1)
        fail("{}.allOf: only allOf with exactly one schema is supported", path);
      return maybe_null(compile(all[0], path + ".allOf[0]"), nullable);
    }
    for (const char* kw : {"anyOf", "oneOf"}) {
      if (!s.contains(kw)) continue;
      only(kw, {"nullable"});
      const json& alts = s[kw];
      const std::string p = path + "." + kw;
      if (!alts.is_array() || alts.empty()) fail("{}: expected a non-empty array of schemas", p);
      Node u;
      u.kind = Kind::Union;
      for (size_t i = 0; i < alts.size(); ++i) u.alts.push_back(compile(alts[i], fmt::format("{}[{}]", p, i)));
      return maybe_null(add(std::move(u)), nullable);
    }

    std::vector<std::string> types;
    if (s.contains("type")) {
      const json& t = s["type"];
      auto check = [&](const json& v) {
        if (!v.is_string() || std::find(std::begin(kTypes), std::end(kTypes), v.get<std::string>()) == std::end(kTypes))
          fail("{}.type: expected one of object, array, string, number, integer, boolean, null, got {}", path, v.dump());
        types.push_back(v.get<std::string>());
      };
      if (t.is_array()) {
        if (t.empty()) fail("{}.type: expected a non-empty array of types", path);
        for (const auto& v : t) check(v);
      } else {
        check(t);
      }
    }
    if (nullable && !types.empty() && std::find(types.begin(), types.end(), "null") == types.end()) types.push_back("null");

    if (s.contains("enum") || s.contains("const")) {
      std::vector<json> values;
      if (s.contains("const")) values.push_back(s["const"]);
      if (s.contains("enum")) {
        if (!s["enum"].is_array() || s["enum"].empty()) fail("{}.enum: expected a non-empty array", path);
        const auto& e = s["enum"];
        if (s.contains("const")) {  // both: the const, if the enum has it
          if (std::find(e.begin(), e.end(), values[0]) == e.end()) values.clear();
        } else {
          values.assign(e.begin(), e.end());
        }
      }
      if (nullable) values.push_back(nullptr);
      Node lit;
      lit.kind = Kind::Literal;
      for (const auto& v : values)
        if (types.empty() || std::any_of(types.begin(), types.end(), [&](const std::string& t) { return has_type(v, t); }))
          lit.lits.push_back(v.dump());
      if (lit.lits.empty()) fail("{}: no value of 'enum'/'const' satisfies the schema's other keywords", path);
      std::sort(lit.lits.begin(), lit.lits.end());
      lit.lits.erase(std::unique(lit.lits.begin(), lit.lits.end()), lit.lits.end());
      return add(std::move(lit));
    }

    if (types.empty()) {  // inferred from the keywords present
      auto has = [&](std::initializer_list<const char*> ks) {
        return std::any_of(ks.begin(), ks.end(), [&](const char* k) { return s.contains(k); });
      };
      if (has({"properties", "required", "additionalProperties"})) types.push_back("object");
      if (has({"items", "minItems", "maxItems", "uniqueItems"})) types.push_back("array");
      if (has({"minLength", "maxLength"})) types.push_back("string");
      if (has({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"})) types.push_back("number");
      if (types.empty()) return any();
      if (nullable) types.push_back("null");
    }
    Node u;
    u.kind = Kind::Union;
    for (const auto& t : types) u.alts.push_back(typed(s, t, path));
    return u.alts.size() == 1 ? u.alts[0] : add(std::move(u));
  }

 private:
  uint32_t reserve() {
    g_.nodes.emplace_back();
    return uint32_t(g_.nodes.size() - 1);
  }
  uint32_t add(Node n) {
    g_.nodes.push_back(std::move(n));
    return uint32_t(g_.nodes.size() - 1);
  }
  uint32_t maybe_null(uint32_t node, bool nullable) {
    if (!nullable) return node;
    Node lit;
    lit.kind = Kind::Literal;
    lit.lits = {"null"};
    Node u;
    u.kind = Kind::Union;
    u.alts = {node, add(std::move(lit))};
    return add(std::move(u));
  }

  static bool has_type(const json& v, const std::string& t) {
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer")
      return v.is_number_integer() || (v.is_number_float() && std::trunc(v.get<double>()) == v.get<double>());
    if (t == "boolean") return v.is_boolean();
    return v.is_null();
  }

  static bool bool_value(const json& v, const std::string& path) {
    if (!v.is_boolean()) fail("{}: expected true or false, got {}", path, v.dump());
    return v.get<bool>();
  }

  static uint32_t count_value(const json& s, const char* key, const std::string& path, uint32_t dflt) {
    if (!s.contains(key)) return dflt;
    const json& v = s[key];
    if (v.is_number_integer() && v.get<int64_t>() >= 0)
      return uint32_t(std::min<int64_t>(v.get<int64_t>(), int64_t(kNoLimit) - 1));
    if (v.is_number_float() && v.get<double>() >= 0 && std::trunc(v.get<double>()) == v.get<double>())
      return uint32_t(std::min(v.get<double>(), double(kNoLimit) - 1));
    fail("{}.{}: expected a non-negative integer, got {}", path, key, v.dump());
  }

  uint32_t ref(const json& r, const std::string& path) {
    if (!r.is_string()) fail("{}: expected a string, got {}", path, r.dump());
    const std::string target = r.get<std::string>();
    if (auto it = refs_.find(target); it != refs_.end()) return it->second;
    if (target.empty() || target[0] != '#')
      fail("{}: only local references ('#/$defs/Name') are supported, got '{}'", path, target);
    const json* t = nullptr;
    try {
      t = &root_.at(json::json_pointer(target.substr(1)));
    } catch (const json::exception&) {
      fail("{}: reference '{}' does not resolve within the schema", path, target);
    }
    // Reserved first so that recursive references find it.
    const uint32_t slot = reserve();
    refs_[target] = slot;
    std::string tpath = "response_format.json_schema.schema";
    for (char c : target.substr(1)) tpath += c == '/' ? '.' : c;
    if (tpath.back() == '.') tpath.pop_back();
    const uint32_t body = compile(*t, tpath);
    Node u;
    u.kind = Kind::Union;
    u.alts = {body};
    g_.nodes[slot] = std::move(u);
    // A reference that comes back to itself through unions alone (`"t": {"$ref": "#/$defs/t"}`, or an anyOf
    // holding it) consumes no byte before it recurs: no value matches it, and expanding it would not end.
    if (unions_reach(body, slot)) {
      fail("{}: reference '{}' comes back to itself with no object or array in between", path, target);
    }
    return slot;
  }
  // Whether `target` is reachable from `from` through union alternatives alone (the only nodes that
  // consume no input).
  bool unions_reach(uint32_t from, uint32_t target) const {
    std::vector<uint32_t> todo = {from};
    std::vector<bool> seen(g_.nodes.size());
    while (!todo.empty()) {
      const uint32_t id = todo.back();
      todo.pop_back();
      if (id == target) return true;
      if (seen[id] || g_.nodes[id].kind != Kind::Union) continue;
      seen[id] = true;
      todo.insert(todo.end(), g_.nodes[id].alts.begin(), g_.nodes[id].alts.end());
    }
    return false;
  }

  static i128 to_units(const json& v, const std::string& path, bool round_up, bool integer, bool exclusive) {
    if (!v.is_number()) fail("{}: expected a number, got {}", path, v.dump());
    // Clamped far outside what 15 digits reach, so the conversion cannot overflow.
    const long double x = std::clamp<long double>(v.get<long double>(), -1e18L, 1e18L);
    const long double scale = integer ? 1.0L : static_cast<long double>(kUnit);
    const long double y = x * scale;
    long double r;
    if (round_up) r = exclusive ? std::floor(y) + 1 : std::ceil(y);
    else r = exclusive ? std::ceil(y) - 1 : std::floor(y);
    return i128(r) * (integer ? kUnit : 1);
  }

  uint32_t typed(const json& s, const std::string& t, const std::string& path) {
    Node n;
    if (t == "boolean" || t == "null") {
      n.kind = Kind::Literal;
      n.lits = t == "null" ? std::vector<std::string>{"null"} : std::vector<std::string>{"false", "true"};
      return add(std::move(n));
    }
    if (t == "string") {
      n.kind = Kind::String;
      n.min_len = count_value(s, "minLength", path, 0);
      n.max_len = count_value(s, "maxLength", path, kNoLimit);
      if (n.min_len > n.max_len) fail("{}: minLength {} is above maxLength {}", path, n.min_len, n.max_len);
      return add(std::move(n));
    }
    if (t == "number" || t == "integer") {
      n.kind = Kind::Number;
      n.integer = t == "integer";
      const i128 top = (pow10(kMaxIntDigits) - 1) * kUnit + (n.integer ? 0 : kUnit - 1);
      n.lo = -top;
      n.hi = top;
      for (const char* k : {"minimum", "exclusiveMinimum"})
        if (s.contains(k)) n.lo = std::max(n.lo, to_units(s[k], path + "." + k, true, n.integer, k[0] == 'e')), n.bounded = true;
      for (const char* k : {"maximum", "exclusiveMaximum"})
        if (s.contains(k)) n.hi = std::min(n.hi, to_units(s[k], path + "." + k, false, n.integer, k[0] == 'e')), n.bounded = true;
      if (n.lo > n.hi)
        fail("{}: no {} with at most {} integer and {} fraction digits lies within its minimum/maximum", path, t,
             kMaxIntDigits, n.integer ? 0 : kMaxFracDigits);
      return add(std::move(n));
    }
    if (t == "array") {
      n.kind = Kind::Array;
      if (s.contains("uniqueItems") && bool_value(s["uniqueItems"], path + ".uniqueItems"))
        fail("{}.uniqueItems: only false is supported", path);
      n.min_items = count_value(s, "minItems", path, 0);
      n.max_items = count_value(s, "maxItems", path, kNoLimit);
      if (n.min_items > n.max_items) fail("{}: minItems {} is above maxItems {}", path, n.min_items, n.max_items);
      if (s.contains("items")) {
        if (s["items"].is_array()) fail("{}.items: an array of schemas (tuple form) is not supported", path);
        n.items = compile(s["items"], path + ".items");
      } else {
        n.items = any();
      }
      return add(std::move(n));
    }
    // object
    n.kind = Kind::Object;
    std::vector<std::string> names;
    if (s.contains("properties")) {
      const json& props = s["properties"];
      if (!props.is_object()) fail("{}.properties: expected an object, got {}", path, props.dump());
      for (auto& [name, sub] : props.items()) {
        if (sub.is_boolean() && !sub.get<bool>()) continue;  // a forbidden property: never generated
        names.push_back(name);
        n.prop_nodes.push_back(compile(sub, path + ".properties." + name));
      }
    }
    bool extra_allowed = true;
    if (s.contains("additionalProperties")) {
      const json& a = s["additionalProperties"];
      if (a.is_boolean()) {
        extra_allowed = a.get<bool>();
      } else if (a.is_object() && !a.empty()) {
        n.additional = compile(a, path + ".additionalProperties");
      } else if (!a.is_object()) {
        fail("{}.additionalProperties: expected a boolean or a schema, got {}", path, a.dump());
      }
    }
    if (s.contains("required")) {
      const json& req = s["required"];
      if (!req.is_array()) fail("{}.required: expected an array of property names, got {}", path, req.dump());
      for (const auto& r : req) {
        if (!r.is_string()) fail("{}.required: expected property names, got {}", path, r.dump());
        const std::string name = r.get<std::string>();
        auto it = std::find(names.begin(), names.end(), name);
        if (it == names.end()) {
          const bool listed_false = s.contains("properties") && s["properties"].contains(name);
          if (listed_false || (!extra_allowed && n.additional < 0))
            fail("{}.required: property '{}' can never be present", path, name);
          names.push_back(name);  // required but not described: any value (or additionalProperties')
          n.prop_nodes.push_back(n.additional >= 0 ? uint32_t(n.additional) : any());
          it = names.end() - 1;
        }
        n.required |= uint64_t(1) << std::min<ptrdiff_t>(it - names.begin(), 63);
      }
    }
    if (names.size() > 64) fail("{}: more than 64 properties in one object are not supported", path);
    if (names.empty() && extra_allowed && n.additional < 0) n.additional = any();  // {"type": "object"}: any object
    std::vector<uint32_t> order(names.size());
    for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
    std::vector<std::string> keys;
    for (const auto& name : names) {
      const std::string q = json(name).dump();
      keys.push_back(q.substr(1, q.size() - 2));
    }
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return keys[a] < keys[b]; });
    for (uint32_t i : order) {
      n.keys.push_back(keys[i]);
      n.key_prop.push_back(i);
    }
    return add(std::move(n));
  }

  Grammar& g_;
  const json& root_;
  int64_t any_ = -1;
  uint32_t any_object_ = 0;
  std::map<std::string, uint32_t> refs_;
};

}  // namespace

// ---- the automaton --------------------------------------------------------------------------------------

JsonConstraint::JsonConstraint(std::shared_ptr<const Grammar> grammar, const TokenVocabulary& vocab)
    : g_(std::move(grammar)), vocab_(vocab) {
  Frame root;
  root.kind = F_ROOT;
  root.state = R_BEFORE;
  arena_.push_back(root);
  threads_ = {0};
  levels_.resize(size_t(vocab_.max_depth_) + 1);
  light_.resize(size_t(vocab_.max_depth_) + 1);
  light_frames_.resize(size_t(vocab_.max_depth_) + 1);
  marks_.resize(size_t(vocab_.max_depth_) + 1);
  allowed_.assign(size_t(vocab_.size()), 0);
}

JsonConstraint::~JsonConstraint() = default;

std::unique_ptr<JsonConstraint> JsonConstraint::any_object(const TokenVocabulary& vocab) {
  auto g = std::make_shared<Grammar>();
  static const json empty = json::object();
  Compiler c(*g, empty);
  g->root = c.any_object();
  return std::unique_ptr<JsonConstraint>(new JsonConstraint(std::move(g), vocab));
}

std::unique_ptr<JsonConstraint> JsonConstraint::from_schema(const json& schema, const TokenVocabulary& vocab) {
  auto g = std::make_shared<Grammar>();
  Compiler c(*g, schema);
  g->root = c.compile(schema, "response_format.json_schema.schema");
  return std::unique_ptr<JsonConstraint>(new JsonConstraint(std::move(g), vocab));
}

int32_t JsonConstraint::push(const Frame& f) const {
  arena_.push_back(f);
  return int32_t(arena_.size() - 1);
}

bool JsonConstraint::same_stack(int32_t a, int32_t b) const {
  while (a != b) {
    if (a < 0 || b < 0) return false;
    const Frame &x = arena_[size_t(a)], &y = arena_[size_t(b)];
    if (!x.same_content(y)) return false;
    a = x.parent;
    b = y.parent;
  }
  return true;
}

void JsonConstraint::value_start(uint32_t node_id, int32_t cont, uint8_t c, std::vector<int32_t>& out) const {
  const Node& n = g_->nodes[node_id];
  const uint16_t depth = arena_[size_t(cont)].depth;
  Frame f;
  f.parent = cont;
  f.node = node_id;
  f.depth = depth;
  switch (n.kind) {
    case Kind::Union:
      for (uint32_t alt : n.alts) value_start(alt, cont, c, out);
      return;
    case Kind::Object:
    case Kind::Array:
      if (c != (n.kind == Kind::Object ? '{' : '[') || depth >= kMaxDepth) return;
      f.kind = n.kind == Kind::Object ? F_OBJECT : F_ARRAY;
      f.state = n.kind == Kind::Object ? uint8_t(O_OPEN) : uint8_t(A_OPEN);
      f.depth = uint16_t(depth + 1);
      out.push_back(push(f));
      return;
    case Kind::String:
      if (c != '"') return;
      f.kind = F_STRING;
      f.state = S_IN;
      out.push_back(push(f));
      return;
    case Kind::Number:
      f.kind = F_NUMBER;
      if (c == '-') f.state = N_MINUS, f.flags = kNegative;
      else if (c == '0') f.state = N_ZERO;
      else if (is_digit(c)) f.state = N_INT, f.bits = c - '0', f.count = 1;
      else return;
      if (number_feasible(n, f)) out.push_back(push(f));
      return;
    case Kind::Literal:
      f.kind = F_LITERAL;
      f.lo = 0;
      f.hi = uint32_t(n.lits.size());
      narrow(n.lits, f.lo, f.hi, 0, c);
      if (f.lo == f.hi) return;
      f.count = 1;
      out.push_back(push(f));
      return;
  }
}

void JsonConstraint::step_object(int32_t head, uint8_t c, std::vector<int32_t>& out) const {
  Frame f = arena_[size_t(head)];
  const Node& n = g_->nodes[f.node];
  if (is_ws(c)) {  // every object state allows a gap
    if (f.ws >= kMaxWhitespaceRun) return;
    ++f.ws;
    out.push_back(push(f));
    return;
  }
  auto key_possible = [&] {
    if (n.additional >= 0) return true;
    const uint64_t all = n.prop_nodes.size() == 64 ? ~uint64_t(0) : (uint64_t(1) << n.prop_nodes.size()) - 1;
    return (f.bits & all) != all;
  };
  auto close = [&] {
    if ((n.required & ~f.bits) == 0) out.push_back(f.parent);
  };
  switch (f.state) {
    case O_OPEN:
    case O_COMMA:
      if (c == '"' && key_possible()) {
        Frame k;
        k.parent = head;
        k.node = f.node;
        k.kind = F_KEY;
        k.state = S_IN;
        k.depth = f.depth;
        k.lo = 0;
        k.hi = uint32_t(n.keys.size());
        k.flags = n.additional >= 0 ? kKeyFree : 0;
        out.push_back(push(k));
      } else if (c == '}' && f.state == O_OPEN) {
        close();
      }
      return;
    case O_AFTER_KEY:
      if (c == ':') {
        f.state = O_BEFORE_VALUE;
        f.ws = 0;
        out.push_back(push(f));
      }
      return;
    case O_BEFORE_VALUE: {
      Frame cont = f;
      cont.state = O_AFTER_VALUE;
      cont.ws = 0;
      uint32_t value_node;
      if (f.count == kAdditional) {
        value_node = uint32_t(n.additional);
      } else {
        cont.bits |= uint64_t(1) << f.count;
        value_node = n.prop_nodes[f.count];
      }
      value_start(value_node, push(cont), c, out);
      return;
    }
    case O_AFTER_VALUE:
      if (c == ',' && key_possible()) {
        f.state = O_COMMA;
        f.ws = 0;
        out.push_back(push(f));
      } else if (c == '}') {
        close();
      }
      return;
  }
}

void JsonConstraint::step_key(int32_t head, uint8_t c, std::vector<int32_t>& out) const {
  Frame k = arena_[size_t(head)];
  const Node& n = g_->nodes[k.node];
  const uint64_t seen = arena_[size_t(k.parent)].bits;
  const bool was_plain = k.state == S_IN;
  bool starts_char;
  const int r = string_byte(k, c, starts_char);
  if (r < 0) return;
  if (r == 1) {  // the closing quote
    uint32_t prop;
    if (k.lo < k.hi && n.keys[k.lo].size() == k.bits) {
      prop = n.key_prop[k.lo];
      if (seen & (uint64_t(1) << prop)) return;  // a duplicate key
    } else if (k.flags & kKeyFree) {
      prop = kAdditional;
    } else {
      return;
    }
    Frame obj = arena_[size_t(k.parent)];
    obj.state = O_AFTER_KEY;
    obj.ws = 0;
    obj.count = prop;
    out.push_back(push(obj));
    return;
  }
  // Free keys stay plain when listed properties exist, so a key spelled with escapes can never be
  // a listed name in disguise.
  if (was_plain && c == '\\' && !n.keys.empty()) k.flags &= uint8_t(~kKeyFree);
  if (k.lo < k.hi) narrow(n.keys, k.lo, k.hi, size_t(k.bits), c);
  ++k.bits;
  bool listed = false;
  for (uint32_t j = k.lo; j < k.hi && !listed; ++j) listed = !(seen & (uint64_t(1) << n.key_prop[j]));
  if (!listed && !(k.flags & kKeyFree)) return;
  if (!listed) k.lo = k.hi = 0;
  out.push_back(push(k));
}

void JsonConstraint::step_array(int32_t head, uint8_t c, std::vector<int32_t>& out) const {
  Frame f = arena_[size_t(head)];
  const Node& n = g_->nodes[f.node];
  if (is_ws(c)) {
    if (f.ws >= kMaxWhitespaceRun) return;
    ++f.ws;
    out.push_back(push(f));
    return;
  }
  switch (f.state) {
    case A_OPEN:
      if (c == ']') {
        if (n.min_items == 0) out.push_back(f.parent);
        return;
      }
      if (n.max_items == 0) return;
      [[fallthrough]];
    case A_COMMA: {
      Frame cont = f;
      cont.state = A_AFTER;
      cont.ws = 0;
      ++cont.count;
      value_start(n.items, push(cont), c, out);
      return;
    }
    case A_AFTER:
      if (c == ',' && f.count < n.max_items) {
        f.state = A_COMMA;
        f.ws = 0;
        out.push_back(push(f));
      } else if (c == ']' && f.count >= n.min_items) {
        out.push_back(f.parent);
      }
      return;
  }
}

void JsonConstraint::step(int32_t head, uint8_t c, std::vector<int32_t>& out) const {
  Frame f = arena_[size_t(head)];
  switch (f.kind) {
    case F_ROOT:
      if (f.state == R_BEFORE) {
        f.state = R_DONE;
        value_start(g_->root, push(f), c, out);
      }
      return;
    case F_OBJECT: step_object(head, c, out); return;
    case F_KEY: step_key(head, c, out); return;
    case F_ARRAY: step_array(head, c, out); return;
    case F_STRING: {
      const Node& n = g_->nodes[f.node];
      bool starts_char;
      const int r = string_byte(f, c, starts_char);
      if (r < 0) return;
      if (r == 1) {
        if (f.count >= n.min_len) out.push_back(f.parent);
        return;
      }
      if (starts_char) {
        if (f.count >= n.max_len) return;
        ++f.count;
      }
      out.push_back(push(f));
      return;
    }
    case F_NUMBER: {
      const Node& n = g_->nodes[f.node];
      Frame x = f;
      if (number_byte(n, x, c)) out.push_back(push(x));
      if (number_can_end(n, f)) step(f.parent, c, out);
      return;
    }
    case F_LITERAL: {
      const Node& n = g_->nodes[f.node];
      Frame x = f;
      narrow(n.lits, x.lo, x.hi, f.count, c);
      if (x.lo < x.hi) {
        ++x.count;
        out.push_back(push(x));
      }
      if (n.lits[f.lo].size() == f.count) step(f.parent, c, out);
      return;
    }
  }
}

void JsonConstraint::step_all(std::span<const int32_t> in, uint8_t c, std::vector<int32_t>& out) const {
  out.clear();
  for (int32_t h : in) {
    const size_t before = out.size();
    step(h, c, out);
    // Deduplicate: alternatives that converge (e.g. two string schemas after their closing quote)
    // would otherwise multiply with every later value.
    for (size_t i = before; i < out.size();) {
      bool dup = false;
      for (size_t j = 0; j < i && !dup; ++j) dup = same_stack(out[j], out[i]);
      if (dup) out.erase(out.begin() + ptrdiff_t(i));
      else ++i;
    }
  }
  if (out.size() > kMaxThreads) out.resize(kMaxThreads);
}

bool JsonConstraint::can_end(int32_t head) const {
  while (head >= 0) {
    const Frame& f = arena_[size_t(head)];
    if (f.kind == F_ROOT) return f.state == R_DONE;
    const Node& n = g_->nodes[f.node];
    const bool ends = (f.kind == F_NUMBER && number_can_end(n, f)) ||
                      (f.kind == F_LITERAL && n.lits[f.lo].size() == f.count);
    if (!ends) return false;
    head = f.parent;
  }
  return false;
}

bool JsonConstraint::complete() const {
  return std::any_of(threads_.begin(), threads_.end(), [&](int32_t h) { return can_end(h); });
}

bool JsonConstraint::allows(std::string_view bytes) const {
  const size_t mark = arena_.size();
  std::vector<int32_t> cur = threads_, next;
  for (char ch : bytes) {
    step_all(cur, uint8_t(ch), next);
    cur.swap(next);
    if (cur.empty()) break;
  }
  arena_.resize(mark);
  return !cur.empty();
}

void JsonConstraint::accept(int32_t token) {
  const std::string_view bytes = vocab_.bytes(token);
  const bool finished = complete();
  if (bytes.empty()) {
    if (finished && token >= 0 && token < vocab_.size()) return;  // the end token
    fail("json constraint: token {} is not allowed here (no document bytes)", token);
  }
  std::vector<int32_t> cur = threads_, next;
  const size_t mark = arena_.size();
  for (char ch : bytes) {
    step_all(cur, uint8_t(ch), next);
    cur.swap(next);
    if (cur.empty()) {
      arena_.resize(mark);
      fail("json constraint: token {} ({}) is not allowed here", token, json(std::string(bytes)).dump(
          -1, ' ', false, json::error_handler_t::replace));
    }
  }
  threads_ = std::move(cur);
  compact();
}

// Copies the live stacks into a fresh arena, so the arena stays proportional to the stacks' depth
// however long the document gets.
void JsonConstraint::compact() {
  std::vector<Frame> fresh;
  std::vector<int32_t> remap(arena_.size(), -1);
  auto copy = [&](auto&& self, int32_t h) -> int32_t {
    if (h < 0) return -1;
    if (remap[size_t(h)] >= 0) return remap[size_t(h)];
    Frame f = arena_[size_t(h)];
    f.parent = self(self, f.parent);
    fresh.push_back(f);
    return remap[size_t(h)] = int32_t(fresh.size() - 1);
  };
  for (int32_t& h : threads_) h = copy(copy, h);
  arena_.swap(fresh);
}

void JsonConstraint::mask(std::span<float> logits, std::span<const int32_t> end_tokens) const {
  const size_t n = std::min(logits.size(), size_t(vocab_.size()));
  if (logits.size() < size_t(vocab_.size())) {
    // A logits row shorter than the tokenizer's vocabulary: mask what there is.
    std::vector<float> full(size_t(vocab_.size()), 0.0f);
    std::copy(logits.begin(), logits.end(), full.begin());
    mask(full.data(), end_tokens);
    std::copy(full.begin(), full.begin() + ptrdiff_t(n), logits.begin());
    return;
  }
  mask(logits.data(), end_tokens);
  for (size_t i = n; i < logits.size(); ++i) logits[i] = -INFINITY;
}

// A thread whose top is a free string (or a key that can only be a free one) takes every content
// byte without touching the rest of its stack, so mask() steps it without the arena.
bool JsonConstraint::light_ok(const Frame& f) const {
  return f.kind == F_STRING || (f.kind == F_KEY && f.lo == f.hi && (f.flags & kKeyFree));
}

// step() for a light_ok frame and any byte but its closing quote.
bool JsonConstraint::light_step(Frame& f, uint8_t c) const {
  const Node& n = g_->nodes[f.node];
  const bool was_plain = f.state == S_IN;
  bool starts_char;
  if (string_byte(f, c, starts_char) < 0) return false;
  if (f.kind == F_KEY) {
    ++f.bits;
    return !(was_plain && c == '\\' && !n.keys.empty());
  }
  if (starts_char) {
    if (f.count >= n.max_len) return false;
    ++f.count;
  }
  return true;
}

void JsonConstraint::mask(float* logits, std::span<const int32_t> end_tokens) const {
  const size_t V = size_t(vocab_.size());
  std::fill(allowed_.begin(), allowed_.end(), 0);
  size_t n_allowed = 0;
  // The walk runs on a complete document too: a top-level number may still go on. After a closing
  // byte every first byte is rejected at once, so that costs ~256 steps.
  const auto& trie = vocab_.trie_;
  const auto& toks = vocab_.trie_tokens_;
  const uint32_t base = uint32_t(arena_.size());
  levels_[0] = threads_;
  marks_[0] = base;
  light_[0] = threads_.size() == 1 && light_ok(arena_[size_t(threads_[0])]);
  if (light_[0]) light_frames_[0] = arena_[size_t(threads_[0])];
  for (size_t i = 0; i < trie.size();) {
    const auto& node = trie[i];
    const size_t d = node.depth;
    const uint8_t c = node.byte;
    bool alive;
    if (light_[d - 1] && !(c == '"' && light_frames_[d - 1].state == S_IN)) {
      // Inside a string with one thread: the byte only changes the top frame, kept off the arena.
      light_frames_[d] = light_frames_[d - 1];
      alive = light_step(light_frames_[d], c);
      light_[d] = true;
      marks_[d] = marks_[d - 1];
    } else {
      arena_.resize(marks_[d - 1]);
      if (light_[d - 1]) {
        const int32_t h = push(light_frames_[d - 1]);
        step_all(std::span<const int32_t>(&h, 1), c, levels_[d]);
      } else {
        step_all(levels_[d - 1], c, levels_[d]);
      }
      alive = !levels_[d].empty();
      light_[d] = levels_[d].size() == 1 && light_ok(arena_[size_t(levels_[d][0])]);
      if (light_[d]) light_frames_[d] = arena_[size_t(levels_[d][0])];
      marks_[d] = uint32_t(arena_.size());
    }
    if (!alive) {
      i = node.skip;
      continue;
    }
    for (uint32_t t = 0; t < node.token_count; ++t) allowed_[size_t(toks[node.first_token + t])] = 1;
    n_allowed += node.token_count;
    ++i;
  }
  arena_.resize(base);
  if (n_allowed == 0 || complete())
    for (int32_t e : end_tokens)
      if (e >= 0 && size_t(e) < V) allowed_[size_t(e)] = 1;
  for (size_t i = 0; i < V; ++i)
    if (!allowed_[i]) logits[i] = -INFINITY;
}

}  // namespace r1::server
