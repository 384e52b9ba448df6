#include "kernels/cpu/row_groups.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/error.h"
#include "kernels/cpu/row_groups_blocks.h"

namespace r1::quant {

bool row_groups_layout(DType t) {
  return with_group(t, [](auto) {});
}

namespace {

// A type's fields are listed once, `fields(x, g, m)`, and a mover copies each into the group block
// (to_group) or back out of it; the side copied from is only read (hence the const_casts in put_group
// and the takes). Fields come in three kinds: one value per row (g[16]), byte k of each row (g[k][16]), and words
// -- bytes 4c .. 4c+3 of a row's field as one 32-bit word, at slot c·slot_stride of the group
// (g[slot][16][4]); `flip` is XORed into every word moved (Q8_0's q + 128).

// One row r of a group block and row r's own block x: the rows past full groups, single rows.
struct RowMover {
  bool to_group;
  int r;
  template <class T>
  void move(T& b, T& g) const {
    if (to_group) g = b; else b = g;
  }
  template <class T>
  void value(T& b, T (&g)[16]) const { move(b, g[r]); }
  template <class T, size_t kN>
  void bytes(T (&b)[kN], T (*g)[16]) const {
    for (size_t k = 0; k < kN; ++k) move(b[k], g[k][r]);
  }
  void words(uint8_t* b, uint8_t (*g)[16][4], int n, int slot_stride = 1, uint32_t flip = 0) const {
    for (int c = 0; c < n; ++c) {
      uint32_t x;
      std::memcpy(&x, to_group ? b + 4 * c : g[c * slot_stride][r], 4);
      x ^= flip;
      std::memcpy(to_group ? g[c * slot_stride][r] : b + 4 * c, &x, 4);
    }
  }
  // A row's word passed through `to` on the way into the group, `from` on the way out.
  template <class To, class From>
  void mapped_word(uint8_t (&b)[4], uint8_t (&g)[16][4], To&& to, From&& from) const {
    uint32_t x;
    std::memcpy(&x, to_group ? b : g[r], 4);
    x = to_group ? to(x) : from(x);
    std::memcpy(to_group ? g[r] : b, &x, 4);
  }
};

// All 16 rows of a group block at once: x is row 0's block, row r's is `stride` bytes after it. The words
// -- nearly all of a block's bytes -- move as 4 × 4 transposes of 32-bit words (SSE2 on x86): four
// slots' words of four rows in, four rows' words of four slots out. Loading and storing word by word made
// restoring rows a tenth of an MoE prefill (bench/RESULTS.md).
struct GroupMover {
  bool to_group;
  size_t stride;
  template <class T>
  T* row(T* field, int r) const {
    return reinterpret_cast<T*>(reinterpret_cast<uint8_t*>(field) + size_t(r) * stride);
  }
  template <class T>
  void value(T& b, T (&g)[16]) const {
    for (int r = 0; r < 16; ++r) RowMover{to_group, r}.move(*row(&b, r), g[r]);
  }
  template <class T, size_t kN>
  void bytes(T (&b)[kN], T (*g)[16]) const {
    for (int r = 0; r < 16; ++r) {
      T* br = row(b, r);
      for (size_t k = 0; k < kN; ++k) RowMover{to_group, r}.move(br[k], g[k][r]);
    }
  }
  void words(uint8_t* b, uint8_t (*g)[16][4], int n, int slot_stride = 1, uint32_t flip = 0) const {
    for (int r0 = 0; r0 < 16; r0 += 4) {
      for (int c0 = 0; c0 < n; c0 += 4) {  // n is a multiple of 4 for every type
        uint8_t* slots[4];
        uint8_t* rows[4];
        for (int i = 0; i < 4; ++i) {
          slots[i] = g[(c0 + i) * slot_stride][r0];
          rows[i] = row(b, r0 + i) + 4 * c0;
        }
        if (to_group) transpose4(rows, slots, flip); else transpose4(slots, rows, flip);
      }
    }
  }
  template <class To, class From>
  void mapped_word(uint8_t (&b)[4], uint8_t (&g)[16][4], To&& to, From&& from) const {
    for (int r = 0; r < 16; ++r) RowMover{to_group, r}.mapped_word(*row(&b, r), g, to, from);
  }

