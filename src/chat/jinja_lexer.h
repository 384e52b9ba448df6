// Jinja lexing in two stages: the template is cut into text and tags (applying whitespace control the
// way jinja2 does with trim_blocks=True, lstrip_blocks=True, as transformers configures it), then the
// inside of each tag is cut into expression tokens.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace r1::jinja {

struct Piece {
  enum class Kind { Text, Expression, Statement };  // comments are dropped
  Kind kind;
  std::string text;  // the text, or the inside of the tag (without delimiters and -/+ markers)
  int line;          // 1-based line of the piece's start
};

std::vector<Piece> split_template(std::string_view source);

struct Token {
  enum class Kind { Name, String, Integer, Float, Operator, End };
  Kind kind;
  std::string text;  // name, operator, or the decoded string literal
  int64_t integer = 0;
  double number = 0;
};

// Throws r1::Error "template line N: ..." on a bad character or unterminated string.
std::vector<Token> tokenize(std::string_view code, int line);

}  // namespace r1::jinja
