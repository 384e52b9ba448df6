// Recursive-descent parser for the Jinja subset chat templates use, following jinja2's grammar and
// operator precedence (jinja2/parser.py): ternary < or < and < not < comparison < +,- < ~ < *,/,//,%
// < ** < unary -,+ < postfix (. [] ()) < filters (|) and tests (is).
#include <algorithm>
#include <set>

#include "chat/jinja_ast.h"
#include "chat/jinja_builtins.h"
#include "chat/jinja_lexer.h"
#include "core/error.h"

namespace r1::jinja {

namespace {

constexpr int kMaxNesting = 200;  // expression / block nesting: deeper input is rejected, not recursed

class ExprParser {
 public:
  ExprParser(std::vector<Token> tokens, int line) : t_(std::move(tokens)), line_(line) {}

  const Token& peek(size_t ahead = 0) const { return t_[std::min(p_ + ahead, t_.size() - 1)]; }
  bool at_end() const { return peek().kind == Token::Kind::End; }
  bool is_op(const char* op, size_t ahead = 0) const {
    return peek(ahead).kind == Token::Kind::Operator && peek(ahead).text == op;
  }
  bool is_name(const char* name, size_t ahead = 0) const {
    return peek(ahead).kind == Token::Kind::Name && peek(ahead).text == name;
  }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    ++p_;
    return true;
  }
  bool accept_name(const char* name) {
    if (!is_name(name)) return false;
    ++p_;
    return true;
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) fail("template line {}: expected '{}', found {}", line_, op, describe(peek()));
  }
  std::string expect_name() {
    if (peek().kind != Token::Kind::Name) fail("template line {}: expected a name, found {}", line_, describe(peek()));
    return t_[p_++].text;
  }
  void expect_end() {
    if (!at_end()) fail("template line {}: unexpected {} at the end of the tag", line_, describe(peek()));
  }
  int line() const { return line_; }

  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Token::Kind::End: return "end of tag";
      case Token::Kind::String: return "a string";
      case Token::Kind::Integer:
      case Token::Kind::Float: return "number " + t.text;
      default: return "'" + t.text + "'";
    }
  }

  ExprPtr make(Expr::Type type, std::string name = {}) {
    auto e = std::make_unique<Expr>();
    e->type = type;
    e->line = line_;
    e->name = std::move(name);
    return e;
  }

  // expression := or ['if' or ['else' expression]]
  ExprPtr expression(bool allow_cond = true) {
    Guard g(this);
    ExprPtr value = parse_or();
    if (allow_cond && is_name("if")) {
      ++p_;
      auto cond = make(Expr::Type::Cond);
      add(*cond, parse_or());
      add(*cond, std::move(value));
      add(*cond, accept_name("else") ? expression() : nullptr);
      return cond;
    }
    return value;
  }

  // A comma-separated list without brackets becomes a tuple (a list here), as in `set a, b = 1, 2`.
  ExprPtr tuple_or_expression() {
    ExprPtr first = expression();
    if (!is_op(",")) return first;
    auto list = make(Expr::Type::List);
    add(*list, std::move(first));
    while (accept_op(",")) {
      if (at_end()) break;
      add(*list, expression());
    }
    return list;
  }

 private:
  struct Guard {
    ExprParser* p;
    explicit Guard(ExprParser* parser) : p(parser) {
      if (++p->depth_ > kMaxNesting) fail("template line {}: expression nested too deeply", p->line_);
    }
    ~Guard() { --p->depth_; }
  };

  // Adds an operand, tracking the tree's depth: long operator chains (a+a+a+...) build deep trees
  // that evaluation would recurse through, so they are bounded here.
  void add(Expr& parent, ExprPtr child) {
    if (child) {
      parent.depth = std::max(parent.depth, child->depth + 1);
      if (parent.depth > kMaxNesting) fail("template line {}: expression nested too deeply", line_);
    }
    parent.args.push_back(std::move(child));
  }

  ExprPtr binary(const char* op, ExprPtr a, ExprPtr b) {
    auto e = make(Expr::Type::Binary, op);
    add(*e, std::move(a));
    add(*e, std::move(b));
    return e;
  }

  ExprPtr parse_or() {
    ExprPtr left = parse_and();
    while (accept_name("or")) left = binary("or", std::move(left), parse_and());
    return left;
  }
  ExprPtr parse_and() {
    ExprPtr left = parse_not();
    while (accept_name("and")) left = binary("and", std::move(left), parse_not());
    return left;
  }
  ExprPtr parse_not() {
    Guard g(this);
    if (accept_name("not")) {
      auto e = make(Expr::Type::Unary, "not");
      add(*e, parse_not());
      return e;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    ExprPtr left = parse_math1();
    for (;;) {
      const Token& t = peek();
      if (t.kind == Token::Kind::Operator &&
          (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">=")) {
        const std::string op = t.text;
        ++p_;
        left = binary(op.c_str(), std::move(left), parse_math1());
      } else if (accept_name("in")) {
        left = binary("in", std::move(left), parse_math1());
      } else if (is_name("not") && is_name("in", 1)) {
        p_ += 2;
        left = binary("not in", std::move(left), parse_math1());
      } else {
        return left;
      }
    }
  }
  ExprPtr parse_math1() {
    ExprPtr left = parse_concat();
    for (;;) {
      if (accept_op("+")) left = binary("+", std::move(left), parse_concat());
      else if (accept_op("-")) left = binary("-", std::move(left), parse_concat());
      else return left;
    }
  }
  ExprPtr parse_concat() {
    ExprPtr left = parse_math2();
    while (accept_op("~")) left = binary("~", std::move(left), parse_math2());
    return left;
  }
  ExprPtr parse_math2() {
    ExprPtr left = parse_pow();
    for (;;) {
      const char* op = is_op("*") ? "*" : is_op("/") ? "/" : is_op("//") ? "//" : is_op("%") ? "%" : nullptr;
      if (!op) return left;
      ++p_;
      left = binary(op, std::move(left), parse_pow());
    }
  }
  ExprPtr parse_pow() {
    ExprPtr left = parse_unary(true);
    while (accept_op("**")) left = binary("**", std::move(left), parse_unary(true));
    return left;
  }
  ExprPtr parse_unary(bool with_filter) {
    Guard g(this);
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
      node = make(Expr::Type::Unary, peek().text);
      ++p_;
      add(*node, parse_unary(false));
    } else {
      node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    if (with_filter) node = parse_filters(std::move(node));
    return node;
  }

  ExprPtr parse_primary() {
    Guard g(this);
    const Token& t = peek();
    switch (t.kind) {
      case Token::Kind::Name: {
        ++p_;
        auto e = make(Expr::Type::Literal);
        if (t.text == "true" || t.text == "True") e->literal = Value::boolean(true);
        else if (t.text == "false" || t.text == "False") e->literal = Value::boolean(false);
        else if (t.text == "none" || t.text == "None") e->literal = Value::none();
        else { e->type = Expr::Type::Name; e->name = t.text; }
        return e;
      }
      case Token::Kind::String: {
        std::string s;
        while (peek().kind == Token::Kind::String) s += t_[p_++].text;  // adjacent literals concatenate
        auto e = make(Expr::Type::Literal);
        e->literal = Value::string(std::move(s));
        return e;
      }
      case Token::Kind::Integer: {
        ++p_;
        auto e = make(Expr::Type::Literal);
        e->literal = Value::integer(t.integer);
        return e;
      }
      case Token::Kind::Float: {
        ++p_;
        auto e = make(Expr::Type::Literal);
        e->literal = Value::number(t.number);
        return e;
      }
      case Token::Kind::Operator:
        if (accept_op("(")) {
          if (accept_op(")")) return make(Expr::Type::List);  // ()
          ExprPtr inner = expression();
          if (is_op(",")) {
            auto list = make(Expr::Type::List);
            add(*list, std::move(inner));
            while (accept_op(",") && !is_op(")")) add(*list, expression());
            inner = std::move(list);
          }
          expect_op(")");
          return inner;
        }
        if (accept_op("[")) {
          auto list = make(Expr::Type::List);
          while (!is_op("]")) {
            add(*list, expression());
            if (!accept_op(",")) break;
          }
          expect_op("]");
          return list;
        }
        if (accept_op("{")) {
          auto dict = make(Expr::Type::Dict);
          while (!is_op("}")) {
            add(*dict, expression());
            expect_op(":");
            add(*dict, expression());
            if (!accept_op(",")) break;
          }
          expect_op("}");
          return dict;
        }
        break;
      default: break;
    }
    fail("template line {}: unexpected {} in an expression", line_, describe(t));
  }

  ExprPtr parse_postfix(ExprPtr node) {
    for (;;) {
      if (accept_op(".")) {
        auto e = make(Expr::Type::Attr);
        if (peek().kind == Token::Kind::Integer) {  // x.0 is x[0]
          e->type = Expr::Type::Item;
          auto idx = make(Expr::Type::Literal);
          idx->literal = Value::integer(t_[p_++].integer);
          add(*e, std::move(node));
          add(*e, std::move(idx));
        } else {
          e->name = expect_name();
          add(*e, std::move(node));
        }
        node = std::move(e);
      } else if (accept_op("[")) {
        node = parse_subscript(std::move(node));
      } else if (is_op("(")) {
        auto call = make(Expr::Type::Call);
        add(*call, std::move(node));
        parse_call_args(*call);
        node = std::move(call);
      } else {
        return node;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr target) {
    ExprPtr parts[3];
    int n = 0;
    bool is_slice = false;
    for (;;) {
      if (is_op(":")) {
        ++p_;
        is_slice = true;
        if (++n > 2) fail("template line {}: too many ':' in a slice", line_);
        continue;
      }
      if (is_op("]")) break;
      if (parts[n]) fail("template line {}: expected ']' in a subscript", line_);
      parts[n] = expression();
    }
    expect_op("]");
    if (!is_slice) {
      if (!parts[0]) fail("template line {}: empty subscript", line_);
      auto e = make(Expr::Type::Item);
      add(*e, std::move(target));
      add(*e, std::move(parts[0]));
      return e;
    }
    auto e = make(Expr::Type::Slice);
    add(*e, std::move(target));
    for (auto& part : parts) add(*e, std::move(part));
    return e;
  }

  // ( positional..., name=value... )
  void parse_call_args(Expr& call) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().kind == Token::Kind::Name && is_op("=", 1)) {
        std::string key = t_[p_].text;
        p_ += 2;
        ExprPtr value = expression();
        call.depth = std::max(call.depth, value->depth + 1);
        call.kwargs.emplace_back(std::move(key), std::move(value));
      } else {
        if (!call.kwargs.empty()) fail("template line {}: positional argument after a keyword argument", line_);
        add(call, expression());
      }
      if (!accept_op(",")) break;
    }
    expect_op(")");
  }

  ExprPtr parse_filters(ExprPtr node) {
    for (;;) {
      if (accept_op("|")) {
        std::string name = expect_name();
        while (accept_op(".")) {
          name += '.';
          name += expect_name();
        }
        if (filter_support(name) == Support::Unknown) fail("template line {}: no filter named '{}'", line_, name);
        auto f = make(Expr::Type::Filter, name);
        add(*f, std::move(node));
        if (is_op("(")) parse_call_args(*f);
        node = std::move(f);
      } else if (accept_name("is")) {
        auto test = make(Expr::Type::Test);
        test->negated = accept_name("not");
        test->name = expect_name();
        while (accept_op(".")) {
          test->name += '.';
          test->name += expect_name();
        }
        if (test_support(test->name) == Support::Unknown) fail("template line {}: no test named '{}'", line_, test->name);
        add(*test, std::move(node));
        const Token& t = peek();
        if (is_op("(")) {
          parse_call_args(*test);
        } else if ((t.kind == Token::Kind::Name && t.text != "else" && t.text != "or" && t.text != "and" &&
                    t.text != "is" && t.text != "if") ||
                   t.kind == Token::Kind::String || t.kind == Token::Kind::Integer ||
                   t.kind == Token::Kind::Float || is_op("[") || is_op("{")) {
          // `x is sameas false`, `x is divisibleby 3`: one argument without parentheses
          add(*test, parse_postfix(parse_primary()));
        }
        node = std::move(test);
      } else {
        return node;
      }
    }
  }

  std::vector<Token> t_;
  size_t p_ = 0;
  int line_;
  int depth_ = 0;
};

