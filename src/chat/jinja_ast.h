// The parsed form of a Jinja template: expressions and statements, each remembering its source line
// so that runtime errors can name it.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace r1::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  enum class Type {
    Literal,  // literal
    Name,     // name
    List,     // [a, b] and (a, b): args
    Dict,     // {k: v}: args alternate key, value
    Attr,     // args[0].name
    Item,     // args[0][args[1]]
    Slice,    // args[0][args[1]:args[2]:args[3]] (missing parts are null)
    Call,     // args[0](args[1:], kwargs)
    Filter,   // args[0] | name(args[1:], kwargs)
    Test,     // args[0] is [not] name(args[1:])
    Unary,    // name in {"not", "-", "+"} applied to args[0]
    Binary,   // args[0] name args[1]; name is the operator ("+", "~", "==", "in", "not in", "and", ...)
    Cond,     // args[1] if args[0] else args[2] (args[2] may be null)
  };
  Type type;
  int line = 0;
  std::string name;
  Value literal;
  bool negated = false;  // "is not"
  int depth = 1;         // height of the tree below (bounded by the parser)
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum class Type {
    Text,      // text
    Output,    // {{ expr }}
    If,        // branches: (condition or null for else, body)
    For,       // for targets in expr [if filter]: body [else: else_body]
    Set,       // set targets = expr, or set expr_target.attr = expr (namespace attribute)
    SetBlock,  // set targets[0] %}body{% endset
    Macro,     // macro name(params): body
    CallBlock, // call expr: body (the body is the macro's caller())
    Break,
    Continue,
    Scope,     // a body rendered in place (generation blocks)
  };
  Type type;
  int line = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr filter;
  ExprPtr object;  // Set on an attribute: the namespace expression
  std::string attr;
  std::vector<std::string> targets;
  std::vector<std::pair<ExprPtr, Body>> branches;
  Body body, else_body;
  std::string name;
  std::vector<std::pair<std::string, ExprPtr>> params;  // macro parameters with defaults (null if none)
};

struct Program {
  Body body;
};

// Parses a template with Hugging Face's settings (trim_blocks, lstrip_blocks, no trailing newline).
// Throws r1::Error "template line N: ..." on a syntax error or an unsupported construct.
std::shared_ptr<const Program> parse_template(std::string_view source);

}  // namespace r1::jinja
