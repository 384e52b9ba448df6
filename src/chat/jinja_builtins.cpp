#include "chat/jinja_builtins.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <set>

#include "chat/jinja_strings.h"
#include "core/error.h"
#include "core/html_escape.h"

namespace r1::jinja {

[[noreturn]] void undefined_error(const Value& v, int line) {
  fail("template line {}: {}", line, v.s.empty() ? std::string("value is undefined") : v.s);
}

static Value undefined(std::string why) {
  Value v;
  v.s = std::move(why);
  return v;
}

static std::string object_name(const Value& v) { return std::string("'") + type_name(v) + " object'"; }

// ---- argument helpers -------------------------------------------------------------------------

namespace {

struct ArgReader {
  Args& args;
  const char* what;
  int line;

  // The parameter `name` at position `pos` (counting after the input), or `fallback`.
  Value get(size_t pos, const char* name, Value fallback = Value()) {
    for (auto& [k, v] : args.keyword) {
      if (k == name) return v;
    }
    if (pos < args.positional.size()) return args.positional[pos];
    return fallback;
  }
};

std::string want_string(const Value& v, const char* what, int line) {
  if (v.is_undefined()) undefined_error(v, line);
  if (!v.is_string()) fail("template line {}: {} expects a string, got {}", line, what, type_name(v));
  return v.s;
}

int64_t want_int(const Value& v, const char* what, int line) {
  if (v.kind == Value::Kind::Int) return v.i;
  if (v.kind == Value::Kind::Bool) return v.b;
  if (v.is_undefined()) undefined_error(v, line);
  fail("template line {}: {} expects an integer, got {}", line, what, type_name(v));
}

double as_double(const Value& v) {
  return v.kind == Value::Kind::Float ? v.f : v.kind == Value::Kind::Bool ? double(v.b) : double(v.i);
}

// Python's a < b for the types templates sort and compare.
bool less(const Value& a, const Value& b, int line) {
  if (a.is_number() && b.is_number()) return as_double(a) < as_double(b);
  if (a.is_string() && b.is_string()) return a.s < b.s;  // UTF-8 byte order == code point order
  fail("template line {}: '<' not supported between '{}' and '{}'", line, type_name(a), type_name(b));
}

}  // namespace

// ---- lookups ----------------------------------------------------------------------------------

static Value bound(std::function<Value(Args&)> f) { return Value::callable(std::move(f)); }

static Value string_method(const std::string& s, const std::string& name, int line) {
  using namespace strings;
  auto arg_str = [line](Args& a, size_t k, const char* what) -> std::optional<std::string> {
    if (k >= a.positional.size() || a.positional[k].is_none()) return std::nullopt;
    return want_string(a.positional[k], what, line);
  };
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const bool left = name != "rstrip", right = name != "lstrip";
    return bound([=](Args& a) { return Value::string(strip(s, arg_str(a, 0, "strip"), left, right)); });
  }
  if (name == "split" || name == "rsplit") {
    return bound([=](Args& a) {
      ArgReader r{a, "split", line};
      const Value sep = r.get(0, "sep", Value::none());
      const int64_t maxsplit = want_int(r.get(1, "maxsplit", Value::integer(-1)), "split", line);
      List out;
      std::vector<std::string> parts = sep.is_none() ? split_whitespace(s, maxsplit, name == "rsplit")
                                                     : split(s, want_string(sep, "split", line), maxsplit,
                                                             name == "rsplit", line);
      for (auto& p : parts) out.push_back(Value::string(std::move(p)));
      return Value::make_list(std::move(out));
    });
  }
  if (name == "startswith" || name == "endswith") {
    return bound([=](Args& a) {
      if (a.positional.empty()) fail("template line {}: {}() needs an argument", line, name);
      const Value& x = a.positional[0];
      std::vector<std::string> options;
      if (x.kind == Value::Kind::List) {
        for (const Value& o : *x.list) options.push_back(want_string(o, name.c_str(), line));
      } else {
        options.push_back(want_string(x, name.c_str(), line));
      }
      for (const auto& o : options) {
        const bool hit = name == "startswith" ? s.compare(0, o.size(), o) == 0 && s.size() >= o.size()
                                              : s.size() >= o.size() && s.compare(s.size() - o.size(), o.size(), o) == 0;
        if (hit) return Value::boolean(true);
      }
      return Value::boolean(false);
    });
  }
  if (name == "upper") return bound([=](Args&) { return Value::string(upper(s)); });
  if (name == "lower") return bound([=](Args&) { return Value::string(lower(s)); });
  if (name == "title") return bound([=](Args&) { return Value::string(title(s)); });
  if (name == "capitalize") return bound([=](Args&) { return Value::string(capitalize(s)); });
  if (name == "replace") {
    return bound([=](Args& a) {
      ArgReader r{a, "replace", line};
      return Value::string(replace(s, want_string(r.get(0, "old"), "replace", line),
                                   want_string(r.get(1, "new"), "replace", line),
                                   want_int(r.get(2, "count", Value::integer(-1)), "replace", line)));
    });
  }
  if (name == "find" || name == "rfind" || name == "count" || name == "index") {
    return bound([=](Args& a) {
      const std::string sub = want_string(ArgReader{a, name.c_str(), line}.get(0, "sub"), name.c_str(), line);
      if (name == "count") return Value::integer(count(s, sub));
      const size_t at = name == "rfind" ? s.rfind(sub) : s.find(sub);
      if (at == std::string::npos) {
        if (name == "index") fail("template line {}: substring not found", line);
        return Value::integer(-1);
      }
      return Value::integer(int64_t(code_point_count(std::string_view(s).substr(0, at))));
    });
  }
  if (name == "join") {
    return bound([=](Args& a) {
      if (a.positional.empty()) fail("template line {}: join() needs an argument", line);
      std::string out;
      bool first = true;
      for (const Value& v : iterate(a.positional[0], line)) {
        if (!first) out += s;
        first = false;
        out += want_string(v, "str.join", line);
      }
      return Value::string(std::move(out));
    });
  }
  if (name == "splitlines") {
    return bound([=](Args&) {
      List out;
      for (auto& p : splitlines(s)) out.push_back(Value::string(std::move(p)));
      return Value::make_list(std::move(out));
    });
  }
  if (name == "isdigit" || name == "isspace" || name == "isalpha" || name == "isalnum" || name == "islower" ||
      name == "isupper") {
    return bound([=](Args&) { return Value::boolean(char_class(s, name)); });
  }
  return undefined(fmt::format("'str object' has no attribute '{}'", name));
}