  // out[j] word i = in[i] word j (^ flip), for four 16-byte runs each way.
  static void transpose4(uint8_t* const in[4], uint8_t* const out[4], uint32_t flip) {
#if defined(__SSE2__)
    __m128i a[4];
    const __m128i f = _mm_set1_epi32(int32_t(flip));
    for (int i = 0; i < 4; ++i) a[i] = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in[i])), f);
    const __m128i t0 = _mm_unpacklo_epi32(a[0], a[1]), t1 = _mm_unpacklo_epi32(a[2], a[3]);
    const __m128i t2 = _mm_unpackhi_epi32(a[0], a[1]), t3 = _mm_unpackhi_epi32(a[2], a[3]);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[0]), _mm_unpacklo_epi64(t0, t1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[1]), _mm_unpackhi_epi64(t0, t1));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[2]), _mm_unpacklo_epi64(t2, t3));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out[3]), _mm_unpackhi_epi64(t2, t3));
#else
    uint32_t a[4][4];
    for (int i = 0; i < 4; ++i) std::memcpy(a[i], in[i], 16);
    for (int j = 0; j < 4; ++j) {
      for (int i = 0; i < 4; ++i) {
        const uint32_t x = a[i][j] ^ flip;
        std::memcpy(out[j] + 4 * i, &x, 4);
      }
    }
#endif
  }
};

template <class Block, class Group, class M>  // Q4_K, Q5_K
void fields_k45(Block& x, Group& g, const M& m) {
  m.value(x.d, g.d);
  m.value(x.dmin, g.dmin);
  m.bytes(x.scales, g.scales);
  if constexpr (requires { x.qh; }) m.words(x.qh, g.qh, 8);
  m.words(x.qs, g.qs, 32);
}
template <class M>
void fields(BlockQ4_K& x, GroupQ4_K& g, const M& m) { fields_k45(x, g, m); }
template <class M>
void fields(BlockQ5_K& x, GroupQ5_K& g, const M& m) { fields_k45(x, g, m); }
// Q6_K's step 8h + c: [ql[64h + 4c ..], ql[64h + 32 + 4c ..], qh[32h + 4c ..]] (row_groups_blocks.h).
template <class M>
void fields(BlockQ6_K& x, GroupQ6_K& g, const M& m) {
  m.value(x.d, g.d);
  m.bytes(x.scales, g.scales);
  for (int h = 0; h < 2; ++h) {
    m.words(x.ql + 64 * h, &g.q[8 * h][0], 8, 3);
    m.words(x.ql + 64 * h + 32, &g.q[8 * h][1], 8, 3);
    m.words(x.qh + 32 * h, &g.q[8 * h][2], 8, 3);
  }
}
template <class M>
void fields(BlockQ2_K& x, GroupQ2_K& g, const M& m) {
  m.value(x.d, g.d);
  m.value(x.dmin, g.dmin);
  m.bytes(x.scales, g.scales);
  m.words(x.qs, g.qs, 16);
}
template <class M>
void fields(BlockQ3_K& x, GroupQ3_K& g, const M& m) {
  m.value(x.d, g.d);
  m.bytes(x.scales, g.scales);
  m.words(x.hmask, g.hmask, 8);
  m.words(x.qs, g.qs, 16);
}
// Q5_0's and Q5_1's fifth bits: bit j of qh is bit fifth_bit_place(j) of the stored word (row_groups_blocks.h).
int fifth_bit_place(int j) { return 8 * (j % 4) + 4 * (j / 16) + (j % 16) / 4; }
template <class Block, class Group, class M>  // Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL
void fields_32(Block& x, Group& g, const M& m) {
  m.value(x.d, g.d);
  if constexpr (requires { x.m; }) m.value(x.m, g.m);
  if constexpr (requires { x.qh; }) {
    const auto to = [](uint32_t bits) {
      uint32_t word = 0;
      for (int j = 0; j < 32; ++j) word |= ((bits >> j) & 1u) << fifth_bit_place(j);
      return word;
    };
    const auto from = [](uint32_t word) {
      uint32_t bits = 0;
      for (int j = 0; j < 32; ++j) bits |= ((word >> fifth_bit_place(j)) & 1u) << j;
      return bits;
    };
    m.mapped_word(x.qh, g.qh, to, from);
  }
  m.words(x.qs, g.qs, 4);
}
template <class M>
void fields(BlockQ4_0& x, GroupQ4_0& g, const M& m) { fields_32(x, g, m); }
template <class M>
void fields(BlockQ4_1& x, GroupQ4_1& g, const M& m) { fields_32(x, g, m); }
template <class M>
void fields(BlockQ5_0& x, GroupQ5_0& g, const M& m) { fields_32(x, g, m); }
template <class M>
void fields(BlockQ5_1& x, GroupQ5_1& g, const M& m) { fields_32(x, g, m); }
template <class M>
void fields(BlockIQ4_NL& x, GroupIQ4_NL& g, const M& m) { fields_32(x, g, m); }
template <class M>
void fields(BlockIQ4_XS& x, GroupIQ4_XS& g, const M& m) {
  m.value(x.d, g.d);
  m.value(x.scales_h, g.scales_h);
  m.bytes(x.scales_l, g.scales_l);
  m.words(x.qs, g.qs, 32);
}
template <class M>
void fields(BlockIQ1SCodes& x, GroupIQ1_S& g, const M& m) {
  m.value(x.d, g.d);
  m.bytes(x.meta, g.meta);
  m.words(x.qs, g.qs, 16);
}
template <class FileBlock, class M>
void fields(BlockIQ2Codes& x, GroupIQ2<FileBlock>& g, const M& m) {
  m.value(x.d, g.d);
  m.bytes(x.scales, g.scales);
  m.words(x.signs, g.signs, 8);
  m.words(x.qs, g.qs, 16);
}
template <class FileBlock, class M>
void fields(BlockIQ3Codes& x, GroupIQ3<FileBlock>& g, const M& m) {
  m.value(x.d, g.d);
  m.bytes(x.scales, g.scales);
  m.words(x.qs, g.qs, 32);
}
template <class M>
void fields(BlockIQ1MCodes& x, GroupIQ1_M& g, const M& m) {
  m.value(x.d, g.d);
  m.bytes(x.scales, g.scales);
  m.words(x.plus, g.plus, 8);
  m.words(x.qs, g.qs, 16);
}
template <class M>
void fields(BlockQ8_0& x, GroupQ8_0& g, const M& m) {
  m.value(x.d, g.d);
  m.words(reinterpret_cast<uint8_t*>(x.qs), g.qs, 8, 1, 0x80808080u);  // stored as q + 128
}

