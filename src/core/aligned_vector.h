// std::vector whose storage starts on a 64-byte boundary (a cache line, one AVX-512 register): for the
// kernels' scratch buffers, whose full-width loads and stores would otherwise straddle two lines each
// (measured with the AVX-512 Q8 value pass of the time, which transposed its rows through a scratch: one
// 256-row step from L2 7.7-7.8 µs with the scratch from malloc, 16-byte aligned, against 7.5-7.6 µs on a
// line; the attention's scores, chunk states and the AVX2 / NEON kernels' scratch are such buffers).
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace r1 {

template <class T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlign{64};
  CacheLineAllocator() = default;
  template <class U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}
  T* allocate(size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlign)); }
  // The unsized form: Clang declares the sized one only with -fsized-deallocation.
  void deallocate(T* p, size_t) { ::operator delete(p, kAlign); }
  template <class U>
  bool operator==(const CacheLineAllocator<U>&) const { return true; }
};

template <class T>
using AlignedVector = std::vector<T, CacheLineAllocator<T>>;

}  // namespace r1
