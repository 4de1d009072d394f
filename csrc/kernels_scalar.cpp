// Portable kernels: plain C++, no intrinsics. The only path on non-x86 machines.
#include <cstring>

#include "kernels.h"

namespace kedi {
namespace scalar {
constexpr const char* kIsaName = "scalar";
#define KEDI_LANES 0
#include "permute_impl.inc"
#undef KEDI_LANES
}  // namespace scalar

const KernelTable kScalarKernels = scalar::kTable;

}  // namespace kedi