// ---- the codebook types' stored forms (row_groups_blocks.h) --------------------------------------------

// Where value v (0 .. 255) of a block is in a stored form: v = 128h + 32k + l has its 2-bit code at bits
// 2k..2k+1 of byte 32h + l (Q2_K's layout) and its bit in a plane at bit 4h + k of byte l (Q3_K's hmask
// layout); v = 64c + 32n + l has its nibble at nibble n of byte 32c + l (Q4_K's layout). Nibble j of an
// array of them is nibble j % 2 of byte j / 2.
inline unsigned code_of(const uint8_t* qs, int v) { return (qs[32 * (v / 128) + v % 32] >> (2 * ((v % 128) / 32))) & 3; }
inline unsigned bit_of(const uint8_t* plane, int v) { return (plane[v % 32] >> (4 * (v / 128) + (v % 128) / 32)) & 1; }
inline unsigned value_nibble(const uint8_t* qs, int v) { return (qs[32 * (v / 64) + v % 32] >> (4 * ((v % 64) / 32))) & 15; }
inline void put_nibble(uint8_t* a, int j, unsigned x) { a[j / 2] |= uint8_t(x << (4 * (j % 2))); }
inline unsigned nibble_of(const uint8_t* a, int j) { return (a[j / 2] >> (4 * (j % 2))) & 15; }

// The eight values v0 .. v0 + 7 of a group (v0 = 8k) share a byte range and a bit position in each layout
// above, so they are put at once: byte e of the argument (fitting its field) is value v0 + e's.
inline void or8(uint8_t* p, uint64_t bits) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  w |= bits;
  std::memcpy(p, &w, 8);
}
inline void put_codes8(uint8_t* qs, int v0, uint64_t c) { or8(qs + 32 * (v0 / 128) + v0 % 32, c << (2 * ((v0 % 128) / 32))); }
inline void put_bits8(uint8_t* plane, int v0, uint64_t b) { or8(plane + v0 % 32, b << (4 * (v0 / 128) + (v0 % 128) / 32)); }
inline void put_value_nibbles8(uint8_t* qs, int v0, uint64_t x) { or8(qs + 32 * (v0 / 64) + v0 % 32, x << (4 * ((v0 % 64) / 32))); }
constexpr uint64_t kEachByte = 0x0101010101010101ull;
// Bit e of `bits` as byte e (0 or 1).
constexpr auto kSpreadBits = [] {
  std::array<uint64_t, 256> t{};
  for (unsigned b = 0; b < 256; ++b) {
    for (int e = 0; e < 8; ++e) t[b] |= uint64_t((b >> e) & 1) << (8 * e);
  }
  return t;
}();
// Each byte shifted right by kShift (no bits from its neighbour).
template <int kShift>
constexpr uint64_t bytes_shr(uint64_t x) { return (x >> kShift) & (kEachByte * (0xffu >> kShift)); }

