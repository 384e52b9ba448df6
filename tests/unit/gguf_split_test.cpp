// Split GGUF models: the writer cuts shards as gguf-split does, the reader joins them from any shard, and
// a set that does not fit together (a shard missing, renamed, from another set, a tensor twice, a wrong
// count) is one clear error naming the file. tests/reference/check_gguf.py --split checks the engine
// on shards cut by an independent Python splitter, and tests/compat that llama.cpp loads r1's shards.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "formats/gguf.h"
#include "formats/gguf_split.h"

namespace r1 {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
struct TempDir {
  fs::path dir;
  explicit TempDir(const char* name) : dir(fs::temp_directory_path() / name) {
    fs::remove_all(dir);
    fs::create_directories(dir);
  }
  ~TempDir() { fs::remove_all(dir); }
  std::string operator/(const std::string& file) const { return (dir / file).string(); }
};

std::string error_of(const std::string& path) {
  try {
    open_gguf_files(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Tensor i: `rows` rows of 32 F32 values, every value i + row / 100.
void add_tensors(GgufWriter& w, const std::vector<int64_t>& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    w.add_tensor("t" + std::to_string(i), DType::F32, {32, rows[i]}, [i](uint8_t* dst, size_t n) {
      for (size_t k = 0; k < n / 4; ++k) {
        const float f = float(i) + float(k / 32) / 100.0f;
        std::memcpy(dst + 4 * k, &f, 4);
      }
    });
  }
}

float value_at(const GgufFiles& f, const GgufTensorInfo& t, size_t k) {
  float v;
  std::memcpy(&v, f.data(t) + 4 * k, 4);
  return v;
}

TEST(GgufSplit, ShardNames) {
  EXPECT_EQ(gguf_shard_path("dir/m", 1, 5), "dir/m-00002-of-00005.gguf");
  const std::optional<GgufShardName> n = parse_gguf_shard_name("dir/DeepSeek-R1-UD-IQ1_S-00003-of-00003.gguf");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->prefix, "dir/DeepSeek-R1-UD-IQ1_S");
  EXPECT_EQ(n->index, 2);
  EXPECT_EQ(n->count, 3);
  for (const char* bad : {"m.gguf", "m-00006-of-00005.gguf", "m-00000-of-00005.gguf", "m-0001a-of-00005.gguf",
                          "m-00001-of-00005.bin", "m_00001-of-00005.gguf", "-00001-of-00005.gguf"}) {
    EXPECT_FALSE(parse_gguf_shard_name(bad)) << bad;
  }
}

TEST(GgufSplit, WriterCutsShardsAndReaderJoinsThemFromAnyShard) {
  TempDir d("r1_gguf_split_roundtrip");
  GgufWriter w;
  w.set("general.architecture", GgufValue::of_string("llama"));
  w.set("x.u32", GgufValue::of_u32(7));
  // 128 bytes a row: tensors of 1,280 / 640 / 3,840 / 256 / 1,280 bytes; at most 2,000 per shard, the
  // third tensor (larger than that) alone: shards {t0, t1}, {t2}, {t3, t4}.
  add_tensors(w, {10, 5, 30, 2, 10});
  const std::vector<std::string> paths = w.write(d / "m.gguf", 2000);
  ASSERT_EQ(paths, (std::vector<std::string>{d / "m-00001-of-00003.gguf", d / "m-00002-of-00003.gguf",
                                             d / "m-00003-of-00003.gguf"}));
  EXPECT_EQ(std::distance(fs::directory_iterator(d.dir), fs::directory_iterator()), 3) << "no .partial files left";

  // Each shard on its own: the metadata in the first only, the split keys in all, as gguf-split writes them.
  const std::vector<std::vector<std::string>> names = {{"t0", "t1"}, {"t2"}, {"t3", "t4"}};
  for (size_t i = 0; i < 3; ++i) {
    const MappedFile f(paths[i]);
    const GgufHeader h = parse_gguf_header(f.data(), f.size(), paths[i]);
    EXPECT_EQ(h.metadata.count("general.architecture"), i == 0 ? 1u : 0u);
    EXPECT_EQ(h.metadata.size(), i == 0 ? 5u : 3u);
    EXPECT_EQ(h.metadata.at("split.no").type, GgufType::U16);
    EXPECT_EQ(h.metadata.at("split.no").u, i);
    EXPECT_EQ(h.metadata.at("split.count").type, GgufType::U16);
    EXPECT_EQ(h.metadata.at("split.count").u, 3u);
    EXPECT_EQ(h.metadata.at("split.tensors.count").type, GgufType::I32);
    EXPECT_EQ(h.metadata.at("split.tensors.count").i, 5);
    std::vector<std::string> got;
    for (const auto& t : h.tensors) got.push_back(t.name);
    EXPECT_EQ(got, names[i]);
  }

  for (const auto& from : paths) {
    const GgufFiles f = open_gguf_files(from);
    ASSERT_EQ(f.files.size(), 3u);
    EXPECT_EQ(GgufMetadata(f.header, from).integer("x.u32"), 7);
    ASSERT_EQ(f.header.tensors.size(), 5u);
    const std::vector<uint32_t> file_of = {0, 0, 1, 2, 2};
    for (size_t i = 0; i < 5; ++i) {
      const GgufTensorInfo& t = f.header.tensors[i];
      EXPECT_EQ(t.name, "t" + std::to_string(i));
      EXPECT_EQ(t.file, file_of[i]);
      EXPECT_EQ(f.path_of(t), paths[file_of[i]]);
      EXPECT_EQ(value_at(f, t, 0), float(i));
      EXPECT_EQ(value_at(f, t, size_t(t.ne[1] - 1) * 32 + 31), float(i) + float(t.ne[1] - 1) / 100.0f);
    }
  }
}

TEST(GgufSplit, OneShardIsAPlainFile) {
  TempDir d("r1_gguf_split_one");
  GgufWriter w;
  w.set("general.architecture", GgufValue::of_string("llama"));
  add_tensors(w, {10, 5});
  const std::vector<std::string> paths = w.write(d / "m.gguf", 1 << 20);
  ASSERT_EQ(paths, std::vector<std::string>{d / "m.gguf"});
  const GgufFiles f = open_gguf_files(paths[0]);
  EXPECT_EQ(f.header.metadata.count("split.count"), 0u);
  EXPECT_EQ(f.header.tensors.size(), 2u);
}

// Shard `index` of `count`, written by hand: its own split keys and tensors.
void write_shard(const std::string& prefix, int64_t index, int64_t count, int32_t total, const std::vector<std::string>& tensors) {
  GgufWriter w;
  if (index == 0) w.set("general.architecture", GgufValue::of_string("llama"));
  w.set("split.no", GgufValue::of_u16(uint16_t(index)));
  w.set("split.count", GgufValue::of_u16(uint16_t(count)));
  w.set("split.tensors.count", GgufValue::of_i32(total));
  for (const auto& name : tensors) w.add_tensor(name, DType::F32, {32}, [](uint8_t* dst, size_t n) { std::memset(dst, 0, n); });
  w.write(gguf_shard_path(prefix, index, count));
}

TEST(GgufSplit, SetsThatDoNotFitAreOneClearError) {
  TempDir d("r1_gguf_split_bad");
  auto expect_error = [](const std::string& path, const std::string& part) {
    const std::string e = error_of(path);
    EXPECT_NE(e.find(part), std::string::npos) << e;
  };
  auto written = [&](const char* name, uint64_t max_bytes) {
    GgufWriter w;
    w.set("general.architecture", GgufValue::of_string("llama"));
    add_tensors(w, {10, 10, 10});
    return w.write(d / name, max_bytes);
  };

  const std::vector<std::string> three = written("a.gguf", 1280);  // one tensor per shard
  ASSERT_EQ(three.size(), 3u);
  fs::copy_file(three[0], d / "renamed.gguf");
  expect_error(d / "renamed.gguf", "does not end in '-00001-of-00003.gguf'");

  const std::vector<std::string> two = written("b.gguf", 2560);  // {t0, t1}, {t2}
  ASSERT_EQ(two.size(), 2u);
  fs::copy_file(two[1], d / "c-00002-of-00003.gguf");  // a shard of a set of two among three
  fs::copy_file(three[0], d / "c-00001-of-00003.gguf");
  fs::copy_file(three[2], d / "c-00003-of-00003.gguf");
  expect_error(d / "c-00001-of-00003.gguf", "c-00002-of-00003.gguf: metadata key 'split.count' is 2, expected 3");

  fs::copy_file(three[0], d / "e-00001-of-00003.gguf");
  fs::copy_file(three[2], d / "e-00002-of-00003.gguf");  // shard 3 in shard 2's place
  fs::copy_file(three[2], d / "e-00003-of-00003.gguf");
  expect_error(d / "e-00003-of-00003.gguf", "e-00002-of-00003.gguf: metadata key 'split.no' must be 1 in shard 2 of 3");

  fs::remove(three[1]);
  expect_error(three[0], "a-00002-of-00003.gguf: missing shard 2 of 3");

  write_shard(d / "dup", 0, 2, 2, {"x"});
  write_shard(d / "dup", 1, 2, 2, {"x"});
  expect_error(d / "dup-00001-of-00002.gguf", "dup-00002-of-00002.gguf: tensor 'x' also appears in");

  write_shard(d / "count", 0, 2, 3, {"x"});
  write_shard(d / "count", 1, 2, 3, {"y"});
  expect_error(d / "count-00002-of-00002.gguf", "split.tensors.count' is 3, but the 2 shards hold 2 tensors");

  GgufWriter w;
  w.set("split.count", GgufValue::of_string("3"));
  w.write(d / "str.gguf");
  expect_error(d / "str.gguf", "metadata key 'split.count' has type string, expected an integer");
  GgufWriter big;
  big.set("split.count", GgufValue::of_u32(70000));
  big.write(d / "big.gguf");
  expect_error(d / "big.gguf", "metadata key 'split.count' is 70000, expected 0..65535");
  GgufWriter no_index;
  no_index.set("split.count", GgufValue::of_u16(2));
  no_index.write(d / "noidx.gguf");
  expect_error(d / "noidx.gguf", "'split.count' is 2 but 'split.no' is missing");
}

TEST(GgufSplit, ADirectoryWithoutConfigJsonIsTheGgufModelItHolds) {
  TempDir d("r1_gguf_find_model");
  auto write = [](const std::string& path, uint64_t max_bytes) {
    GgufWriter w;
    w.set("general.architecture", GgufValue::of_string("llama"));
    add_tensors(w, {10, 10, 10});
    return w.write(path, max_bytes);
  };
  fs::create_directories(d / "split");
  const std::vector<std::string> shards = write(d / "split/m.gguf", 1280);
  ASSERT_EQ(shards.size(), 3u);
  EXPECT_EQ(find_gguf_model(d / "split"), shards[0]);
  EXPECT_EQ(find_gguf_model(shards[2]), shards[2]) << "a file is itself";
  fs::remove(shards[0]);  // the first shard missing: still named, so that opening it says so
  EXPECT_EQ(find_gguf_model(d / "split"), shards[0]);

  fs::create_directories(d / "one");
  write(d / "one/m.gguf", 0);
  EXPECT_EQ(find_gguf_model(d / "one"), d / "one/m.gguf");

  fs::create_directories(d / "hf");
  write(d / "hf/m.gguf", 0);
  std::FILE* f = std::fopen((d / "hf/config.json").c_str(), "w");
  std::fclose(f);
  EXPECT_FALSE(find_gguf_model(d / "hf")) << "config.json: a Hugging Face directory";
  EXPECT_FALSE(find_gguf_model(d / "missing"));

  fs::create_directories(d / "two");
  write(d / "two/a.gguf", 0);
  write(d / "two/b.gguf", 1280);
  try {
    find_gguf_model(d / "two");
    FAIL() << "two models";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds 2 GGUF models (a.gguf, b-00001-of-00003.gguf)"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace r1
