// Tool calls in model output, for the formats the R1 family's templates teach:
//   DeepSeek V3 / R1: <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\nARGS\n```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
//   DeepSeek V3.1:    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>
//   Qwen 2.5 / 3:     <tool_call>\n{"name": NAME, "arguments": ARGS}\n</tool_call> (repeated)
//   Llama 3.1:        the whole answer is {"name": NAME, "parameters": ARGS}, or <|python_tag|> then that
//                     JSON or a builtin call NAME.call(key="value", ...)
// Like ReasoningParser, ToolCallParser is incremental and never shows markup (or a half-seen marker) as
// content. DeepSeek arguments stream as they arrive; Qwen and Llama calls are whole JSON documents and
// are emitted when complete. ChatOutputParser chains the two: reasoning, then tool calls in the content.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/reasoning.h"

namespace r1::chat {

enum class ToolFormat { None, DeepSeekV3, DeepSeekV31, Qwen, Llama31 };

struct ToolCall {
  std::string name;
  std::string arguments;  // JSON text
};

// One step of a streamed tool call: the first delta of a call carries its name; later ones append
// to its arguments.
struct ToolCallDelta {
  size_t index = 0;
  std::string name;
  std::string arguments;
};

struct ContentDelta {
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
};

class ToolCallParser {
 public:
  explicit ToolCallParser(ToolFormat format) : format_(format) {}
  ContentDelta feed(std::string_view text);
  ContentDelta finish();

 private:
  enum class State { Content, Section, Header, Fence, Args, QwenCall, LlamaStart, LlamaWhole };
  void content_out(ContentDelta& d, std::string_view text);
  bool step_deepseek(ContentDelta& d, bool final);
  bool step_qwen(ContentDelta& d, bool final);
  bool step_llama(ContentDelta& d, bool final);
  void llama_finish(ContentDelta& d);

  ToolFormat format_;
  State state_ = State::Content;
  bool started_ = false;
  std::string pending_;
  std::string held_ws_;          // content whitespace that a following tool call would swallow
  bool after_call_ = false;      // drop whitespace between and after tool calls
  size_t calls_ = 0;             // tool calls begun
  std::string args_;             // the current DeepSeek call's arguments as emitted so far
};

struct ChatMessageOut {
  std::string reasoning_content;
  std::string content;
  std::vector<ToolCall> tool_calls;
};

struct ChatDelta {
  std::string reasoning;
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
};

class ChatOutputParser {
 public:
  ChatOutputParser(ToolFormat format, ReasoningParser::Options reasoning)
      : reasoning_(std::move(reasoning)), tools_(format) {}
  ChatDelta feed(std::string_view text);
  ChatDelta finish();

 private:
  ReasoningParser reasoning_;
  ToolCallParser tools_;
};

// Applies deltas to a message (the concatenation rule streaming clients use).
void apply_delta(ChatMessageOut& message, const ChatDelta& delta);

// The whole output at once.
ChatMessageOut parse_chat_output(std::string_view output, ToolFormat format,
                                 const ReasoningParser::Options& reasoning = {});

// Which tool-call format a chat template teaches (by the markup it renders), None if it has none.
ToolFormat tool_format_for_template(std::string_view chat_template);

}  // namespace r1::chat
