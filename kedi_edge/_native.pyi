"""Type stubs for kedi_edge._native (built from csrc/)."""

from typing import TypedDict

import numpy as np

class _SimdInfo(TypedDict, total=False):
    active: str
    supported: list[str]
    disabled: list[str]
    unknown: list[str]
    threads: int
    bad_threads: str
    compiler: str

def zigzag_order(h: int, w: int, pattern: str) -> np.ndarray: ...
def zigzag(image: np.ndarray, pattern: str, out: np.ndarray | None = None) -> np.ndarray: ...
def unzigzag(image: np.ndarray, pattern: str, out: np.ndarray | None = None) -> np.ndarray: ...
def zigzag_xor(
    image: np.ndarray, key: np.ndarray, pattern: str, out: np.ndarray | None = None
) -> np.ndarray: ...
def xor_unzigzag(
    cipher: np.ndarray, key: np.ndarray, pattern: str, out: np.ndarray | None = None
) -> np.ndarray: ...
def xor_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray: ...
def simd_info() -> _SimdInfo: ...
def _set_simd(name: str) -> None: ...
def _set_threads(n: int) -> None: ...
def _empty_bytearray(n: int) -> bytearray: ...
def _write_files(
    entries: list[tuple[bytes, bytes, bytes, memoryview, bool]], mode: int, syncfs: int = 1,
    links: bool = True, renameat2: bool = True, fail_fsync: int = -1,
) -> list[tuple[int, int]]: ...  # POSIX builds only
def ripplet_wrap(
    spectrum: np.ndarray, w: int, boxes: np.ndarray, offsets: np.ndarray, windows: np.ndarray,
    grids: list[np.ndarray],
) -> None: ...
def ripplet_unwrap(
    grids: list[np.ndarray], w: int, boxes: np.ndarray, offsets: np.ndarray, windows: np.ndarray,
    acc: np.ndarray,
) -> None: ...
