// An error a client caused (or the server could not serve), returned as the OpenAI error object:
//   HTTP <status>  {"error": {"message": ..., "type": ..., "param": ... | null, "code": ... | null}}
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace r1::server {

struct ApiError : std::runtime_error {
  int status;
  std::string type, param, code;
  ApiError(int status, std::string message, std::string param = {}, std::string code = {},
           std::string type = "invalid_request_error")
      : std::runtime_error(std::move(message)), status(status), type(std::move(type)), param(std::move(param)),
        code(std::move(code)) {}

  nlohmann::json body() const {
    auto opt = [](const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); };
    return {{"error", {{"message", what()}, {"type", type}, {"param", opt(param)}, {"code", opt(code)}}}};
  }
};

// 400 invalid_request_error naming the parameter.
[[noreturn]] inline void bad_param(const std::string& param, const std::string& message, const std::string& code = "invalid_value") {
  throw ApiError(400, message, param, code);
}

}  // namespace r1::server
