// Runs the kernels the extension would run on another architecture (aarch64 under
// qemu-user, built by tests/test_cross.py), without Python: the dispatch picks its
// table, the thread pool cuts the work, and the outputs go to a file for the test to
// compare with the numpy references.
//
// driver CASES OUT: CASES holds records of eight little-endian int64s
//   op (0 permute, 1 xor), pattern, inverse, itemsize, h, w, has_key, threads
// followed by the source bytes (h*w*itemsize) and, if has_key (always for xor), as many
// key bytes. For each record the result's bytes are appended to OUT. The active
// table's name and the supported paths go to stdout, one line each.
#include <cstdint>
#include <cstdio>
#include <vector>

#include "dispatch.h"
#include "kernels.h"
#include "parallel.h"

namespace {

bool read_all(std::FILE* f, void* p, size_t n) { return std::fread(p, 1, n, f) == n; }

int log2_itemsize(int64_t itemsize) {
  switch (itemsize) {
    case 1: return 0;
    case 2: return 1;
    case 4: return 2;
    default: return -1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s CASES OUT\n", argv[0]);
    return 2;
  }
  std::FILE* in = std::fopen(argv[1], "rb");
  std::FILE* out = std::fopen(argv[2], "wb");
  if (!in || !out) {
    std::perror("driver: open");
    return 2;
  }
  const kedi::KernelTable& table = kedi::active_kernels();
  std::printf("%s\n", table.name);
  for (const auto& name : kedi::simd_state().supported) std::printf("%s ", name.c_str());
  std::printf("\n");

  for (int64_t hdr[8]; read_all(in, hdr, sizeof hdr);) {
    const int64_t op = hdr[0], pattern = hdr[1], inverse = hdr[2], itemsize = hdr[3];
    const size_t h = static_cast<size_t>(hdr[4]), w = static_cast<size_t>(hdr[5]);
    const bool has_key = hdr[6] != 0 || op == 1;
    const int lg = log2_itemsize(itemsize);
    if (op < 0 || op > 1 || pattern < 0 || pattern >= kedi::kNumPatterns || lg < 0 || h == 0 ||
        w == 0 || hdr[7] < 1) {
      std::fprintf(stderr, "driver: bad record header\n");
      return 2;
    }
    const size_t n = h * w * static_cast<size_t>(itemsize);
    std::vector<uint8_t> src(n), key(has_key ? n : 0), dst(n);
    if (!read_all(in, src.data(), n) || (has_key && !read_all(in, key.data(), n))) {
      std::fprintf(stderr, "driver: short record\n");
      return 2;
    }
    kedi::set_max_threads(static_cast<size_t>(hdr[7]));
    const size_t parts = static_cast<size_t>(hdr[7]);
    if (op == 1) {
      kedi::parallel_for(parts, [&](size_t t) {
        const size_t begin = n * t / parts, end = n * (t + 1) / parts;
        table.xor_bytes(src.data() + begin, key.data() + begin, dst.data() + begin, end - begin);
      });
    } else {
      const std::vector<int64_t> off = kedi::diagonal_offsets(h, w);
      const kedi::Plane plane{h, w, off.data()};
      // As the extension does: a plane of one row or one column is scanned in order.
      const int scan = h == 1 || w == 1 ? kedi::kHorizontal : static_cast<int>(pattern);
      const kedi::PermuteFn kernel = table.permute[scan][inverse ? 1 : 0][lg];
      kedi::parallel_for(parts, [&](size_t part) {
        kernel(src.data(), has_key ? key.data() : nullptr, dst.data(), plane, part, parts);
      });
    }
    if (std::fwrite(dst.data(), 1, n, out) != n) {
      std::perror("driver: write");
      return 2;
    }
  }
  if (std::ferror(in) || std::fclose(out) != 0) {
    std::perror("driver: close");
    return 2;
  }
  std::fclose(in);
  return 0;
}
