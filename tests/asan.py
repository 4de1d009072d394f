"""Run the test suite against an AddressSanitizer + UBSan build of the extension.

    python tests/asan.py [pytest args...]        (make asan)

Builds kedi_edge._native with -fsanitize=address,undefined (CMake option KEDI_SANITIZE)
in build/asan, copies the package next to it with that module, and runs pytest with
gcc's libasan and libubsan preloaded (leak detection off: CPython's own allocations
would drown it; UBSan aborts on the first error). The installed (e.g. editable) package
is bypassed, so the tests import the sanitized build (tests that start a fresh Python
process import the installed package there). Needs gcc, cmake and ninja or make.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "asan"

# Runs inside the sanitized interpreter: drop editable-install finders, then pytest.
BOOT = """
import sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
import kedi_edge, pytest
assert kedi_edge.__file__.startswith(sys.argv[1]), kedi_edge.__file__
sys.exit(pytest.main(sys.argv[2:]))
"""


def gcc_runtime(name: str) -> str:
    path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True,
                          check=True).stdout.strip()
    if not os.path.isabs(path):
        sys.exit(f"asan: gcc does not know {name}; install gcc's sanitizer runtimes")
    return path


def build() -> Path:
    import pybind11

    BUILD.mkdir(parents=True, exist_ok=True)
    gen = ["-GNinja"] if shutil.which("ninja") else []
    subprocess.run(["cmake", "-S", str(ROOT), "-B", str(BUILD), *gen, "-DKEDI_SANITIZE=ON",
                    "-DCMAKE_BUILD_TYPE=RelWithDebInfo", f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
                    f"-DPython_EXECUTABLE={sys.executable}"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", str(BUILD)], check=True)
    (module,) = BUILD.glob("_native*.so")
    pkg = BUILD / "pkg"
    shutil.rmtree(pkg, ignore_errors=True)
    shutil.copytree(ROOT / "kedi_edge", pkg / "kedi_edge",
                    ignore=shutil.ignore_patterns("_native*.so", "__pycache__"))
    shutil.copy2(module, pkg / "kedi_edge" / module.name)
    shutil.copytree(ROOT / "models", pkg / "models")  # the shipped generator, as in the source tree
    return pkg


def main() -> int:
    pkg = build()
    env = dict(os.environ, LD_PRELOAD=f"{gcc_runtime('libasan.so')} {gcc_runtime('libubsan.so')}",
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1",
               PYTHONPATH=os.pathsep.join([str(pkg), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    args = sys.argv[1:] or ["-q", "-p", "no:cacheprovider", str(ROOT / "tests")]
    # Not run from the checkout: its kedi_edge/ would shadow the sanitized copy.
    return subprocess.run([sys.executable, "-c", BOOT, str(pkg), *args], env=env, cwd=BUILD).returncode


if __name__ == "__main__":
    sys.exit(main())
