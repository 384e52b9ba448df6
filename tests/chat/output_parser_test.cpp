// Reasoning and tool-call parsing of model output: known answers for every format, and the streaming
// property -- however the text is cut (every single split point, and byte by byte), the concatenated
// deltas equal the one-shot parse, so no markup or half-seen tag ever leaks into content.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "chat/tool_calls.h"

using namespace r1::chat;

namespace {

struct Case {
  const char* name;
  ToolFormat format;
  bool starts_in_reasoning;
  std::string text;
  std::string reasoning, content;
  std::vector<ToolCall> calls;
};

const std::string kB = "<｜tool▁calls▁begin｜>", kE = "<｜tool▁calls▁end｜>", kCB = "<｜tool▁call▁begin｜>",
                  kCE = "<｜tool▁call▁end｜>", kS = "<｜tool▁sep｜>";

std::vector<Case> cases() {
  return {
      {"r1_forced_think", ToolFormat::DeepSeekV3, true, "Let me think.\n2+2=4\n</think>\n\nThe answer is 4.",
       "Let me think.\n2+2=4", "The answer is 4.", {}},
      {"explicit_think", ToolFormat::None, false, "<think>\nhmm\n</think>\n\nHi there", "hmm", "Hi there", {}},
      {"no_think", ToolFormat::None, false, "Hello <think>x</think> world", "", "Hello <think>x</think> world", {}},
      {"empty_think", ToolFormat::None, false, "<think>\n\n</think>\n\nDirect.", "", "Direct.", {}},
      {"cut_while_thinking", ToolFormat::None, true, "still thinking </thi", "still thinking </thi", "", {}},
      {"deepseek_v3_two_calls", ToolFormat::DeepSeekV3, false,
       "Let me check.\n" + kB + kCB + "function" + kS + "get_weather\n```json\n{\"city\": \"東京\"}\n```" + kCE + "\n" + kCB +
           "function" + kS + "search\n```json\n{\"query\": \"a `b` c\", \"n\": 3}\n```" + kCE + kE,
       "", "Let me check.", {{"get_weather", "{\"city\": \"東京\"}"}, {"search", "{\"query\": \"a `b` c\", \"n\": 3}"}}},
      {"r1_reasoning_then_call", ToolFormat::DeepSeekV3, true,
       "I need the weather.\n</think>\n\n" + kB + kCB + "function" + kS + "get_weather\n```json\n{\"city\": \"Lima\"}\n```" + kCE + kE,
       "I need the weather.", "", {{"get_weather", "{\"city\": \"Lima\"}"}}},
      {"deepseek_v31", ToolFormat::DeepSeekV31, false,
       "Checking." + kB + kCB + "get_weather" + kS + "{\"city\": \"Paris\"}" + kCE + kCB + "search" + kS + "{\"q\": \"x\"}" + kCE + kE,
       "", "Checking.", {{"get_weather", "{\"city\": \"Paris\"}"}, {"search", "{\"q\": \"x\"}"}}},
      {"deepseek_lookalikes", ToolFormat::DeepSeekV3, false, "a < b, <｜tool and <｜tool▁call x", "", "a < b, <｜tool and <｜tool▁call x", {}},
      {"qwen_think_and_calls", ToolFormat::Qwen, false,
       "<think>\nneed tools\n</think>\n\nOn it.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>\n"
       "<tool_call>\n{\"name\": \"search\", \"arguments\": \"{\\\"q\\\": 1}\"}\n</tool_call>",
       "need tools", "On it.", {{"get_weather", "{\"city\":\"Rome\"}"}, {"search", "{\"q\": 1}"}}},
      {"qwen_malformed", ToolFormat::Qwen, false, "x <tool_call>\nnot json\n</tool_call> y", "", "x<tool_call>\nnot json\n</tool_call> y", {}},
      {"qwen_plain", ToolFormat::Qwen, false, "1 < 2 and <tool> is not <tool_call", "", "1 < 2 and <tool> is not <tool_call", {}},
      {"llama_json", ToolFormat::Llama31, false, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}", "", "",
       {{"get_weather", "{\"city\":\"Oslo\"}"}}},
      {"llama_python_tag_builtin", ToolFormat::Llama31, false, "<|python_tag|>brave_search.call(query=\"llamas, alpacas\", n=3)", "", "",
       {{"brave_search", "{\"query\":\"llamas, alpacas\",\"n\":3}"}}},
      {"llama_python_tag_json", ToolFormat::Llama31, false, "<|python_tag|>{\"name\": \"f\", \"parameters\": {}}", "", "", {{"f", "{}"}}},
      {"llama_text", ToolFormat::Llama31, false, "Hello {world}, <|python", "", "Hello {world}, <|python", {}},
      {"llama_json_not_call", ToolFormat::Llama31, false, "{\"a\": 1}", "", "{\"a\": 1}", {}},
  };
}

