// Picks the kernel table once at import: the best ISA the CPU supports, less any
// named in the KEDI_DISABLE_SIMD environment variable.
#include "dispatch.h"

#include <cctype>
#include <cstdlib>
#include <sstream>

#if defined(_MSC_VER) && defined(KEDI_X86_64)
#include <immintrin.h>
#include <intrin.h>
#endif

namespace kedi {
namespace {

// Best first.
struct Level {
  const char* name;
  const KernelTable* table;
};
#if defined(KEDI_X86_64)
constexpr Level kLevels[] = {{"avx2", &kAvx2Kernels}, {"sse2", &kSse2Kernels}, {"scalar", &kScalarKernels}};
#else
constexpr Level kLevels[] = {{"scalar", &kScalarKernels}};
#endif

bool cpu_has(const std::string& name) {
#if defined(KEDI_X86_64)
  if (name == "sse2") return true;  // part of x86-64
  if (name == "avx2") {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");  // also checks that the OS saves YMM state
#elif defined(_MSC_VER)
    int info[4];
    __cpuid(info, 1);
    const bool osxsave = (info[2] & (1 << 27)) != 0, avx = (info[2] & (1 << 28)) != 0;
    if (!osxsave || !avx || (_xgetbv(0) & 0x6) != 0x6) return false;
    __cpuidex(info, 7, 0);
    return (info[1] & (1 << 5)) != 0;
#else
    return false;
#endif
  }
#endif
  return name == "scalar";
}

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

SimdState& simd_state() {
  static SimdState state = [] {
    SimdState s;
    for (const Level& level : kLevels) {
      if (cpu_has(level.name)) s.supported.emplace_back(level.name);
    }
    if (const char* env = std::getenv("KEDI_DISABLE_SIMD")) {
      std::string token;
      std::istringstream in(env);
      while (std::getline(in, token, ',')) {
        std::string name;
        for (char ch : token) {
          if (!std::isspace(static_cast<unsigned char>(ch))) name += ch;
        }
        name = lower(name);
        if (name.empty()) continue;
        if (name == "all") {
          for (const Level& level : kLevels) {
            if (std::string(level.name) != "scalar") s.disabled.emplace_back(level.name);
          }
        } else if (name == "avx2" || name == "sse2") {
          s.disabled.push_back(name);
        } else {
          s.unknown.push_back(token);
        }
      }
    }
    for (const Level& level : kLevels) {
      const std::string name = level.name;
      bool off = false;
      for (const auto& d : s.disabled) off = off || d == name;
      if (!off && cpu_has(name)) {
        s.active.store(level.table);
        break;
      }
    }
    return s;
  }();
  return state;
}

const KernelTable& active_kernels() { return *simd_state().active.load(std::memory_order_relaxed); }

bool set_active(const std::string& name) {
  for (const Level& level : kLevels) {
    if (name == level.name && cpu_has(name)) {
      simd_state().active.store(level.table);
      return true;
    }
  }
  return false;
}

}  // namespace kedi
