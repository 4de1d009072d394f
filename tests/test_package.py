"""The installed package: import hygiene, runtime_info, SIMD selection, stubs."""

import ast
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import simd_path

import kedi_edge
from kedi_edge import _native, reference


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_import_never_imports_torch():
    code = (
        "import sys\n"
        "import kedi_edge, kedi_edge.reference, kedi_edge.zigzag, kedi_edge.xor, kedi_edge.runtime\n"
        "import kedi_edge.keygen, kedi_edge.metrics, kedi_edge.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'onnxscript'))\n"
        "assert not bad, bad\n"
        "kedi_edge.KeyGenerator(device='cpu').generate((8, 8), seed=1)\n"
        "kedi_edge.runtime_info()\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'onnxscript'))\n"
        "assert not bad, bad\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr


def test_runtime_info():
    info = kedi_edge.runtime_info()
    assert info["version"] == kedi_edge.__version__
    assert info["simd"] in info["simd_supported"]
    assert "scalar" in info["simd_supported"]
    if sys.platform.startswith("linux") and os.uname().machine == "x86_64":
        assert "sse2" in info["simd_supported"]


@pytest.mark.parametrize(
    "disable, expect",
    [("AVX2", "sse2"), ("avx2, sse2", "scalar"), ("all", "scalar"), ("SSE2", None)],
)
def test_disable_simd_environment_variable(disable, expect):
    supported = _native.simd_info()["supported"]
    if expect is None:  # disabling only SSE2 leaves AVX2, where the CPU has it
        expect = "avx2" if "avx2" in supported else "scalar"
    if expect not in supported:
        pytest.skip(f"{expect} not supported here")
    code = (
        "import numpy as np, kedi_edge\n"
        "from kedi_edge import reference\n"
        "x = np.arange(40 * 33, dtype=np.uint16).reshape(40, 33); k = x[::-1].copy()\n"
        "for p in kedi_edge.PATTERNS:\n"
        "    assert np.array_equal(kedi_edge.zigzag_xor(x, k, p), reference.zigzag_xor(x, k, p))\n"
        "print(kedi_edge.runtime_info()['simd'], ','.join(kedi_edge.runtime_info()['simd_disabled']))\n"
    )
    result = run_python(code, KEDI_DISABLE_SIMD=disable)
    assert result.returncode == 0, result.stderr
    active, disabled = result.stdout.split()
    assert active == expect
    assert disabled  # reported


def test_unknown_simd_name_warns():
    result = run_python(
        "import warnings; warnings.simplefilter('error')\nimport kedi_edge", KEDI_DISABLE_SIMD="avx512"
    )
    assert result.returncode != 0 and "KEDI_DISABLE_SIMD" in result.stderr and "avx512" in result.stderr


def test_set_simd_rejects_unknown_path():
    with pytest.raises(ValueError, match="not available"):
        _native._set_simd("avx512")


def test_public_names_exist_and_stub_matches_native():
    for name in kedi_edge.__all__:
        assert hasattr(kedi_edge, name), name
    stub = Path(kedi_edge.__file__).with_name("_native.pyi")
    tree = ast.parse(stub.read_text())
    stubbed = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    native = {n for n in dir(_native) if not n.startswith("__")}
    assert stubbed == native


def test_kernels_are_thread_safe():
    # Three threads in the kernels at once all get the numpy reference's bytes.

    rng = np.random.default_rng(0)
    x = rng.integers(0, 2**16, size=(1024, 1024), dtype=np.uint16)
    k = rng.integers(0, 2**16, size=x.shape, dtype=np.uint16)
    want = reference.zigzag_xor(x, k, "diagonal")
    results = []

    def work():
        for _ in range(5):
            results.append(np.array_equal(kedi_edge.zigzag_xor(x, k, "diagonal"), want))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 15


def _steps_of_other_thread_during(call) -> int:
    """How often another Python thread ran while ``call()`` was in progress.

    The switch interval is raised to 100 s, so the other thread (which gives the GIL
    back at every step) can only run while this thread has released the GIL.
    """
    steps = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            steps[0] += 1
            time.sleep(0)  # releases the GIL

    interval = sys.getswitchinterval()
    sys.setswitchinterval(100)
    thread = threading.Thread(target=spin)
    try:
        thread.start()
        before = steps[0]
        call()
        return steps[0] - before
    finally:
        stop.set()
        sys.setswitchinterval(interval)
        thread.join()


def test_kernels_release_the_gil():
    x = np.zeros((2048, 2048), np.uint16)
    threads = _native.simd_info()["threads"]
    _native._set_threads(1)  # leave a core for the other thread on a 2-core machine
    try:
        _check_gil_release(x)
    finally:
        _native._set_threads(threads)


def _check_gil_release(x):
    with simd_path("scalar"):  # the slowest path, so each call lasts a while
        # Control: a C call that holds the GIL lets the other thread take no step.
        assert _steps_of_other_thread_during(lambda: sum(range(3_000_000))) == 0
        assert _steps_of_other_thread_during(lambda: kedi_edge.zigzag_xor(x, x, "diagonal")) > 0
        assert _steps_of_other_thread_during(lambda: [kedi_edge.xor_into(x, x, x) for _ in range(20)]) > 0


def test_sdist_carries_what_a_build_needs(tmp_path):
    """A source distribution holds the C++ sources, CMakeLists.txt and the shipped
    generator with its card (a wheel built from it needs all of them)."""
    import shutil
    import tarfile

    root = Path(__file__).resolve().parents[1]
    # A copy without build products: an old egg-info's file list would fill the gaps.
    src = tmp_path / "src"
    shutil.copytree(root, src, ignore=shutil.ignore_patterns(
        "*.egg-info", "build", "dist", ".git", "runs", "evaluation", "fuzz", "__pycache__", "*.so", ".*cache", ".hypothesis"))
    r = subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(tmp_path)], cwd=src,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (sdist,) = tmp_path.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    need = {"CMakeLists.txt", "setup.py", "pyproject.toml", "models/zzgan_generator.onnx",
            "models/zzgan_generator.json", "kedi_edge/_native.pyi"}
    need |= {str(p.relative_to(root)) for p in (root / "csrc").iterdir() if p.is_file()}
    assert need <= names, sorted(need - names)


@pytest.mark.skipif(sys.platform != "linux" or os.uname().machine != "x86_64",
                    reason="checks an x86-64 ELF build")
def test_only_the_avx2_kernels_hold_avx_instructions():
    """One build runs on any x86-64: outside the kedi::avx2 namespace (compiled alone
    with -mavx2, called only after the CPU reports AVX2) no function of the extension
    holds a VEX-encoded or ymm/zmm instruction, not even a library template that the
    linker could have taken from the AVX2 object."""
    import re
    import shutil

    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed")
    r = subprocess.run([objdump, "-d", "-C", "--no-show-raw-insn", _native.__file__],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    header = re.compile(r"^[0-9a-f]+ <(.*)>:$")
    avx_functions: set[str] = set()
    offending: dict[str, str] = {}
    func = None
    for line in r.stdout.splitlines():
        if m := header.match(line):
            func = m.group(1)
            continue
        insn = line.split("\t")[-1].strip() if "\t" in line else ""
        if func is None or not (insn.startswith("v") or "%ymm" in insn or "%zmm" in insn):
            continue
        if "kedi::avx2::" in func:
            avx_functions.add(func)
        else:
            offending.setdefault(func, insn)
    assert offending == {}
    for kernel in ("vertical", "diagonal", "xor_bytes"):  # the check sees them
        assert any(kernel in f for f in avx_functions), kernel
