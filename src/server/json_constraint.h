// Constrained sampling for the OpenAI `response_format` (json_object and json_schema): a byte-level
// pushdown automaton over the JSON text, stepped once per generated token by the server's scheduler.
//
//   TokenVocabulary vocab(tokenizer);                       // once per loaded model
//   auto c = JsonConstraint::from_schema(schema, vocab);    // once per request (throws r1::Error)
//   loop: c->mask(logits, eos_ids); sample id; if end token: stop; c->accept(id);
//
// mask() walks the vocabulary as a byte trie in preorder (every token's bytes; shared prefixes are
// stepped once and a rejected prefix skips its whole subtree), so a step costs what the allowed
// prefixes cost, not 129k separate strings. The automaton is nondeterministic where a schema is
// (anyOf / oneOf / type lists / enum prefixes): it runs a small set of stacks at once, stored as
// persistent linked frames in an arena, so trying a byte never copies a stack.
//
// What is generated (a subset of the valid documents; every generated document is valid):
//  * Whitespace: only where JSON allows it (around `{ } [ ] : ,`), at most kMaxWhitespaceRun bytes in
//    a row (space, tab, LF, CR); none before the top-level value, none after it: once the value is
//    complete only the end tokens are allowed (and, for a top-level number or number enum, which has
//    no closing byte, the tokens that still continue it).
//  * Numbers: `-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,6})?` -- at most 15 integer digits (exact in a double
//    and an int64), at most 6 fraction digits, no exponent. `integer` has no fraction.
//  * Strings: valid UTF-8 (no overlongs, surrogates or bytes above U+10FFFF; a token may end inside a
//    multi-byte character and the next one continue it), no raw control characters, the JSON escapes
//    \" \\ \/ \b \f \n \r \t \uXXXX except \u escapes of surrogates (D800-DFFF: write the character as
//    UTF-8). Lengths count code points, as JSON Schema does.
//  * Objects and arrays nest at most kMaxDepth deep; a schema whose only documents are deeper has none.
//  * Duplicate keys are never produced for listed properties. json_object mode and free-form keys
//    (additionalProperties with a schema) do not track free keys already used.
//
// Supported JSON Schema subset (anything else is an r1::Error naming the keyword and where it is,
// e.g. "response_format.json_schema.schema.properties.age: keyword 'pattern' is not supported"):
//  * type: object, array, string, number, integer, boolean, null, or an array of them. Without
//    `type` the kind is inferred from the keywords (properties -> object, items -> array, ...);
//    a schema with no constraint at all (or `true`) is any JSON value.
//  * object: properties, required, additionalProperties. Properties may come in any order; every
//    required one must appear before `}`; at most 64 properties per object. additionalProperties
//    false, true, {} or absent: only the listed properties are generated (so `{"type": "object"}`
//    with no properties at all means any object). additionalProperties with a schema: other keys
//    (plain strings, no escapes, not a listed name) with values of that schema.
//  * array: items (a schema; absent = any value), minItems, maxItems (uniqueItems: false only).
//  * string: minLength, maxLength. `format` is an annotation and is ignored.
//  * number / integer: minimum, maximum, exclusiveMinimum, exclusiveMaximum (numeric, 2019+ style),
//    enforced digit by digit (a prefix is allowed only if some completion is in range).
//  * enum, const (any JSON values, generated in compact form as nlohmann::json dumps them; values
//    are filtered by `type` only, the schema's other keywords are not applied to them).
//  * anyOf, oneOf (both as alternatives: overlapping oneOf alternatives are not excluded), allOf with
//    exactly one schema, $ref to any local JSON pointer ("#/$defs/X", "#/definitions/X", "#",
//    recursion included), nullable: true (OpenAPI) as "or null".
//  * Ignored annotations: description, title, default, examples, $schema, $id, $comment, format,
//    deprecated, readOnly, writeOnly, contentEncoding, contentMediaType, $defs, definitions, strict.
//  * Not supported (error): pattern, patternProperties, propertyNames, minProperties, maxProperties,
//    prefixItems, contains, uniqueItems: true, multipleOf, not, if/then/else, dependent*, unevaluated*,
//    $ref to other documents, and every keyword not listed above.
//
// Termination: every string with maxLength, number, array with maxItems and whitespace run is
// bounded, so a schema that bounds its strings and arrays (and does not recurse) bounds the document.
// Free keys (json_object mode, additionalProperties with a schema) and the number of such members
// are not bounded; neither is a string without maxLength.
//
// Thread safety: a TokenVocabulary is immutable and shared. A JsonConstraint belongs to one request;
// mask() is const but uses scratch space, so one constraint must not be used by two threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace r1::tok {
class Tokenizer;
}

