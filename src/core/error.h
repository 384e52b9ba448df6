// Errors that reach the user: one line naming the file, the field or tensor, and what was expected.
//
// Code that reads untrusted input (model files, JSON, CLI arguments, HTTP bodies) throws r1::Error;
// the front ends (CLI, server) catch it at the door and turn it into a message and an exit code or a
// 4xx. Internal invariants use assert: they are programmer bugs, not user errors.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace r1 {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// fail("{}: tensor '{}': expected shape {}", file, name, shape) -- formats and throws r1::Error.
template <typename... Args>
[[noreturn]] void fail(fmt::format_string<Args...> format, Args&&... args) {
  throw Error(fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace r1