// fn(v0, entry, sign) for each group of eight values v0 .. v0 + 7 of a file block: entry its codebook
// entries' eight bytes (byte e: value v0 + e), sign the group's sign field (quant_blocks_iq.h: IQ1's shift
// sign, or seven or eight sign bits).
template <class Block, class Fn>
void for_each_group(const Block& x, Fn&& fn) {
  for (int q = 0; q < 4; ++q) {
    IqGroups64 g;
    iq_groups64(x, q, g);
    for (int i = 0; i < 8; ++i) fn(64 * q + 8 * i, iq_entry8<Block>(g, i), g.sign[i]);
  }
}
// The eight sign bits of a group (one per value): IQ2_S and IQ3_S store them all, the others seven, the
// eighth making their count even.
template <class Block>
unsigned sign_bits(unsigned stored) {
  return Block::kSigns7 ? stored | unsigned(__builtin_parity(stored)) << 7 : stored;
}

// A codebook's inverse: the index of each entry (kN bytes, each given a code below kBase by code) by the
// key Σ_e code(byte e)·kBase^e. Every codebook's entries are distinct.
template <int kN, int kBase>
int code_key(const unsigned (&c)[kN]) {
  int key = 0;
  for (int e = kN - 1; e >= 0; --e) key = kBase * key + int(c[e]);
  return key;
}
template <int kN, int kBase, class Entry, class Code>
std::vector<uint16_t> codebook_inverse(const Entry* grid, int entries, Code&& code) {
  int keys = 1;
  for (int e = 0; e < kN; ++e) keys *= kBase;
  std::vector<uint16_t> index(size_t(keys), 0xffff);
  for (int i = 0; i < entries; ++i) {
    unsigned c[kN];
    for (int e = 0; e < kN; ++e) c[e] = code(uint8_t(grid[i] >> (8 * e)));
    index[size_t(code_key<kN, kBase>(c))] = uint16_t(i);
  }
  return index;
}
// The index of the entry whose codes are those of values [first, first + kN) (stored from an entry: always found).
template <int kN, int kBase, class Codes>
uint32_t entry_index(const std::vector<uint16_t>& inverse, int first, Codes&& codes) {
  unsigned c[kN];
  for (int e = 0; e < kN; ++e) c[e] = codes(first + e);
  return inverse[size_t(code_key<kN, kBase>(c))];
}

// IQ1_S / IQ1_M: codes g + 1 of the bytes g in {−1, 0, 1}.
inline unsigned iq1_code(uint8_t g) { return unsigned(int8_t(g) + 1); }
// The same for eight bytes: −1 (0xff), 0, 1 plus one each, without carries between them.
constexpr uint64_t iq1_codes8(uint64_t g) { return ((g & (kEachByte * 0x7f)) + kEachByte) ^ (g & (kEachByte * 0x80)); }
static_assert(iq1_codes8(0x0000000000ff0100ull) == 0x0101010101000201ull);
const std::vector<uint16_t>& iq1_inverse() {
  static const auto inverse = codebook_inverse<8, 3>(kIQ1SGrid, 2048, iq1_code);
  return inverse;
}

void to_stored(const BlockIQ1_S& b, BlockIQ1SCodes& x) {
  x = {};
  x.d = b.d;
  for (int j = 0; j < 8; ++j) put_nibble(x.meta, j, (b.qh[j] >> 12) & 15);
  for_each_group(b, [&](int v0, uint64_t g, unsigned) { put_codes8(x.qs, v0, iq1_codes8(g)); });
}
void from_stored(const BlockIQ1SCodes& x, BlockIQ1_S& b) {
  b.d = x.d;
  for (int j = 0; j < 8; ++j) {  // sub-block j: groups 4j + l
    uint32_t qh = nibble_of(x.meta, j) << 12;
    for (int l = 0; l < 4; ++l) {
      const uint32_t index = entry_index<8, 3>(iq1_inverse(), 8 * (4 * j + l), [&](int v) { return code_of(x.qs, v); });
      b.qs[4 * j + l] = uint8_t(index & 255);
      qh |= (index >> 8) << (3 * l);
    }
    b.qh[j] = uint16_t(qh);
  }
}

