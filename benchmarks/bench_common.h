// Shared by the standalone benchmark programs (copy_baselines.cpp, walk_orders.cpp),
// which are built with AVX2.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <vector>

// n bytes starting 16 bytes past a page boundary, as numpy's arrays do, filled with
// `fill` (kept for the life of the program).
inline char* buffer(size_t n, int fill) {
  std::vector<char>* raw = new std::vector<char>(n + 8192);
  const auto base = reinterpret_cast<uintptr_t>(raw->data());
  char* p = reinterpret_cast<char*>((base + 4095) / 4096 * 4096 + 16);
  std::memset(p, fill, n);
  return p;
}

// 32 bytes at p, unaligned.
inline __m256i load(const char* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
inline void store(char* p, __m256i v) { _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v); }

// Microseconds per call of fn: the minimum of 15 samples, each the mean over reps calls.
template <class F>
double min_us(size_t reps, F&& fn) {
  std::vector<double> t;
  for (int k = 0; k < 15; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < reps; ++i) {
      fn();
      asm volatile("" ::: "memory");
    }
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() /
                static_cast<double>(reps));
  }
  return *std::min_element(t.begin(), t.end()) * 1e6;
}
