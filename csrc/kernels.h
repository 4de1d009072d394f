// Kernel tables shared by the per-ISA translation units and the bindings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kedi {

enum Pattern : int { kHorizontal = 0, kVertical = 1, kDiagonal = 2 };
constexpr int kNumPatterns = 3;

// One 2-D plane of H rows and W columns. For the diagonal pattern, diag_off[s] is
// the position in scan order of the first pixel of anti-diagonal s (s = 0 .. H+W-2).
struct Plane {
  size_t h;
  size_t w;
  const int64_t* diag_off;
};

// Plane::diag_off for an H x W plane: the scan position of the first pixel of each
// anti-diagonal s = 0 .. h+w-2.
inline std::vector<int64_t> diagonal_offsets(size_t h, size_t w) {
  std::vector<int64_t> off(h + w - 1);
  int64_t pos = 0;
  for (size_t s = 0; s + 1 < h + w; ++s) {
    off[s] = pos;
    const size_t rmin = s >= w ? s - w + 1 : 0, rmax = s < h ? s : h - 1;
    pos += static_cast<int64_t>(rmax - rmin + 1);
  }
  return off;
}

// dst[k] = a[k] ^ b[k] for k < n bytes. a, b, dst may be the same pointer.
using XorFn = void (*)(const uint8_t* a, const uint8_t* b, uint8_t* dst, size_t n);

// Forward: dst[p] = src[order[p]] ^ key[p].  Inverse: dst[order[p]] = src[p] ^ key[p].
// key may be null (plain reordering). dst must not overlap src or key. The plane's
// work is cut into `parts` disjoint shares; a call does share `part` (0 <= part <
// parts), so the shares can run on different threads at once.
using PermuteFn = void (*)(const void* src, const void* key, void* dst, const Plane& plane,
                           size_t part, size_t parts);

// The bindings cut a large plane into this many shares per thread, and a thread first
// runs kSharesPerThread consecutive shares; a kernel may cut so that such a run of
// shares writes one stretch of memory (see the inverse diagonal scan).
constexpr size_t kSharesPerThread = 4;

struct KernelTable {
  const char* name;
  XorFn xor_bytes;
  // [pattern][inverse][log2(itemsize)] for itemsize 1, 2, 4.
  PermuteFn permute[kNumPatterns][2][3];
};

extern const KernelTable kScalarKernels;
#if defined(__x86_64__) || defined(_M_X64)
#define KEDI_X86_64 1
extern const KernelTable kSse2Kernels;
extern const KernelTable kAvx2Kernels;
#endif

}  // namespace kedi
