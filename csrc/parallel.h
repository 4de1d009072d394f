// A small persistent thread pool for the kernels: parallel_for over work units.
#pragma once

#include <cstddef>
#include <functional>

namespace kedi {

// The most threads max_threads() can be set to.
constexpr size_t kThreadLimit = 256;

// Threads a kernel may use (>= 1): KEDI_NUM_THREADS if set, else the hardware's
// concurrency capped at 4 (the kernels are memory-bound beyond that).
size_t max_threads();
// Sets max_threads() for this process (1 <= n <= kThreadLimit; 1 = everything on the
// calling thread).
void set_max_threads(size_t n);
// The raw KEDI_NUM_THREADS value when it was not a positive integer (else empty).
const char* bad_thread_setting();

// Runs fn(i) for every i < n on up to max_threads() threads, the calling thread among
// them, and returns when all have finished. fn must not throw. If another parallel_for
// is running (kernels called from several Python threads at once), this one runs on the
// calling thread alone.
void parallel_for(size_t n, const std::function<void(size_t)>& fn);

}  // namespace kedi
