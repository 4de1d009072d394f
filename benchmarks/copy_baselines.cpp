// What the memcpy baseline of bench_zigzag_xor.py is made of, beside copies written
// with ordinary AVX2 loads and stores (x86-64 with AVX2, g++ or clang++):
//
//   make copy-baselines && build/copy_baselines [KiB]
//
// Each array is KiB kibibytes (default 512, a 512x512 uint16 plane), 16 bytes past a
// page start as numpy's are. Prints the minimum of 15 samples, each the mean over
// many calls, in microseconds. The figures in benchmarks/RESULTS.md (2026-12-07,
// second session) come from this program.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "bench_common.h"

namespace {

void rep_movsb(char* d, const char* s, size_t n) {
  asm volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

// dst = a ^ b, 32 bytes at a time (n a multiple of 32).
void xor_avx2(char* dst, const char* a, const char* b, size_t n) {
  for (size_t i = 0; i < n; i += 32) store(dst + i, _mm256_xor_si256(load(a + i), load(b + i)));
}

}  // namespace

int main(int argc, char** argv) {
  const size_t kib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 512;
  if (kib == 0) {
    std::fprintf(stderr, "usage: copy_baselines [KiB >= 1]\n");
    return 2;
  }
  const size_t n = kib * 1024;
  char* src = buffer(n, 1);
  char* key = buffer(n, 2);
  char* dst = buffer(n, 3);
  char* nt_dst = dst + 16;  // 32-byte aligned, for the non-temporal stores
  alignas(64) static char chunk[16384];
  const size_t reps = std::max<size_t>(20, (size_t{1} << 30) / n);

  const auto row = [](const char* what, double us) { std::printf("%-58s %9.2f us\n", what, us); };
  row("memcpy", min_us(reps, [&] { std::memcpy(dst, src, n); }));
  row("rep movsb", min_us(reps, [&] { rep_movsb(dst, src, n); }));
  row("copy by 32-byte AVX2 loads and stores", min_us(reps, [&] {
        for (size_t i = 0; i < n; i += 32) store(dst + i, load(src + i));
      }));
  row("copy with non-temporal 32-byte stores", min_us(reps, [&] {
        for (size_t i = 0; i + 32 <= n - 16; i += 32) {
          _mm256_stream_si256(reinterpret_cast<__m256i*>(nt_dst + i), load(src + i));
        }
        _mm_sfence();
      }));
  row("a ^ b into a third array, 32-byte AVX2", min_us(reps, [&] { xor_avx2(dst, src, key, n); }));
  for (const size_t c : {size_t{512}, size_t{1024}, size_t{4096}, size_t{16384}}) {
    if (c > n) continue;  // no whole chunk to time
    char what[80];
    std::snprintf(what, sizeof what, "the same XOR into a %zu-byte L1 chunk, then rep movsb", c);
    row(what, min_us(reps, [&] {
          for (size_t o = 0; o + c <= n; o += c) {
            xor_avx2(chunk, src + o, key + o, c);
            rep_movsb(dst + o, chunk, c);
          }
        }));
  }
  row("stores only (one register)", min_us(reps, [&] {
        const __m256i v = _mm256_set1_epi8(7);
        for (size_t i = 0; i < n; i += 32) store(dst + i, v);
      }));
  row("memset", min_us(reps, [&] { std::memset(dst, 9, n); }));
  return 0;
}
