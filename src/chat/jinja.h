// A small Jinja2 interpreter for Hugging Face chat templates.
//
// Debian ships no maintained C++ Jinja library, and chat templates use a small, stable subset of
// Jinja, so r1 carries its own: parse once, render many times with different messages. Rendering
// follows transformers' apply_chat_template: jinja2's ImmutableSandboxedEnvironment with
// trim_blocks=True, lstrip_blocks=True, the loopcontrols extension (break/continue), the
// `{% generation %}` tag, and the globals raise_exception() and strftime_now() and the tojson filter
// as transformers defines them (json.dumps with ensure_ascii=False).
//
// Anything outside the supported subset is an r1::Error naming the construct and its template line;
// so are runaway templates (output, recursion or work beyond the limits below).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "chat/jinja_value.h"

namespace r1::jinja {

struct Program;

struct Limits {
  size_t max_output_bytes = size_t(64) << 20;  // rendered text, and any one string value
  int max_call_depth = 100;                      // nested macro calls
  uint64_t max_steps = 10'000'000;  // statements, loop iterations, calls, and the size of built values
};

class Template {
 public:
  // Parses the template; throws r1::Error "template line N: ..." on a syntax error or an
  // unsupported tag.
  explicit Template(std::string_view source);

  // Renders with `context` (a Dict of template variables) on top of the builtin globals
  // (range, namespace, dict, raise_exception, strftime_now). raise_exception(msg) and runtime
  // errors throw r1::Error.
  std::string render(const Value& context, const Limits& limits = {}) const;

 private:
  std::shared_ptr<const Program> program_;
};

}  // namespace r1::jinja
