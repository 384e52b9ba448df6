// ZeroedBuffer (the KV cache's memory): zero-filled, starts on a 2 MiB boundary (huge pages), moves
// without copying, and a size that cannot be mapped is one clear error. AlignedVector (the kernels'
// scratch): its storage starts on a 64-byte line whatever the size, also after growing.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "core/aligned_vector.h"
#include "core/error.h"
#include "core/zeroed_buffer.h"

namespace r1 {
namespace {

TEST(ZeroedBuffer, ZeroFilledAlignedAndMovable) {
  ZeroedBuffer b(5 << 20);
  ASSERT_NE(b.data(), nullptr);
  EXPECT_EQ(b.size(), size_t(5) << 20);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b.data()) % (uintptr_t(2) << 20), 0u);
  for (size_t i = 0; i < b.size(); i += 4093) ASSERT_EQ(b.data()[i], std::byte{0}) << i;
  b.data()[b.size() - 1] = std::byte{7};
  std::byte* p = b.data();
  ZeroedBuffer moved(std::move(b));
  EXPECT_EQ(moved.data(), p);
  EXPECT_EQ(moved.data()[moved.size() - 1], std::byte{7});
  EXPECT_EQ(b.data(), nullptr);
  EXPECT_EQ(ZeroedBuffer().size(), 0u);
}

TEST(ZeroedBuffer, UnmappableSizeIsAClearError) {
  try {
    ZeroedBuffer b(size_t(1) << 62);
    FAIL() << "4 EiB were mapped";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot allocate"), std::string::npos) << e.what();
  }
}

TEST(AlignedVector, StorageStartsOnACacheLine) {
  for (size_t n : {1, 3, 17, 64, 4097}) {
    AlignedVector<uint8_t> bytes(n, 1);
    AlignedVector<float> floats(n, 2.0f);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(bytes.data()) % 64, 0u) << n;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(floats.data()) % 64, 0u) << n;
    bytes.resize(3 * n + 5, 9);  // reallocates
    EXPECT_EQ(reinterpret_cast<uintptr_t>(bytes.data()) % 64, 0u) << n;
    EXPECT_EQ(bytes[n - 1], 1) << n;  // the old contents moved over
    EXPECT_EQ(bytes.back(), 9) << n;
  }
}

}  // namespace
}  // namespace r1
