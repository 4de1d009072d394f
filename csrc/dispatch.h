// Runtime choice of the SIMD kernel table.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "kernels.h"

namespace kedi {

struct SimdState {
  std::vector<std::string> supported;  // paths this CPU and build can run, best first
  std::vector<std::string> disabled;   // paths named in KEDI_DISABLE_SIMD
  std::vector<std::string> unknown;    // tokens in KEDI_DISABLE_SIMD that name no path
  std::atomic<const KernelTable*> active{&kScalarKernels};

  SimdState() = default;
  SimdState(SimdState&& o) noexcept
      : supported(std::move(o.supported)),
        disabled(std::move(o.disabled)),
        unknown(std::move(o.unknown)),
        active(o.active.load()) {}
};

// Detected on first use (module import) and fixed afterwards, except through set_active.
SimdState& simd_state();
const KernelTable& active_kernels();
// Switches to the named path ("avx2", "sse2", "scalar"); false if the CPU lacks it.
bool set_active(const std::string& name);

}  // namespace kedi
