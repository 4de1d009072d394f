"""Builds kedi_edge._native with CMake (the pybind11 cmake_example pattern).

Package metadata lives in pyproject.toml. Extra CMake options can be passed in the
CMAKE_ARGS environment variable, e.g. CMAKE_ARGS="-DKEDI_SANITIZE=ON".
"""

import os
import shlex
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent.resolve()


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    def build_extension(self, ext: Extension) -> None:
        import pybind11

        ext_path = Path.cwd() / self.get_ext_fullpath(ext.name)
        ext_dir = ext_path.parent.resolve()
        config = "Debug" if self.debug else "Release"
        args = [
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY={ext_dir}{os.sep}",
            f"-DCMAKE_LIBRARY_OUTPUT_DIRECTORY_{config.upper()}={ext_dir}{os.sep}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-DCMAKE_BUILD_TYPE={config}",
            f"-Dpybind11_DIR={pybind11.get_cmake_dir()}",
        ]
        args += shlex.split(os.environ.get("CMAKE_ARGS", ""))
        if "CMAKE_GENERATOR" not in os.environ:
            try:
                import ninja

                args += ["-GNinja", f"-DCMAKE_MAKE_PROGRAM={Path(ninja.BIN_DIR) / 'ninja'}"]
            except ImportError:
                pass
        build_args = ["--config", config]
        if "CMAKE_BUILD_PARALLEL_LEVEL" not in os.environ:
            build_args += [f"-j{os.cpu_count() or 1}"]

        build_dir = Path(self.build_temp) / ext.name
        build_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cmake", str(ROOT), *args], cwd=build_dir, check=True)
        subprocess.run(["cmake", "--build", ".", *build_args], cwd=build_dir, check=True)


class BuildPyWithModels(build_py):
    """Also copies the shipped generator (models/*.onnx and its card) into the package."""

    def run(self) -> None:
        super().run()
        dest = Path(self.build_lib) / "kedi_edge" / "models"
        dest.mkdir(parents=True, exist_ok=True)
        for f in sorted((ROOT / "models").glob("zzgan_generator.*")):
            if f.suffix in (".onnx", ".json"):
                self.copy_file(str(f), str(dest / f.name))


setup(
    ext_modules=[CMakeExtension("kedi_edge._native")],
    cmdclass={"build_ext": CMakeBuild, "build_py": BuildPyWithModels},
)
