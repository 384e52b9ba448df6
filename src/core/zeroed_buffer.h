// Large, long-lived, zero-filled memory (the KV cache, weights copied at load time): mapped directly from the kernel, so pages are
// only backed once written (a cache sized for 128k tokens costs what its tokens use; a size the system
// cannot commit fails at once), and aligned to and marked for 2 MiB transparent huge pages. A decode step at a long context walks the whole cache; with
// 4 KiB pages a layer's rows of 16k positions span more pages than the TLB holds, and every page
// costs a table walk (where the system's THP setting is "never", the mark changes nothing).
#pragma once

#include <cstddef>

namespace r1 {

class ZeroedBuffer {
 public:
  ZeroedBuffer() = default;
  // Throws r1::Error if the memory cannot be mapped.
  explicit ZeroedBuffer(size_t bytes);
  ~ZeroedBuffer();
  ZeroedBuffer(ZeroedBuffer&& other) noexcept;
  ZeroedBuffer& operator=(ZeroedBuffer&& other) noexcept;
  ZeroedBuffer(const ZeroedBuffer&) = delete;
  ZeroedBuffer& operator=(const ZeroedBuffer&) = delete;

  std::byte* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void release();
  std::byte* data_ = nullptr;
  size_t size_ = 0;
  void* map_ = nullptr;  // the mapping data_ lies in
  size_t map_bytes_ = 0;
};

}  // namespace r1
