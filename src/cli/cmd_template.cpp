// r1 template MODEL_DIR --messages FILE.json [--add-generation-prompt] [--tools FILE.json]
//                       [--var NAME=VALUE]... [--template-name NAME]
//     prints the prompt the model's chat template renders, byte for byte (no newline added)
// r1 template [MODEL_DIR] --jsonl
//     reads one JSON job per stdin line, {"messages": [...], "tools": [...], "add_generation_prompt": true,
//     "vars": {...}, "template_name": "...", "model": "DIR"} (only messages required; model defaults to
//     MODEL_DIR), prints one JSON line per job: {"prompt": "..."}, {"prompt_hex": "..."} when the prompt is
//     not valid UTF-8, or {"error": "..."} when rendering fails.
// The interface of the exactness tests against Python's jinja2 (tests/chat/oracle_test.py): --jsonl renders
// its hundreds of cases in one process instead of one process start each.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <new>
#include <sstream>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "cli/commands.h"
#include "runtime/model_text.h"
#include "core/error.h"

namespace r1::cli {
namespace {

nlohmann::ordered_json read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("{}: cannot open", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::ordered_json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    fail("{}: invalid JSON: {}", path, e.what());
  }
}

// What one rendering needs; the single-case flags and a --jsonl line both fill it.
struct Job {
  std::string model, name;
  chat::ChatRequest req;
};

std::string render(const Job& job) {
  const chat::ChatTemplate tmpl(load_chat_template_for(job.model, job.name, !job.req.tools.is_null()));
  return tmpl.render(job.req);
}

// --var NAME=VALUE: VALUE as JSON if it parses, else as a string.
void set_var(chat::ChatRequest& req, const std::string& v) {
  const size_t eq = v.find('=');
  if (eq == std::string::npos || eq == 0) fail("--var '{}': expected NAME=VALUE", v);
  const std::string value = v.substr(eq + 1);
  nlohmann::ordered_json parsed = nlohmann::ordered_json::parse(value, nullptr, false);
  req.vars[v.substr(0, eq)] = parsed.is_discarded() ? nlohmann::ordered_json(value) : parsed;
}

// One --jsonl line. A malformed job is the caller's mistake, not a template's: it ends the run (as
// `r1 tokenize --jsonl` does), where a template that fails to render is one {"error"} result.
Job parse_job(const std::string& line, size_t n, const std::string& default_model) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) fail("stdin line {}: expected a JSON object (a job)", n);
  Job job;
  job.model = default_model;
  for (auto& [key, value] : j.items()) {
    if (key == "model" && value.is_string()) {
      job.model = value.get<std::string>();
    } else if (key == "template_name" && value.is_string()) {
      job.name = value.get<std::string>();
    } else if (key == "messages" && value.is_array()) {
      job.req.messages = value;
    } else if (key == "tools") {
      job.req.tools = value;  // null: no tools, as on the command line without --tools
    } else if (key == "add_generation_prompt" && value.is_boolean()) {
      job.req.add_generation_prompt = value.get<bool>();
    } else if (key == "vars" && value.is_object()) {
      job.req.vars = value;
    } else {
      fail("stdin line {}: unexpected key '{}' or wrong type for it (see r1 template --help)", n, key);
    }
  }
  if (!j.contains("messages")) fail("stdin line {}: no \"messages\"", n);
  if (job.model.empty()) fail("stdin line {}: no \"model\", and no MODEL_DIR on the command line", n);
  return job;
}

// {"prompt": TEXT}. JSON strings hold only valid UTF-8, so any other prompt comes as hex: the caller still
// sees its exact bytes.
std::string result_line(const std::string& prompt) {
  try {
    return nlohmann::ordered_json{{"prompt", prompt}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::type_error&) {
    static const char digits[] = "0123456789abcdef";
    std::string hex;
    for (const unsigned char c : prompt) {
      hex += digits[c >> 4];
      hex += digits[c & 15];
    }
    return nlohmann::ordered_json{{"prompt_hex", hex}}.dump();
  }
}

// One result line per job: the prompt, or the one-line error the single-case command would have exited with.
std::string run_job(const Job& job) {
  try {
    return result_line(render(job));
  } catch (const std::bad_alloc&) {
    return nlohmann::ordered_json{{"error", "out of memory"}}.dump();
  } catch (const std::exception& e) {
    return nlohmann::ordered_json{{"error", e.what()}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
}

int run_jsonl(const std::string& default_model) {
  std::string line;
  for (size_t n = 1; std::getline(std::cin, line); ++n) {
    if (line.empty()) continue;
    const std::string out = run_job(parse_job(line, n, default_model)) + "\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);  // a caller may wait for each answer before it sends the next job
  }
  return 0;
}

}  // namespace

Runner add_template(CLI::App& app) {
  struct Opts {
    std::string dir, messages, tools, name;
    bool add_generation_prompt = false, jsonl = false;
    std::vector<std::string> vars;
  };
  auto o = std::make_shared<Opts>();
  app.add_option("model", o->dir, "Model directory (tokenizer_config.json and/or chat_template.jinja), or a .gguf file "
                                  "(with --jsonl: the default for jobs without \"model\")");
  CLI::Option* messages =
      app.add_option("--messages", o->messages, "JSON file: a list of messages, or {\"messages\": [...], \"tools\": [...]}");
  CLI::Option* agp = app.add_flag("--add-generation-prompt", o->add_generation_prompt, "End with the assistant's turn header");
  CLI::Option* tools = app.add_option("--tools", o->tools, "JSON file: a list of tool definitions");
  CLI::Option* vars = app.add_option("--var", o->vars, "Template variable NAME=VALUE (VALUE as JSON if it parses, else a string)");
  CLI::Option* name = app.add_option("--template-name", o->name,
                                     "Which of several named templates (default: \"tool_use\" with tools, else \"default\")");
  app.add_flag("--jsonl", o->jsonl,
               "Render many conversations in one process: read one JSON job per stdin line, {\"messages\": [...], "
               "\"tools\": [...], \"add_generation_prompt\": BOOL, \"vars\": {...}, \"template_name\": NAME, \"model\": DIR} "
               "(only messages required), print one JSON line per job: {\"prompt\": TEXT}, {\"prompt_hex\": HEX} for a "
               "prompt that is not valid UTF-8, or {\"error\": MESSAGE}")
      ->excludes(messages, agp, tools, vars, name);
  return [o] {
    if (o->jsonl) return run_jsonl(o->dir);
    if (o->dir.empty()) fail("model is required (or --jsonl; see --help)");
    if (o->messages.empty()) fail("--messages is required (or --jsonl; see --help)");
    Job job{o->dir, o->name, {}};
    nlohmann::ordered_json m = read_json_file(o->messages);
    if (m.is_object()) {
      if (m.contains("tools")) job.req.tools = m["tools"];
      m = m.value("messages", nlohmann::ordered_json::array());
    }
    if (!m.is_array()) fail("{}: expected a list of messages", o->messages);
    job.req.messages = m;
    if (!o->tools.empty()) job.req.tools = read_json_file(o->tools);
    job.req.add_generation_prompt = o->add_generation_prompt;
    for (const std::string& v : o->vars) set_var(job.req, v);
    const std::string prompt = render(job);
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    std::fflush(stdout);
    return 0;
  };
}

}  // namespace r1::cli
