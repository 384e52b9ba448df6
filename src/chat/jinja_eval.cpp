// Tree-walking evaluator. Scoping follows jinja2: every for-loop iteration and macro call gets a
// fresh scope (so `set` inside a loop is not visible after it, which is why templates use
// namespace()), while if-blocks share their enclosing scope.
#include <cmath>

#include "chat/jinja.h"
#include "chat/jinja_ast.h"
#include "chat/jinja_builtins.h"
#include "core/error.h"

namespace r1::jinja {

namespace {

struct Scope {
  Dict vars;
  const Scope* parent = nullptr;

  const Value* lookup(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent) {
      for (const auto& [k, v] : s->vars) {
        if (k == name) return &v;
      }
    }
    return nullptr;
  }
  void set(const std::string& name, Value v) {
    for (auto& [k, old] : vars) {
      if (k == name) {
        old = std::move(v);
        return;
      }
    }
    vars.emplace_back(name, std::move(v));
  }
};

enum class Flow { Normal, Break, Continue };

double num(const Value& v) {
  return v.kind == Value::Kind::Float ? v.f : v.kind == Value::Kind::Bool ? double(v.b) : double(v.i);
}
int64_t whole(const Value& v) { return v.kind == Value::Kind::Bool ? v.b : v.i; }
bool is_int(const Value& v) { return v.kind == Value::Kind::Int || v.kind == Value::Kind::Bool; }

class Evaluator {
 public:
  // `root` is the top-level scope: it lives for the whole render, and macros resolve names there.
  Evaluator(const Limits& limits, const Scope* root) : limits_(limits), root_(root) {}

  void exec_body(const Body& body, Scope& scope, std::string& out, Flow& flow) {
    for (const NodePtr& n : body) {
      exec(*n, scope, out, flow);
      if (flow != Flow::Normal) return;
    }
  }

 private:
  void step(int line) {
    if (++steps_ > limits_.max_steps) fail("template line {}: too much work (over {} steps); runaway template?", line, limits_.max_steps);
  }
  void emit(std::string& out, const std::string& text, int line) {
    if (out.size() + text.size() > limits_.max_output_bytes) {
      fail("template line {}: output larger than {} bytes; runaway template?", line, limits_.max_output_bytes);
    }
    out += text;
  }
  // Operations whose cost grows with an operand (comparing, searching, iterating, printing,
  // copying) are charged by its size, so no loop can do unbounded work per step.
  const Value& charge(const Value& v, int line) {
    steps_ += v.cost();
    if (steps_ > limits_.max_steps) step(line);
    return v;
  }

  // Values built by operators, filters and calls: bounded in size, and their size is charged as
  // work so that a loop that keeps building big values runs out of steps.
  Value checked(Value v, int line) {
    if (v.is_string()) {
      if (v.s.size() > limits_.max_output_bytes) fail("template line {}: string too large", line);
      steps_ += v.s.size() / 64;
    } else if (v.kind == Value::Kind::List) {
      if (v.list->size() > limits_.max_output_bytes / 8) fail("template line {}: list too large", line);
      steps_ += v.list->size() / 4;
    }
    step(line);
    return v;
  }

