// Ripplet transform kernels (csrc/ripplet.cpp): registered on kedi_edge._native.
#pragma once

#include <pybind11/pybind11.h>

namespace kedi {

void register_ripplet(pybind11::module_& m);

}  // namespace kedi
