// Python str methods over UTF-8 (internal to the interpreter). Positions and lengths count code
// points, and "whitespace" is Python's str.isspace() set, so that templates that slice or strip
// non-ASCII text render as they do under Python.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace r1::jinja::strings {

// str.strip / lstrip / rstrip; `chars` nullopt strips whitespace.
std::string strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right);
// str.split() / str.rsplit() without a separator.
std::vector<std::string> split_whitespace(const std::string& s, int64_t maxsplit, bool from_right);
// str.split(sep, maxsplit) / str.rsplit(sep, maxsplit).
std::vector<std::string> split(const std::string& s, const std::string& sep, int64_t maxsplit, bool from_right, int line);
std::vector<std::string> splitlines(const std::string& s);
std::string replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count);
int64_t count(const std::string& s, const std::string& sub);
// Case mapping is ASCII-only (Python maps all of Unicode; chat templates only case-map ASCII keywords).
std::string upper(std::string s);
std::string lower(std::string s);
std::string title(const std::string& s);
std::string capitalize(const std::string& s);
// jinja2's title filter (not str.title): words start after whitespace or one of -([{<.
std::string title_filter(const std::string& s);
bool char_class(const std::string& s, const std::string& method);  // isdigit, isspace, isalpha, ...
// jinja2's indent filter.
std::string indent(const std::string& s, const std::string& pad, bool first, bool blank);
// The indices range(n)[start:stop:step] selects, as Python's slice.indices().
std::vector<size_t> slice_indices(size_t n, std::optional<int64_t> start, std::optional<int64_t> stop,
                                  std::optional<int64_t> step, int line);

}  // namespace r1::jinja::strings
