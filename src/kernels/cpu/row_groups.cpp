#include "kernels/cpu/row_groups.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "kernels/cpu/row_groups_blocks.h"

namespace r1::quant {

bool row_groups_layout(DType t) {
  return with_group(t, [](auto) {});
}

namespace {

// Row r's block and its place in a group block, field by field, in either direction: `fields(x, g, m)`
// lists a type's fields once and the Mover copies each into the group (to_group) or back out of it. The
// side copied from is only read (hence the const_casts in put and take).
struct Mover {
  bool to_group;
  int r;
  template <class T>
  void value(T& b, T& g) const {
    if (to_group) g = b; else b = g;
  }
  template <class T, size_t kN>
  void bytes(T (&b)[kN], T (*g)[16]) const {  // byte k at g[k][r]
    for (size_t k = 0; k < kN; ++k) value(b[k], g[k][r]);
  }
  void chunk(uint8_t* b, uint8_t (&g)[16][4]) const {  // four bytes at g[r]
    if (to_group) std::memcpy(g[r], b, 4); else std::memcpy(b, g[r], 4);
  }
  template <size_t kN>
  void chunks(uint8_t (&b)[kN], uint8_t (*g)[16][4]) const {  // bytes 4c .. 4c+3 at g[c][r]
    for (size_t c = 0; c < kN / 4; ++c) chunk(b + 4 * c, g[c]);
  }
  void chunks(int8_t (&b)[32], uint8_t (*g)[16][4]) const {  // Q8_0: stored as q + 128
    for (int c = 0; c < 8; ++c) {
      for (int k = 0; k < 4; ++k) {
        if (to_group) g[c][r][k] = uint8_t(b[4 * c + k] ^ 0x80); else b[4 * c + k] = int8_t(g[c][r][k] ^ 0x80);
      }
    }
  }
};

template <class Block, class Group>  // Q4_K, Q5_K
void fields_k45(Block& x, Group& g, const Mover& m) {
  m.value(x.d, g.d[m.r]);
  m.value(x.dmin, g.dmin[m.r]);
  m.bytes(x.scales, g.scales);
  if constexpr (requires { x.qh; }) m.chunks(x.qh, g.qh);
  m.chunks(x.qs, g.qs);
}
void fields(BlockQ4_K& x, GroupQ4_K& g, const Mover& m) { fields_k45(x, g, m); }
void fields(BlockQ5_K& x, GroupQ5_K& g, const Mover& m) { fields_k45(x, g, m); }
// Q6_K's step 8h + c: [ql[64h + 4c ..], ql[64h + 32 + 4c ..], qh[32h + 4c ..]] (row_groups_blocks.h).
void fields(BlockQ6_K& x, GroupQ6_K& g, const Mover& m) {
  m.value(x.d, g.d[m.r]);
  m.bytes(x.scales, g.scales);
  for (int h = 0; h < 2; ++h) {
    for (int c = 0; c < 8; ++c) {
      m.chunk(x.ql + 64 * h + 4 * c, g.q[8 * h + c][0]);
      m.chunk(x.ql + 64 * h + 32 + 4 * c, g.q[8 * h + c][1]);
      m.chunk(x.qh + 32 * h + 4 * c, g.q[8 * h + c][2]);
    }
  }
}
void fields(BlockQ2_K& x, GroupQ2_K& g, const Mover& m) {
  m.value(x.d, g.d[m.r]);
  m.value(x.dmin, g.dmin[m.r]);
  m.bytes(x.scales, g.scales);
  m.chunks(x.qs, g.qs);
}
void fields(BlockQ3_K& x, GroupQ3_K& g, const Mover& m) {
  m.value(x.d, g.d[m.r]);
  m.bytes(x.scales, g.scales);
  m.chunks(x.hmask, g.hmask);
  m.chunks(x.qs, g.qs);
}
void fields(BlockQ4_0& x, GroupQ4_0& g, const Mover& m) {
  m.value(x.d, g.d[m.r]);
  m.chunks(x.qs, g.qs);
}
// Q5_0's fifth bits: bit j of qh is bit fifth_bit_place(j) of the stored word (row_groups_blocks.h).
int fifth_bit_place(int j) { return 8 * (j % 4) + 4 * (j / 16) + (j % 16) / 4; }
void fields(BlockQ5_0& x, GroupQ5_0& g, const Mover& m) {
  m.value(x.d, g.d[m.r]);
  uint32_t qh, word;
  std::memcpy(&qh, x.qh, 4);
  std::memcpy(&word, g.qh[m.r], 4);
  if (m.to_group) {
    word = 0;
    for (int j = 0; j < 32; ++j) word |= ((qh >> j) & 1u) << fifth_bit_place(j);
    std::memcpy(g.qh[m.r], &word, 4);
  } else {
    qh = 0;
    for (int j = 0; j < 32; ++j) qh |= ((word >> fifth_bit_place(j)) & 1u) << j;
    std::memcpy(x.qh, &qh, 4);
  }
  m.chunks(x.qs, g.qs);
}
void fields(BlockIQ4_NL& x, GroupIQ4_NL& g, const Mover& m) {
  m.value(x.d, g.d[m.r]);
  m.chunks(x.qs, g.qs);
}
void fields(BlockIQ4_XS& x, GroupIQ4_XS& g, const Mover& m) {
  m.value(x.d, g.d[m.r]);
  m.value(x.scales_h, g.scales_h[m.r]);
  m.bytes(x.scales_l, g.scales_l);
  m.chunks(x.qs, g.qs);
}
void fields(BlockQ8_0& x, GroupQ8_0& g, const Mover& m) {
  m.value(x.d, g.d[m.r]);
  m.chunks(x.qs, g.qs);
}

template <class Block, class Group>
void put(const Block& x, int r, Group& g) { fields(const_cast<Block&>(x), g, Mover{true, r}); }
template <class Group, class Block>
void take(const Group& g, int r, Block& x) { fields(x, const_cast<Group&>(g), Mover{false, r}); }

template <class Group, class Block = typename Group::Block>
void to_groups(const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst, int64_t g0, int64_t g1) {
  const int64_t blocks = cols / Block::kElems, full = rows / kRowGroup;
  const size_t row_bytes = size_t(blocks) * sizeof(Block);
  for (int64_t g = g0; g < g1; ++g) {
    const size_t at = size_t(g * kRowGroup) * row_bytes;
    if (g == full) {  // the rows past the last full group, as they were
      std::memcpy(dst + at, src + at, size_t(rows - full * kRowGroup) * row_bytes);
      continue;
    }
    auto* out = reinterpret_cast<Group*>(dst + at);
    for (int r = 0; r < kRowGroup; ++r) {
      const auto* in = reinterpret_cast<const Block*>(src + at + size_t(r) * row_bytes);
      for (int64_t b = 0; b < blocks; ++b) put(in[b], r, out[b]);
    }
  }
}

template <class Group, class Block = typename Group::Block>
void from_groups(const uint8_t* data, int64_t rows, int64_t cols, int64_t r0, int64_t n, uint8_t* out) {
  const int64_t blocks = cols / Block::kElems, grouped = rows / kRowGroup * kRowGroup;
  const size_t row_bytes = size_t(blocks) * sizeof(Block);
  int64_t r = r0;
  while (r < r0 + n && r < grouped) {  // a group's rows in the range: block by block, all of them
    const int64_t g0 = r / kRowGroup * kRowGroup, end = std::min(r0 + n, g0 + kRowGroup);
    const auto* g = reinterpret_cast<const Group*>(data + size_t(g0) * row_bytes);
    for (int64_t b = 0; b < blocks; ++b) {
      for (int64_t k = r; k < end; ++k) take(g[b], int(k - g0), reinterpret_cast<Block*>(out + size_t(k - r0) * row_bytes)[b]);
    }
    r = end;
  }
  if (r < r0 + n) std::memcpy(out + size_t(r - r0) * row_bytes, data + size_t(r) * row_bytes, size_t(r0 + n - r) * row_bytes);
}

}  // namespace

void to_row_groups(DType t, const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst, int64_t g0, int64_t g1) {
  if (!with_group(t, [&](auto group) { to_groups<decltype(group)>(src, rows, cols, dst, g0, g1); })) {
    fail("row groups: no layout for {}", dtype_name(t));
  }
}

void rows_from_groups(DType t, const uint8_t* data, int64_t rows, int64_t cols, int64_t r0, int64_t n, uint8_t* out) {
  if (!with_group(t, [&](auto group) { from_groups<decltype(group)>(data, rows, cols, r0, n, out); })) {
    fail("row groups: no layout for {}", dtype_name(t));
  }
}

MatVecGroups mat_vec_groups(DType t, Isa isa) {
#if defined(R1_X86_KERNELS)
  if (!isa_supported(isa)) return nullptr;
  // AVX-512 without VNNI (no vpdpbusd) runs the AVX2 kernels: no 512-bit version of those is written.
  if (isa == Isa::Avx512Vnni) return mat_vec_groups_avx512vnni(t);
  if (isa == Isa::Avx2 || isa == Isa::Avx512) return mat_vec_groups_avx2(t);
#endif
  (void)t, (void)isa;
  return nullptr;
}

}  // namespace r1::quant
