# Set-up and checks. `make test` is the command CI runs (.ci/run).
PYTHON ?= python3

.PHONY: install test demo bench

install:
	$(PYTHON) -m pip install --disable-pip-version-check -e '.[test,train]'

test: install
	$(PYTHON) -m pytest

demo: install
	$(PYTHON) -m kedi_edge.demo

bench: install
	$(PYTHON) benchmarks/bench_zigzag_xor.py
	$(PYTHON) benchmarks/bench_keygen.py
