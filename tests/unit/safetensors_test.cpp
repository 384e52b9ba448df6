// safetensors: writer -> parser round trip, and the parser on hand-made invalid headers (every error
// names the file and, where there is one, the tensor).
#include "formats/safetensors.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/mapped_file.h"

namespace r1 {
namespace {

const std::string kPath = "dir/model-00001-of-00002.safetensors";

// 8-byte little-endian length + header text + `data_bytes` zero bytes.
std::vector<uint8_t> file_bytes(const std::string& header, size_t data_bytes = 0) {
  std::vector<uint8_t> b(8 + header.size() + data_bytes, 0);
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) b[size_t(i)] = uint8_t(n >> (8 * i));
  std::memcpy(b.data() + 8, header.data(), header.size());
  return b;
}

// Parses and returns the error message ("" if it parsed).
std::string error_of(const std::vector<uint8_t>& b) {
  try {
    parse_safetensors_header(b.data(), b.size(), kPath);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string error_of(const std::string& header, size_t data_bytes = 0) { return error_of(file_bytes(header, data_bytes)); }

// The message names the file, is one line, and contains every one of `parts`.
void expect_error(const std::string& message, std::initializer_list<const char*> parts) {
  ASSERT_FALSE(message.empty()) << "parsed, expected an error containing " << *parts.begin();
  EXPECT_EQ(message.rfind(kPath, 0), 0u) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  for (const char* p : parts) EXPECT_NE(message.find(p), std::string::npos) << "'" << p << "' not in: " << message;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "r1-st-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string file(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }

 private:
  std::string path_;
};

TEST(Safetensors, WriterParserRoundTrip) {
  TempDir dir;
  const std::string path = dir.file("model.safetensors");
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  auto pattern = [](uint8_t seed) {
    return [seed](uint8_t* dst, size_t n) {
      for (size_t i = 0; i < n; ++i) dst[i] = uint8_t(seed + i * 7);
    };
  };
  w.add("a.weight", DType::BF16, {3, 5}, pattern(1));
  w.add("b.weight", DType::F8_E4M3, {7, 3}, pattern(2));  // 21 bytes: the next tensor starts unaligned
  w.add("b.weight_scale_inv", DType::F32, {1, 1}, pattern(3));
  w.add("empty", DType::F32, {0, 4}, pattern(4));
  w.add("c.bias", DType::F16, {9}, pattern(5));
  w.add("ids", DType::I64, {2}, pattern(6));
  w.add("scalar", DType::F32, {}, pattern(7));
  EXPECT_EQ(w.count(), 7u);
  EXPECT_EQ(w.data_bytes(), 30u + 21 + 4 + 0 + 18 + 16 + 4);
  w.write(path);

  MappedFile f(path);
  const SafetensorsHeader h = parse_safetensors_header(f.data(), f.size(), path);
  EXPECT_EQ(h.data_offset % 8, 0u);
  EXPECT_EQ(h.data_offset + w.data_bytes(), f.size());
  ASSERT_EQ(h.metadata.size(), 1u);
  EXPECT_EQ(h.metadata.at("format"), "pt");
  ASSERT_EQ(h.tensors.size(), 7u);
  struct Want {
    const char* name;
    DType dtype;
    std::vector<int64_t> shape;
    uint8_t seed;
  };
  const Want want[] = {{"a.weight", DType::BF16, {3, 5}, 1},       {"b.weight", DType::F8_E4M3, {7, 3}, 2},
                       {"b.weight_scale_inv", DType::F32, {1, 1}, 3}, {"empty", DType::F32, {0, 4}, 4},
                       {"c.bias", DType::F16, {9}, 5},             {"ids", DType::I64, {2}, 6},
                       {"scalar", DType::F32, {}, 7}};
  for (size_t i = 1; i < h.tensors.size(); ++i) EXPECT_LE(h.tensors[i - 1].begin, h.tensors[i].begin);  // file order
  uint64_t offset = 0;
  for (size_t i = 0; i < 7; ++i) {
    SCOPED_TRACE(want[i].name);
    auto it = std::find_if(h.tensors.begin(), h.tensors.end(), [&](const auto& t) { return t.name == want[i].name; });
    ASSERT_NE(it, h.tensors.end());
    const SafetensorsEntry& e = *it;
    EXPECT_EQ(e.dtype, want[i].dtype);
    EXPECT_EQ(e.shape, want[i].shape);
    EXPECT_EQ(e.begin, offset);
    uint64_t n = dtype_size(e.dtype);
    for (int64_t d : e.shape) n *= uint64_t(d);
    EXPECT_EQ(e.end - e.begin, n);
    for (uint64_t k = 0; k < n; ++k) {
      ASSERT_EQ(f.data()[h.data_offset + e.begin + k], uint8_t(want[i].seed + k * 7)) << "byte " << k;
    }
    offset = e.end;
  }
}

TEST(Safetensors, EmptyHeaderObjectIsValid) {
  EXPECT_EQ(error_of("{}"), "");
  EXPECT_EQ(error_of("{\"__metadata__\":{}}  "), "");
}

TEST(Safetensors, TruncatedBeforeHeaderLength) {
  for (size_t n : {0, 1, 7}) {
    std::vector<uint8_t> b(n, 0);
    expect_error(error_of(b), {"truncated", "8-byte header length"});
  }
  // A null pointer with size 0 (what mapping an empty file gives) is safe too.
  std::string m;
  try {
    parse_safetensors_header(nullptr, 0, kPath);
  } catch (const Error& e) {
    m = e.what();
  }
  expect_error(m, {"truncated"});
}

TEST(Safetensors, HeaderLengthBeyondFile) {
  auto b = file_bytes("{}");
  b[0] = 3;  // claims 3 header bytes, there are 2
  expect_error(error_of(b), {"header length 3", "exceeds the file size 10"});
  for (int i = 0; i < 8; ++i) b[size_t(i)] = 0xff;
  expect_error(error_of(b), {"header length 18446744073709551615", "byte limit"});
}

TEST(Safetensors, HeaderNotJson) {
  expect_error(error_of("{\"a\": {"), {"header is not valid JSON"});
  expect_error(error_of(std::string("\x00\xff\xfe{", 4)), {"header is not valid JSON"});
  expect_error(error_of("[1, 2]"), {"header must be a JSON object"});
  expect_error(error_of("\"x\""), {"header must be a JSON object"});
}

TEST(Safetensors, EntryNotObject) {
  expect_error(error_of(R"({"t.weight": [1, 2]})"), {"'t.weight'", "not a JSON object"});
}

TEST(Safetensors, DtypeMissingOrUnknown) {
  expect_error(error_of(R"({"t.weight": {"shape": [2], "data_offsets": [0, 8]}})", 8), {"'t.weight'", "'dtype'"});
  expect_error(error_of(R"({"t.weight": {"dtype": 4, "shape": [2], "data_offsets": [0, 8]}})", 8), {"'t.weight'", "'dtype'"});
  expect_error(error_of(R"({"t.weight": {"dtype": "F8_E5M2", "shape": [2], "data_offsets": [0, 2]}})", 2),
               {"'t.weight'", "unsupported dtype 'F8_E5M2'", "expected F32, F16, BF16, F8_E4M3"});
  expect_error(error_of(R"({"t.weight": {"dtype": "f32", "shape": [2], "data_offsets": [0, 8]}})", 8),
               {"'t.weight'", "unsupported dtype 'f32'"});
}

TEST(Safetensors, ShapeInvalid) {
  const char* bad[] = {
      R"({"t.w": {"dtype": "F32", "data_offsets": [0, 8]}})",
      R"({"t.w": {"dtype": "F32", "shape": 2, "data_offsets": [0, 8]}})",
      R"({"t.w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})",
      R"({"t.w": {"dtype": "F32", "shape": [2.0], "data_offsets": [0, 8]}})",
      R"({"t.w": {"dtype": "F32", "shape": ["2"], "data_offsets": [0, 8]}})",
      R"({"t.w": {"dtype": "F32", "shape": [1,1,1,1,1,1,1,1,2], "data_offsets": [0, 8]}})",
      R"({"t.w": {"dtype": "F32", "shape": [1099511627776, 1099511627776], "data_offsets": [0, 8]}})",
      R"({"t.w": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 8]}})",
      R"({"t.w": {"dtype": "F32", "shape": [4294967296, 4294967296, 0], "data_offsets": [0, 0]}})",
  };
  for (const char* h : bad) {
    SCOPED_TRACE(h);
    expect_error(error_of(h, 8), {"'t.w'", "shape"});
  }
}

TEST(Safetensors, DataOffsetsInvalid) {
  const char* bad[] = {
      R"({"t.w": {"dtype": "F32", "shape": [2]}})",
      R"({"t.w": {"dtype": "F32", "shape": [2], "data_offsets": [0]}})",
      R"({"t.w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8, 16]}})",
      R"({"t.w": {"dtype": "F32", "shape": [2], "data_offsets": [-8, 0]}})",
      R"({"t.w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8.0]}})",
      R"({"t.w": {"dtype": "F32", "shape": [2], "data_offsets": {"begin": 0, "end": 8}}})",
  };
  for (const char* h : bad) {
    SCOPED_TRACE(h);
    expect_error(error_of(h, 8), {"'t.w'", "'data_offsets' must be two non-negative integers"});
  }
  expect_error(error_of(R"({"t.w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 0]}})", 8), {"'t.w'", "reversed"});
}

