#include "chat/jinja_lexer.h"

#include <cstring>

#include "core/error.h"
#include "core/utf8.h"

namespace r1::jinja {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string rstrip_all(std::string s) {
  while (!s.empty() && is_space(s.back())) s.pop_back();
  return s;
}

// jinja2 normalizes every newline sequence to "\n" and drops one trailing newline
// (keep_trailing_newline=False) before lexing.
std::string normalize(std::string_view src) {
  std::string out;
  out.reserve(src.size());
  for (size_t k = 0; k < src.size(); ++k) {
    if (src[k] == '\r') {
      out += '\n';
      if (k + 1 < src.size() && src[k + 1] == '\n') ++k;
    } else {
      out += src[k];
    }
  }
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

// Finds the closing delimiter of a tag that starts at `pos` (just after "{{" / "{%"), skipping
// string literals so that "{{ '}}' }}" works. Returns npos if unterminated.
size_t find_close(const std::string& s, size_t pos, const char* close) {
  char quote = 0;
  for (size_t k = pos; k + 1 < s.size(); ++k) {
    const char c = s[k];
    if (quote) {
      if (c == '\\') ++k;
      else if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == close[0] && s[k + 1] == close[1]) {
      return k;
    }
  }
  return std::string::npos;
}

}  // namespace

std::vector<Piece> split_template(std::string_view source) {
  const std::string src = normalize(source);
  std::vector<Piece> pieces;
  size_t pos = 0;
  int line = 1;
  bool line_starting = true;  // the previous tag's match ended with a newline (or we're at the start)
  auto count_lines = [&](size_t from, size_t to) {
    for (size_t k = from; k < to; ++k) line += src[k] == '\n';
  };
  while (pos <= src.size()) {
    size_t at = pos;
    for (;;) {
      at = src.find('{', at);
      if (at == std::string::npos || at + 1 >= src.size()) { at = std::string::npos; break; }
      const char n = src[at + 1];
      if (n == '{' || n == '%' || n == '#') break;
      ++at;
    }
    std::string text = src.substr(pos, at == std::string::npos ? std::string::npos : at - pos);
    const int text_line = line;
    if (at == std::string::npos) {
      if (!text.empty()) pieces.push_back({Piece::Kind::Text, std::move(text), text_line});
      break;
    }
    count_lines(pos, at);
    const char kind = src[at + 1];
    const char sign = at + 2 < src.size() ? src[at + 2] : 0;
    if (sign == '-') {
      text = rstrip_all(std::move(text));
    } else if (sign != '+' && kind != '{') {
      // lstrip_blocks: whitespace between the start of the line and a block or comment tag goes.
      const size_t l_pos = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
      if (l_pos > 0 || line_starting) {
        bool blank = l_pos < text.size();
        for (size_t k = l_pos; k < text.size(); ++k) blank = blank && is_space(text[k]);
        if (blank) text.resize(l_pos);
      }
    }
    if (!text.empty()) pieces.push_back({Piece::Kind::Text, std::move(text), text_line});

    const size_t inner = at + 2 + (sign == '-' || sign == '+' ? 1 : 0);
    const char* close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    size_t end = kind == '#' ? src.find("#}", inner) : find_close(src, inner, close);
    if (end == std::string::npos) {
      fail("template line {}: unterminated '{{{}' tag", line, kind);
    }
    size_t inner_end = end;
    bool strip_after = false, keep_newline = false;
    if (end > inner && src[end - 1] == '-') {
      strip_after = true;
      --inner_end;
    } else if (end > inner && src[end - 1] == '+' && kind != '{') {
      keep_newline = true;
      --inner_end;
    }
    if (kind != '#') {
      pieces.push_back({kind == '{' ? Piece::Kind::Expression : Piece::Kind::Statement,
                        src.substr(inner, inner_end - inner), line});
    }
    size_t next = end + 2;
    if (strip_after) {
      while (next < src.size() && is_space(src[next])) ++next;
    } else if (kind != '{' && !keep_newline && next < src.size() && src[next] == '\n') {
      ++next;  // trim_blocks: the first newline after a block or comment tag goes
    }
    line_starting = src[next - 1] == '\n';
    count_lines(at, next);
    pos = next;
    if (pos == src.size()) break;
  }
  return pieces;
}

namespace {

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::vector<Token> tokenize(std::string_view code, int line) {
  std::vector<Token> tokens;
  size_t k = 0;
  static const char* const ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                    "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"};
  while (k < code.size()) {
    const char c = code[k];
    if (is_space(c)) {
      line += c == '\n';
      ++k;
    } else if (is_name_start(c)) {
      size_t e = k;
      while (e < code.size() && (is_name_start(code[e]) || is_digit(code[e]))) ++e;
      tokens.push_back({Token::Kind::Name, std::string(code.substr(k, e - k))});
      k = e;
    } else if (is_digit(c)) {
      size_t e = k;
      bool is_float = false;
      while (e < code.size() && (is_digit(code[e]) || code[e] == '_')) ++e;
      if (e + 1 < code.size() && code[e] == '.' && is_digit(code[e + 1])) {
        is_float = true;
        for (++e; e < code.size() && is_digit(code[e]);) ++e;
      }
      if (e < code.size() && (code[e] == 'e' || code[e] == 'E')) {
        size_t x = e + 1;
        if (x < code.size() && (code[x] == '+' || code[x] == '-')) ++x;
        if (x < code.size() && is_digit(code[x])) {
          is_float = true;
          for (e = x; e < code.size() && is_digit(code[e]);) ++e;
        }
      }
      std::string digits;
      for (char d : code.substr(k, e - k)) if (d != '_') digits += d;
      Token t{is_float ? Token::Kind::Float : Token::Kind::Integer, digits};
      if (is_float) {
        t.number = std::strtod(digits.c_str(), nullptr);
      } else {
        errno = 0;
        t.integer = std::strtoll(digits.c_str(), nullptr, 10);
        if (errno == ERANGE) fail("template line {}: integer literal {} is too large", line, digits);
      }
      tokens.push_back(std::move(t));
      k = e;
    } else if (c == '\'' || c == '"') {
      // Python string escapes, as jinja2 decodes them.
      std::string value;
      size_t e = k + 1;
      for (;; ++e) {
        if (e >= code.size()) fail("template line {}: unterminated string literal", line);
        const char d = code[e];
        if (d == c) break;
        if (d == '\n') ++line;
        if (d != '\\' || e + 1 >= code.size()) {
          value += d;
          continue;
        }
        const char x = code[++e];
        switch (x) {
          case 'n': value += '\n'; break;
          case 't': value += '\t'; break;
          case 'r': value += '\r'; break;
          case 'a': value += '\a'; break;
          case 'b': value += '\b'; break;
          case 'f': value += '\f'; break;
          case 'v': value += '\v'; break;
          case '\\': value += '\\'; break;
          case '\'': value += '\''; break;
          case '"': value += '"'; break;
          case '\n': break;  // line continuation
          case 'x': case 'u': case 'U': {
            const int n = x == 'x' ? 2 : x == 'u' ? 4 : 8;
            if (e + n >= code.size()) fail("template line {}: truncated \\{} escape", line, x);
            uint32_t cp = 0;
            for (int h = 1; h <= n; ++h) {
              const char hd = code[e + h];
              int v = hd >= '0' && hd <= '9' ? hd - '0' : hd >= 'a' && hd <= 'f' ? hd - 'a' + 10
                      : hd >= 'A' && hd <= 'F' ? hd - 'A' + 10 : -1;
              if (v < 0) fail("template line {}: bad \\{} escape", line, x);
              cp = cp * 16 + uint32_t(v);
            }
            if (cp > 0x10FFFF) fail("template line {}: bad \\{} escape", line, x);
            utf8_append(value, char32_t(cp));
            e += n;
            break;
          }
          default:
            if (x >= '0' && x <= '7') {  // octal: up to three digits
              uint32_t cp = uint32_t(x - '0');
              for (int d = 0; d < 2 && e + 1 < code.size() && code[e + 1] >= '0' && code[e + 1] <= '7'; ++d) {
                cp = cp * 8 + uint32_t(code[++e] - '0');
              }
              utf8_append(value, char32_t(cp));
            } else {
              value += '\\';  // unknown escapes stay as written, as in Python
              value += x;
            }
        }
      }
      tokens.push_back({Token::Kind::String, std::move(value)});
      k = e + 1;
    } else {
      bool matched = false;
      for (const char* op : ops) {
        const size_t n = std::strlen(op);
        if (code.substr(k, n) == op) {
          tokens.push_back({Token::Kind::Operator, op});
          k += n;
          matched = true;
          break;
        }
      }
      if (!matched) fail("template line {}: unexpected character '{}'", line, c);
    }
  }
  tokens.push_back({Token::Kind::End, ""});
  return tokens;
}

}  // namespace r1::jinja