Value get_attr(const Value& obj, const std::string& name, int line) {
  switch (obj.kind) {
    case Value::Kind::Undefined: undefined_error(obj, line);
    case Value::Kind::Namespace: {
      if (const Value* v = obj.find(name)) return *v;
      return undefined(fmt::format("'Namespace object' has no attribute '{}'", name));
    }
    case Value::Kind::Dict: {
      // Python attributes win over keys (jinja2 tries getattr first): d.items is the method.
      const std::shared_ptr<Dict> d = obj.dict;
      if (name == "items" || name == "keys" || name == "values") {
        return bound([d, name](Args&) {
          List out;
          for (const auto& [k, v] : *d) {
            if (name == "items") out.push_back(Value::make_list({Value::string(k), v}));
            else out.push_back(name == "keys" ? Value::string(k) : v);
          }
          return Value::make_list(std::move(out));
        });
      }
      if (name == "get") {
        return bound([obj, line](Args& a) {
          if (a.positional.empty()) fail("template line {}: get() needs a key", line);
          if (a.positional[0].is_string()) {
            if (const Value* v = obj.find(a.positional[0].s)) return *v;
          }
          return a.positional.size() > 1 ? a.positional[1] : Value::none();
        });
      }
      if (const Value* v = obj.find(name)) return *v;
      return undefined(fmt::format("'dict object' has no attribute '{}'", name));
    }
    case Value::Kind::String: return string_method(obj.s, name, line);
    default: return undefined(fmt::format("{} has no attribute '{}'", object_name(obj), name));
  }
}