TEST(Safetensors, OffsetsOutOfRange) {
  expect_error(error_of(R"({"t.w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 7),
               {"'t.w'", "data_offsets end 8 is past the end of the data (7 bytes"});
  expect_error(error_of(R"({"t.w": {"dtype": "F32", "shape": [2], "data_offsets": [1000000, 1000008]}})", 8),
               {"'t.w'", "past the end of the data"});
  expect_error(error_of(R"({"t.w": {"dtype": "F32", "shape": [2], "data_offsets": [18446744073709551607, 18446744073709551615]}})", 8),
               {"'t.w'", "past the end of the data"});
}

TEST(Safetensors, ByteSizeNotDtypeTimesShape) {
  expect_error(error_of(R"({"t.w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", 16),
               {"'t.w'", "F32 [3] needs 12 bytes but data_offsets span 8"});
  expect_error(error_of(R"({"t.w": {"dtype": "BF16", "shape": [2, 2], "data_offsets": [0, 16]}})", 16),
               {"'t.w'", "BF16 [2, 2] needs 8 bytes but data_offsets span 16"});
}

TEST(Safetensors, Overlap) {
  expect_error(error_of(R"({"a.w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                            "b.w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", 16),
               {"'a.w'", "'b.w'", "overlap"});
  expect_error(error_of(R"({"a.w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                            "b.w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})", 16),
               {"'a.w'", "'b.w'", "overlap"});
  // An empty tensor between two overlapping ones must not hide the overlap.
  expect_error(error_of(R"({"a.w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                            "e.w": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},
                            "c.w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}})", 16),
               {"'a.w'", "'c.w'", "overlap"});
  // A big tensor containing two later small ones.
  expect_error(error_of(R"({"a.w": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]},
                            "b.w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
                            "c.w": {"dtype": "F32", "shape": [1], "data_offsets": [12, 16]}})", 32),
               {"'a.w'", "overlap"});
  // Touching ranges and empty tensors anywhere are fine.
  EXPECT_EQ(error_of(R"({"a.w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                         "e.w": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]},
                         "b.w": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}})", 16), "");
}

