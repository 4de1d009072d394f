"""The extension on aarch64: every C++ source cross-compiles and links, and the kernels
it would run there (the scalar table, through the dispatch and the thread pool) match
the numpy references under qemu-user. `make cross` installs the tools from Debian; the
tests are skipped without them."""

import shutil
import struct
import subprocess
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pybind11
import pytest
from conftest import random_array

from kedi_edge import reference

ROOT = Path(__file__).resolve().parent.parent
CXX = shutil.which("aarch64-linux-gnu-g++")
QEMU = shutil.which("qemu-aarch64")
FLAGS = ["-std=c++17", "-O2", "-fPIC", "-Wall", "-Wextra", "-Werror", f"-I{ROOT / 'csrc'}"]
PATTERNS = ["horizontal", "vertical", "diagonal"]
EM_AARCH64 = 183

pytestmark = pytest.mark.skipif(CXX is None, reason="aarch64-linux-gnu-g++ is not installed")


def _compile(source: Path, obj: Path) -> None:
    includes = [f"-I{sysconfig.get_paths()['include']}", f"-I{pybind11.get_include()}"]
    r = subprocess.run([CXX, *FLAGS, *includes, "-c", str(source), "-o", str(obj)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"{source.name}:\n{r.stderr}"


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """Every csrc/*.cpp compiled for aarch64 (two at a time)."""
    out = tmp_path_factory.mktemp("aarch64")
    sources = sorted((ROOT / "csrc").glob("*.cpp"))
    objs = {s.stem: out / f"{s.stem}.o" for s in sources}
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(_compile, sources, objs.values()))
    return objs


def _machine(path: Path) -> int:
    head = path.read_bytes()[:20]
    assert head[:4] == b"\x7fELF", path
    return struct.unpack_from("<H", head, 18)[0]


def test_extension_builds_for_aarch64(objects, tmp_path):
    module = tmp_path / "_native.so"
    r = subprocess.run([CXX, "-shared", "-pthread", *map(str, objects.values()), "-o", str(module)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _machine(module) == EM_AARCH64
    assert all(_machine(o) == EM_AARCH64 for o in objects.values())


def _cases(rng):
    """(header, src, key) records: every pattern, direction, dtype, odd shapes, 1 and 3 threads."""
    shapes = [(1, 1), (1, 7), (7, 1), (3, 5), (8, 8), (17, 33), (64, 40), (130, 70)]
    threads = 0
    for dtype in (np.uint8, np.uint16, np.uint32):
        for h, w in shapes:
            for p, pattern in enumerate(PATTERNS):
                for inverse in (0, 1):
                    for keyed in (0, 1):
                        threads = threads % 3 + 1
                        src = random_array(rng, (h, w), dtype)
                        key = random_array(rng, (h, w), dtype) if keyed else None
                        header = (0, p, inverse, src.itemsize, h, w, keyed, threads)
                        yield header, src, key
        for n in (1, 31, 32, 33, 1000):
            a, b = random_array(rng, (1, n), dtype), random_array(rng, (1, n), dtype)
            yield (1, 0, 0, a.itemsize, 1, n, 1, 2), a, b


def _expected(header, src, key):
    op, p, inverse = header[:3]
    if op == 1:
        return src ^ key
    pattern = PATTERNS[p]
    if key is None:
        f = reference.unzigzag if inverse else reference.zigzag
        return f(src, pattern)
    f = reference.xor_unzigzag if inverse else reference.zigzag_xor
    return f(src, key, pattern)


@pytest.mark.skipif(QEMU is None, reason="qemu-user is not installed")
def test_kernels_on_aarch64_match_numpy(objects, tmp_path):
    driver = tmp_path / "driver"
    linked = [str(objects[name]) for name in ("dispatch", "parallel", "kernels_scalar")]
    r = subprocess.run([CXX, *FLAGS, "-static", "-pthread", str(ROOT / "tests/cross/driver.cpp"),
                        *linked, "-o", str(driver)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert _machine(driver) == EM_AARCH64

    cases = list(_cases(np.random.default_rng(7)))
    with (tmp_path / "cases").open("wb") as f:
        for header, src, key in cases:
            f.write(struct.pack("<8q", *header))
            f.write(src.tobytes())
            if key is not None:
                f.write(key.tobytes())
    r = subprocess.run([QEMU, str(driver), str(tmp_path / "cases"), str(tmp_path / "out")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    active, supported = r.stdout.splitlines()
    assert (active, supported.split()) == ("scalar", ["scalar"])

    got = (tmp_path / "out").read_bytes()
    at = 0
    for header, src, key in cases:
        expected = _expected(header, src, key)
        result = np.frombuffer(got, src.dtype, src.size, at).reshape(src.shape)
        np.testing.assert_array_equal(result, expected, err_msg=str(header))
        at += src.nbytes
    assert at == len(got)
