// AVX2 kernels: 256-bit registers used as two 128-bit lanes. This file alone is
// compiled with -mavx2 and is only called after the CPU reported AVX2 at import.
#include "kernels.h"

#if defined(KEDI_X86_64)
#if !defined(__AVX2__)
#error "kernels_avx2.cpp must be compiled with AVX2 enabled (-mavx2 or /arch:AVX2)"
#endif
#include <immintrin.h>

#include <cstring>
#include <numeric>

namespace kedi {
namespace avx2 {
constexpr const char* kIsaName = "avx2";

struct V {
  using reg = __m256i;
  static reg load(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
  static void store(void* p, reg v) { _mm256_storeu_si256(static_cast<__m256i*>(p), v); }
  static reg load2(const void* lo, const void* hi) {
    const __m128i a = _mm_loadu_si128(static_cast<const __m128i*>(lo));
    const __m128i b = _mm_loadu_si128(static_cast<const __m128i*>(hi));
    return _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1);
  }
  static void store2(void* lo, void* hi, reg v) {
    _mm_storeu_si128(static_cast<__m128i*>(lo), _mm256_castsi256_si128(v));
    _mm_storeu_si128(static_cast<__m128i*>(hi), _mm256_extracti128_si256(v, 1));
  }
  static reg xor_(reg a, reg b) { return _mm256_xor_si256(a, b); }
  // 32 bytes at p with the two 16-byte halves swapped (lane 0 from p + 16).
  static reg load_swapped(const void* p) {
    const char* q = static_cast<const char*>(p);
    return load2(q + 16, q);
  }
  // Stores v with its lanes swapped: lane 1 at p, lane 0 at p + 16.
  static void store_swapped(void* p, reg v) {
    char* q = static_cast<char*>(p);
    store2(q + 16, q, v);
  }
  // Reverses the E-byte elements within each lane.
  template <size_t E>
  static reg reverse_in_lanes(reg v) {
    if constexpr (E == 4) {
      return _mm256_shuffle_epi32(v, 0x1B);
    } else {
      const __m256i mask =
          E == 2 ? _mm256_setr_epi8(14, 15, 12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1, 14, 15,
                                    12, 13, 10, 11, 8, 9, 6, 7, 4, 5, 2, 3, 0, 1)
                 : _mm256_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 15, 14,
                                    13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
      return _mm256_shuffle_epi8(v, mask);
    }
  }

  template <size_t W>
  static reg unpacklo(reg a, reg b) {
    if constexpr (W == 1) return _mm256_unpacklo_epi8(a, b);
    else if constexpr (W == 2) return _mm256_unpacklo_epi16(a, b);
    else if constexpr (W == 4) return _mm256_unpacklo_epi32(a, b);
    else return _mm256_unpacklo_epi64(a, b);  // W == 8
  }
  template <size_t W>
  static reg unpackhi(reg a, reg b) {
    if constexpr (W == 1) return _mm256_unpackhi_epi8(a, b);
    else if constexpr (W == 2) return _mm256_unpackhi_epi16(a, b);
    else if constexpr (W == 4) return _mm256_unpackhi_epi32(a, b);
    else return _mm256_unpackhi_epi64(a, b);  // W == 8
  }

  // Reverses the E-byte elements of the whole register.
  template <size_t E>
  static reg reverse(reg v) {
    return _mm256_permute4x64_epi64(reverse_in_lanes<E>(v), 0x4E);
  }
};

#define KEDI_LANES 2
#include "permute_impl.inc"
#undef KEDI_LANES
}  // namespace avx2

const KernelTable kAvx2Kernels = avx2::kTable;

}  // namespace kedi
#endif