void to_stored(const BlockIQ1_M& b, BlockIQ1MCodes& x) {
  x = {};
  x.d = iq_d_bits(b);
  int8_t sc[16];
  iq_scales(b, sc);  // 2s + 1 per 16 values
  for (int j = 0; j < 16; ++j) put_nibble(x.scales, j, unsigned(sc[j] - 1) / 2);
  for_each_group(b, [&](int v0, uint64_t g, unsigned minus) {
    put_codes8(x.qs, v0, iq1_codes8(g));
    put_bits8(x.plus, v0, minus & 1 ? 0 : kEachByte);
  });
}
void from_stored(const BlockIQ1MCodes& x, BlockIQ1_M& b) {
  std::memset(b.qh, 0, sizeof b.qh);
  for (int k = 0; k < 32; ++k) {  // group k: values 8k ..
    const uint32_t index = entry_index<8, 3>(iq1_inverse(), 8 * k, [&](int v) { return code_of(x.qs, v); });
    const uint32_t minus = ~bit_of(x.plus, 8 * k) & 1;
    b.qs[k] = uint8_t(index & 255);
    b.qh[k / 2] |= uint8_t(((index >> 8) | minus << 3) << (4 * (k % 2)));
  }
  uint16_t w[4];  // word j / 2: sub-block j's two 3-bit scales at 6(j % 2) and 6(j % 2) + 3; d's nibble t on top of word t
  for (int t = 0; t < 4; ++t) w[t] = uint16_t(((x.d >> (4 * t)) & 15) << 12);
  for (int j = 0; j < 16; ++j) w[j / 4] |= uint16_t((nibble_of(x.scales, j) & 7) << (6 * ((j / 2) % 2) + 3 * (j % 2)));
  std::memcpy(b.scales, w, 8);
}

// The IQ2 types: the magnitudes 8, 25, 43 as codes 0, 1, 2.
constexpr int kIQ2CodeShift = 4;
constexpr unsigned iq2_code(uint8_t m) { return m >> kIQ2CodeShift; }
static_assert(iq2_code(iq2_magnitude(0)) == 0 && iq2_code(iq2_magnitude(1)) == 1 && iq2_code(iq2_magnitude(2)) == 2);
template <class Block>
const std::vector<uint16_t>& iq2_inverse() {
  constexpr int kEntries = std::is_same_v<Block, BlockIQ2_XXS> ? 256 : std::is_same_v<Block, BlockIQ2_XS> ? 512 : 1024;
  static const auto inverse = codebook_inverse<8, 3>(Block::kGrid, kEntries, iq2_code);
  return inverse;
}
template <class Block>
  requires(std::is_same_v<Block, BlockIQ2_XXS> || std::is_same_v<Block, BlockIQ2_XS> || std::is_same_v<Block, BlockIQ2_S>)