  void exec(const Node& n, Scope& scope, std::string& out, Flow& flow) {
    step(n.line);
    switch (n.type) {
      case Node::Type::Text: emit(out, n.text, n.line); return;
      case Node::Type::Output: {
        const Value v = eval(*n.expr, scope);
        emit(out, to_str(charge(v, n.line)), n.line);
        return;
      }
      case Node::Type::If:
        for (const auto& [cond, body] : n.branches) {
          if (!cond || truthy(eval(*cond, scope))) {
            exec_body(body, scope, out, flow);
            return;
          }
        }
        return;
      case Node::Type::For: exec_for(n, scope, out, flow); return;
      case Node::Type::Set: {
        Value v = eval(*n.expr, scope);
        if (n.object) {
          Value target = eval(*n.object, scope);
          if (target.kind != Value::Kind::Namespace) {
            fail("template line {}: cannot assign attribute '{}' on a non-namespace object", n.line, n.attr);
          }
          // Namespaces are the one mutable object, so storing one (or a function, which may hold
          // one) inside a namespace could make a reference cycle; chat templates never need it.
          if (v.shares) fail("template line {}: unsupported: storing a namespace or function in a namespace", n.line);
          target.set(n.attr, std::move(v));  // the namespace's dict is shared: this updates it
          return;
        }
        assign(n.targets, std::move(v), scope, n.line);
        return;
      }
      case Node::Type::SetBlock: {
        std::string text;
        Flow f = Flow::Normal;
        exec_body(n.body, scope, text, f);
        scope.set(n.targets[0], Value::string(std::move(text)));
        return;
      }
      case Node::Type::Macro: scope.set(n.name, make_macro(n, scope)); return;
      case Node::Type::CallBlock: {
        // caller() renders the block's body in the calling scope.
        // It must not outlive the scope it renders in (a template could stash it in a namespace).
        const Node* block = &n;
        Scope* where = &scope;
        auto alive = std::make_shared<bool>(true);
        Value caller = Value::callable([this, block, where, alive](Args&) {
          if (!*alive) fail("template line {}: caller() used after its call block ended", block->line);
          std::string text;
          Flow f = Flow::Normal;
          Scope inner;
          inner.parent = where;
          exec_body(block->body, inner, text, f);
          return Value::string(std::move(text));
        });
        const Expr& call = *n.expr;
        Value callee = eval(*call.args[0], scope);
        Args args = eval_args(call, scope);
        args.keyword.emplace_back("caller", caller);
        struct Expire {
          std::shared_ptr<bool> flag;
          ~Expire() { *flag = false; }
        } expire{alive};
        emit(out, to_str(invoke(callee, args, call.line)), n.line);
        return;
      }
      case Node::Type::Break: flow = Flow::Break; return;
      case Node::Type::Continue: flow = Flow::Continue; return;
      case Node::Type::Scope: exec_body(n.body, scope, out, flow); return;
    }
  }

  void assign(const std::vector<std::string>& targets, Value v, Scope& scope, int line) {
    if (targets.size() == 1) {
      scope.set(targets[0], std::move(v));
      return;
    }
    const List items = iterate(v, line);
    if (items.size() != targets.size()) {
      fail("template line {}: cannot unpack {} values into {} names", line, items.size(), targets.size());
    }
    for (size_t k = 0; k < targets.size(); ++k) scope.set(targets[k], items[k]);
  }

  void exec_for(const Node& n, Scope& scope, std::string& out, Flow& flow) {
    const List all = iterate(charge(eval(*n.expr, scope), n.line), n.line);
    List items;
    if (n.filter) {
      for (const Value& item : all) {
        Scope probe;
        probe.parent = &scope;
        assign(n.targets, item, probe, n.line);
        if (truthy(eval(*n.filter, probe))) items.push_back(item);
      }
    } else {
      items = all;
    }
    const size_t len = items.size();
    for (size_t k = 0; k < len; ++k) {
      step(n.line);
      Scope iter;
      iter.parent = &scope;
      Value loop = Value::make_dict({
          {"index", Value::integer(int64_t(k + 1))},
          {"index0", Value::integer(int64_t(k))},
          {"revindex", Value::integer(int64_t(len - k))},
          {"revindex0", Value::integer(int64_t(len - k - 1))},
          {"first", Value::boolean(k == 0)},
          {"last", Value::boolean(k + 1 == len)},
          {"length", Value::integer(int64_t(len))},
          {"depth", Value::integer(1)},
          {"depth0", Value::integer(0)},
      });
      loop.set("previtem", k > 0 ? items[k - 1] : Value());
      loop.set("nextitem", k + 1 < len ? items[k + 1] : Value());
      loop.set("cycle", Value::callable([k](Args& a) {
        if (a.positional.empty()) fail("template: loop.cycle needs arguments");
        return a.positional[k % a.positional.size()];
      }));
      iter.set("loop", std::move(loop));
      assign(n.targets, items[k], iter, n.line);
      Flow f = Flow::Normal;
      exec_body(n.body, iter, out, f);
      if (f == Flow::Break) break;
    }
    if (len == 0 && !n.else_body.empty()) {
      Scope inner;
      inner.parent = &scope;
      exec_body(n.else_body, inner, out, flow);
    }
  }

