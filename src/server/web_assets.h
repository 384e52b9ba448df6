#pragma once
// The web chat page of `r1 serve` (src/server/web/), embedded in the binary at build time by
// cmake/embed_files.cmake: the server answers GET / and the page's files without reading the disk.
#include <string_view>

namespace r1::server {

struct WebAsset {
  std::string_view path;          // URL path: "/index.html", "/app.js", ...
  std::string_view content_type;  // "text/html; charset=utf-8", ...
  std::string_view body;          // the file's bytes
};

// The embedded file for a URL path ("/" means "/index.html"; a query string is ignored); nullptr when
// there is none.
const WebAsset* find_web_asset(std::string_view url_path);

}  // namespace r1::server