class Parser {
 public:
  explicit Parser(std::vector<Piece> pieces) : pieces_(std::move(pieces)) {}

  Body parse_all() {
    std::string end;
    Body body = parse_body({}, &end, nullptr);
    return body;
  }

 private:
  // Parses nodes until a statement whose first word is in `ends` (returned in *end with its parser
  // positioned after the word). At the top level (`ends` empty) runs to the end of the input.
  Body parse_body(const std::set<std::string>& ends, std::string* end, std::unique_ptr<ExprParser>* end_tag) {
    if (++depth_ > kMaxNesting) fail("template line {}: blocks nested too deeply", line());
    Body body;
    while (pos_ < pieces_.size()) {
      const Piece& piece = pieces_[pos_++];
      if (piece.kind == Piece::Kind::Text) {
        auto n = node(Node::Type::Text, piece.line);
        n->text = piece.text;
        body.push_back(std::move(n));
        continue;
      }
      auto p = std::make_unique<ExprParser>(tokenize(piece.text, piece.line), piece.line);
      if (piece.kind == Piece::Kind::Expression) {
        auto n = node(Node::Type::Output, piece.line);
        n->expr = p->expression();
        p->expect_end();
        body.push_back(std::move(n));
        continue;
      }
      const std::string word = p->expect_name();
      if (ends.count(word)) {
        *end = word;
        if (end_tag) *end_tag = std::move(p);
        --depth_;
        return body;
      }
      body.push_back(statement(word, *p));
    }
    if (!ends.empty()) {
      std::string want = *ends.rbegin();
      for (const auto& e : ends) {
        if (e.rfind("end", 0) == 0) want = e;
      }
      fail("template: missing '{{% {} %}}' (the template ends inside a block)", want);
    }
    --depth_;
    return body;
  }