  // Macros resolve free names in the top-level scope (which lives for the whole render), not in the
  // scope they were defined in: a macro value may outlive a loop iteration's scope.
  Value make_macro(const Node& n, Scope&) {
    const Node* macro = &n;
    const Scope* defined_in = root_;
    return Value::callable([this, macro, defined_in](Args& args) {
      if (++call_depth_ > limits_.max_call_depth) {
        fail("template line {}: macro '{}' nested deeper than {} calls", macro->line, macro->name, limits_.max_call_depth);
      }
      Scope local;
      local.parent = defined_in;
      size_t k = 0;
      for (const auto& [param, def] : macro->params) {
        Value v;
        bool given = false;
        for (auto& [name, kv] : args.keyword) {
          if (name == param) { v = kv; given = true; }
        }
        if (!given && k < args.positional.size()) { v = args.positional[k]; given = true; }
        if (!given && def) v = eval(*def, local);
        local.set(param, std::move(v));
        ++k;
      }
      List varargs;
      for (size_t extra = macro->params.size(); extra < args.positional.size(); ++extra) varargs.push_back(args.positional[extra]);
      local.set("varargs", Value::make_list(std::move(varargs)));
      for (auto& [name, kv] : args.keyword) {
        if (name == "caller") local.set("caller", kv);
      }
      std::string text;
      Flow f = Flow::Normal;
      exec_body(macro->body, local, text, f);
      --call_depth_;
      return Value::string(std::move(text));
    });
  }

  Args eval_args(const Expr& e, Scope& scope) {
    Args args;
    for (size_t k = 1; k < e.args.size(); ++k) args.positional.push_back(charge(eval(*e.args[k], scope), e.line));
    for (const auto& [name, ex] : e.kwargs) args.keyword.emplace_back(name, charge(eval(*ex, scope), e.line));
    return args;
  }

  Value invoke(const Value& callee, Args& args, int line) {
    if (callee.is_undefined()) undefined_error(callee, line);
    if (callee.kind != Value::Kind::Callable) fail("template line {}: '{}' object is not callable", line, type_name(callee));
    step(line);
    try {
      return checked((*callee.fn)(args), line);
    } catch (const Error& e) {
      const std::string what = e.what();
      // Builtins without a line of their own ("template: ...") get the call's line.
      if (what.rfind("template: ", 0) == 0) fail("template line {}: {}", line, what.substr(10));
      throw;
    }
  }

