// ZeroedBuffer (the KV cache's memory): zero-filled, starts on a 2 MiB boundary (huge pages), moves
// without copying, and a size that cannot be mapped is one clear error.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

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

}  // namespace
}  // namespace r1
