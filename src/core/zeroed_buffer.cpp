#include "core/zeroed_buffer.h"

#include <sys/mman.h>

#include <cstdint>
#include <utility>

#include "core/error.h"

namespace r1 {

namespace {
constexpr size_t kHugePage = size_t(2) << 20;
}

ZeroedBuffer::ZeroedBuffer(size_t bytes) : size_(bytes) {
  if (bytes == 0) return;
  // One huge page more than needed, so that the buffer can start on a huge-page boundary.
  map_bytes_ = (bytes + kHugePage - 1) / kHugePage * kHugePage + kHugePage;
  map_ = mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    fail("cannot allocate {} MiB for the KV cache (lower the context length or --kv-blocks)", bytes >> 20);
  }
  const uintptr_t start = (reinterpret_cast<uintptr_t>(map_) + kHugePage - 1) / kHugePage * kHugePage;
  data_ = reinterpret_cast<std::byte*>(start);
  madvise(data_, (bytes + kHugePage - 1) / kHugePage * kHugePage, MADV_HUGEPAGE);  // advice: failure is harmless
}

ZeroedBuffer::~ZeroedBuffer() { release(); }

ZeroedBuffer::ZeroedBuffer(ZeroedBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)),
      map_(std::exchange(other.map_, nullptr)), map_bytes_(std::exchange(other.map_bytes_, 0)) {}

ZeroedBuffer& ZeroedBuffer::operator=(ZeroedBuffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    map_ = std::exchange(other.map_, nullptr);
    map_bytes_ = std::exchange(other.map_bytes_, 0);
  }
  return *this;
}

void ZeroedBuffer::release() {
  if (map_ != nullptr) munmap(map_, map_bytes_);
  map_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

}  // namespace r1