namespace r1::server {

inline constexpr int kMaxWhitespaceRun = 2;
inline constexpr int kMaxDepth = 32;

// Every token id's decoded bytes, as a byte trie in preorder: the subtree of node i is [i, skip),
// so the mask walk is one forward scan that jumps over rejected prefixes.
class TokenVocabulary {
 public:
  explicit TokenVocabulary(const tok::Tokenizer& t);

  // Ids 0..size()-1 (the tokenizer's vocab_size()).
  int32_t size() const { return size_; }
  // The bytes of `id`; "" for ids that can never appear inside a document (special and added
  // tokens, ids without bytes, out of range).
  std::string_view bytes(int32_t id) const;

  struct TrieNode {
    uint32_t skip;         // index just past this node's subtree
    uint32_t first_token;  // tokens whose bytes end here: trie_tokens_[first_token, +token_count)
    uint32_t token_count;
    uint16_t depth;        // 1 for a first byte
    uint8_t byte;
  };

 private:
  friend class JsonConstraint;
  int32_t size_ = 0;
  std::string data_;               // every usable token's bytes, concatenated
  std::vector<uint32_t> offsets_;  // size_ + 1 offsets into data_ (equal for unusable ids)
  std::vector<TrieNode> trie_;
  std::vector<int32_t> trie_tokens_;
  int max_depth_ = 0;
};

class JsonConstraint {
 public:
  // json_object mode: any JSON object (the top level must be an object).
  static std::unique_ptr<JsonConstraint> any_object(const TokenVocabulary& vocab);
  // json_schema mode: `schema` is response_format.json_schema.schema. Throws r1::Error with a
  // one-line message naming the unsupported keyword or bad value and where it is.
  static std::unique_ptr<JsonConstraint> from_schema(const nlohmann::json& schema, const TokenVocabulary& vocab);

  ~JsonConstraint();

  // Sets logits[id] = -INFINITY for every id < vocab.size() whose bytes cannot continue a valid
  // document from the current state (special and added tokens always; end_tokens unless the
  // document is complete, and then everything but end_tokens, save a top-level number's further
  // digits). If nothing at all would be allowed
  // (a schema with no finite document), end_tokens stay allowed so that generation stops.
  void mask(float* logits, std::span<const int32_t> end_tokens) const;
  // The same over the model's whole logits row: ids past vocab.size() (embedding padding) are masked too.
  void mask(std::span<float> logits, std::span<const int32_t> end_tokens) const;
  // Advances by the token's bytes. Throws r1::Error when the token is not allowed (a caller bug:
  // it did not sample from the masked logits). A special/added token after a complete document
  // (the end token) is accepted and changes nothing.
  void accept(int32_t token);
  // True when a full valid document has been produced.
  bool complete() const;

  // Whether the bytes would be accepted from the current state (for tests and diagnostics).
  bool allows(std::string_view bytes) const;

  struct Grammar;
  struct Frame;

 private:
  JsonConstraint(std::shared_ptr<const Grammar> grammar, const TokenVocabulary& vocab);
  // Steps every thread in `in` by byte c into `out` (deduplicated); frames go to arena_.
  void step_all(std::span<const int32_t> in, uint8_t c, std::vector<int32_t>& out) const;
  void step(int32_t head, uint8_t c, std::vector<int32_t>& out) const;
  void step_object(int32_t head, uint8_t c, std::vector<int32_t>& out) const;
  void step_key(int32_t head, uint8_t c, std::vector<int32_t>& out) const;
  void step_array(int32_t head, uint8_t c, std::vector<int32_t>& out) const;
  void value_start(uint32_t node, int32_t cont, uint8_t c, std::vector<int32_t>& out) const;
  int32_t push(const Frame& f) const;
  bool light_ok(const Frame& f) const;
  bool light_step(Frame& f, uint8_t c) const;
  bool same_stack(int32_t a, int32_t b) const;
  bool can_end(int32_t head) const;
  void compact();

  std::shared_ptr<const Grammar> g_;
  const TokenVocabulary& vocab_;
  std::vector<int32_t> threads_;  // heads of the live stacks in arena_
  // Scratch, reused across calls (mask is const to the caller).
  mutable std::vector<Frame> arena_;
  mutable std::vector<std::vector<int32_t>> levels_;
  mutable std::vector<uint32_t> marks_;
  mutable std::vector<uint8_t> light_;       // per trie depth: the one thread is a string, in light_frames_
  mutable std::vector<Frame> light_frames_;
  mutable std::vector<uint8_t> allowed_;
};

}  // namespace r1::server
