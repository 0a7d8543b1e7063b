// Transposes one 16 x 16 tile of floats in AVX-512 registers. The sparse product uses it to turn
// token rows into the column-major xt it reads, and its output tile back into token rows. A
// scalar loop doing the same moves one float per load and store and, on x rows a multiple of
// 4 KiB apart (3072 floats), hits one cache set for the whole tile.
#pragma once

#if defined(__AVX512F__)
// GCC 12 warns that the shuffles' own _mm512_undefined_ps() placeholders are uninitialized
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#if !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstddef>

namespace modularevo {

constexpr bool HAS_TILE_TRANSPOSE = true;

// dst[c * ldd + t] = src[t * lds + c] (+ add[c] when add is not null) for 0 <= t, c < 16.
// Neither pointer needs any alignment.
inline void transposeTile16(const float* src, std::ptrdiff_t lds, float* dst, std::ptrdiff_t ldd, const float* add) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);

  // 32-bit, 64-bit, 128-bit, then 256-bit interleaves: after the fourth, r[c] contains column c
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int h = 0; h < 2; ++h) {
    for (int i = 0; i < 4; ++i) {
      t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0x88);
      t[8 * h + 4 + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0xDD);
    }
  }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
  }

  if (add) {
    const __m512 addend = _mm512_loadu_ps(add);
    for (int i = 0; i < 16; ++i) r[i] = _mm512_add_ps(r[i], addend);
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ldd, r[i]);
}

}  // namespace modularevo

#else

#include <cstddef>

namespace modularevo {

// Without AVX-512 the callers use their scalar loops.
constexpr bool HAS_TILE_TRANSPOSE = false;
inline void transposeTile16(const float*, std::ptrdiff_t, float*, std::ptrdiff_t, const float*) {}

}  // namespace modularevo

#endif