static int64_t normalize_index(int64_t k, size_t n) { return k < 0 ? k + int64_t(n) : k; }

Value get_item(const Value& obj, const Value& key, int line) {
  if (obj.is_undefined()) undefined_error(obj, line);
  if (key.is_undefined()) undefined_error(key, line);
  if (obj.is_mapping()) {
    if (key.is_string()) {
      if (const Value* v = obj.find(key.s)) return *v;
      if (obj.kind == Value::Kind::Dict) return get_attr(obj, key.s, line);  // d['items'] -> method
    }
    return undefined(fmt::format("{} has no attribute {}", object_name(obj), repr(key)));
  }
  if (key.kind == Value::Kind::Int || key.kind == Value::Kind::Bool) {
    const int64_t raw = key.kind == Value::Kind::Int ? key.i : key.b;
    if (obj.kind == Value::Kind::List) {
      const int64_t k = normalize_index(raw, obj.list->size());
      if (k >= 0 && k < int64_t(obj.list->size())) return (*obj.list)[size_t(k)];
      return undefined(fmt::format("list object has no element {}", raw));
    }
    if (obj.is_string()) {
      const auto cps = code_points(obj.s);
      const int64_t k = normalize_index(raw, cps.size());
      if (k >= 0 && k < int64_t(cps.size())) return Value::string(std::string(cps[size_t(k)]));
      return undefined(fmt::format("str object has no element {}", raw));
    }
  }
  if (key.is_string()) return get_attr(obj, key.s, line);
  return undefined(fmt::format("{} has no element {}", object_name(obj), repr(key)));
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step, int line) {
  if (obj.is_undefined()) undefined_error(obj, line);
  auto opt = [&](const Value& v) -> std::optional<int64_t> {
    if (v.is_none() || (v.is_undefined() && v.s.empty())) return std::nullopt;
    return want_int(v, "a slice", line);
  };
  const std::optional<int64_t> a = opt(start), b = opt(stop), c = opt(step);
  std::vector<std::string_view> cps;
  size_t n;
  if (obj.kind == Value::Kind::List) {
    n = obj.list->size();
  } else if (obj.is_string()) {
    cps = code_points(obj.s);
    n = cps.size();
  } else {
    return undefined(fmt::format("{} is not subscriptable", object_name(obj)));
  }
  const std::vector<size_t> idx = strings::slice_indices(n, a, b, c, line);
  if (obj.kind == Value::Kind::List) {
    List out;
    for (size_t k : idx) out.push_back((*obj.list)[k]);
    return Value::make_list(std::move(out));
  }
  std::string out;
  for (size_t k : idx) out += cps[k];
  return Value::string(std::move(out));
}

List iterate(const Value& v, int line) {
  switch (v.kind) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List: return *v.list;
    case Value::Kind::Dict: {
      List keys;
      for (const auto& kv : *v.dict) keys.push_back(Value::string(kv.first));
      return keys;
    }
    case Value::Kind::String: {
      List chars;
      for (auto cp : code_points(v.s)) chars.push_back(Value::string(std::string(cp)));
      return chars;
    }
    default: fail("template line {}: '{}' object is not iterable", line, type_name(v));
  }
}

bool contains(const Value& container, const Value& item, int line) {
  switch (container.kind) {
    case Value::Kind::String:
      if (item.is_undefined()) undefined_error(item, line);
      if (!item.is_string()) fail("template line {}: 'in <string>' requires string as left operand, not {}", line, type_name(item));
      return container.s.find(item.s) != std::string::npos;
    case Value::Kind::List:
      return std::any_of(container.list->begin(), container.list->end(), [&](const Value& e) { return equal(e, item); });
    case Value::Kind::Dict: return item.is_string() && container.find(item.s);
    case Value::Kind::Undefined: return false;
    default: fail("template line {}: argument of type '{}' is not iterable", line, type_name(container));
  }
}

