// SSE2 kernels: 128-bit registers. SSE2 is part of the x86-64 baseline.
#include "kernels.h"

#if defined(KEDI_X86_64)
#include <emmintrin.h>

#include <cstring>
#include <numeric>

namespace kedi {
namespace sse2 {
constexpr const char* kIsaName = "sse2";

struct V {
  using reg = __m128i;
  static reg load(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }
  static void store(void* p, reg v) { _mm_storeu_si128(static_cast<__m128i*>(p), v); }
  static reg xor_(reg a, reg b) { return _mm_xor_si128(a, b); }

  template <size_t W>
  static reg unpacklo(reg a, reg b) {
    if constexpr (W == 1) return _mm_unpacklo_epi8(a, b);
    else if constexpr (W == 2) return _mm_unpacklo_epi16(a, b);
    else if constexpr (W == 4) return _mm_unpacklo_epi32(a, b);
    else return _mm_unpacklo_epi64(a, b);  // W == 8
  }
  template <size_t W>
  static reg unpackhi(reg a, reg b) {
    if constexpr (W == 1) return _mm_unpackhi_epi8(a, b);
    else if constexpr (W == 2) return _mm_unpackhi_epi16(a, b);
    else if constexpr (W == 4) return _mm_unpackhi_epi32(a, b);
    else return _mm_unpackhi_epi64(a, b);  // W == 8
  }

  template <size_t E>
  static reg reverse(reg v) {
    if constexpr (E == 4) {
      return _mm_shuffle_epi32(v, 0x1B);
    } else {
      // Bytes: swap within 16-bit words first, then reverse the words.
      if constexpr (E == 1) v = _mm_or_si128(_mm_slli_epi16(v, 8), _mm_srli_epi16(v, 8));
      v = _mm_shufflehi_epi16(_mm_shufflelo_epi16(v, 0x1B), 0x1B);
      return _mm_shuffle_epi32(v, 0x4E);
    }
  }
};

#define KEDI_LANES 1
#include "permute_impl.inc"
#undef KEDI_LANES
}  // namespace sse2

const KernelTable kSse2Kernels = sse2::kTable;

}  // namespace kedi
#endif
