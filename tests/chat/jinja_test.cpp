// The Jinja interpreter's errors and limits (its rendering is checked against jinja2 by
// oracle_test.py), and finding a model's chat template.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "chat/chat_template.h"
#include "chat/jinja.h"
#include "core/error.h"

using r1::jinja::Template;
using r1::jinja::Value;

namespace {

std::string render(const std::string& src, const nlohmann::ordered_json& ctx = nlohmann::ordered_json::object()) {
  return Template(src).render(r1::jinja::from_json(ctx));
}

// The error message of rendering `src`, or "" if it rendered.
std::string error_of(const std::string& src, r1::jinja::Limits limits = {}) {
  try {
    Template(src).render(Value::make_dict(), limits);
  } catch (const r1::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Jinja, Renders) {
  EXPECT_EQ(render("{% for m in messages %}{{ loop.index }}:{{ m.role }} {% endfor %}",
                   {{"messages", {{{"role", "user"}}, {{"role", "assistant"}}}}}),
            "1:user 2:assistant ");
  EXPECT_EQ(render("  {% if true %}\nx\n  {% endif %}\ny"), "x\ny");  // lstrip_blocks + trim_blocks
  EXPECT_EQ(render("{{ [1, 2.5, 'a', none, true] }} {{ {'k': 1} | tojson }}"), "[1, 2.5, 'a', None, True] {\"k\": 1}");
  EXPECT_EQ(render("a\n"), "a");  // jinja2 drops one trailing newline
}

TEST(Jinja, ErrorsNameTheConstructAndLine) {
  EXPECT_NE(error_of("line one\n{% if %}").find("line 2"), std::string::npos);
  EXPECT_NE(error_of("{{ x | nope }}").find("no filter named 'nope'"), std::string::npos);
  EXPECT_NE(error_of("{{ x is nope }}").find("no test named 'nope'"), std::string::npos);
  EXPECT_NE(error_of("{% include 'other.jinja' %}").find("unsupported tag '{% include %}'"), std::string::npos);
  EXPECT_NE(error_of("\n\n{{ 'a' | truncate(2) }}").find("line 3: unsupported filter 'truncate'"), std::string::npos);
  EXPECT_NE(error_of("{% for x in y %}").find("endfor"), std::string::npos);
  EXPECT_NE(error_of("{{ 'a' + 1 }}").find("unsupported operand"), std::string::npos);
  EXPECT_NE(error_of("{{ undefined_name + 'a' }}").find("'undefined_name' is undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ raise_exception('roles must alternate') }}").find("roles must alternate"), std::string::npos);
  EXPECT_NE(error_of("{{ 'unterminated }}").find("unterminated"), std::string::npos);
  EXPECT_NE(error_of("{% break %}").find("outside a for loop"), std::string::npos);
}

TEST(Jinja, RunawayTemplatesStop) {
  r1::jinja::Limits few_steps;
  few_steps.max_steps = 150000;
  EXPECT_NE(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", few_steps)
                .find("too much work"),
            std::string::npos);
  // Work that grows with a value's size is charged by that size: counted per statement alone, these
  // loops would stay well under the limit (~2 steps per iteration).
  EXPECT_NE(error_of("{% set big = range(50000) | list %}{% for i in range(50000) %}{% if big == big %}{% endif %}{% endfor %}",
                     few_steps)
                .find("too much work"),
            std::string::npos);
  EXPECT_NE(error_of("{% set s = 'x' * 1000000 %}{% for i in range(10000) %}{{ s[0] }}{% endfor %}", few_steps)
                .find("too much work"),
            std::string::npos);
  EXPECT_NE(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("nested deeper"), std::string::npos);
  EXPECT_NE(error_of("{{ 'x' * 100000000 }}").find("too large"), std::string::npos);
  EXPECT_NE(error_of("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").find("nested too deeply"),
            std::string::npos);
  std::string chain = "{{ 1";
  for (int k = 0; k < 100000; ++k) chain += " + 1";
  EXPECT_NE(error_of(chain + " }}").find("nested too deeply"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(a=1) %}{% set ns.self = ns %}").find("unsupported"), std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(x=[]) %}{% for i in range(600) %}{% set ns.x = [ns.x] %}{% endfor %}")
                .find("nested deeper"),
            std::string::npos);
  r1::jinja::Limits small;
  small.max_output_bytes = 100;
  EXPECT_NE(error_of("{% for i in range(10) %}xxxxxxxxxxxxxxxx{% endfor %}", small).find("output larger"), std::string::npos);
}

TEST(ChatTemplate, LoadsFromModelDir) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("r1_chat_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  auto write = [&](const char* name, const std::string& text) { std::ofstream(dir / name) << text; };

  write("tokenizer_config.json",
        R"({"bos_token": {"content": "<s>"}, "eos_token": "</s>",
            "chat_template": [{"name": "default", "template": "{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"},
                              {"name": "tool_use", "template": "T{{ tools | length }}"}]})");
  r1::chat::ChatRequest req;
  req.messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "hi"}])");
  EXPECT_EQ(r1::chat::ChatTemplate(r1::chat::load_chat_template(dir.string())).render(req), "<s>hi</s>");
  req.tools = nlohmann::ordered_json::parse(R"([{"type": "function"}])");
  EXPECT_EQ(r1::chat::ChatTemplate(r1::chat::load_chat_template(dir.string(), "tool_use")).render(req), "T1");
  EXPECT_EQ(r1::chat::ChatTemplate(r1::chat::load_chat_template(dir.string(), "", true)).render(req), "T1");
  EXPECT_THROW(r1::chat::load_chat_template(dir.string(), "missing"), r1::Error);

  write("tokenizer_config.json", R"({"eos_token": "</s>"})");
  EXPECT_THROW(r1::chat::load_chat_template(dir.string()), r1::Error);
  write("chat_template.jinja", "{{ messages | length }}{{ eos_token }}");
  EXPECT_EQ(r1::chat::ChatTemplate(r1::chat::load_chat_template(dir.string())).render(req), "1</s>");
  fs::remove_all(dir);
}
