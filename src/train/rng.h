// The task generators' random numbers: splitmix64 to seed, xoshiro256** to draw, integer-only.
//
// Why our own generator: the std:: distributions (uniform_int_distribution, ...) are
// implementation-defined, so the same seed gives different problems under libstdc++ and libc++. A
// dataset is published as "generator + version + seed + count" and must be rebuilt bit-for-bit anywhere,
// so every draw here is specified down to the bit: xoshiro256** (Blackman & Vigna) and unbiased integer
// ranges by rejection.
#pragma once

#include <cstdint>
#include <string_view>

namespace r1::train {

// splitmix64's output function: a bijective 64-bit mixer (Steele, Lea & Flood).
constexpr uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// FNV-1a: turns a generator's name into a 64-bit seed component.
constexpr uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (uint64_t& word : s_) {  // splitmix64, as xoshiro's authors recommend for seeding
      seed += 0x9e3779b97f4a7c15ULL;
      word = mix64(seed);
    }
  }

  // One problem's stream depends on nothing but (generator name, version, seed, index): problems can be
  // generated in any order, in parallel, or one at a time, and come out the same.
  static Rng for_problem(std::string_view name, uint32_t version, uint64_t seed, uint64_t index) {
    uint64_t h = mix64(fnv1a64(name) ^ 0x5851f42d4c957f2dULL);
    h = mix64(h ^ version);
    h = mix64(h ^ seed);
    h = mix64(h ^ index);
    return Rng(h);
  }

  uint64_t next() {  // xoshiro256**
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n), n > 0, without modulo bias: draws below 2^64 mod n are rejected.
  uint64_t below(uint64_t n) {
    const uint64_t threshold = (0 - n) % n;
    for (;;) {
      const uint64_t r = next();
      if (r >= threshold) return r % n;
    }
  }

  // Uniform in [lo, hi], lo <= hi.
  int64_t range(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;
    if (span == 0) return static_cast<int64_t>(next());  // the whole 64-bit range
    return static_cast<int64_t>(static_cast<uint64_t>(lo) + below(span));
  }

  bool coin() { return (next() >> 63) != 0; }

 private:
  static constexpr uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace r1::train
