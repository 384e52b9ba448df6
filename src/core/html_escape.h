// HTML escaping, one rule for every place that writes HTML from data (jinja's |escape filter, the
// training report): & < > " ' become &amp; &lt; &gt; &#34; &#39;, exactly what MarkupSafe -- and so
// jinja2 -- writes, which chat templates are compared against byte for byte.
#pragma once

#include <string>
#include <string_view>

namespace r1 {

inline std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace r1