ChatMessageOut stream(const Case& c, const std::vector<std::string>& pieces) {
  ReasoningParser::Options o;
  o.starts_in_reasoning = c.starts_in_reasoning;
  ChatOutputParser p(c.format, o);
  ChatMessageOut m;
  for (const auto& piece : pieces) apply_delta(m, p.feed(piece));
  apply_delta(m, p.finish());
  return m;
}

void expect_same(const ChatMessageOut& got, const Case& c, const std::string& how) {
  EXPECT_EQ(got.reasoning_content, c.reasoning) << c.name << " " << how;
  EXPECT_EQ(got.content, c.content) << c.name << " " << how;
  ASSERT_EQ(got.tool_calls.size(), c.calls.size()) << c.name << " " << how;
  for (size_t k = 0; k < c.calls.size(); ++k) {
    EXPECT_EQ(got.tool_calls[k].name, c.calls[k].name) << c.name << " " << how;
    EXPECT_EQ(got.tool_calls[k].arguments, c.calls[k].arguments) << c.name << " " << how;
  }
}

}  // namespace

TEST(OutputParser, KnownAnswers) {
  for (const Case& c : cases()) {
    ReasoningParser::Options o;
    o.starts_in_reasoning = c.starts_in_reasoning;
    expect_same(parse_chat_output(c.text, c.format, o), c, "(one shot)");
  }
}

TEST(OutputParser, EverySplitPointGivesTheSameResult) {
  for (const Case& c : cases()) {
    for (size_t k = 0; k <= c.text.size(); ++k) {
      expect_same(stream(c, {c.text.substr(0, k), c.text.substr(k)}), c, "(split at " + std::to_string(k) + ")");
      if (::testing::Test::HasFailure()) return;
    }
  }
}

TEST(OutputParser, ByteByByteGivesTheSameResult) {
  for (const Case& c : cases()) {
    std::vector<std::string> bytes;
    for (char ch : c.text) bytes.emplace_back(1, ch);
    expect_same(stream(c, bytes), c, "(byte by byte)");
  }
}

TEST(OutputParser, DeepSeekArgumentsStreamBeforeTheCallEnds) {
  ChatOutputParser p(ToolFormat::DeepSeekV31, {});
  ChatDelta d = p.feed(kB + kCB + "get_weather" + kS + "{\"city\": \"Par");
  ASSERT_EQ(d.tool_calls.size(), 2u);
  EXPECT_EQ(d.tool_calls[0].name, "get_weather");
  EXPECT_EQ(d.tool_calls[1].arguments, "{\"city\": \"Par");
  EXPECT_EQ(d.content, "");
}

TEST(OutputParser, PartialTagsAreHeldBack) {
  ChatOutputParser p(ToolFormat::Qwen, {});
  EXPECT_EQ(p.feed("<thi").content, "");
  EXPECT_EQ(p.feed("nk>abc</th").reasoning, "abc");
  ChatDelta d = p.feed("ink>Answer <tool_c");
  EXPECT_EQ(d.content, "Answer");
  EXPECT_EQ(p.finish().content, " <tool_c");
}

TEST(OutputParser, PromptThatOpensThinking) {
  EXPECT_TRUE(starts_in_reasoning("<｜Assistant｜><think>\n"));
  EXPECT_TRUE(starts_in_reasoning("<|im_start|>assistant\n<think>"));
  EXPECT_FALSE(starts_in_reasoning("<｜Assistant｜></think>"));
  EXPECT_FALSE(starts_in_reasoning("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
}

TEST(OutputParser, FormatFromTemplate) {
  EXPECT_EQ(tool_format_for_template("{{'<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name']}}"),
            ToolFormat::DeepSeekV3);
  EXPECT_EQ(tool_format_for_template("{{'<｜tool▁call▁begin｜>'+ tool['function']['name'] + '<｜tool▁sep｜>' + tool['function']['arguments']}}"),
            ToolFormat::DeepSeekV31);
  EXPECT_EQ(tool_format_for_template("<tool_call>\\n"), ToolFormat::Qwen);
  EXPECT_EQ(tool_format_for_template("{{- '\"parameters\": ' }}"), ToolFormat::Llama31);
  EXPECT_EQ(tool_format_for_template("{{ messages }}"), ToolFormat::None);
}
