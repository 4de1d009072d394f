// The memory side of a transposing walk at 512x512 uint16, without its arithmetic
// (x86-64 with AVX2, g++ or clang++):
//
//   make walk-orders && build/walk_orders
//
// Three tables, minimum microseconds of 15 samples (each the mean over many calls),
// all arrays 16 bytes past a page start as numpy's are:
//  1. 512 rows of 1 KiB read (8192 lines, summed into a register) with the rows `pitch`
//     bytes apart: row by row, or one 64-byte line column at a time over a block of
//     rows, as a vertical scan reads the image.
//  2. The forward vertical scan's stage copy: the same 512 rows of 1 KiB copied into an
//     L1 buffer, `lines` 64-byte line columns of `rows` rows at a time, one row after
//     another or eight rows loaded before any is stored.
//  3. The scan side: 512 KiB of key read and 512 KiB of output written as 512 runs of
//     1 KiB (the runs of a 512-row plane), XORed with data from an L1 buffer: in the
//     order a vertical scan's tiles reach them (a visit takes 32 bytes, one tile's 16
//     rows, of each of 8 neighbouring runs, as the staged forward scan's strips do, or
//     of 16, as two strips walked together; or 64 bytes, two tiles' rows, of 8 runs;
//     then the next rows, over blocks of `rows` rows), or one run piece of `rows` rows
//     after another; and beside them the same bytes in address order.
// The figures in benchmarks/RESULTS.md (2026-12-07, third and fourth sessions) come from
// this program.
#include <cstdio>

#include "bench_common.h"

namespace {

constexpr size_t kRows = 512, kRowBytes = 1024, kPlane = kRows * kRowBytes;
alignas(64) char l1[32768];  // the stage, or the data XORed into the runs

__m256i read_rows(const char* a, size_t pitch) {
  __m256i x = _mm256_setzero_si256(), y = x;
  for (size_t r = 0; r < kRows; ++r) {
    for (size_t l = 0; l < kRowBytes; l += 64) {
      x = _mm256_xor_si256(x, load(a + r * pitch + l));
      y = _mm256_xor_si256(y, load(a + r * pitch + l + 32));
    }
  }
  return _mm256_xor_si256(x, y);
}

__m256i read_line_columns(const char* a, size_t pitch, size_t block) {
  __m256i x = _mm256_setzero_si256(), y = x;
  for (size_t rb = 0; rb < kRows; rb += block) {
    for (size_t l = 0; l < kRowBytes; l += 64) {
      for (size_t r = rb; r < rb + block; ++r) {
        x = _mm256_xor_si256(x, load(a + r * pitch + l));
        y = _mm256_xor_si256(y, load(a + r * pitch + l + 32));
      }
    }
  }
  return _mm256_xor_si256(x, y);
}

// `lines` line columns of `block` rows into l1 (lines * 64 bytes a row), row after row.
void stage_copy(const char* a, size_t lines, size_t block) {
  const size_t width = lines * 64;
  for (size_t rb = 0; rb < kRows; rb += block) {
    for (size_t l = 0; l < kRowBytes; l += width) {
      const char* from = a + rb * kRowBytes + l;
      for (size_t r = 0; r < block; ++r) {
        for (size_t c = 0; c < width; c += 32) store(l1 + r * width + c, load(from + r * kRowBytes + c));
      }
      asm volatile("" ::: "memory");  // the stage is used before the next copy
    }
  }
}

// One line column of `block` rows into l1 (64 bytes a row), eight rows loaded before
// any is stored, as the kernel's stage_rows() does.
void stage_copy_batched(const char* a, size_t block) {
  for (size_t rb = 0; rb < kRows; rb += block) {
    for (size_t l = 0; l < kRowBytes; l += 64) {
      const char* from = a + rb * kRowBytes + l;
      for (size_t r = 0; r < block; r += 8) {
        __m256i x[16];
        for (size_t k = 0; k < 16; ++k) x[k] = load(from + (r + k / 2) * kRowBytes + k % 2 * 32);
        for (size_t k = 0; k < 16; ++k) store(l1 + (r + k / 2) * 64 + k % 2 * 32, x[k]);
      }
      asm volatile("" ::: "memory");  // the stage is used before the next copy
    }
  }
}

// Runs visited by tiles: N neighbouring runs at a time, Bytes (32 or 64) of each, then
// the next Bytes / 2 rows, over blocks of `block` rows. A visit loads all its key bytes
// before it stores, as put_runs() does.
template <size_t N, size_t Bytes>
void runs_by_tiles(const char* key, char* out, size_t block) {
  constexpr size_t kHalves = Bytes / 32;
  for (size_t rb = 0; rb < kRows; rb += block) {
    for (size_t c0 = 0; c0 < kRows; c0 += N) {
      for (size_t r0 = rb; r0 < rb + block; r0 += Bytes / 2) {
        __m256i k[N * kHalves];
        for (size_t i = 0; i < N * kHalves; ++i) {
          k[i] = load(key + (c0 + i / kHalves) * kRowBytes + r0 * 2 + i % kHalves * 32);
        }
        for (size_t i = 0; i < N * kHalves; ++i) {
          store(out + (c0 + i / kHalves) * kRowBytes + r0 * 2 + i % kHalves * 32,
                _mm256_xor_si256(k[i], load(l1 + i * 32 + (r0 * 64) % 8192)));
        }
      }
    }
  }
}

void runs_by_pieces(const char* key, char* out, size_t block) {
  for (size_t rb = 0; rb < kRows; rb += block) {
    for (size_t c = 0; c < kRows; ++c) {
      const char* s = l1 + (c * block * 2) % 8192;
      for (size_t o = c * kRowBytes + rb * 2; o < c * kRowBytes + (rb + block) * 2; o += 32, s += 32) {
        store(out + o, _mm256_xor_si256(load(s), load(key + o)));
      }
    }
  }
}

void runs_in_address_order(const char* key, char* out) {
  for (size_t o = 0; o < kPlane; o += 32) store(out + o, _mm256_xor_si256(load(l1 + o % 8192), load(key + o)));
}

}  // namespace