  Value eval(const Expr& e, Scope& scope) {
    switch (e.type) {
      case Expr::Type::Literal: return e.literal;
      case Expr::Type::Name: {
        if (const Value* v = scope.lookup(e.name)) return *v;
        Value u;
        u.s = fmt::format("'{}' is undefined", e.name);
        return u;
      }
      case Expr::Type::List: {
        List items;
        for (const auto& a : e.args) items.push_back(eval(*a, scope));
        return Value::make_list(std::move(items));
      }
      case Expr::Type::Dict: {
        Value d = Value::make_dict();
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          const Value key = eval(*e.args[k], scope);
          if (key.is_undefined()) undefined_error(key, e.line);
          d.set(to_str(key), eval(*e.args[k + 1], scope));
        }
        return d;
      }
      case Expr::Type::Attr: {
        const Value obj = eval(*e.args[0], scope);
        if (obj.is_string()) charge(obj, e.line);  // string methods copy the string
        return get_attr(obj, e.name, e.line);
      }
      case Expr::Type::Item: {
        const Value obj = eval(*e.args[0], scope);
        if (obj.is_string()) charge(obj, e.line);  // indexing a string walks its code points
        return get_item(obj, eval(*e.args[1], scope), e.line);
      }
      case Expr::Type::Slice: {
        auto part = [&](size_t k) { return e.args[k] ? eval(*e.args[k], scope) : Value::none(); };
        return checked(get_slice(charge(eval(*e.args[0], scope), e.line), part(1), part(2), part(3), e.line), e.line);
      }
      case Expr::Type::Call: {
        const Value callee = eval(*e.args[0], scope);
        Args args = eval_args(e, scope);
        return invoke(callee, args, e.line);
      }
      case Expr::Type::Filter: {
        const Value input = eval(*e.args[0], scope);
        Args args = eval_args(e, scope);
        charge(input, e.line);
        return checked(apply_filter(e.name, input, args, e.line), e.line);
      }
      case Expr::Type::Test: {
        const Value input = eval(*e.args[0], scope);
        Args args = eval_args(e, scope);
        charge(input, e.line);
        return Value::boolean(apply_test(e.name, input, args, e.line) != e.negated);
      }
      case Expr::Type::Unary: {
        const Value v = eval(*e.args[0], scope);
        if (e.name == "not") return Value::boolean(!truthy(v));
        if (v.is_undefined()) undefined_error(v, e.line);
        if (!v.is_number()) fail("template line {}: bad operand type for unary {}: '{}'", e.line, e.name, type_name(v));
        if (e.name == "+") return is_int(v) ? Value::integer(whole(v)) : v;
        if (is_int(v)) {
          if (whole(v) == INT64_MIN) fail("template line {}: integer overflow", e.line);
          return Value::integer(-whole(v));
        }
        return Value::number(-v.f);
      }
      case Expr::Type::Cond:
        if (truthy(eval(*e.args[0], scope))) return eval(*e.args[1], scope);
        if (e.args[2]) return eval(*e.args[2], scope);
        return Value();
      case Expr::Type::Binary: return binary(e, scope);
    }
    return Value();
  }

