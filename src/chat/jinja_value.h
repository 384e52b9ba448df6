// The values a Jinja template computes with, with Python's semantics where chat templates can see them.
//
// Hugging Face renders chat templates with Python's jinja2, so every observable detail -- how None
// prints, that 1 == 1.0, dict order, float repr, string length in code points, json.dumps spacing --
// must match Python for the prompt to be byte-identical. Lists and dicts are shared (reference
// semantics, like Python objects); strings are UTF-8.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace r1::jinja {

struct Value;
using List = std::vector<Value>;
using Dict = std::vector<std::pair<std::string, Value>>;  // insertion-ordered, like a Python dict

// Arguments of a call: positional, then keyword.
struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};
using Function = std::function<Value(Args&)>;

struct Value {
  // Undefined is Jinja's missing value (prints as "", false, iterates empty, errors on arithmetic);
  // Namespace is namespace(): a dict whose attributes `{% set ns.x = ... %}` may change.
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Callable };

  Kind kind = Kind::Undefined;
  bool b = false;
  int64_t i = 0;
  double f = 0;
  std::string s;
  std::shared_ptr<List> list;
  std::shared_ptr<Dict> dict;  // Dict and Namespace
  std::shared_ptr<Function> fn;
  // Guards for the renderer: `nest` is how deeply containers nest below this value (bounded, so
  // printing, comparing and freeing never recurse too deep); `shares` says it holds a namespace or a
  // function, which could close a reference cycle if stored into a namespace.
  uint16_t nest = 0;
  bool shares = false;
  uint64_t weight = 0;  // containers: elements below, counted recursively (strings by size / 64)

  static constexpr int kMaxNest = 512;

  Value() = default;
  static Value none() { Value v; v.kind = Kind::None; return v; }
  static Value boolean(bool x) { Value v; v.kind = Kind::Bool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.kind = Kind::Int; v.i = x; return v; }
  static Value number(double x) { Value v; v.kind = Kind::Float; v.f = x; return v; }
  static Value string(std::string x) { Value v; v.kind = Kind::String; v.s = std::move(x); return v; }
  // These throw r1::Error if the result would nest deeper than kMaxNest.
  static Value make_list(List items = {});
  static Value make_dict(Dict items = {});
  static Value callable(Function f) {
    Value v; v.kind = Kind::Callable; v.fn = std::make_shared<Function>(std::move(f)); v.shares = true; return v;
  }

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_none() const { return kind == Kind::None; }
  bool is_string() const { return kind == Kind::String; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float || kind == Kind::Bool; }
  bool is_mapping() const { return kind == Kind::Dict || kind == Kind::Namespace; }
  // Roughly how much work visiting the whole value costs (printing, comparing, copying it).
  uint64_t cost() const { return kind == Kind::String ? s.size() / 64 : weight; }

  // Dict lookup; nullptr when absent.
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value v);  // on a Dict / Namespace
};

// Python's bool(x).
bool truthy(const Value& v);
// Python's str(x) as Jinja prints it ({{ x }}): None -> "None", True -> "True", lists in repr form.
std::string to_str(const Value& v);
// Python's repr(x).
std::string repr(const Value& v);
// Python's repr of a float ("1.0", "1e+16", "0.1").
std::string float_repr(double x);
// Python's x == y (1 == 1.0 == True, lists and dicts compared deeply).
bool equal(const Value& a, const Value& b);
// Python's type name, for error messages.
const char* type_name(const Value& v);

// json.dumps(x, ensure_ascii=False, indent=indent, separators=..., sort_keys=...) as transformers' tojson.
struct DumpOptions {
  int indent = -1;  // -1: None (one line)
  std::string item_sep, key_sep;  // empty: Python's defaults for the indent
  bool sort_keys = false;
};
std::string dumps(const Value& v, const DumpOptions& options);

Value from_json(const nlohmann::ordered_json& j);

// UTF-8 helpers: Python indexes strings by code point.
std::vector<std::string_view> code_points(std::string_view s);
size_t code_point_count(std::string_view s);

}  // namespace r1::jinja
