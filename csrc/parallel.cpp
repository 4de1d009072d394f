// Persistent worker threads that spin briefly between jobs, then sleep. Workers are
// detached; after fork() the child starts a fresh pool (the parent's workers do not
// exist there). A pool grows when more threads are allowed; it never shrinks.
//
// A job's units are cut into one contiguous range per thread. Each thread runs its own
// range first, in order, then claims what is left of the others'. Thread t (the caller
// is 0, worker k has the fixed id k) so takes the same units call after call, and
// finds them in its own cache when the buffers are reused; a thread that is late or
// slow (a virtual CPU the host has not scheduled) loses its units to the others.
#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif
#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <immintrin.h>
#define KEDI_PAUSE() _mm_pause()
#else
#define KEDI_PAUSE() std::this_thread::yield()
#endif

namespace kedi {
namespace {

// How long an idle worker spins before it sleeps: back-to-back kernel calls (a series
// of images) then find it awake, while an idle process burns no CPU.
constexpr auto kSpin = std::chrono::microseconds(200);

// One thread's range of the current job: units next .. end-1 are unclaimed. On its own
// cache line, so that claims in one range do not slow down the others.
struct alignas(64) Range {
  std::atomic<size_t> next{0};
  size_t end = 0;
};

struct Pool {
  std::mutex call;  // one job at a time
  std::mutex m;
  std::condition_variable wake;
  std::atomic<uint64_t> gen{0};     // bumped when a job is published
  std::atomic<size_t> pending{0};   // units not yet finished
  std::atomic<int> inside{0};       // workers looking at the current job
  size_t threads = 0;               // threads of the current job (under m)
  const std::function<void(size_t)>* fn = nullptr;
  Range ranges[kThreadLimit];       // set under m while no worker is inside
  std::atomic<size_t> workers{0};   // grown under g_pool_init

  // Runs the units of thread `self`'s range, then claims the other ranges' leftovers.
  // A worker passes the thread count and function it took under `m`, so it never mixes
  // two jobs' fields.
  void run_units(size_t self, size_t threads, const std::function<void(size_t)>* f) {
    for (size_t k = 0; k < threads; ++k) {
      Range& r = ranges[(self + k) % threads];
      for (size_t i; (i = r.next.fetch_add(1)) < r.end;) {
        (*f)(i);
        pending.fetch_sub(1, std::memory_order_release);
      }
    }
  }
};

std::atomic<Pool*> g_pool{nullptr};
std::mutex g_pool_init;
std::atomic<size_t> g_threads{0};
std::string g_bad_setting;

void worker(Pool* p, size_t id, uint64_t seen) {
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    for (unsigned i = 1; p->gen.load(std::memory_order_acquire) == seen; ++i) {
      KEDI_PAUSE();
      if ((i & 255) == 0 && std::chrono::steady_clock::now() - t0 > kSpin) {
        std::unique_lock<std::mutex> lk(p->m);
        p->wake.wait(lk, [&] { return p->gen.load() != seen; });
      }
    }
    // Snapshot the job under the lock the caller publishes under; `inside` then keeps
    // the caller from publishing the next job until this worker has left.
    size_t threads = 0;
    const std::function<void(size_t)>* f = nullptr;
    bool join = false;
    {
      std::lock_guard<std::mutex> lk(p->m);
      seen = p->gen.load();
      threads = p->threads;
      f = p->fn;
      join = id < threads;
      if (join) p->inside.fetch_add(1);
    }
    if (join) {
      p->run_units(id, threads, f);
      p->inside.fetch_sub(1);
    }
  }
}

// fork() while another thread holds g_pool_init would leave it locked forever in the
// child: the forking thread takes it first, and both sides release it. The child then
// starts a fresh pool (the parent's workers do not exist there).
void lock_for_fork() { g_pool_init.lock(); }
void unlock_in_parent() { g_pool_init.unlock(); }
void reset_in_child() {
  g_pool.store(nullptr);
  g_pool_init.unlock();
}

Pool* pool_with(size_t workers) {
  Pool* p = g_pool.load();
  if (p && p->workers.load() >= workers) return p;
  std::lock_guard<std::mutex> lk(g_pool_init);
#if defined(__unix__) || defined(__APPLE__)
  static const bool registered = pthread_atfork(lock_for_fork, unlock_in_parent, reset_in_child) == 0;
  (void)registered;
#endif
  // A pool is never freed: its detached workers keep a pointer to it.
  p = g_pool.load();
  if (!p) {
    p = new Pool();
    g_pool.store(p);
  }
  // New workers start from the current job's generation, so they only join later jobs.
  // If the system refuses a thread, the pool keeps the workers it has (the calling
  // thread runs whatever units no worker claims).
  const uint64_t gen = p->gen.load();
  for (size_t have = p->workers.load(); have < workers; ++have) {
    try {
      std::thread(worker, p, have + 1, gen).detach();
    } catch (const std::system_error&) {
      break;
    }
    p->workers.fetch_add(1);
  }
  return p;
}

size_t default_threads() {
  if (const char* env = std::getenv("KEDI_NUM_THREADS")) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && errno == 0 && v >= 1 && static_cast<unsigned long>(v) <= kThreadLimit) {
      return static_cast<size_t>(v);
    }
    g_bad_setting = env;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return std::clamp<size_t>(hw ? hw : 1, 1, 4);
}

}  // namespace

size_t max_threads() {
  size_t t = g_threads.load();
  if (t == 0) {
    static std::once_flag once;
    std::call_once(once, [] {
      size_t expected = 0;
      g_threads.compare_exchange_strong(expected, default_threads());
    });
    t = g_threads.load();
  }
  return t;
}

void set_max_threads(size_t n) { g_threads.store(std::clamp<size_t>(n, 1, kThreadLimit)); }

const char* bad_thread_setting() {
  max_threads();
  return g_bad_setting.c_str();
}

void parallel_for(size_t n, const std::function<void(size_t)>& fn) {
  const size_t threads = std::min(max_threads(), n);
  if (threads <= 1) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  Pool* p = pool_with(threads - 1);
  std::unique_lock<std::mutex> busy(p->call, std::try_to_lock);
  if (!busy.owns_lock()) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  {
    // Publish under `m`, once no worker is still claiming units of the previous job.
    std::unique_lock<std::mutex> lk(p->m);
    while (p->inside.load() != 0) {
      lk.unlock();
      KEDI_PAUSE();
      lk.lock();
    }
    p->fn = &fn;
    p->threads = threads;
    for (size_t t = 0; t < threads; ++t) {
      p->ranges[t].next.store(n * t / threads);
      p->ranges[t].end = n * (t + 1) / threads;
    }
    p->pending.store(n);
    p->gen.fetch_add(1);
  }
  p->wake.notify_all();
  p->run_units(0, threads, &fn);
  while (p->pending.load(std::memory_order_acquire) != 0) KEDI_PAUSE();
}

}  // namespace kedi
