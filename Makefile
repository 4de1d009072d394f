# Set-up and checks. `make test` is the command CI runs (.ci/run).
PYTHON ?= python3

.PHONY: install install-runtime dcmtk cross test demo bench evaluate asan harness copy-baselines walk-orders

# The runtime alone (what the demo needs; no torch).
install-runtime:
	$(PYTHON) -m pip install --disable-pip-version-check -e .

# Everything the tests use: the train extra (torch pinned to the CPU wheel) and the
# eval extra (scikit-image, matplotlib).
install:
	$(PYTHON) -m pip install --disable-pip-version-check -e '.[test,train,eval]'

# dcmtk's dcmdump checks that encrypted files are valid DICOM (its test is skipped
# without it); installed from Debian when apt-get is available.
dcmtk:
	@command -v dcmdump >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && \
		(apt-get install -y dcmtk >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && \
		apt-get install -y dcmtk >/dev/null 2>&1)) || echo "dcmtk not installed; its test will be skipped")

# An aarch64 cross compiler and qemu-user: tests/test_cross.py builds the extension for
# aarch64 and runs its kernels there (skipped without them); from Debian, as dcmtk.
CROSS_PACKAGES = g++-aarch64-linux-gnu qemu-user
cross:
	@(command -v aarch64-linux-gnu-g++ && command -v qemu-aarch64) >/dev/null 2>&1 || \
		(command -v apt-get >/dev/null 2>&1 && \
		(apt-get install -y --no-install-recommends $(CROSS_PACKAGES) >/dev/null 2>&1 || \
		(apt-get update >/dev/null 2>&1 && \
		apt-get install -y --no-install-recommends $(CROSS_PACKAGES) >/dev/null 2>&1)) || \
		echo "aarch64 cross tools not installed; tests/test_cross.py will be skipped")

test: install dcmtk cross
	$(PYTHON) -m pytest

demo: install-runtime
	$(PYTHON) -m kedi_edge.demo

# The evaluation report on pydicom's bundled real images (a few minutes at most).
evaluate: install
	$(PYTHON) -m kedi_edge.cli evaluate --out evaluation

bench: install
	$(PYTHON) -m pip install --disable-pip-version-check -e '.[bench]'
	$(PYTHON) benchmarks/bench_zigzag_xor.py
	$(PYTHON) benchmarks/bench_contention.py
	$(PYTHON) benchmarks/bench_keygen.py
	$(PYTHON) benchmarks/bench_seal.py
	$(PYTHON) benchmarks/bench_despeckle.py

# The test suite against an AddressSanitizer + UBSan build of the extension.
asan: install
	$(PYTHON) tests/asan.py

# The kernels timed without Python or the thread pool (x86-64, g++ or clang++):
# build/native_harness H W h|v|d [options]; see benchmarks/native_harness.cpp.
CXX ?= g++
HARNESS_FLAGS = -O3 -DNDEBUG -std=c++17 -Icsrc
harness:
	mkdir -p build/harness
	$(CXX) $(HARNESS_FLAGS) -mavx2 -c csrc/kernels_avx2.cpp -o build/harness/avx2.o
	$(CXX) $(HARNESS_FLAGS) -c csrc/kernels_sse2.cpp -o build/harness/sse2.o
	$(CXX) $(HARNESS_FLAGS) -c csrc/kernels_scalar.cpp -o build/harness/scalar.o
	$(CXX) $(HARNESS_FLAGS) -pthread benchmarks/native_harness.cpp build/harness/avx2.o \
		build/harness/sse2.o build/harness/scalar.o -o build/native_harness

# memcpy, rep movsb and AVX2 copy loops side by side (x86-64): build/copy_baselines [KiB];
# see benchmarks/copy_baselines.cpp.
copy-baselines:
	mkdir -p build
	$(CXX) $(HARNESS_FLAGS) -mavx2 benchmarks/copy_baselines.cpp -o build/copy_baselines

# The memory side of a transposing walk at 512x512 uint16, without its arithmetic
# (x86-64): build/walk_orders; see benchmarks/walk_orders.cpp.
walk-orders:
	mkdir -p build
	$(CXX) $(HARNESS_FLAGS) -mavx2 benchmarks/walk_orders.cpp -o build/walk_orders