  Value binary(const Expr& e, Scope& scope) {
    const std::string& op = e.name;
    if (op == "and" || op == "or") {
      Value a = eval(*e.args[0], scope);
      if ((op == "and") != truthy(a)) return a;
      return eval(*e.args[1], scope);
    }
    const Value a = eval(*e.args[0], scope);
    const Value b = eval(*e.args[1], scope);
    const int line = e.line;
    charge(a, line);
    charge(b, line);
    if (op == "~") return checked(Value::string(to_str(a) + to_str(b)), line);
    if (op == "==") return Value::boolean(equal(a, b));
    if (op == "!=") return Value::boolean(!equal(a, b));
    if (op == "in") return Value::boolean(contains(b, a, line));
    if (op == "not in") return Value::boolean(!contains(b, a, line));
    if (a.is_undefined()) undefined_error(a, line);
    if (b.is_undefined()) undefined_error(b, line);
    auto type_error = [&]() -> Value {
      fail("template line {}: unsupported operand type(s) for {}: '{}' and '{}'", line, op, type_name(a), type_name(b));
    };
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      int c;
      if (a.is_number() && b.is_number()) c = num(a) < num(b) ? -1 : num(a) > num(b) ? 1 : 0;
      else if (a.is_string() && b.is_string()) c = a.s.compare(b.s) < 0 ? -1 : a.s == b.s ? 0 : 1;
      else fail("template line {}: '{}' not supported between '{}' and '{}'", line, op, type_name(a), type_name(b));
      return Value::boolean(op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0);
    }
    if (op == "+") {
      if (a.is_string() && b.is_string()) return checked(Value::string(a.s + b.s), line);
      if (a.kind == Value::Kind::List && b.kind == Value::Kind::List) {
        List items = *a.list;
        items.insert(items.end(), b.list->begin(), b.list->end());
        return checked(Value::make_list(std::move(items)), line);
      }
    }
    if (op == "*") {  // sequence repetition
      const Value* seq = a.is_string() || a.kind == Value::Kind::List ? &a : b.is_string() || b.kind == Value::Kind::List ? &b : nullptr;
      const Value* times = seq == &a ? &b : &a;
      if (seq && is_int(*times)) {
        const int64_t n = std::max<int64_t>(0, whole(*times));
        const size_t unit = seq->is_string() ? seq->s.size() : seq->list->size() * 8;
        if (unit && uint64_t(n) > limits_.max_output_bytes / unit) fail("template line {}: repetition too large", line);
        if (seq->is_string()) {
          std::string s;
          for (int64_t k = 0; k < n; ++k) s += seq->s;
          return checked(Value::string(std::move(s)), line);
        }
        List items;
        for (int64_t k = 0; k < n; ++k) items.insert(items.end(), seq->list->begin(), seq->list->end());
        return checked(Value::make_list(std::move(items)), line);
      }
    }
    if (!a.is_number() || !b.is_number()) return type_error();
    const bool ints = is_int(a) && is_int(b);
    const int64_t x = whole(a), y = whole(b);
    if (op == "+" || op == "-" || op == "*") {
      if (ints) {
        int64_t r;
        const bool overflow = op == "+" ? __builtin_add_overflow(x, y, &r)
                              : op == "-" ? __builtin_sub_overflow(x, y, &r) : __builtin_mul_overflow(x, y, &r);
        if (overflow) fail("template line {}: integer overflow", line);
        return Value::integer(r);
      }
      const double r = op == "+" ? num(a) + num(b) : op == "-" ? num(a) - num(b) : num(a) * num(b);
      return Value::number(r);
    }
    if (op == "/") {
      if (num(b) == 0) fail("template line {}: division by zero", line);
      return Value::number(num(a) / num(b));
    }
    if (op == "//" || op == "%") {
      if (num(b) == 0) fail("template line {}: integer division or modulo by zero", line);
      if (ints) {
        if (x == INT64_MIN && y == -1) fail("template line {}: integer overflow", line);
        int64_t q = x / y, r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) { q -= 1; r += y; }  // Python floors
        return Value::integer(op == "//" ? q : r);
      }
      const double q = std::floor(num(a) / num(b));
      return Value::number(op == "//" ? q : num(a) - q * num(b));
    }
    if (op == "**") {
      if (ints && y >= 0) {
        int64_t r = 1, base = x, e = y;
        const bool trivial = x == 0 || x == 1 || x == -1;
        if (trivial) return Value::integer(x == 0 ? (y == 0 ? 1 : 0) : x == 1 ? 1 : (y % 2 ? -1 : 1));
        while (e > 0) {  // by squaring; any overflow is an error (Python would grow a big integer)
          if ((e & 1) && __builtin_mul_overflow(r, base, &r)) fail("template line {}: integer overflow", line);
          e >>= 1;
          if (e && __builtin_mul_overflow(base, base, &base)) fail("template line {}: integer overflow", line);
        }
        return Value::integer(r);
      }
      return Value::number(std::pow(num(a), num(b)));
    }
    return type_error();
  }

  const Limits& limits_;
  const Scope* root_;
  uint64_t steps_ = 0;
  int call_depth_ = 0;
};

}  // namespace

Template::Template(std::string_view source) : program_(parse_template(source)) {}

std::string Template::render(const Value& context, const Limits& limits) const {
  Scope globals;
  globals.vars = builtin_globals();
  if (context.is_mapping()) {
    for (const auto& [k, v] : *context.dict) globals.set(k, v);
  }
  Scope top;  // top-level `set` lands here, above the caller's variables
  top.parent = &globals;
  Evaluator ev(limits, &top);
  std::string out;
  Flow flow = Flow::Normal;
  ev.exec_body(program_->body, top, out, flow);
  return out;
}

}  // namespace r1::jinja
