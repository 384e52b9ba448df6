#include "train/tasks.h"

#include <fmt/format.h>

#include "core/error.h"
#include "train/task_common.h"

namespace r1::train {

OptionReader::OptionReader(std::string_view task, const nlohmann::json& options) : task_(task), options_(options) {
  if (!options_.is_object()) fail("{} options: expected a JSON object, got {}", task_, options_.dump());
}

void OptionReader::read(const char* key, int64_t& value, int64_t lo, int64_t hi) {
  known_.insert(key);
  const auto it = options_.find(key);
  if (it == options_.end()) return;
  if (!it->is_number_integer() || (it->is_number_unsigned() && it->get<uint64_t>() > uint64_t(INT64_MAX)) ||
      it->get<int64_t>() < lo || it->get<int64_t>() > hi) {
    fail("{} option '{}': expected an integer in [{}, {}], got {}", task_, key, lo, hi, it->dump());
  }
  value = it->get<int64_t>();
}

void OptionReader::read(const char* key, int& value, int64_t lo, int64_t hi) {
  int64_t v = value;
  read(key, v, lo, hi);
  value = static_cast<int>(v);
}

void OptionReader::read(const char* key, bool& value) {
  known_.insert(key);
  const auto it = options_.find(key);
  if (it == options_.end()) return;
  if (!it->is_boolean()) fail("{} option '{}': expected true or false, got {}", task_, key, it->dump());
  value = it->get<bool>();
}

void OptionReader::read(const char* key, std::string& value) {
  known_.insert(key);
  const auto it = options_.find(key);
  if (it == options_.end()) return;
  if (!it->is_string()) fail("{} option '{}': expected a string, got {}", task_, key, it->dump());
  value = it->get<std::string>();
}

void OptionReader::finish() const {
  for (const auto& [key, value] : options_.items()) {
    if (!known_.contains(key)) {
      std::string list;
      for (const std::string& k : known_) list += (list.empty() ? "" : ", ") + k;
      fail("{} options: unknown key '{}' (known: {})", task_, key, list);
    }
  }
}

std::unique_ptr<Generator> make_generator(std::string_view name, const nlohmann::json& options) {
  if (name == "arithmetic") return make_arithmetic(read_arithmetic_options(options));
  if (name == "countdown") return make_countdown(read_countdown_options(options));
  if (name == "linear") return make_linear(read_linear_options(options));
  if (name == "sum") return make_sum(read_sum_options(options));
  std::string list;
  for (const std::string& n : task_names()) list += (list.empty() ? "" : ", ") + n;
  fail("unknown task '{}' (known: {})", name, list);
}

std::unique_ptr<Generator> make_generator(std::string_view name, const TaskOptions& options) {
  // Through the JSON path, so a struct holding an out-of-range knob is refused like a bad --options.
  if (name == "arithmetic") return make_generator(name, make_arithmetic(options.arithmetic)->options());
  if (name == "countdown") return make_generator(name, make_countdown(options.countdown)->options());
  if (name == "linear") return make_generator(name, make_linear(options.linear)->options());
  if (name == "sum") return make_generator(name, make_sum(options.sum)->options());
  return make_generator(name, nlohmann::json::object());  // the unknown-task error
}

std::vector<std::string> task_names() { return {"arithmetic", "countdown", "linear", "sum"}; }

// The paper's wording, case included. The paper writes "User: prompt. Assistant:"; our questions end
// in their own punctuation, so no period is added after them.
std::string r1_zero_prompt(std::string_view question) {
  return fmt::format(
      "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
      "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
      "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
      "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: {} "
      "Assistant:",
      question);
}

}  // namespace r1::train
