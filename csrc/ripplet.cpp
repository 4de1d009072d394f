// Ripplet transform: window multiply and wedge wrapping (forward), and their adjoint
// (inverse), between a real image's half spectrum (rfft2) and the wedges' wrapped grids.
// The FFTs stay in scipy.fft; kedi_edge/ripplet.py describes the plan, and
// kedi_edge/reference/ripplet.py is the numpy twin these kernels are tested against.
#include "ripplet.h"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <algorithm>

#include <complex>
#include <exception>
#include <mutex>
#include <string>
#include <vector>

#include "parallel.h"

namespace py = pybind11;

namespace kedi {
namespace {

using cplx = std::complex<double>;

// Wrapping work below this many box cells stays on the calling thread.
constexpr size_t kParallelMinCells = size_t(1) << 16;

int64_t mod(int64_t a, int64_t n) {
  const int64_t r = a % n;
  return r < 0 ? r + n : r;
}

[[noreturn]] void fail(const char* fn, const std::string& msg) {
  throw py::value_error(std::string(fn) + ": " + msg);
}

// One wedge: frequencies (y0 + i, x0 + j) mod (h, w) for i < sy, j < sx, with window
// win[i * sx + j], wrapped onto the hb x wb grid g at ((y0 + i) mod hb, (x0 + j) mod wb).
struct Box {
  int64_t y0, sy, x0, sx, hb, wb;
  const double* win;
  cplx* g;  // forward: written; inverse: read
};

// The checked plan: image size, half-spectrum width and every wedge's box.
struct Plan {
  int64_t h, w, half;
  std::vector<Box> boxes;
  size_t cells = 0;  // sum of sy * sx
};

// Inputs are cast to C-contiguous arrays of these types (a copy if need be); arrays
// the kernels write are checked instead, since a copy would lose the result.
using Ints = py::array_t<int64_t, py::array::c_style | py::array::forcecast>;
using Reals = py::array_t<double, py::array::c_style | py::array::forcecast>;
using Cplx = py::array_t<cplx, py::array::c_style | py::array::forcecast>;

bool is_complex_grid(const py::array& a, bool writable) {
  return a.dtype().equal(py::dtype::of<cplx>()) && (a.flags() & py::array::c_style) &&
         (!writable || a.writeable());
}

Plan read_plan(const char* fn, int64_t h, int64_t w, const Ints& boxes, const Ints& offsets,
               const Reals& windows, const std::vector<py::array>& grids, bool writable) {
  Plan p{h, w, w / 2 + 1, {}};
  if (h < 1 || w < 1) fail(fn, "image size must be positive");
  if (boxes.ndim() != 2 || boxes.shape(1) != 6) fail(fn, "boxes must have shape (n, 6)");
  const auto n = static_cast<size_t>(boxes.shape(0));
  if (offsets.ndim() != 1 || static_cast<size_t>(offsets.shape(0)) != n + 1) {
    fail(fn, "offsets must have n + 1 entries");
  }
  if (grids.size() != n) fail(fn, "need one grid per box");
  if (windows.ndim() != 1) fail(fn, "windows must be 1-D");
  auto b = boxes.unchecked<2>();
  auto off = offsets.unchecked<1>();
  if (off(0) != 0 || off(n) != windows.shape(0)) fail(fn, "offsets do not span the windows");
  for (size_t i = 0; i < n; ++i) {
    Box x{b(i, 0), b(i, 1), b(i, 2), b(i, 3), b(i, 4), b(i, 5), nullptr, nullptr};
    if (x.sy < 1 || x.sx < 1 || x.sy > h || x.sx > w || x.hb < x.sy || x.wb < x.sx) {
      fail(fn, "box " + std::to_string(i) + " does not fit its grid or the image");
    }
    constexpr int64_t kFar = int64_t{1} << 62;  // origin + row or column stays in range
    if (x.y0 <= -kFar || x.y0 >= kFar || x.x0 <= -kFar || x.x0 >= kFar) {
      fail(fn, "box " + std::to_string(i) + " has an origin beyond +-2**62");
    }
    if (off(i + 1) - off(i) != x.sy * x.sx) fail(fn, "window " + std::to_string(i) + " has the wrong size");
    const auto& g = grids[i];
    if (g.ndim() != 2 || g.shape(0) != x.hb || g.shape(1) != x.wb || !is_complex_grid(g, writable)) {
      fail(fn, "grid " + std::to_string(i) + " must be a C-contiguous complex128 array of shape (" +
                   std::to_string(x.hb) + ", " + std::to_string(x.wb) + ")" +
                   (writable ? ", writable" : ""));
    }
    x.win = windows.data() + off(i);
    x.g = static_cast<cplx*>(const_cast<void*>(g.data()));
    p.cells += static_cast<size_t>(x.sy * x.sx);
    p.boxes.push_back(x);
  }
  return p;
}

void check_spectrum(const char* fn, const py::array& s, int64_t w, bool writable) {
  if (s.ndim() != 2 || s.shape(1) != w / 2 + 1 || !is_complex_grid(s, writable)) {
    fail(fn, "spectrum must be a C-contiguous complex128 array of shape (h, w // 2 + 1)");
  }
}

// Column tables of one box: the half-spectrum column of frequency x0 + j (or of its
// mirror), and its wrapped grid column.
struct Cols {
  std::vector<int64_t> kx, mx;
  Cols(const Box& b, int64_t w) : kx(b.sx), mx(b.sx) {
    for (int64_t j = 0; j < b.sx; ++j) {
      kx[j] = mod(b.x0 + j, w);
      mx[j] = mod(b.x0 + j, b.wb);
    }
  }
};

// g = window x spectrum on the box, zero elsewhere. Frequencies past the half spectrum
// are read from their mirror: F(ky, kx) = conj F(-ky, w - kx).
void wrap_box(const Box& b, const cplx* spec, int64_t h, int64_t w, int64_t half) {
  std::fill(b.g, b.g + b.hb * b.wb, cplx(0.0, 0.0));
  const Cols c(b, w);
  for (int64_t i = 0; i < b.sy; ++i) {
    const int64_t ky = mod(b.y0 + i, h);
    const cplx* row = spec + ky * half;
    const cplx* mrow = spec + mod(-ky, h) * half;
    const double* win = b.win + i * b.sx;
    cplx* g = b.g + mod(b.y0 + i, b.hb) * b.wb;
    for (int64_t j = 0; j < b.sx; ++j) {
      const int64_t kx = c.kx[j];
      const cplx f = kx < half ? row[kx] : std::conj(mrow[w - kx]);
      g[c.mx[j]] = win[j] * f;
    }
  }
}

// Adds, for the rows [r_begin, r_end) of the half spectrum, half of window x g at each
// box frequency and half its conjugate at the mirror frequency: the half spectrum of
// the Hermitian part, whose inverse real FFT is the real part of the full inverse.
void unwrap_box(const Box& b, cplx* acc, int64_t h, int64_t w, int64_t half, int64_t r_begin,
                int64_t r_end) {
  const Cols c(b, w);
  for (int64_t i = 0; i < b.sy; ++i) {
    const int64_t ky = mod(b.y0 + i, h), kyn = mod(-ky, h);
    const bool direct = ky >= r_begin && ky < r_end, mirror = kyn >= r_begin && kyn < r_end;
    if (!direct && !mirror) continue;
    const double* win = b.win + i * b.sx;
    const cplx* g = b.g + mod(b.y0 + i, b.hb) * b.wb;
    cplx* row = acc + ky * half;
    cplx* mrow = acc + kyn * half;
    for (int64_t j = 0; j < b.sx; ++j) {
      if (win[j] == 0.0) continue;
      const int64_t kx = c.kx[j], kxn = kx ? w - kx : 0;
      const cplx v = 0.5 * win[j] * g[c.mx[j]];
      if (direct && kx < half) row[kx] += v;
      if (mirror && kxn < half) mrow[kxn] += std::conj(v);
    }
  }
}

// Runs f(i) for i < n, on the thread pool if `parallel`. parallel_for's units must not
// throw (a column table can fail to allocate): the first exception is kept and rethrown
// once every unit has finished.
template <class F>
void run_units(size_t n, bool parallel, const F& f) {
  std::exception_ptr error;
  std::mutex m;
  const auto guarded = [&](size_t i) {
    try {
      f(i);
    } catch (...) {
      std::lock_guard<std::mutex> lk(m);
      if (!error) error = std::current_exception();
    }
  };
  if (parallel) {
    parallel_for(n, guarded);
  } else {
    for (size_t i = 0; i < n; ++i) guarded(i);
  }
  if (error) std::rethrow_exception(error);
}

void ripplet_wrap(const Cplx& spec, int64_t w, const Ints& boxes, const Ints& offsets,
                  const Reals& windows, const std::vector<py::array>& grids) {
  const char* fn = "ripplet_wrap";
  check_spectrum(fn, spec, w, false);
  const int64_t h = spec.shape(0);
  const Plan p = read_plan(fn, h, w, boxes, offsets, windows, grids, true);
  const cplx* s = spec.data();
  py::gil_scoped_release release;
  run_units(p.boxes.size(), p.cells >= kParallelMinCells && max_threads() > 1,
            [&](size_t i) { wrap_box(p.boxes[i], s, p.h, p.w, p.half); });
}

void ripplet_unwrap(const std::vector<py::array>& grids, int64_t w, const Ints& boxes,
                    const Ints& offsets, const Reals& windows, py::array acc) {
  const char* fn = "ripplet_unwrap";
  check_spectrum(fn, acc, w, true);
  const int64_t h = acc.shape(0);
  const Plan p = read_plan(fn, h, w, boxes, offsets, windows, grids, false);
  auto* a = static_cast<cplx*>(acc.mutable_data());
  py::gil_scoped_release release;
  // Threads own disjoint row ranges of the accumulator and visit every box in the same
  // order, so each sum is formed in the same order whatever the thread count.
  const size_t threads = p.cells >= kParallelMinCells ? max_threads() : 1;
  const size_t parts = threads > 1 ? threads * 4 : 1;
  const auto rows = [&](size_t t) {
    const auto r0 = static_cast<int64_t>(static_cast<size_t>(h) * t / parts);
    const auto r1 = static_cast<int64_t>(static_cast<size_t>(h) * (t + 1) / parts);
    for (const Box& b : p.boxes) unwrap_box(b, a, p.h, p.w, p.half, r0, r1);
  };
  run_units(parts, parts > 1, rows);
}

}  // namespace

void register_ripplet(py::module_& m) {
  m.def("ripplet_wrap", &ripplet_wrap, py::arg("spectrum"), py::arg("w"), py::arg("boxes"),
        py::arg("offsets"), py::arg("windows"), py::arg("grids"),
        "Ripplet forward: window x half spectrum of a real h x w image, wrapped into each "
        "wedge's grid (written in place).");
  m.def("ripplet_unwrap", &ripplet_unwrap, py::arg("grids"), py::arg("w"), py::arg("boxes"),
        py::arg("offsets"), py::arg("windows"), py::arg("acc"),
        "Ripplet inverse: adds each wedge's grid spectrum times its window, unwrapped, to "
        "the half spectrum acc (the Hermitian part).");
}

}  // namespace kedi