void to_stored(const Block& b, BlockIQ2Codes& x) {
  x = {};
  x.d = b.d;
  int8_t sc[16];
  iq_scales(b, sc);  // 2s + 1 per 16 values
  for (int j = 0; j < 16; ++j) put_nibble(x.scales, j, unsigned(sc[j] - 1) / 2);
  for_each_group(b, [&](int v0, uint64_t m, unsigned signs) {
    put_codes8(x.qs, v0, bytes_shr<kIQ2CodeShift>(m));  // iq2_code per byte
    put_bits8(x.signs, v0, kSpreadBits[sign_bits<Block>(signs) & 255]);
  });
}
// Group k's (values 8k ..) codebook index and eight sign bits.
template <class Block>
uint32_t iq2_index(const BlockIQ2Codes& x, int k) {
  return entry_index<8, 3>(iq2_inverse<Block>(), 8 * k, [&](int v) { return code_of(x.qs, v); });
}
inline uint32_t plane_bits8(const uint8_t* plane, int k) {
  uint32_t bits = 0;
  for (int e = 0; e < 8; ++e) bits |= bit_of(plane, 8 * k + e) << e;
  return bits;
}
void from_stored(const BlockIQ2Codes& x, BlockIQ2_XXS& b) {
  b.d = x.d;
  for (int j = 0; j < 8; ++j) {  // sub-block j: grid bytes in w[0], signs (seven per group) and s in w[1]
    uint32_t w[2] = {0, nibble_of(x.scales, 2 * j) << 28};
    for (int l = 0; l < 4; ++l) {
      w[0] |= iq2_index<BlockIQ2_XXS>(x, 4 * j + l) << (8 * l);
      w[1] |= (plane_bits8(x.signs, 4 * j + l) & 127) << (7 * l);
    }
    std::memcpy(b.qs + 4 * j, w, 8);
  }
}
void from_stored(const BlockIQ2Codes& x, BlockIQ2_XS& b) {
  b.d = x.d;
  for (int k = 0; k < 32; ++k) b.qs[k] = uint16_t(iq2_index<BlockIQ2_XS>(x, k) | (plane_bits8(x.signs, k) & 127) << 9);
  std::memcpy(b.scales, x.scales, 8);  // the same nibbles
}
void from_stored(const BlockIQ2Codes& x, BlockIQ2_S& b) {
  b.d = x.d;
  std::memset(b.qh, 0, sizeof b.qh);
  for (int k = 0; k < 32; ++k) {
    const uint32_t index = iq2_index<BlockIQ2_S>(x, k);
    b.qs[k] = uint8_t(index & 255);
    b.qh[k / 4] |= uint8_t((index >> 8) << (2 * (k % 4)));
    b.qs[32 + k] = uint8_t(plane_bits8(x.signs, k));
  }
  std::memcpy(b.scales, x.scales, 8);
}

// The IQ3 types: each codebook's eight magnitudes as codes 0 .. 7 (entries of four).
template <class Block>
constexpr int kIQ3CodeShift = std::is_same_v<Block, BlockIQ3_XXS> ? 3 : 1;  // XXS: 4, 12, ..., 52, 62; S: 1, 3, ..., 15
template <class Block>
constexpr unsigned iq3_code(uint8_t m) { return m >> kIQ3CodeShift<Block>; }
static_assert([] {
  for (unsigned c = 0; c < 8; ++c) {
    if (iq3_code<BlockIQ3_XXS>(iq3_magnitude<true>(c)) != c || iq3_code<BlockIQ3_S>(iq3_magnitude<false>(c)) != c) return false;
  }
  return true;
}());
template <class Block>
const std::vector<uint16_t>& iq3_inverse() {
  static const auto inverse = codebook_inverse<4, 8>(Block::kGrid, std::is_same_v<Block, BlockIQ3_XXS> ? 256 : 512, iq3_code<Block>);
  return inverse;
}
template <class Block>
  requires(std::is_same_v<Block, BlockIQ3_XXS> || std::is_same_v<Block, BlockIQ3_S>)
void to_stored(const Block& b, BlockIQ3Codes& x) {
  x = {};
  x.d = b.d;
  int8_t sc[16];
  iq_scales(b, sc);  // 2s + 1 per 32 values, twice
  for (int j = 0; j < 8; ++j) put_nibble(x.scales, j, unsigned(sc[2 * j] - 1) / 2);
  for_each_group(b, [&](int v0, uint64_t m, unsigned signs) {  // iq3_code per byte, the sign as bit 3
    put_value_nibbles8(x.qs, v0, bytes_shr<kIQ3CodeShift<Block>>(m) | kSpreadBits[sign_bits<Block>(signs) & 255] << 3);
  });
}
// Half-group h's (values 4h ..) codebook index; the sign bits of group k's eight values.
template <class Block>
uint32_t iq3_index(const BlockIQ3Codes& x, int h) {
  return entry_index<4, 8>(iq3_inverse<Block>(), 4 * h, [&](int v) { return value_nibble(x.qs, v) & 7; });
}
inline uint32_t iq3_signs(const BlockIQ3Codes& x, int k) {
  uint32_t signs = 0;
  for (int e = 0; e < 8; ++e) signs |= (value_nibble(x.qs, 8 * k + e) >> 3) << e;
  return signs;
}
void from_stored(const BlockIQ3Codes& x, BlockIQ3_XXS& b) {
  b.d = x.d;
  for (int h = 0; h < 64; ++h) b.qs[h] = uint8_t(iq3_index<BlockIQ3_XXS>(x, h));
  for (int j = 0; j < 8; ++j) {  // sub-block j's word: seven signs per group, then s
    uint32_t w = nibble_of(x.scales, j) << 28;
    for (int l = 0; l < 4; ++l) w |= (iq3_signs(x, 4 * j + l) & 127) << (7 * l);
    std::memcpy(b.qs + 64 + 4 * j, &w, 4);
  }
}
void from_stored(const BlockIQ3Codes& x, BlockIQ3_S& b) {
  b.d = x.d;
  std::memset(b.qh, 0, sizeof b.qh);
  for (int h = 0; h < 64; ++h) {
    const uint32_t index = iq3_index<BlockIQ3_S>(x, h);
    b.qs[h] = uint8_t(index & 255);
    b.qh[h / 8] |= uint8_t((index >> 8) << (h % 8));
  }
  for (int k = 0; k < 32; ++k) b.signs[k] = uint8_t(iq3_signs(x, k));
  std::memcpy(b.scales, x.scales, 4);  // the same nibbles
}

