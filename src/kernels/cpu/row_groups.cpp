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

// Byte field `src` of row r into its transposed place: 4-byte chunk c at dst[c][r], and back.
template <size_t kChunks>
void spread(const uint8_t* src, uint8_t (*dst)[16][4], int r) {
  for (size_t c = 0; c < kChunks; ++c) std::memcpy(dst[c][r], src + 4 * c, 4);
}
template <size_t kChunks>
void gather(const uint8_t (*src)[16][4], int r, uint8_t* dst) {
  for (size_t c = 0; c < kChunks; ++c) std::memcpy(dst + 4 * c, src[c][r], 4);
}
// Q6_K's step 8h + c: [ql[64h + 4c ..], ql[64h + 32 + 4c ..], qh[32h + 4c ..]] (row_groups_blocks.h).
template <class F>
void q6k_chunks(F&& chunk) {
  for (int h = 0; h < 2; ++h) {
    for (int c = 0; c < 8; ++c) {
      chunk(8 * h + c, 0, 64 * h + 4 * c, false);
      chunk(8 * h + c, 1, 64 * h + 32 + 4 * c, false);
      chunk(8 * h + c, 2, 32 * h + 4 * c, true);
    }
  }
}

// Row r's block x into / out of group block g.
template <class Block, class Group>  // Q4_K, Q5_K
void put_k45(const Block& x, int r, Group& g) {
  g.d[r] = x.d;
  g.dmin[r] = x.dmin;
  for (int k = 0; k < 12; ++k) g.scales[k][r] = x.scales[k];
  if constexpr (requires { x.qh; }) spread<8>(x.qh, g.qh, r);
  spread<32>(x.qs, g.qs, r);
}
template <class Group, class Block>
void take_k45(const Group& g, int r, Block& x) {
  x.d = g.d[r];
  x.dmin = g.dmin[r];
  for (int k = 0; k < 12; ++k) x.scales[k] = g.scales[k][r];
  if constexpr (requires { x.qh; }) gather<8>(g.qh, r, x.qh);
  gather<32>(g.qs, r, x.qs);
}
void put(const BlockQ4_K& x, int r, GroupQ4_K& g) { put_k45(x, r, g); }
void take(const GroupQ4_K& g, int r, BlockQ4_K& x) { take_k45(g, r, x); }
void put(const BlockQ5_K& x, int r, GroupQ5_K& g) { put_k45(x, r, g); }
void take(const GroupQ5_K& g, int r, BlockQ5_K& x) { take_k45(g, r, x); }
void put(const BlockQ6_K& x, int r, GroupQ6_K& g) {
  g.d[r] = x.d;
  for (int j = 0; j < 16; ++j) g.scales[j][r] = x.scales[j];
  q6k_chunks([&](int step, int field, int at, bool high) { std::memcpy(g.q[step][field][r], (high ? x.qh : x.ql) + at, 4); });
}
void take(const GroupQ6_K& g, int r, BlockQ6_K& x) {
  x.d = g.d[r];
  for (int j = 0; j < 16; ++j) x.scales[j] = g.scales[j][r];
  q6k_chunks([&](int step, int field, int at, bool high) { std::memcpy((high ? x.qh : x.ql) + at, g.q[step][field][r], 4); });
}

void put(const BlockQ2_K& x, int r, GroupQ2_K& g) {
  g.d[r] = x.d;
  g.dmin[r] = x.dmin;
  for (int j = 0; j < 16; ++j) g.scales[j][r] = x.scales[j];
  spread<16>(x.qs, g.qs, r);
}
void take(const GroupQ2_K& g, int r, BlockQ2_K& x) {
  x.d = g.d[r];
  x.dmin = g.dmin[r];
  for (int j = 0; j < 16; ++j) x.scales[j] = g.scales[j][r];
  gather<16>(g.qs, r, x.qs);
}

void put(const BlockQ3_K& x, int r, GroupQ3_K& g) {
  g.d[r] = x.d;
  for (int k = 0; k < 12; ++k) g.scales[k][r] = x.scales[k];
  spread<8>(x.hmask, g.hmask, r);
  spread<16>(x.qs, g.qs, r);
}
void take(const GroupQ3_K& g, int r, BlockQ3_K& x) {
  x.d = g.d[r];
  for (int k = 0; k < 12; ++k) x.scales[k] = g.scales[k][r];
  gather<8>(g.hmask, r, x.hmask);
  gather<16>(g.qs, r, x.qs);
}

void put(const BlockQ4_0& x, int r, GroupQ4_0& g) {
  g.d[r] = x.d;
  spread<4>(x.qs, g.qs, r);
}
void take(const GroupQ4_0& g, int r, BlockQ4_0& x) {
  x.d = g.d[r];
  gather<4>(g.qs, r, x.qs);
}
// Q5_0's fifth bits: bit j of qh to its place in the rearranged word (row_groups_blocks.h), and back.
int fifth_bit_place(int j) {
  const int high = j / 16, c = (j % 16) / 4, k = j % 4;
  return 8 * k + 4 * high + c;
}
void put(const BlockQ5_0& x, int r, GroupQ5_0& g) {
  g.d[r] = x.d;
  uint32_t qh, word = 0;
  std::memcpy(&qh, x.qh, 4);
  for (int j = 0; j < 32; ++j) word |= ((qh >> j) & 1u) << fifth_bit_place(j);
  std::memcpy(g.qh[r], &word, 4);
  spread<4>(x.qs, g.qs, r);
}
void take(const GroupQ5_0& g, int r, BlockQ5_0& x) {
  x.d = g.d[r];
  uint32_t word, qh = 0;
  std::memcpy(&word, g.qh[r], 4);
  for (int j = 0; j < 32; ++j) qh |= ((word >> fifth_bit_place(j)) & 1u) << j;
  std::memcpy(x.qh, &qh, 4);
  gather<4>(g.qs, r, x.qs);
}

void put(const BlockIQ4_NL& x, int r, GroupIQ4_NL& g) {
  g.d[r] = x.d;
  spread<4>(x.qs, g.qs, r);
}
void take(const GroupIQ4_NL& g, int r, BlockIQ4_NL& x) {
  x.d = g.d[r];
  gather<4>(g.qs, r, x.qs);
}
void put(const BlockIQ4_XS& x, int r, GroupIQ4_XS& g) {
  g.d[r] = x.d;
  g.scales_h[r] = x.scales_h;
  for (int k = 0; k < 4; ++k) g.scales_l[k][r] = x.scales_l[k];
  spread<32>(x.qs, g.qs, r);
}
void take(const GroupIQ4_XS& g, int r, BlockIQ4_XS& x) {
  x.d = g.d[r];
  x.scales_h = g.scales_h[r];
  for (int k = 0; k < 4; ++k) x.scales_l[k] = g.scales_l[k][r];
  gather<32>(g.qs, r, x.qs);
}

void put(const BlockQ8_0& x, int r, GroupQ8_0& g) {
  g.d[r] = x.d;
  for (int c = 0; c < 8; ++c) {
    for (int k = 0; k < 4; ++k) g.qs[c][r][k] = uint8_t(x.qs[4 * c + k] ^ 0x80);  // q + 128
  }
}
void take(const GroupQ8_0& g, int r, BlockQ8_0& x) {
  x.d = g.d[r];
  for (int c = 0; c < 8; ++c) {
    for (int k = 0; k < 4; ++k) x.qs[4 * c + k] = int8_t(g.qs[c][r][k] ^ 0x80);
  }
}

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
