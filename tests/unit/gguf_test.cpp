// The GGUF container: what the writer writes, the parser reads back; lies and truncations are one clear
// error each. Byte layouts here are built by hand from the format description, not by the writer.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_model.h"

namespace r1 {
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

std::string temp_path(const char* name) { return (std::filesystem::temp_directory_path() / name).string(); }

// A hand-assembled GGUF: append fields in order, then `bytes`.
struct Builder {
  std::vector<uint8_t> b;
  template <typename T>
  Builder& put(T v) {
    const auto* p = reinterpret_cast<const uint8_t*>(&v);
    b.insert(b.end(), p, p + sizeof v);
    return *this;
  }
  Builder& str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Builder& header(uint64_t tensors, uint64_t kvs, uint32_t version = 3) {
    b.insert(b.end(), {'G', 'G', 'U', 'F'});
    return put<uint32_t>(version).put<uint64_t>(tensors).put<uint64_t>(kvs);
  }
  Builder& tensor(const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    str(name).put<uint32_t>(uint32_t(ne.size()));
    for (uint64_t d : ne) put<uint64_t>(d);
    return put<uint32_t>(type).put<uint64_t>(offset);
  }
  Builder& pad(size_t align = 32) {
    while (b.size() % align) b.push_back(0);
    return *this;
  }
  Builder& zeros(size_t n) {
    b.insert(b.end(), n, 0);
    return *this;
  }
  GgufHeader parse() const { return parse_gguf_header(b.data(), b.size(), "t.gguf"); }
};

std::string error_of(const Builder& b) {
  try {
    b.parse();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Gguf, HandBuiltFileParses) {
  Builder b;
  b.header(2, 3).str("general.architecture").put<uint32_t>(8).str("llama");
  b.str("a.f").put<uint32_t>(6).put<float>(0.5f);
  b.str("a.arr").put<uint32_t>(9).put<uint32_t>(5).put<uint64_t>(3).put<int32_t>(-1).put<int32_t>(2).put<int32_t>(3);
  b.tensor("w", {32, 2}, 8, 0).tensor("n", {4}, 0, 96);  // Q8_0: 2 rows x 34 bytes = 68 -> next at 96
  b.pad().zeros(96 + 16);
  const GgufHeader h = b.parse();
  EXPECT_EQ(h.version, 3u);
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[0].dtype, DType::Q8_0);
  EXPECT_EQ(h.tensors[0].nbytes, 68u);
  EXPECT_EQ(h.tensors[1].ne, std::vector<int64_t>{4});
  const GgufMetadata m(h, "t.gguf");
  EXPECT_EQ(m.str("general.architecture"), "llama");
  EXPECT_DOUBLE_EQ(m.number("a.f"), 0.5);
  EXPECT_EQ(m.integers("a.arr"), (std::vector<int64_t>{-1, 2, 3}));
  EXPECT_NE(std::string(error_of(b)).find("no error"), std::string::npos);
}

TEST(Gguf, WriterRoundTrip) {
  GgufWriter w;
  w.set("general.architecture", GgufValue::of_string("qwen2"));
  w.set("x.u32", GgufValue::of_u32(7));
  w.set("x.i32", GgufValue::of_i32(-7));
  w.set("x.u64", GgufValue::of_u64(uint64_t(1) << 40));
  w.set("x.f32", GgufValue::of_f32(1.25f));
  w.set("x.bool", GgufValue::of_bool(true));
  w.set("x.strings", GgufValue::of_strings({"a", "", "ü b"}));
  w.set("x.floats", GgufValue::of_f32s({1.0f, -2.0f}));
  w.add_tensor("t0", DType::F32, {3, 2}, [](uint8_t* dst, size_t n) {
    ASSERT_EQ(n, 24u);
    for (int i = 0; i < 6; ++i) {
      const float f = float(i);
      std::memcpy(dst + 4 * i, &f, 4);
    }
  });
  w.add_tensor("t1", DType::Q4_K, {256, 3, 2}, [](uint8_t* dst, size_t n) {
    ASSERT_EQ(n, 6u * 144u);
    std::memset(dst, 0x5a, n);
  });
  const std::string path = temp_path("r1_gguf_roundtrip.gguf");
  w.write(path);
  const std::vector<uint8_t> bytes = read_file(path);
  const GgufHeader h = parse_gguf_header(bytes.data(), bytes.size(), path);
  const GgufMetadata m(h, path);
  EXPECT_EQ(h.key_order.front(), "general.architecture");
  EXPECT_EQ(m.integer("x.u32"), 7);
  EXPECT_EQ(m.integer("x.i32"), -7);
  EXPECT_EQ(m.integer("x.u64"), int64_t(1) << 40);
  EXPECT_DOUBLE_EQ(m.number("x.f32"), 1.25);
  EXPECT_EQ(m.boolean("x.bool"), true);
  EXPECT_EQ(m.strings("x.strings"), (std::vector<std::string>{"a", "", "ü b"}));
  ASSERT_EQ(h.tensors.size(), 2u);
  EXPECT_EQ(h.tensors[1].dtype, DType::Q4_K);
  EXPECT_EQ(h.tensors[1].ne, (std::vector<int64_t>{256, 3, 2}));
  EXPECT_EQ(h.tensors[0].offset % 32, 0u);
  EXPECT_EQ(h.tensors[1].offset % 32, 0u);
  float f;
  std::memcpy(&f, bytes.data() + h.data_offset + h.tensors[0].offset + 5 * 4, 4);
  EXPECT_EQ(f, 5.0f);
  EXPECT_EQ(bytes[h.data_offset + h.tensors[1].offset + 100], 0x5a);
  // Wrong-type lookups name the key and both types.
  try {
    m.str("x.u32");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'x.u32' has type u32, expected string"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

struct BadCase {
  const char* name;
  Builder file;
  const char* expect;
};

std::vector<BadCase> bad_cases() {
  std::vector<BadCase> v;
  auto base = [] { return Builder(); };
  v.push_back({"magic", base().put<uint32_t>(0x12345678).zeros(40), "not a GGUF file"});
  v.push_back({"version", Builder().header(0, 0, 1), "version 1 is not supported"});
  v.push_back({"big_endian", Builder().header(0, 0, 0x03000000), "big-endian"});
  v.push_back({"kv_count_lie", Builder().header(0, 1000000), "metadata count 1000000 cannot fit"});
  v.push_back({"tensor_count_lie", Builder().header(1u << 30, 0), "tensor count"});
  v.push_back({"string_past_end", Builder().header(0, 1).put<uint64_t>(1000).zeros(8), "runs past the end"});
  v.push_back({"truncated_value", Builder().header(0, 1).str("k").put<uint32_t>(10).put<uint32_t>(1), "truncated"});
  v.push_back({"unknown_value_type", Builder().header(0, 1).str("k").put<uint32_t>(13).zeros(8), "unknown value type 13"});
  v.push_back({"nested_array", Builder().header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(9).put<uint64_t>(1), "nested arrays"});
  v.push_back({"array_count_lie", Builder().header(0, 1).str("k").put<uint32_t>(9).put<uint32_t>(6).put<uint64_t>(1u << 30),
               "runs past the end"});
  v.push_back({"duplicate_key", Builder().header(0, 2).str("k").put<uint32_t>(4).put<uint32_t>(1).str("k").put<uint32_t>(4).put<uint32_t>(1),
               "appears twice"});
  v.push_back({"alignment_type", Builder().header(0, 1).str("general.alignment").put<uint32_t>(5).put<int32_t>(64),
               "expected u32"});
  v.push_back({"alignment_not_pow2", Builder().header(0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(48),
               "power of two"});
  v.push_back({"too_many_dims", Builder().header(1, 0).tensor("w", {1, 1, 1, 1, 1}, 0, 0).pad().zeros(32), "5 dimensions"});
  v.push_back({"zero_dim", Builder().header(1, 0).tensor("w", {0}, 0, 0).pad().zeros(32), "dimension 0 is 0"});
  v.push_back({"dims_overflow", Builder().header(1, 0).tensor("w", {1u << 30, 1u << 30, 1u << 30}, 0, 0).pad(), "2^42"});
  v.push_back({"unknown_type", Builder().header(1, 0).tensor("blk.0.ffn_down_exps.weight", {256}, 34, 0).pad().zeros(256),
               "'blk.0.ffn_down_exps.weight': type TQ1_0 (34) is not supported"});
  v.push_back({"ragged_block", Builder().header(1, 0).tensor("w", {48}, 8, 0).pad().zeros(64), "not a multiple of the Q8_0 block size 32"});
  v.push_back({"misaligned_offset", Builder().header(1, 0).tensor("w", {4}, 0, 4).pad().zeros(64), "not a multiple of the alignment"});
  v.push_back({"data_past_end", Builder().header(1, 0).tensor("w", {64}, 0, 0).pad().zeros(100), "runs past the end of the file"});
  v.push_back({"overlap", Builder().header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 32).pad().zeros(128), "overlaps"});
  v.push_back({"duplicate_tensor", Builder().header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad().zeros(64), "appears twice"});
  return v;
}

TEST(Gguf, BadInputIsOneClearError) {
  for (const auto& c : bad_cases()) {
    const std::string err = error_of(c.file);
    EXPECT_NE(err.find(c.expect), std::string::npos) << c.name << ": " << err;
    EXPECT_NE(err.find("t.gguf"), std::string::npos) << c.name << ": error does not name the file: " << err;
    // Every truncation of a valid prefix is also an error, never a crash.
    for (size_t cut = 0; cut < c.file.b.size(); cut += 7) {
      try {
        parse_gguf_header(c.file.b.data(), cut, "t.gguf");
      } catch (const Error&) {
      }
    }
  }
}

TEST(Gguf, NamesMapBothWays) {
  for (const char* g : {"token_embd.weight", "output.weight", "blk.3.attn_kv_a_mqa.weight", "blk.0.attn_q.bias",
                        "blk.12.exp_probs_b.bias", "blk.1.ffn_down_shexp.weight", "blk.2.nextn.shared_head_head.weight",
                        "blk.4.attn_k_b.weight"}) {
    const auto hf = hf_name_of(g);
    ASSERT_TRUE(hf) << g;
    EXPECT_EQ(gguf_name_of(*hf), g);
  }
  EXPECT_EQ(hf_name_of("blk.3.attn_kv_a_mqa.weight"), "model.layers.3.self_attn.kv_a_proj_with_mqa.weight");
  EXPECT_EQ(hf_name_of("blk.12.exp_probs_b.bias"), "model.layers.12.mlp.gate.e_score_correction_bias");
  EXPECT_FALSE(hf_name_of("blk.x.attn_q.weight"));
  EXPECT_FALSE(hf_name_of("blk.1.attn_q"));
  EXPECT_FALSE(hf_name_of("blk.1.ffn_gate_exps.weight"));  // stacked experts have no single HF name
}

}  // namespace
}  // namespace r1