// Row r's block out of its group block; all 16 rows' blocks (row r's `stride` bytes after row 0's) into
// it or out of it.
template <class Group, class Block>
void take_row(const Group& g, int r, Block& x) { fields(x, const_cast<Group&>(g), RowMover{false, r}); }
template <class Block, class Group>
void put_group(const Block& x0, size_t stride, Group& g) { fields(const_cast<Block&>(x0), g, GroupMover{true, stride}); }
template <class Group, class Block>
void take_group(const Group& g, Block& x0, size_t stride) { fields(x0, const_cast<Group&>(g), GroupMover{false, stride}); }

// Bytes per group of 16 rows, and before row r (a multiple of 16, or past the last full group).
template <class Group>
size_t group_bytes(int64_t cols) {
  return size_t(cols / Group::Block::kElems) * sizeof(Group);
}
template <class Group>
size_t offset_of(int64_t rows, int64_t cols, int64_t r) {
  const int64_t full = rows / kRowGroup;
  if (r < full * kRowGroup) return size_t(r / kRowGroup) * group_bytes<Group>(cols);
  const size_t row_bytes = size_t(cols / Group::Block::kElems) * sizeof(typename Group::Block);
  return size_t(full) * group_bytes<Group>(cols) + size_t(r - full * kRowGroup) * row_bytes;
}

template <class Group, class Block = typename Group::Block>
void to_groups(const uint8_t* src, int64_t rows, int64_t cols, uint8_t* dst, int64_t g0, int64_t g1) {
  using Stored = typename StoredBlock<Group>::type;
  const int64_t blocks = cols / Block::kElems, full = rows / kRowGroup;
  const size_t row_bytes = size_t(blocks) * sizeof(Block);
  for (int64_t g = g0; g < g1; ++g) {
    const uint8_t* from = src + size_t(g * kRowGroup) * row_bytes;
    uint8_t* at = dst + offset_of<Group>(rows, cols, g * kRowGroup);
    if (g == full) {  // the rows past the last full group, as they were
      std::memcpy(at, from, size_t(rows - full * kRowGroup) * row_bytes);
      continue;
    }
    auto* out = reinterpret_cast<Group*>(at);
    const auto* in = reinterpret_cast<const Block*>(from);
    for (int64_t b = 0; b < blocks; ++b) {
      if constexpr (std::is_same_v<Stored, Block>) {
        put_group(in[b], row_bytes, out[b]);
      } else {  // each row's block converted first
        Stored rows16[kRowGroup];
        for (int r = 0; r < kRowGroup; ++r) to_stored(in[r * blocks + b], rows16[r]);
        put_group(rows16[0], sizeof(Stored), out[b]);
      }
    }
  }
}

