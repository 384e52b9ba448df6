// What the generators share (tasks.cpp and task_*.cpp only): reading a task's knobs from JSON, strictly.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "train/tasks.h"

namespace r1::train {

// Reads one task's options object. A knob of the wrong type or out of range, or a key no knob reads
// (a typo would otherwise silently give the default), throws r1::Error naming the task and the key.
class OptionReader {
 public:
  OptionReader(std::string_view task, const nlohmann::json& options);
  void read(const char* key, int& value, int64_t lo, int64_t hi);
  void read(const char* key, int64_t& value, int64_t lo, int64_t hi);
  void read(const char* key, bool& value);
  void read(const char* key, std::string& value);
  void finish() const;  // call after the last read: rejects unknown keys

 private:
  std::string task_;
  const nlohmann::json& options_;
  std::set<std::string> known_;
};

std::unique_ptr<Generator> make_arithmetic(const ArithmeticOptions& o);
std::unique_ptr<Generator> make_countdown(const CountdownOptions& o);
std::unique_ptr<Generator> make_linear(const LinearOptions& o);
std::unique_ptr<Generator> make_sum(const SumOptions& o);

ArithmeticOptions read_arithmetic_options(const nlohmann::json& j);
CountdownOptions read_countdown_options(const nlohmann::json& j);
LinearOptions read_linear_options(const nlohmann::json& j);
SumOptions read_sum_options(const nlohmann::json& j);

}  // namespace r1::train
