// Counts every operator new of the test binary that includes this header (it replaces the global
// operator new/delete, so include it from exactly one translation unit of a binary of its own).
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

namespace r1::test {
inline std::atomic<long> g_allocations{0};
inline long allocations() { return g_allocations.load(); }
}  // namespace r1::test

void* operator new(size_t n) {
  r1::test::g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
// The over-aligned forms too (AlignedVector, core/aligned_vector.h): otherwise its allocations would go
// uncounted.
void* operator new(size_t n, std::align_val_t a) {
  r1::test::g_allocations.fetch_add(1, std::memory_order_relaxed);
  const size_t align = static_cast<size_t>(a), bytes = (n + align - 1) / align * align;  // a multiple, as aligned_alloc wants
  if (void* p = std::aligned_alloc(align, bytes ? bytes : align)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