// ---- tests ------------------------------------------------------------------------------------

bool apply_test(const std::string& name, const Value& v, Args& args, int line) {
  auto arg = [&](size_t k) -> const Value& {
    if (k >= args.positional.size()) fail("template line {}: test '{}' needs an argument", line, name);
    return args.positional[k];
  };
  using K = Value::Kind;
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "string") return v.is_string();
  if (name == "number") return v.kind == K::Int || v.kind == K::Float || v.kind == K::Bool;
  if (name == "integer") return v.kind == K::Int;
  if (name == "float") return v.kind == K::Float;
  if (name == "boolean") return v.kind == K::Bool;
  if (name == "true") return v.kind == K::Bool && v.b;
  if (name == "false") return v.kind == K::Bool && !v.b;
  if (name == "mapping") return v.kind == K::Dict;
  if (name == "iterable") return v.kind == K::List || v.kind == K::Dict || v.kind == K::String || v.kind == K::Undefined;
  if (name == "sequence") return v.kind == K::List || v.kind == K::Dict || v.kind == K::String || v.kind == K::Undefined;
  if (name == "callable") return v.kind == K::Callable;
  if (name == "equalto" || name == "eq" || name == "==") return equal(v, arg(0));
  if (name == "ne" || name == "!=") return !equal(v, arg(0));
  if (name == "lt" || name == "lessthan" || name == "<") return less(v, arg(0), line);
  if (name == "gt" || name == "greaterthan" || name == ">") return less(arg(0), v, line);
  if (name == "le" || name == "<=") return !less(arg(0), v, line);
  if (name == "ge" || name == ">=") return !less(v, arg(0), line);
  if (name == "in") return contains(arg(0), v, line);
  if (name == "sameas") {
    const Value& o = arg(0);
    if (v.kind != o.kind) return false;
    switch (v.kind) {
      case K::None: case K::Undefined: return true;
      case K::Bool: return v.b == o.b;
      case K::Int: return v.i == o.i;  // CPython caches small ints; close enough for templates
      case K::List: return v.list == o.list;
      case K::Dict: case K::Namespace: return v.dict == o.dict;
      default: return false;
    }
  }
  if (name == "odd" || name == "even") {
    const int64_t x = want_int(v, name.c_str(), line);
    return (x % 2 != 0) == (name == "odd");
  }
  if (name == "divisibleby") {
    const int64_t d = want_int(arg(0), "divisibleby", line);
    if (d == 0) fail("template line {}: integer division by zero", line);
    return want_int(v, "divisibleby", line) % d == 0;
  }
  if (name == "lower") return v.is_string() && strings::lower(v.s) == v.s;
  if (name == "upper") return v.is_string() && strings::upper(v.s) == v.s;
  fail("template line {}: unsupported test '{}'", line, name);
}

// ---- filters ----------------------------------------------------------------------------------

