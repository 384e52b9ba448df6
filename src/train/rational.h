// Exact rational numbers for countdown: 64-bit numerator and denominator, always reduced, denominator > 0.
//
// Countdown allows division with non-integer intermediate values ((1 + 2) / 4 * 8 = 6), so values are
// rationals, never doubles: a reward must not depend on rounding. Every operation is checked: overflow
// or division by zero gives nullopt, which the callers treat as "not a valid expression" -- completions
// are model output and may hold anything.
#pragma once

#include <cstdint>
#include <numeric>
#include <optional>

namespace r1::train {

struct Rational {
  int64_t num = 0;
  int64_t den = 1;

  static std::optional<Rational> make(__int128 n, __int128 d) {
    if (d == 0) return std::nullopt;
    if (d < 0) n = -n, d = -d;
    __int128 a = n < 0 ? -n : n, b = d;
    while (b != 0) {  // gcd on the 128-bit values, before narrowing
      const __int128 t = a % b;
      a = b;
      b = t;
    }
    if (a > 1) n /= a, d /= a;
    if (n > INT64_MAX || n < -INT64_MAX || d > INT64_MAX) return std::nullopt;
    return Rational{static_cast<int64_t>(n), static_cast<int64_t>(d)};
  }
  static Rational integer(int64_t v) { return Rational{v, 1}; }

  bool is_integer() const { return den == 1; }
  bool operator==(const Rational&) const = default;
};

// Operands of at most 63 bits each: the 128-bit products and sums below cannot overflow.
inline std::optional<Rational> add(Rational a, Rational b) {
  return Rational::make(__int128(a.num) * b.den + __int128(b.num) * a.den, __int128(a.den) * b.den);
}
inline std::optional<Rational> sub(Rational a, Rational b) {
  return Rational::make(__int128(a.num) * b.den - __int128(b.num) * a.den, __int128(a.den) * b.den);
}
inline std::optional<Rational> mul(Rational a, Rational b) {
  return Rational::make(__int128(a.num) * b.num, __int128(a.den) * b.den);
}
inline std::optional<Rational> div(Rational a, Rational b) {
  return Rational::make(__int128(a.num) * b.den, __int128(a.den) * b.num);  // b == 0: den 0 -> nullopt
}

// op is one of + - * /.
inline std::optional<Rational> apply(char op, Rational a, Rational b) {
  switch (op) {
    case '+': return add(a, b);
    case '-': return sub(a, b);
    case '*': return mul(a, b);
    case '/': return div(a, b);
    default: return std::nullopt;
  }
}

}  // namespace r1::train
