// kedi_edge._native: argument checks and dispatch for the zigzag and XOR kernels.
// Every entry point checks types, shapes and layout before touching memory, raises
// TypeError/ValueError naming what it expected, and releases the GIL while it works.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "dispatch.h"
#include "fileio.h"
#include "kernels.h"
#include "parallel.h"
#include "ripplet.h"

namespace py = pybind11;

namespace kedi {
namespace {

// Work below this many bytes stays on the calling thread: waking a worker costs more.
constexpr size_t kParallelMinBytes = size_t(1) << 18;

// A stack of planes is a series (see permute_entry()) when its image, key and output together
// exceed this many bytes (0: the default, 16 MiB): half the 32 MiB last-level cache of
// the machine measured, which other processes share (sysconf there reports 320 MiB, so
// the size is not taken from the system). Planes above kSeriesPlaneMax bytes, and planes
// of 4-byte pixels, never make a series: 512x512 uint32 planes (1 MiB) and 362x362 ones
// measured slower that way on two threads.
constexpr size_t kSeriesBytes = size_t(16) << 20;
constexpr size_t kSeriesPlaneMax = size_t(1) << 20;
std::atomic<size_t> g_series_bytes{0};

size_t series_bytes() {
  const size_t n = g_series_bytes.load();
  return n ? n : kSeriesBytes;
}

// Reads one word of each 64-byte line of the n bytes at p, in address order.
void read_lines(const uint8_t* p, size_t n) {
  uint64_t sum = 0;
  for (size_t i = 0; i < n; i += 64) {
    uint64_t x;
    std::memcpy(&x, p + i, sizeof x);
    sum += x;
  }
#if defined(__GNUC__) || defined(__clang__)
  asm volatile("" ::"r"(sum));
#else
  static volatile uint64_t sink;
  sink = sum;
#endif
}

// diagonal_offsets(h, w), kept for the last plane size each thread asked for: a 512x512
// table takes about 0.8 us to make, 4% of a two-thread diagonal call. Valid until the
// thread's next call.
const std::vector<int64_t>& diagonal_offsets_for(size_t h, size_t w) {
  thread_local std::vector<int64_t> off;
  thread_local size_t off_h = 0, off_w = 0;
  if (off.empty() || off_h != h || off_w != w) {
    off = diagonal_offsets(h, w);
    off_h = h;
    off_w = w;
  }
  return off;
}

size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

constexpr const char* kPlaneDtypes = "uint8, int8, uint16, int16, uint32 or int32";

std::string shape_str(const py::array& a) {
  std::ostringstream s;
  s << "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s << (i ? ", " : "") << a.shape(i);
  s << (a.ndim() == 1 ? ",)" : ")");
  return s.str();
}

std::string dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

[[noreturn]] void fail_type(const char* fn, const std::string& msg) {
  throw py::type_error(std::string(fn) + ": " + msg);
}
[[noreturn]] void fail_value(const char* fn, const std::string& msg) {
  throw py::value_error(std::string(fn) + ": " + msg);
}

py::array as_ndarray(const py::object& obj, const char* fn, const char* what) {
  if (!py::isinstance<py::array>(obj)) {
    fail_type(fn, std::string(what) + " must be a numpy.ndarray, got " +
                      py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
  }
  return py::reinterpret_borrow<py::array>(obj);
}

void check_native_order(const py::array& a, const char* fn, const char* what) {
  if (a.itemsize() > 1 && !a.dtype().attr("isnative").cast<bool>()) {
    fail_type(fn, std::string(what) + " has non-native byte order (" + dtype_str(a) +
                      "); convert it with a.astype(a.dtype.newbyteorder('='))");
  }
}

void check_layout(const py::array& a, const char* fn, const char* what, bool writeable) {
  if (a.size() == 0) {
    fail_value(fn, std::string(what) + " is empty (shape " + shape_str(a) + ")");
  }
  if (!(a.flags() & py::array::c_style)) {
    fail_value(fn, std::string(what) + " must be C-contiguous; pass np.ascontiguousarray(" +
                       what + ")");
  }
  if (writeable && !a.writeable()) fail_value(fn, std::string(what) + " is read-only");
}

void check_same(const py::array& ref, const char* ref_name, const py::array& a, const char* fn,
                const char* what) {
  if (!a.dtype().equal(ref.dtype())) {
    fail_type(fn, std::string(what) + " has dtype " + dtype_str(a) + ", expected " +
                      dtype_str(ref) + " (the dtype of " + ref_name + ")");
  }
  bool same = a.ndim() == ref.ndim();
  for (py::ssize_t i = 0; same && i < a.ndim(); ++i) same = a.shape(i) == ref.shape(i);
  if (!same) {
    fail_value(fn, std::string(what) + " has shape " + shape_str(a) + ", expected " +
                       shape_str(ref) + " (the shape of " + ref_name + ")");
  }
}

// Returns log2(itemsize) of a plane array (..., H, W) of a supported dtype.
int check_planes(const py::array& a, const char* fn, const char* what) {
  const char kind = a.dtype().kind();
  const py::ssize_t size = a.itemsize();
  if (!((kind == 'u' || kind == 'i') && (size == 1 || size == 2 || size == 4))) {
    fail_type(fn, std::string(what) + " has dtype " + dtype_str(a) + ", expected " + kPlaneDtypes);
  }
  check_native_order(a, fn, what);
  if (a.ndim() < 2) {
    fail_value(fn, std::string(what) + " must have at least 2 dimensions (..., H, W), got shape " +
                       shape_str(a));
  }
  check_layout(a, fn, what, false);
  return size == 1 ? 0 : size == 2 ? 1 : 2;
}

py::array output_like(const py::array& ref, const py::object& out_obj, const char* fn,
                      const char* ref_name) {
  if (out_obj.is_none()) {
    std::vector<py::ssize_t> shape(ref.shape(), ref.shape() + ref.ndim());
    return py::array(ref.dtype(), shape);
  }
  py::array out = as_ndarray(out_obj, fn, "out");
  check_same(ref, ref_name, out, fn, "out");
  check_layout(out, fn, "out", true);
  return out;
}

bool overlaps(const py::array& a, const py::array& b) {
  const auto pa = reinterpret_cast<uintptr_t>(a.data());
  const auto pb = reinterpret_cast<uintptr_t>(b.data());
  return pa < pb + static_cast<uintptr_t>(b.nbytes()) &&
         pb < pa + static_cast<uintptr_t>(a.nbytes());
}

// The pattern is taken as a Python object so that the errors match the numpy twins'
// (kedi_edge._layout.check_pattern): TypeError for anything but a str (bytes included),
// ValueError naming an unknown one.
int parse_pattern(const py::object& pattern, const char* fn) {
  if (!py::isinstance<py::str>(pattern)) {
    fail_type(fn, "pattern must be a str, got " +
                      py::str(py::type::of(pattern).attr("__name__")).cast<std::string>());
  }
  if (pattern.equal(py::str("horizontal"))) return kHorizontal;
  if (pattern.equal(py::str("vertical"))) return kVertical;
  if (pattern.equal(py::str("diagonal"))) return kDiagonal;
  // Formatted by Python, so any str (even one that is not valid UTF-8) can be named.
  PyErr_Format(PyExc_ValueError,
               "%s: unknown pattern '%U'; expected 'horizontal', 'vertical' or 'diagonal'", fn,
               pattern.ptr());
  throw py::error_already_set();
}

py::array permute_entry(const char* fn, const char* src_name, const py::object& src_obj,
                        const py::object* key_obj, const py::object& pattern_name,
                        const py::object& out_obj, bool inverse) {
  const py::array src = as_ndarray(src_obj, fn, src_name);
  const int lg = check_planes(src, fn, src_name);
  const int pattern = parse_pattern(pattern_name, fn);
  py::array key;
  if (key_obj) {
    key = as_ndarray(*key_obj, fn, "key");
    check_same(src, src_name, key, fn, "key");
    check_layout(key, fn, "key", false);
  }
  py::array out = output_like(src, out_obj, fn, src_name);

  const size_t h = static_cast<size_t>(src.shape(src.ndim() - 2));
  const size_t w = static_cast<size_t>(src.shape(src.ndim() - 1));
  const size_t planes = static_cast<size_t>(src.size()) / (h * w);
  const size_t plane_bytes = h * w * static_cast<size_t>(src.itemsize());
  const bool copy_src = overlaps(out, src), copy_key = key_obj && overlaps(out, key);
  // A plane of one row or one column is scanned in order by every pattern: no table of
  // anti-diagonals (8 bytes each, more than the plane itself) is needed.
  const int scan = h == 1 || w == 1 ? kHorizontal : pattern;
  const PermuteFn kernel = active_kernels().permute[scan][inverse ? 1 : 0][lg];
  const auto* s = static_cast<const uint8_t*>(src.data());
  const auto* k = key_obj ? static_cast<const uint8_t*>(key.data()) : nullptr;
  auto* d = static_cast<uint8_t*>(out.mutable_data());
  {
    py::gil_scoped_release release;
    // The kernels stream from src/key into out, so an input that shares memory with out
    // (for example out=image) is copied first.
    std::vector<uint8_t> src_copy, key_copy;
    if (copy_src) {
      src_copy.assign(s, s + planes * plane_bytes);
      s = src_copy.data();
    }
    if (copy_key) {
      key_copy.assign(k, k + planes * plane_bytes);
      k = key_copy.data();
    }
    const Plane plane{h, w, scan == kDiagonal ? diagonal_offsets_for(h, w).data() : nullptr};
    // A series: a stack whose arrays do not stay in cache comes from memory plane after
    // plane, and the vertical and diagonal walks, which take each 64-byte line in pieces
    // at scattered addresses, then wait on memory. Reading a plane's three arrays in
    // address order first, which memory serves at streaming speed, then walking it from
    // cache is faster (32 frames of 512x512 uint16: 1.6-2.5x on one thread, 1.1-2x on
    // two; benchmarks/RESULTS.md). Each such plane goes whole to one thread. A stack of 8
    // such frames (12 MiB) was slower that way on two threads.
    const bool series = planes > 1 && scan != kHorizontal && lg < 2 &&
                        plane_bytes <= kSeriesPlaneMax &&
                        (k ? 3 : 2) * planes * plane_bytes > series_bytes();
    // Large planes are cut into four shares per thread (a thread that finishes its own
    // takes over a slow one's, see parallel.cpp); stacks of small planes, and series, are
    // spread a plane at a time; small work stays on this thread.
    const size_t threads = planes * plane_bytes >= kParallelMinBytes ? max_threads() : 1;
    const size_t parts = threads > 1 && plane_bytes >= kParallelMinBytes && !series
                             ? threads * kSharesPerThread : 1;
    const auto unit = [&](size_t u) {
      const size_t p = u / parts;
      if (series) {
        read_lines(s + p * plane_bytes, plane_bytes);
        if (k) read_lines(k + p * plane_bytes, plane_bytes);
        read_lines(d + p * plane_bytes, plane_bytes);
      }
      kernel(s + p * plane_bytes, k ? k + p * plane_bytes : nullptr, d + p * plane_bytes, plane,
             u % parts, parts);
    };
    if (threads > 1) {
      parallel_for(planes * parts, unit);
    } else {
      for (size_t u = 0; u < planes * parts; ++u) unit(u);
    }
  }
  return out;
}

py::array xor_into(const py::object& a_obj, const py::object& b_obj, const py::object& out_obj) {
  const char* fn = "xor_into";
  const py::array a = as_ndarray(a_obj, fn, "a");
  const py::array b = as_ndarray(b_obj, fn, "b");
  py::array out = as_ndarray(out_obj, fn, "out");
  const char kind = a.dtype().kind();
  if (kind != 'u' && kind != 'i') {
    fail_type(fn, "a has dtype " + dtype_str(a) + ", expected an integer dtype");
  }
  check_native_order(a, fn, "a");
  check_layout(a, fn, "a", false);
  check_same(a, "a", b, fn, "b");
  check_layout(b, fn, "b", false);
  check_same(a, "a", out, fn, "out");
  check_layout(out, fn, "out", true);

  const size_t n = static_cast<size_t>(a.nbytes());
  const auto* pa = static_cast<const uint8_t*>(a.data());
  const auto* pb = static_cast<const uint8_t*>(b.data());
  auto* po = static_cast<uint8_t*>(out.mutable_data());
  // Same buffer is fine (elementwise); a partial overlap is not, so copy that input.
  const bool copy_a = pa != po && overlaps(a, out), copy_b = pb != po && overlaps(b, out);
  const XorFn kernel = active_kernels().xor_bytes;
  {
    py::gil_scoped_release release;
    std::vector<uint8_t> a_copy, b_copy;
    if (copy_a) {
      a_copy.assign(pa, pa + n);
      pa = a_copy.data();
    }
    if (copy_b) {
      b_copy.assign(pb, pb + n);
      pb = b_copy.data();
    }
    const size_t threads = n >= kParallelMinBytes ? max_threads() : 1;
    if (threads > 1) {
      // Shares of whole 64-byte lines, so no two threads write one cache line.
      const size_t lines = (n + 63) / 64;
      parallel_for(threads, [&](size_t t) {
        const size_t begin = min_size(lines * t / threads * 64, n);
        const size_t end = min_size(lines * (t + 1) / threads * 64, n);
        kernel(pa + begin, pb + begin, po + begin, end - begin);
      });
    } else {
      kernel(pa, pb, po, n);
    }
  }
  return out;
}

py::array zigzag_order(py::ssize_t h, py::ssize_t w, const py::object& pattern_name) {
  const char* fn = "zigzag_order";
  if (h < 1 || w < 1) {
    fail_value(fn, "h and w must be at least 1, got h=" + std::to_string(h) +
                       ", w=" + std::to_string(w));
  }
  if (h > (py::ssize_t(1) << 31) || w > (py::ssize_t(1) << 31)) {
    fail_value(fn, "h and w must be at most 2**31");
  }
  const int pattern = parse_pattern(pattern_name, fn);
  py::array_t<int64_t> order(h * w);
  int64_t* o = order.mutable_data();
  {
    py::gil_scoped_release release;
    const int64_t H = h, W = w;
    int64_t p = 0;
    if (pattern == kHorizontal) {
      for (int64_t r = 0; r < H; ++r) {
        for (int64_t j = 0; j < W; ++j) o[p++] = r * W + ((r & 1) ? W - 1 - j : j);
      }
    } else if (pattern == kVertical) {
      for (int64_t c = 0; c < W; ++c) {
        for (int64_t i = 0; i < H; ++i) o[p++] = ((c & 1) ? H - 1 - i : i) * W + c;
      }
    } else {
      for (int64_t s = 0; s <= H + W - 2; ++s) {
        const int64_t rmin = s - W + 1 > 0 ? s - W + 1 : 0, rmax = s < H - 1 ? s : H - 1;
        if (s & 1) {
          for (int64_t r = rmin; r <= rmax; ++r) o[p++] = r * W + (s - r);
        } else {
          for (int64_t r = rmax; r >= rmin; --r) o[p++] = r * W + (s - r);
        }
      }
    }
  }
  return std::move(order);
}

py::dict simd_info() {
  SimdState& s = simd_state();
  py::dict info;
  info["active"] = active_kernels().name;
  info["supported"] = s.supported;
  info["disabled"] = s.disabled;
  info["unknown"] = s.unknown;
  info["threads"] = max_threads();
  info["bad_threads"] = std::string(bad_thread_setting());
#if defined(__VERSION__)
  info["compiler"] = __VERSION__;
#endif
  return info;
}

}  // namespace
}  // namespace kedi

PYBIND11_MODULE(_native, m) {
  using namespace kedi;
  m.doc() = "Native kernels of kedi_edge: zigzag reordering, SIMD XOR, ripplet wrapping.";
  simd_state();  // detect the CPU once, at import
  register_ripplet(m);
  register_fileio(m);

  m.def("zigzag_order", &zigzag_order, py::arg("h"), py::arg("w"), py::arg("pattern"),
        "Scan order of an h x w plane: flat indices r*w + c in zigzag order (int64).");
  m.def(
      "zigzag",
      [](const py::object& image, const py::object& pattern, const py::object& out) {
        return permute_entry("zigzag", "image", image, nullptr, pattern, out, false);
      },
      py::arg("image"), py::arg("pattern"), py::arg("out") = py::none(),
      "Reorder each (H, W) plane of image into the zigzag scan of pattern.");
  m.def(
      "unzigzag",
      [](const py::object& image, const py::object& pattern, const py::object& out) {
        return permute_entry("unzigzag", "image", image, nullptr, pattern, out, true);
      },
      py::arg("image"), py::arg("pattern"), py::arg("out") = py::none(),
      "Inverse of zigzag.");
  m.def(
      "zigzag_xor",
      [](const py::object& image, const py::object& key, const py::object& pattern,
         const py::object& out) {
        return permute_entry("zigzag_xor", "image", image, &key, pattern, out, false);
      },
      py::arg("image"), py::arg("key"), py::arg("pattern"), py::arg("out") = py::none(),
      "zigzag(image, pattern) ^ key in one pass.");
  m.def(
      "xor_unzigzag",
      [](const py::object& cipher, const py::object& key, const py::object& pattern,
         const py::object& out) {
        return permute_entry("xor_unzigzag", "cipher", cipher, &key, pattern, out, true);
      },
      py::arg("cipher"), py::arg("key"), py::arg("pattern"), py::arg("out") = py::none(),
      "unzigzag(cipher ^ key, pattern) in one pass; inverse of zigzag_xor.");
  m.def(
      "_empty_bytearray",
      [](py::ssize_t n) {
        if (n < 0) throw py::value_error("_empty_bytearray: n must not be negative");
        PyObject* b = PyByteArray_FromStringAndSize(nullptr, n);  // contents not initialised
        if (!b) throw py::error_already_set();
        return py::reinterpret_steal<py::object>(b);
      },
      py::arg("n"), "A bytearray of n bytes whose contents are not set, for a buffer that is filled at once.");
  m.def("xor_into", &xor_into, py::arg("a"), py::arg("b"), py::arg("out"),
        "out = a ^ b, elementwise, with the active SIMD path; returns out.");
  m.def("simd_info", &simd_info, "Active SIMD path, paths the CPU supports, and KEDI_DISABLE_SIMD.");
  m.def(
      "_set_simd",
      [](const std::string& name) {
        if (!set_active(name)) {
          throw py::value_error("_set_simd: path '" + name + "' is not available on this CPU");
        }
      },
      py::arg("name"), "Testing hook: switch the active SIMD path for this process.");
  m.def(
      "_set_threads",
      [](py::ssize_t n) {
        if (n < 1 || static_cast<size_t>(n) > kThreadLimit) {
          throw py::value_error("_set_threads: n must be from 1 to " + std::to_string(kThreadLimit) +
                                ", got " + std::to_string(n));
        }
        set_max_threads(static_cast<size_t>(n));
      },
      py::arg("n"), "Threads the kernels may use in this process (1 = the calling thread only).");
  m.def(
      "_set_series_bytes",
      [](py::ssize_t n) {
        if (n < 0) throw py::value_error("_set_series_bytes: n must not be negative");
        g_series_bytes.store(static_cast<size_t>(n));
      },
      py::arg("n"),
      "Testing hook: a stack of planes is read ahead plane by plane (a series) when its arrays "
      "exceed n bytes; 0 restores the default (16 MiB).");
}