// Rows [r0, r0 + n) as the file's blocks, or (kAsStored) as the stored form's.
template <class Group, bool kAsStored = false, class File = typename Group::Block>
void from_groups(const uint8_t* data, int64_t rows, int64_t cols, int64_t r0, int64_t n, uint8_t* out) {
  using Stored = typename StoredBlock<Group>::type;
  using Block = std::conditional_t<kAsStored, Stored, File>;  // what `out` holds
  const int64_t blocks = cols / File::kElems, grouped = rows / kRowGroup * kRowGroup;
  const size_t row_bytes = size_t(blocks) * sizeof(Block), file_row_bytes = size_t(blocks) * sizeof(File);
  const auto row_block = [&](int64_t k, int64_t b) -> Block& {  // row k's block b in `out`
    return reinterpret_cast<Block*>(out + size_t(k - r0) * row_bytes)[b];
  };
  int64_t r = r0;
  while (r < r0 + n && r < grouped) {  // a group's rows in the range: block by block, all of them
    const int64_t g0 = r / kRowGroup * kRowGroup, end = std::min(r0 + n, g0 + kRowGroup);
    const auto* g = reinterpret_cast<const Group*>(data + offset_of<Group>(rows, cols, g0));
    const bool whole = r == g0 && end == g0 + kRowGroup;
    for (int64_t b = 0; b < blocks; ++b) {
      if constexpr (std::is_same_v<Stored, Block>) {  // moved as they are
        if (whole) take_group(g[b], row_block(r, b), row_bytes);
        else for (int64_t k = r; k < end; ++k) take_row(g[b], int(k - g0), row_block(k, b));
      } else {  // each row's stored block converted back to the file's
        Stored rows16[kRowGroup];
        if (whole) take_group(g[b], rows16[0], sizeof(Stored));
        else for (int64_t k = r; k < end; ++k) take_row(g[b], int(k - g0), rows16[k - g0]);
        for (int64_t k = r; k < end; ++k) from_stored(rows16[k - g0], row_block(k, b));
      }
    }
    r = end;
  }
  if (r == r0 + n) return;
  const uint8_t* tail = data + offset_of<Group>(rows, cols, r);  // the rows past the groups, as in the file
  if constexpr (std::is_same_v<Block, File>) {
    std::memcpy(out + size_t(r - r0) * row_bytes, tail, size_t(r0 + n - r) * row_bytes);
  } else {
    for (int64_t k = r; k < r0 + n; ++k) {
      const auto* file = reinterpret_cast<const File*>(tail + size_t(k - r) * file_row_bytes);
      for (int64_t b = 0; b < blocks; ++b) to_stored(file[b], row_block(k, b));
    }
  }
}

}  // namespace

size_t row_groups_bytes(DType t, int64_t rows, int64_t cols) {
  size_t bytes = 0;
  if (!with_group(t, [&](auto group) { bytes = offset_of<decltype(group)>(rows, cols, rows); })) {
    fail("row groups: no layout for {}", dtype_name(t));
  }
  return bytes;
}

size_t row_groups_offset(DType t, int64_t rows, int64_t cols, int64_t r) {
  size_t at = 0;
  if (!with_group(t, [&](auto group) { at = offset_of<decltype(group)>(rows, cols, r); })) {
    fail("row groups: no layout for {}", dtype_name(t));
  }
  return at;
}

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

void stored_rows_from_groups(DType t, const uint8_t* data, int64_t rows, int64_t cols, int64_t r0, int64_t n, uint8_t* out) {
  if (!with_group(t, [&](auto group) { from_groups<decltype(group), true>(data, rows, cols, r0, n, out); })) {
    fail("row groups: no layout for {}", dtype_name(t));
  }
}

size_t stored_row_bytes(DType t, int64_t cols) {
  size_t bytes = 0;
  if (!with_group(t, [&](auto group) {
        using Group = decltype(group);
        bytes = size_t(cols / Group::Block::kElems) * sizeof(typename StoredBlock<Group>::type);
      })) {
    fail("row groups: no layout for {}", dtype_name(t));
  }
  return bytes;
}

MatVecGroups mat_vec_groups(DType t, Isa isa) {
#if defined(R1_X86_KERNELS)
  if (!isa_supported(isa)) return nullptr;
  // AVX-512 without VNNI (no vpdpbusd) runs the AVX2 kernels: no 512-bit version of those is written.
  if (isa == Isa::Avx512Vnni) return mat_vec_groups_avx512vnni(t);
  if (isa == Isa::AvxVnni) return mat_vec_groups_avxvnni(t);
  if (isa == Isa::Avx2 || isa == Isa::Avx512) return mat_vec_groups_avx2(t);
#elif defined(R1_ARM_KERNELS)
  if (!isa_supported(isa)) return nullptr;
  if (isa == Isa::NeonDot) return mat_vec_groups_neondot(t);
  if (isa == Isa::Neon) return mat_vec_groups_neon(t);
#endif
  (void)t, (void)isa;
  return nullptr;
}

}  // namespace r1::quant
