"""Writes tests/vectors/zigzag_vectors.json from the numpy reference.

Run from the repository root: python tests/vectors/make_vectors.py
The file pins the scan orders and the fused cipher layer; a change to either is a
format break for everything sealed with the paper's layer, so never regenerate it to
make a test pass.
"""

import json
from pathlib import Path

import numpy as np

from kedi_edge import reference

# ITU-T T.81 (JPEG), figure A.6: zigzag position -> natural (row-major) index.
JPEG_ZIGZAG_8x8 = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]
ORDER_SHAPES = [(8, 8), (3, 5), (4, 5), (5, 3), (1, 4), (4, 1), (2, 9)]


def fixed_plane(h: int, w: int, mult: int, add: int, dtype) -> np.ndarray:
    """Deterministic pixel values without an RNG: (i * mult + add) mod 2**bits."""
    bits = np.dtype(dtype).itemsize * 8
    i = np.arange(h * w, dtype=np.uint64)
    return ((i * mult + add) % (1 << bits)).astype(np.uint64).astype(dtype).reshape(h, w)


def main() -> None:
    assert reference.zigzag_order(8, 8, "diagonal").tolist() == JPEG_ZIGZAG_8x8
    orders = {
        f"{h}x{w}": {p: reference.zigzag_order(h, w, p).tolist() for p in ("horizontal", "vertical", "diagonal")}
        for h, w in ORDER_SHAPES
    }
    fused = []
    for dtype in ("uint8", "uint16", "int16", "uint32"):
        image = fixed_plane(3, 5, 7919, 11, dtype)
        key = fixed_plane(3, 5, 104729, 12345, dtype)
        for pattern in ("horizontal", "vertical", "diagonal"):
            fused.append(
                {
                    "dtype": dtype,
                    "pattern": pattern,
                    "image": image.tolist(),
                    "key": key.tolist(),
                    "cipher": reference.zigzag_xor(image, key, pattern).tolist(),
                }
            )
    data = {"jpeg_zigzag_8x8": JPEG_ZIGZAG_8x8, "orders": orders, "zigzag_xor": fused}
    path = Path(__file__).with_name("zigzag_vectors.json")
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