  int line() const { return pos_ > 0 && pos_ <= pieces_.size() ? pieces_[pos_ - 1].line : 1; }

  static NodePtr node(Node::Type type, int line) {
    auto n = std::make_unique<Node>();
    n->type = type;
    n->line = line;
    return n;
  }

  NodePtr statement(const std::string& word, ExprParser& p) {
    const int line = p.line();
    if (word == "if") return parse_if(p);
    if (word == "for") return parse_for(p);
    if (word == "set") return parse_set(p);
    if (word == "macro") return parse_macro(p);
    if (word == "call") return parse_call_block(p);
    if (word == "break" || word == "continue") {
      p.expect_end();
      if (loop_depth_ == 0) fail("template line {}: '{}' outside a for loop", line, word);
      return node(word == "break" ? Node::Type::Break : Node::Type::Continue, line);
    }
    if (word == "generation") {  // transformers' AssistantTracker tag: renders its body in place
      p.expect_end();
      auto n = node(Node::Type::Scope, line);
      std::string end;
      n->body = parse_body({"endgeneration"}, &end, nullptr);
      return n;
    }
    static const std::set<std::string> known_unsupported = {
        "include", "import", "from", "extends", "block", "filter", "with", "raw", "autoescape", "do", "trans"};
    if (known_unsupported.count(word)) fail("template line {}: unsupported tag '{{% {} %}}'", line, word);
    fail("template line {}: unknown tag '{{% {} %}}'", line, word);
  }

