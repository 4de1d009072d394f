# Set-up and checks. `make test` is the command CI runs (.ci/run).
PYTHON ?= python3

.PHONY: install install-runtime dcmtk test demo bench

# The runtime alone (what the demo needs; no torch).
install-runtime:
	$(PYTHON) -m pip install --disable-pip-version-check -e .

# Everything the tests use, including the train extra (torch pinned to the CPU wheel).
install:
	$(PYTHON) -m pip install --disable-pip-version-check -e '.[test,train]'

# dcmtk's dcmdump checks that encrypted files are valid DICOM (its test is skipped
# without it); installed from Debian when apt-get is available.
dcmtk:
	@command -v dcmdump >/dev/null 2>&1 || (command -v apt-get >/dev/null 2>&1 && \
		(apt-get install -y dcmtk >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && \
		apt-get install -y dcmtk >/dev/null 2>&1)) || echo "dcmtk not installed; its test will be skipped")

test: install dcmtk
	$(PYTHON) -m pytest

demo: install-runtime
	$(PYTHON) -m kedi_edge.demo

bench: install
	$(PYTHON) -m pip install --disable-pip-version-check -e '.[bench]'
	$(PYTHON) benchmarks/bench_zigzag_xor.py
	$(PYTHON) benchmarks/bench_keygen.py
	$(PYTHON) benchmarks/bench_seal.py
	$(PYTHON) benchmarks/bench_despeckle.py
