#include "chat/jinja_strings.h"

#include <algorithm>
#include <string_view>

#include "chat/jinja_value.h"
#include "core/error.h"

namespace r1::jinja::strings {

namespace {

// Python's str.isspace() code points.
bool is_space(std::string_view cp) {
  if (cp.size() == 1) {
    const unsigned char c = cp[0];
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
  }
  static const std::string_view multi[] = {
      "\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe2\x81\x9f", "\xe3\x80\x80"};
  for (auto m : multi) {
    if (cp == m) return true;
  }
  // U+2000..U+200A
  return cp.size() == 3 && (unsigned char)cp[0] == 0xe2 && (unsigned char)cp[1] == 0x80 &&
         (unsigned char)cp[2] >= 0x80 && (unsigned char)cp[2] <= 0x8a;
}

std::string join(const std::vector<std::string_view>& cps, size_t from, size_t to) {
  std::string out;
  for (size_t k = from; k < to; ++k) out += cps[k];
  return out;
}

}  // namespace

std::string strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right) {
  const auto cps = code_points(s);
  std::vector<std::string_view> set;
  if (chars) set = code_points(*chars);
  auto strippable = [&](std::string_view cp) {
    return chars ? std::find(set.begin(), set.end(), cp) != set.end() : is_space(cp);
  };
  size_t a = 0, b = cps.size();
  if (left) while (a < b && strippable(cps[a])) ++a;
  if (right) while (b > a && strippable(cps[b - 1])) --b;
  return join(cps, a, b);
}