  NodePtr parse_if(ExprParser& p) {
    auto n = node(Node::Type::If, p.line());
    ExprPtr cond = p.expression();
    p.expect_end();
    for (;;) {
      std::string end;
      std::unique_ptr<ExprParser> tag;
      Body body = parse_body({"elif", "else", "endif"}, &end, &tag);
      n->branches.emplace_back(std::move(cond), std::move(body));
      if (end == "endif") {
        tag->expect_end();
        return n;
      }
      if (end == "else") {
        tag->expect_end();
        std::string end2;
        std::unique_ptr<ExprParser> tag2;
        Body else_body = parse_body({"endif"}, &end2, &tag2);
        tag2->expect_end();
        n->branches.emplace_back(nullptr, std::move(else_body));
        return n;
      }
      cond = tag->expression();  // elif
      tag->expect_end();
    }
  }

  NodePtr parse_for(ExprParser& p) {
    auto n = node(Node::Type::For, p.line());
    n->targets.push_back(p.expect_name());
    while (p.accept_op(",")) n->targets.push_back(p.expect_name());
    if (!p.accept_name("in")) fail("template line {}: expected 'in' in a for loop", p.line());
    n->expr = p.expression(false);
    if (p.accept_name("if")) n->filter = p.expression(false);
    if (p.accept_name("recursive")) fail("template line {}: unsupported: recursive for loops", p.line());
    p.expect_end();
    ++loop_depth_;
    std::string end;
    std::unique_ptr<ExprParser> tag;
    n->body = parse_body({"else", "endfor"}, &end, &tag);
    --loop_depth_;
    tag->expect_end();
    if (end == "else") {
      n->else_body = parse_body({"endfor"}, &end, &tag);
      tag->expect_end();
    }
    return n;
  }

