// Times one zigzag kernel of the native module without Python or the thread pool.
//
//   make harness && build/native_harness H W PATTERN [options]
//
// PATTERN is h, v or d. Options: --inverse, --no-key, --isa avx2|sse2|scalar (default
// avx2), --threads 1|2 (2: two threads each doing one static half of every call, kept
// in step by a spin barrier), --offset N (bytes past a page start for all three
// arrays; default 16, where numpy puts them), --sets N (N distinct image, key and
// output arrays, taken in turn call after call, as a series of images is; memcpy too;
// default 1, the same arrays every call). uint16 images.
//
// Checks the kernel's output against the scalar kernel (itself tested against numpy),
// then prints the minimum and median of 15 samples, each the mean over many calls, and
// the median time of memcpy of the same bytes in the same process. The figures in
// benchmarks/RESULTS.md marked "harness" come from this program.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels.h"

using kedi::KernelTable;
using kedi::Plane;

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "native_harness: %s\nusage: native_harness H W h|v|d [--inverse] [--no-key] "
               "[--isa avx2|sse2|scalar] [--threads 1|2] [--offset N] [--sets N]\n",
               why);
  std::exit(2);
}

size_t parse_size(const char* s, const char* what) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || *end != '\0') usage((std::string("bad ") + what + ": " + s).c_str());
  return static_cast<size_t>(v);
}

// A buffer of n uint16 starting `offset` bytes past a page boundary.
struct Buffer {
  std::vector<unsigned char> raw;
  uint16_t* p;
  Buffer(size_t n, size_t offset) : raw(n * 2 + 8192 + offset) {
    const auto base = reinterpret_cast<uintptr_t>(raw.data());
    p = reinterpret_cast<uint16_t*>((base + 4095) / 4096 * 4096 + offset);
  }
};

// Seconds per call: 15 samples, each the mean over `reps` calls of fn.
template <class F>
std::vector<double> samples(size_t reps, F&& fn) {
  std::vector<double> t;
  for (int k = 0; k < 15; ++k) {
    const auto t0 = Clock::now();
    fn(reps);
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count() / static_cast<double>(reps));
  }
  std::sort(t.begin(), t.end());
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) usage("missing arguments");
  const size_t h = parse_size(argv[1], "H"), w = parse_size(argv[2], "W");
  if (h == 0 || w == 0) usage("H and W must be at least 1");
  const std::string pat = argv[3];
  const int pattern = pat == "h" ? kedi::kHorizontal : pat == "v" ? kedi::kVertical
                    : pat == "d" ? kedi::kDiagonal : -1;
  if (pattern < 0) usage("PATTERN must be h, v or d");
  bool inverse = false, key_on = true;
  std::string isa = "avx2";
  size_t threads = 1, offset = 16, sets = 1;
  for (int i = 4; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--inverse") inverse = true;
    else if (a == "--no-key") key_on = false;
    else if (a == "--isa" && has_value) isa = argv[++i];
    else if (a == "--threads" && has_value) threads = parse_size(argv[++i], "threads");
    else if (a == "--offset" && has_value) offset = parse_size(argv[++i], "offset");
    else if (a == "--sets" && has_value) sets = parse_size(argv[++i], "sets");
    else usage(("unknown option " + a).c_str());
  }
  if (threads != 1 && threads != 2) usage("--threads must be 1 or 2");
  if (offset >= 4096) usage("--offset must be below 4096");
  if (sets == 0) usage("--sets must be at least 1");
#if defined(KEDI_X86_64)
  const KernelTable* table = isa == "avx2" ? &kedi::kAvx2Kernels : isa == "sse2" ? &kedi::kSse2Kernels
                           : isa == "scalar" ? &kedi::kScalarKernels : nullptr;
#else
  const KernelTable* table = isa == "scalar" ? &kedi::kScalarKernels : nullptr;
#endif
  if (!table) usage(("SIMD path not available: " + isa).c_str());

  const size_t n = h * w;
  // Set i's arrays; each set is checked, then the calls go round the sets in turn.
  std::vector<Buffer> src, key, dst;
  for (auto* v : {&src, &key, &dst}) v->reserve(sets);  // no Buffer moves: p points into raw
  std::mt19937 rng(1);
  for (size_t i = 0; i < sets; ++i) {
    src.emplace_back(n, offset);
    key.emplace_back(n, offset);
    dst.emplace_back(n, offset);
    for (size_t j = 0; j < n; ++j) {
      src[i].p[j] = static_cast<uint16_t>(rng());
      key[i].p[j] = static_cast<uint16_t>(rng());
    }
  }
  Buffer want(n, offset);
  const std::vector<int64_t> off = kedi::diagonal_offsets(h, w);
  const Plane plane{h, w, off.data()};
  const auto fn = table->permute[pattern][inverse ? 1 : 0][1];
  const auto key_of = [&](size_t i) -> const void* { return key_on ? key[i].p : nullptr; };

  for (size_t i = 0; i < sets; ++i) {
    kedi::kScalarKernels.permute[pattern][inverse ? 1 : 0][1](src[i].p, key_of(i), want.p, plane, 0, 1);
    for (size_t part = 0; part < threads; ++part) {  // the shares the timed calls take
      fn(src[i].p, key_of(i), dst[i].p, plane, part, threads);
    }
    if (std::memcmp(dst[i].p, want.p, n * 2) != 0) {
      std::fprintf(stderr, "native_harness: %s output differs from the scalar kernel\n", isa.c_str());
      return 1;
    }
  }

  const size_t reps = std::max<size_t>(20, 200000000 / n);
  const auto one = [&](size_t r) {
    for (size_t i = 0; i < r; ++i) {
      const size_t s = i % sets;
      fn(src[s].p, key_of(s), dst[s].p, plane, 0, 1);
    }
  };
  // Two threads: the helper does the odd halves, this thread the even ones; each call
  // ends when both are done.
  const auto two = [&](size_t r) {
    std::atomic<size_t> go{0}, done{0};
    std::thread helper([&] {
      for (size_t i = 1; i <= r; ++i) {
        while (go.load(std::memory_order_acquire) < i) {
        }
        const size_t s = i % sets;
        fn(src[s].p, key_of(s), dst[s].p, plane, 1, 2);
        done.store(i, std::memory_order_release);
      }
    });
    for (size_t i = 1; i <= r; ++i) {
      go.store(i, std::memory_order_release);
      const size_t s = i % sets;
      fn(src[s].p, key_of(s), dst[s].p, plane, 0, 2);
      while (done.load(std::memory_order_acquire) < i) {
      }
    }
    helper.join();
  };
  const std::vector<double> t = threads == 1 ? samples(reps, one) : samples(reps, two);
  const std::vector<double> m = samples(reps, [&](size_t r) {
    for (size_t i = 0; i < r; ++i) {
      const size_t s = i % sets;
      std::memcpy(dst[s].p, src[s].p, n * 2);
      asm volatile("" ::: "memory");
    }
  });
  std::printf("%zux%zu %s%s %s x%zu%s, %zu set(s): min %.2f us, median %.2f us (%.3f ns/pixel); "
              "memcpy %.2f us; x memcpy %.2f\n",
              h, w, pat.c_str(), inverse ? " inverse" : "", isa.c_str(), threads, key_on ? "" : " no key", sets,
              t[0] * 1e6, t[7] * 1e6, t[7] * 1e9 / static_cast<double>(n), m[7] * 1e6, m[7] / t[7]);
  return 0;
}