int main() {
  char* rows = buffer(kRows * 4096, 1);  // room for a 4 KiB pitch
  char* key = buffer(kPlane, 2);
  char* out = buffer(kPlane, 3);
  const size_t reps = 200;
  volatile __m256i sink;
  const auto row = [](const char* what, double us) { std::printf("%-66s %8.2f us\n", what, us); };
  char what[96];

  std::printf("1. 512 rows of 1 KiB read, rows `pitch` bytes apart\n");
  for (const size_t pitch : {1024, 1088, 1152, 1280, 1536, 2048, 3072, 4096}) {
    std::snprintf(what, sizeof what, "pitch %4zu: row by row", pitch);
    row(what, min_us(reps, [&] { sink = read_rows(rows, pitch); }));
    for (const size_t block : {64, 256}) {
      std::snprintf(what, sizeof what, "pitch %4zu: by line columns, %zu rows at a time", pitch, block);
      row(what, min_us(reps, [&] { sink = read_line_columns(rows, pitch, block); }));
    }
  }

  std::printf("\n2. the stage copy: 512 rows of 1 KiB into L1, `lines` line columns of `rows` rows at a time\n");
  for (const size_t lines : {1, 2, 4}) {
    for (const size_t block : {32, 64, 128, 256}) {
      if (lines * block * 64 > 16384) continue;  // a stage of at most 16 KiB
      std::snprintf(what, sizeof what, "lines %zu, rows %3zu (stage %2zu KiB), row after row", lines, block,
                    lines * block / 16);
      row(what, min_us(reps, [&] { stage_copy(rows, lines, block); }));
    }
  }
  row("lines 1, rows 256, eight rows loaded before they are stored",
      min_us(reps, [&] { stage_copy_batched(rows, 256); }));

  std::printf("\n3. the scan side: 512 KiB of key read and of output written, as 512 runs of 1 KiB\n");
  row("in address order", min_us(reps, [&] { runs_in_address_order(key, out); }));
  for (const size_t block : {64, 128, 256, 512}) {
    std::snprintf(what, sizeof what, "in tile order, 8 runs x 32 bytes, blocks of %3zu rows", block);
    row(what, min_us(reps, [&] { runs_by_tiles<8, 32>(key, out, block); }));
    std::snprintf(what, sizeof what, "in tile order, 16 runs x 32 bytes, blocks of %3zu rows", block);
    row(what, min_us(reps, [&] { runs_by_tiles<16, 32>(key, out, block); }));
    std::snprintf(what, sizeof what, "in tile order, 8 runs x 64 bytes, blocks of %3zu rows", block);
    row(what, min_us(reps, [&] { runs_by_tiles<8, 64>(key, out, block); }));
    std::snprintf(what, sizeof what, "piece after piece, pieces of %3zu rows", block);
    row(what, min_us(reps, [&] { runs_by_pieces(key, out, block); }));
  }
  return 0;
}