  NodePtr parse_set(ExprParser& p) {
    auto n = node(Node::Type::Set, p.line());
    std::string first = p.expect_name();
    if (p.accept_op(".")) {  // set ns.attr = value
      auto obj = std::make_unique<Expr>();
      obj->type = Expr::Type::Name;
      obj->line = p.line();
      obj->name = first;
      n->object = std::move(obj);
      n->attr = p.expect_name();
    } else {
      n->targets.push_back(first);
      while (p.accept_op(",")) n->targets.push_back(p.expect_name());
    }
    if (p.accept_op("=")) {
      n->expr = p.tuple_or_expression();
      p.expect_end();
      return n;
    }
    // Block set: {% set x %}...{% endset %}
    if (n->object || n->targets.size() != 1) fail("template line {}: a block set takes one name", p.line());
    if (p.is_op("|")) fail("template line {}: unsupported: filters on a block set", p.line());
    p.expect_end();
    n->type = Node::Type::SetBlock;
    std::string end;
    std::unique_ptr<ExprParser> tag;
    n->body = parse_body({"endset"}, &end, &tag);
    tag->expect_end();
    return n;
  }

  NodePtr parse_macro(ExprParser& p) {
    auto n = node(Node::Type::Macro, p.line());
    n->name = p.expect_name();
    p.expect_op("(");
    while (!p.is_op(")")) {
      std::string param = p.expect_name();
      ExprPtr def = p.accept_op("=") ? p.expression() : nullptr;
      n->params.emplace_back(std::move(param), std::move(def));
      if (!p.accept_op(",")) break;
    }
    p.expect_op(")");
    p.expect_end();
    std::string end;
    std::unique_ptr<ExprParser> tag;
    const int saved_loops = loop_depth_;
    loop_depth_ = 0;
    n->body = parse_body({"endmacro"}, &end, &tag);
    loop_depth_ = saved_loops;
    return n;
  }

  NodePtr parse_call_block(ExprParser& p) {
    auto n = node(Node::Type::CallBlock, p.line());
    if (p.is_op("(")) fail("template line {}: unsupported: call blocks with caller arguments", p.line());
    n->expr = p.expression();
    if (n->expr->type != Expr::Type::Call) fail("template line {}: '{{% call %}}' needs a macro call", p.line());
    p.expect_end();
    std::string end;
    std::unique_ptr<ExprParser> tag;
    n->body = parse_body({"endcall"}, &end, &tag);
    tag->expect_end();
    return n;
  }

  std::vector<Piece> pieces_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
};

}  // namespace

std::shared_ptr<const Program> parse_template(std::string_view source) {
  Parser parser(split_template(source));
  auto program = std::make_shared<Program>();
  program->body = parser.parse_all();
  return program;
}

}  // namespace r1::jinja