TEST(Safetensors, MetadataInvalid) {
  expect_error(error_of(R"({"__metadata__": [1]})"), {"'__metadata__'", "must be an object"});
  expect_error(error_of(R"({"__metadata__": {"format": 1}})"), {"'__metadata__'", "'format'", "must be a string"});
}

// Random byte flips and cuts of a valid file: only r1::Error may come out (ASan/UBSan watch the rest).
TEST(Safetensors, MutatedFilesOnlyThrowErrors) {
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"a.weight":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,12]},)"
      R"("b.weight":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[12,16]},"c":{"dtype":"I64","shape":[1],"data_offsets":[16,24]}})";
  const std::vector<uint8_t> valid = file_bytes(header, 24);
  ASSERT_EQ(error_of(valid), "");
  std::mt19937 rng(1234);
  int errors = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::vector<uint8_t> b = valid;
    const int flips = 1 + int(rng() % 4);
    for (int k = 0; k < flips; ++k) b[rng() % b.size()] = uint8_t(rng());
    if (rng() % 4 == 0) b.resize(rng() % b.size());
    try {
      parse_safetensors_header(b.data(), b.size(), kPath);
    } catch (const Error& e) {
      ++errors;
      EXPECT_EQ(std::string(e.what()).rfind(kPath, 0), 0u) << e.what();
    }
  }
  EXPECT_GT(errors, 100);
}

}  // namespace
}  // namespace r1
