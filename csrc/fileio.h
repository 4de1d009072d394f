// Group writes of output files with the GIL released (csrc/fileio.cpp): registered on
// kedi_edge._native where the platform is POSIX.
#pragma once

#include <pybind11/pybind11.h>

namespace kedi {

void register_fileio(pybind11::module_& m);

}  // namespace kedi