static Value attribute_path(const Value& v, const Value& attr, int line) {
  // "a.b" and integer attributes as jinja2's make_attrgetter
  if (attr.kind == Value::Kind::Int) return get_item(v, attr, line);
  Value cur = v;
  const std::string path = want_string(attr, "attribute", line);
  size_t start = 0;
  for (;;) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    const bool index = digits && part.size() < 18;
    cur = get_item(cur, index ? Value::integer(std::stoll(part)) : Value::string(part), line);
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

static Value select_filter(const std::string& name, const Value& input, Args& args, int line) {
  // select(test, *args) / reject(...) / selectattr(attr, test, *args) / rejectattr(...)
  const bool by_attr = name == "selectattr" || name == "rejectattr";
  const bool keep = name == "select" || name == "selectattr";
  size_t k = 0;
  Value attr;
  if (by_attr) {
    if (args.positional.empty()) fail("template line {}: {} needs an attribute", line, name);
    attr = args.positional[k++];
  }
  std::string test;
  if (k < args.positional.size()) test = want_string(args.positional[k++], name.c_str(), line);
  Args test_args;
  test_args.positional.assign(args.positional.begin() + std::ptrdiff_t(k), args.positional.end());
  List out;
  for (const Value& item : iterate(input, line)) {
    const Value v = by_attr ? attribute_path(item, attr, line) : item;
    const bool pass = test.empty() ? truthy(v) : apply_test(test, v, test_args, line);
    if (pass == keep) out.push_back(item);
  }
  return Value::make_list(std::move(out));
}

Value apply_filter(const std::string& name, const Value& input, Args& args, int line) {
  ArgReader r{args, name.c_str(), line};
  auto text = [&]() { return to_str(input); };
  if (name == "safe") return input;
  if (name == "string") return Value::string(text());
  if (name == "trim") {
    const Value chars = r.get(0, "chars", Value::none());
    return Value::string(strings::strip(text(), chars.is_none() ? std::nullopt
                                                                : std::optional(want_string(chars, "trim", line)),
                                        true, true));
  }
  if (name == "upper") return Value::string(strings::upper(text()));
  if (name == "lower") return Value::string(strings::lower(text()));
  if (name == "capitalize") return Value::string(strings::capitalize(text()));
  if (name == "title") return Value::string(strings::title_filter(text()));
  if (name == "escape" || name == "e" || name == "forceescape") return Value::string(html_escape(text()));
  if (name == "replace") {
    const Value count = r.get(2, "count", Value::none());
    return Value::string(strings::replace(text(), to_str(r.get(0, "old")), to_str(r.get(1, "new")),
                                          count.is_none() ? -1 : want_int(count, "replace", line)));
  }
  if (name == "length" || name == "count") {
    switch (input.kind) {
      case Value::Kind::String: return Value::integer(int64_t(code_point_count(input.s)));
      case Value::Kind::List: return Value::integer(int64_t(input.list->size()));
      case Value::Kind::Dict: return Value::integer(int64_t(input.dict->size()));
      case Value::Kind::Undefined: return Value::integer(0);
      default: fail("template line {}: object of type '{}' has no len()", line, type_name(input));
    }
  }
  if (name == "default" || name == "d") {
    const bool boolean = truthy(r.get(1, "boolean", Value::boolean(false)));
    if (input.is_undefined() || (boolean && !truthy(input))) return r.get(0, "default_value", Value::string(""));
    return input;
  }
  if (name == "tojson") {
    // transformers: json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)
    DumpOptions o;
    const Value indent = r.get(0, "indent", Value::none());
    if (!indent.is_none()) o.indent = int(std::clamp<int64_t>(want_int(indent, "tojson indent", line), 0, 64));
    const Value seps = r.get(2, "separators", Value::none());
    if (seps.kind == Value::Kind::List && seps.list->size() == 2) {
      o.item_sep = want_string((*seps.list)[0], "tojson separators", line);
      o.key_sep = want_string((*seps.list)[1], "tojson separators", line);
      if (o.item_sep.empty()) o.item_sep = "\x01";  // empty is a valid separator: mark it
      if (o.key_sep.empty()) o.key_sep = "\x01";
    }
    o.sort_keys = truthy(r.get(3, "sort_keys", Value::boolean(false)));
    if (truthy(r.get(1, "ensure_ascii", Value::boolean(false)))) {
      fail("template line {}: unsupported: tojson(ensure_ascii=True)", line);
    }
    if (input.is_undefined()) fail("template line {}: Object of type Undefined is not JSON serializable", line);
    try {
      std::string out = dumps(input, o);
      if (o.item_sep == "\x01" || o.key_sep == "\x01") out = strings::replace(out, "\x01", "", -1);
      return Value::string(std::move(out));
    } catch (const std::runtime_error& e) {
      fail("template line {}: {}", line, e.what());
    }
  }
  if (name == "items") {
    if (input.is_undefined()) return Value::make_list();
    if (!input.is_mapping()) fail("template line {}: items filter: can only get item pairs from a mapping", line);
    List out;
    for (const auto& [k, v] : *input.dict) out.push_back(Value::make_list({Value::string(k), v}));
    return Value::make_list(std::move(out));
  }
  if (name == "dictsort") {
    if (!input.is_mapping()) fail("template line {}: dictsort expects a mapping", line);
    const bool by_value = to_str(r.get(1, "by", Value::string("key"))) == "value";
    const bool reverse = truthy(r.get(2, "reverse", Value::boolean(false)));
    const bool case_sensitive = truthy(r.get(0, "case_sensitive", Value::boolean(false)));
    List out;
    for (const auto& [k, v] : *input.dict) out.push_back(Value::make_list({Value::string(k), v}));
    auto key = [&](const Value& pair) {
      Value x = (*pair.list)[by_value ? 1 : 0];
      if (!case_sensitive && x.is_string()) x.s = strings::lower(x.s);
      return x;
    };
    std::stable_sort(out.begin(), out.end(), [&](const Value& a, const Value& b) {
      return reverse ? less(key(b), key(a), line) : less(key(a), key(b), line);
    });
    return Value::make_list(std::move(out));
  }
  if (name == "list") return Value::make_list(iterate(input, line));
  if (name == "first" || name == "last") {
    List items = iterate(input, line);
    if (items.empty()) return undefined(fmt::format("No {} item, sequence was empty.", name));
    return name == "first" ? items.front() : items.back();
  }
  if (name == "reverse") {
    if (input.is_string()) {
      auto cps = code_points(input.s);
      std::string out;
      for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
      return Value::string(std::move(out));
    }
    List items = iterate(input, line);
    std::reverse(items.begin(), items.end());
    return Value::make_list(std::move(items));
  }
  if (name == "join") {
    const std::string sep = to_str(r.get(0, "d", Value::string("")));
    const Value attr = r.get(1, "attribute", Value::none());
    std::string out;
    bool first = true;
    for (const Value& item : iterate(input, line)) {
      if (!first) out += sep;
      first = false;
      out += to_str(attr.is_none() ? item : attribute_path(item, attr, line));
    }
    return Value::string(std::move(out));
  }
  if (name == "map") {
    List out;
    Value attr;
    for (auto& [k, v] : args.keyword) {
      if (k == "attribute") attr = v;
    }
    if (!attr.is_undefined()) {
      const Value def = r.get(99, "default", Value());
      for (const Value& item : iterate(input, line)) {
        Value v = attribute_path(item, attr, line);
        out.push_back(v.is_undefined() && !def.is_undefined() ? def : v);
      }
      return Value::make_list(std::move(out));
    }
    if (args.positional.empty()) fail("template line {}: map needs a filter name or attribute=", line);
    const std::string filter = want_string(args.positional[0], "map", line);
    Args rest;
    rest.positional.assign(args.positional.begin() + 1, args.positional.end());
    rest.keyword = args.keyword;
    for (const Value& item : iterate(input, line)) {
      Args a = rest;
      out.push_back(apply_filter(filter, item, a, line));
    }
    return Value::make_list(std::move(out));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    return select_filter(name, input, args, line);
  }
  if (name == "unique") {
    List out;
    for (const Value& item : iterate(input, line)) {
      if (std::none_of(out.begin(), out.end(), [&](const Value& o) { return equal(o, item); })) out.push_back(item);
    }
    return Value::make_list(std::move(out));
  }
  if (name == "sort") {
    const bool reverse = truthy(r.get(0, "reverse", Value::boolean(false)));
    const Value attr = r.get(2, "attribute", Value::none());
    List items = iterate(input, line);
    auto key = [&](const Value& v) {
      Value x = attr.is_none() ? v : attribute_path(v, attr, line);
      if (x.is_string()) x.s = strings::lower(x.s);  // case_sensitive=False by default
      return x;
    };
    std::stable_sort(items.begin(), items.end(), [&](const Value& a, const Value& b) {
      return reverse ? less(key(b), key(a), line) : less(key(a), key(b), line);
    });
    return Value::make_list(std::move(items));
  }
  if (name == "min" || name == "max") {
    List items = iterate(input, line);
    if (items.empty()) return undefined("No aggregated item, sequence was empty.");
    Value best = items[0];
    for (const Value& v : items) {
      if (name == "min" ? less(v, best, line) : less(best, v, line)) best = v;
    }
    return best;
  }
  if (name == "sum") {
    Value total = r.get(1, "start", Value::integer(0));
    const Value attr = r.get(0, "attribute", Value::none());
    for (const Value& item : iterate(input, line)) {
      const Value v = attr.is_none() ? item : attribute_path(item, attr, line);
      if (!v.is_number() || !total.is_number()) fail("template line {}: sum of non-numbers", line);
      if (v.kind == Value::Kind::Float || total.kind == Value::Kind::Float) total = Value::number(as_double(total) + as_double(v));
      else total = Value::integer(want_int(total, "sum", line) + want_int(v, "sum", line));
    }
    return total;
  }
  if (name == "abs") {
    if (input.kind == Value::Kind::Float) return Value::number(std::fabs(input.f));
    const int64_t x = want_int(input, "abs", line);
    return Value::integer(x < 0 ? -x : x);
  }
  if (name == "int") {
    const Value def = r.get(0, "default", Value::integer(0));
    if (input.kind == Value::Kind::Int) return input;
    if (input.kind == Value::Kind::Bool) return Value::integer(input.b);
    if (input.kind == Value::Kind::Float) return std::isfinite(input.f) ? Value::integer(int64_t(input.f)) : def;
    if (input.is_string()) {
      const std::string t = strings::strip(input.s, std::nullopt, true, true);
      char* end = nullptr;
      errno = 0;
      const long long x = std::strtoll(t.c_str(), &end, 10);
      if (!t.empty() && end && *end == 0 && errno == 0) return Value::integer(x);
      const double d = std::strtod(t.c_str(), &end);
      if (!t.empty() && end && *end == 0 && std::isfinite(d) && std::fabs(d) < 9e18) return Value::integer(int64_t(d));
    }
    return def;
  }
  if (name == "float") {
    const Value def = r.get(0, "default", Value::number(0.0));
    if (input.is_number()) return Value::number(as_double(input));
    if (input.is_string()) {
      const std::string t = strings::strip(input.s, std::nullopt, true, true);
      char* end = nullptr;
      const double d = std::strtod(t.c_str(), &end);
      if (!t.empty() && end && *end == 0) return Value::number(d);
    }
    return def;
  }
  if (name == "indent") {
    const Value w = r.get(0, "width", Value::integer(4));
    const std::string pad = w.is_string() ? w.s : std::string(size_t(std::clamp<int64_t>(want_int(w, "indent", line), 0, 256)), ' ');
    return Value::string(strings::indent(text(), pad, truthy(r.get(1, "first", Value::boolean(false))),
                                         truthy(r.get(2, "blank", Value::boolean(false)))));
  }
  if (name == "wordcount") return Value::integer(int64_t(strings::split_whitespace(text(), -1, false).size()));
  fail("template line {}: unsupported filter '{}'", line, name);
}

// ---- names ------------------------------------------------------------------------------------

static Support lookup(const std::string& name, const std::set<std::string>& ours, const std::set<std::string>& jinja) {
  if (ours.count(name)) return Support::Supported;
  return jinja.count(name) ? Support::Unsupported : Support::Unknown;
}

Support filter_support(const std::string& name) {
  static const std::set<std::string> ours = {
      "safe", "string", "trim", "upper", "lower", "capitalize", "title", "escape", "e", "forceescape", "replace",
      "length", "count", "default", "d", "tojson", "items", "dictsort", "list", "first", "last", "reverse", "join",
      "map", "select", "reject", "selectattr", "rejectattr", "unique", "sort", "min", "max", "sum", "abs", "int",
      "float", "indent", "wordcount"};
  static const std::set<std::string> jinja = {
      "attr", "batch", "center", "filesizeformat", "format", "groupby", "pprint", "random", "round", "slice",
      "striptags", "truncate", "urlencode", "urlize", "wordwrap", "xmlattr"};
  return lookup(name, ours, jinja);
}

Support test_support(const std::string& name) {
  static const std::set<std::string> ours = {
      "defined", "undefined", "none", "string", "number", "integer", "float", "boolean", "true", "false", "mapping",
      "iterable", "sequence", "callable", "equalto", "eq", "==", "ne", "!=", "lt", "lessthan", "<", "gt",
      "greaterthan", ">", "le", "<=", "ge", ">=", "in", "sameas", "odd", "even", "divisibleby", "lower", "upper"};
  static const std::set<std::string> jinja = {"escaped", "filter", "test"};
  return lookup(name, ours, jinja);
}

// ---- globals ----------------------------------------------------------------------------------

Dict builtin_globals() {
  Dict g;
  g.emplace_back("range", Value::callable([](Args& a) {
    // jinja2's sandbox caps ranges at 100000 items (MAX_RANGE).
    int64_t start = 0, stop = 0, step = 1;
    const auto& p = a.positional;
    if (p.size() == 1) stop = want_int(p[0], "range", 0);
    else if (p.size() >= 2) {
      start = want_int(p[0], "range", 0);
      stop = want_int(p[1], "range", 0);
      if (p.size() >= 3) step = want_int(p[2], "range", 0);
    } else fail("template: range expected at least 1 argument");
    if (step == 0) fail("template: range() arg 3 must not be zero");
    List out;
    for (int64_t k = start; step > 0 ? k < stop : k > stop; k += step) {
      if (out.size() >= 100000) fail("template: range too big (the sandbox allows 100000 items)");
      out.push_back(Value::integer(k));
    }
    return Value::make_list(std::move(out));
  }));
  auto make_dict = [](Args& a, Value::Kind kind) {
    Value d = Value::make_dict();
    d.kind = kind;
    d.shares = kind == Value::Kind::Namespace;
    if (!a.positional.empty()) {
      if (!a.positional[0].is_mapping()) fail("template: namespace()/dict() takes a mapping or keywords");
      for (const auto& [k, v] : *a.positional[0].dict) d.set(k, v);
    }
    for (const auto& [k, v] : a.keyword) d.set(k, v);
    return d;
  };
  g.emplace_back("namespace", Value::callable([make_dict](Args& a) { return make_dict(a, Value::Kind::Namespace); }));
  g.emplace_back("dict", Value::callable([make_dict](Args& a) { return make_dict(a, Value::Kind::Dict); }));
  g.emplace_back("raise_exception", Value::callable([](Args& a) -> Value {
    fail("template raised an exception: {}", a.positional.empty() ? std::string() : to_str(a.positional[0]));
  }));
  g.emplace_back("strftime_now", Value::callable([](Args& a) {
    if (a.positional.empty()) fail("template: strftime_now needs a format");
    const std::string format = want_string(a.positional[0], "strftime_now", 0);
    const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[512];
    const size_t n = format.empty() ? 0 : std::strftime(buf, sizeof buf, format.c_str(), &tm);
    return Value::string(std::string(buf, n));
  }));
  return g;
}

}  // namespace r1::jinja