std::vector<std::string> split_whitespace(const std::string& s, int64_t maxsplit, bool from_right) {
  auto cps = code_points(s);
  if (from_right) std::reverse(cps.begin(), cps.end());
  std::vector<std::string> out;
  size_t k = 0;
  const size_t n = cps.size();
  for (;;) {
    while (k < n && is_space(cps[k])) ++k;
    if (k == n) break;
    if (maxsplit >= 0 && int64_t(out.size()) == maxsplit) {
      // The remainder, untouched (its trailing whitespace included).
      size_t end = n;
      std::vector<std::string_view> rest(cps.begin() + std::ptrdiff_t(k), cps.begin() + std::ptrdiff_t(end));
      if (from_right) std::reverse(rest.begin(), rest.end());
      out.push_back(join(rest, 0, rest.size()));
      break;
    }
    size_t e = k;
    while (e < n && !is_space(cps[e])) ++e;
    std::vector<std::string_view> word(cps.begin() + std::ptrdiff_t(k), cps.begin() + std::ptrdiff_t(e));
    if (from_right) std::reverse(word.begin(), word.end());
    out.push_back(join(word, 0, word.size()));
    k = e;
  }
  if (from_right) std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> split(const std::string& s, const std::string& sep, int64_t maxsplit, bool from_right, int line) {
  if (sep.empty()) fail("template line {}: split(): empty separator", line);
  std::vector<std::string> out;
  if (!from_right) {
    size_t start = 0;
    for (;;) {
      const size_t at = (maxsplit >= 0 && int64_t(out.size()) >= maxsplit) ? std::string::npos : s.find(sep, start);
      if (at == std::string::npos) {
        out.push_back(s.substr(start));
        return out;
      }
      out.push_back(s.substr(start, at - start));
      start = at + sep.size();
    }
  }
  size_t end = s.size();
  for (;;) {
    size_t at = std::string::npos;
    if (!(maxsplit >= 0 && int64_t(out.size()) >= maxsplit) && end >= sep.size()) at = s.rfind(sep, end - sep.size());
    if (at == std::string::npos) {
      out.push_back(s.substr(0, end));
      break;
    }
    out.push_back(s.substr(at + sep.size(), end - at - sep.size()));
    end = at;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<std::string> splitlines(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t k = 0; k < s.size(); ++k) {
    if (s[k] == '\n' || s[k] == '\r') {
      out.push_back(cur);
      cur.clear();
      if (s[k] == '\r' && k + 1 < s.size() && s[k + 1] == '\n') ++k;
    } else {
      cur += s[k];
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count) {
  std::string out;
  if (old.empty()) {  // Python inserts `repl` around every character
    const auto cps = code_points(s);
    int64_t done = 0;
    for (size_t k = 0; k <= cps.size(); ++k) {
      if (count < 0 || done < count) {
        out += repl;
        ++done;
      }
      if (k < cps.size()) out += cps[k];
    }
    return out;
  }
  size_t start = 0;
  int64_t done = 0;
  for (;;) {
    const size_t at = (count >= 0 && done >= count) ? std::string::npos : s.find(old, start);
    if (at == std::string::npos) break;
    out.append(s, start, at - start);
    out += repl;
    start = at + old.size();
    ++done;
  }
  out.append(s, start, std::string::npos);
  return out;
}

int64_t count(const std::string& s, const std::string& sub) {
  if (sub.empty()) return int64_t(code_point_count(s)) + 1;
  int64_t n = 0;
  for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
  return n;
}

std::string upper(std::string s) {
  for (char& c : s) if (c >= 'a' && c <= 'z') c = char(c - 32);
  return s;
}

std::string lower(std::string s) {
  for (char& c : s) if (c >= 'A' && c <= 'Z') c = char(c + 32);
  return s;
}

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

std::string title(const std::string& s) {
  std::string out = s;
  bool prev_cased = false;
  for (char& c : out) {
    if (is_alpha(c)) {
      c = prev_cased ? (char)lower(std::string(1, c))[0] : (char)upper(std::string(1, c))[0];
      prev_cased = true;
    } else {
      prev_cased = false;
    }
  }
  return out;
}

std::string title_filter(const std::string& s) {
  std::string out;
  bool word_start = true;
  for (char c : s) {
    const bool sep = c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || c == ' ' || (c >= '\t' && c <= '\r');
    if (sep) {
      out += c;
      word_start = true;
    } else {
      out += word_start ? (c >= 'a' && c <= 'z' ? char(c - 32) : c) : (c >= 'A' && c <= 'Z' ? char(c + 32) : c);
      word_start = false;
    }
  }
  return out;
}

std::string capitalize(const std::string& s) {
  std::string out = lower(s);
  if (!out.empty() && out[0] >= 'a' && out[0] <= 'z') out[0] = char(out[0] - 32);
  return out;
}

bool char_class(const std::string& s, const std::string& method) {
  if (s.empty()) return false;
  if (method == "islower") return lower(s) == s && upper(s) != s;
  if (method == "isupper") return upper(s) == s && lower(s) != s;
  for (auto cp : code_points(s)) {
    const char c = cp[0];
    bool ok = false;
    if (method == "isspace") ok = is_space(cp);
    else if (cp.size() != 1) ok = false;
    else if (method == "isdigit") ok = c >= '0' && c <= '9';
    else if (method == "isalpha") ok = is_alpha(c);
    else if (method == "isalnum") ok = is_alpha(c) || (c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

std::string indent(const std::string& s, const std::string& pad, bool first, bool blank) {
  // jinja2's do_indent: appends a newline, splits lines, indents all but the first (blank lines
  // only with blank=True), and the first with first=True.
  const std::vector<std::string> lines = splitlines(s + "\n");
  std::string out;
  for (size_t k = 0; k < lines.size(); ++k) {
    if (k) out += '\n';
    if (k > 0 && (blank || !lines[k].empty())) out += pad;
    out += lines[k];
  }
  if (first) out = pad + out;
  return out;
}

std::vector<size_t> slice_indices(size_t n, std::optional<int64_t> start, std::optional<int64_t> stop,
                                  std::optional<int64_t> step, int line) {
  const int64_t len = int64_t(n);
  const int64_t st = step.value_or(1);
  if (st == 0) fail("template line {}: slice step cannot be zero", line);
  auto clamp = [&](std::optional<int64_t> v, int64_t def, int64_t lo, int64_t hi) {
    if (!v) return def;
    int64_t x = *v < 0 ? *v + len : *v;
    return std::clamp(x, lo, hi);
  };
  std::vector<size_t> out;
  if (st > 0) {
    const int64_t a = clamp(start, 0, 0, len), b = clamp(stop, len, 0, len);
    for (int64_t k = a; k < b; k += st) out.push_back(size_t(k));
  } else {
    const int64_t a = clamp(start, len - 1, -1, len - 1), b = clamp(stop, -1, -1, len - 1);
    for (int64_t k = a; k > b; k += st) out.push_back(size_t(k));
  }
  return out;
}

}  // namespace r1::jinja::strings
