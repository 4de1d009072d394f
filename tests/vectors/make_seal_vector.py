"""Writes the frozen sealed-container vector seal_v1.kedi and its description seal_v1.json.

Run once; the files are committed and every later version of kedi_edge must open them:

    python tests/vectors/make_seal_vector.py
"""

import hashlib
import json
from pathlib import Path

import numpy as np

import kedi_edge
from kedi_edge.envelope import peek_header

HERE = Path(__file__).parent


def vector_key() -> kedi_edge.Key:
    words = np.frombuffer(hashlib.shake_256(b"kedi-edge seal vector key").digest(16 * 16 * 4), "<u4")
    return kedi_edge.Key("k0123456789abcdef01234567", words.reshape(16, 16).astype(np.uint32))


def vector_image() -> np.ndarray:
    r, c = np.mgrid[0:12, 0:20]
    return ((r * 331 + c * 17) % 4096).astype(np.uint16)


def main() -> None:
    key, image = vector_key(), vector_image()
    blob = kedi_edge.seal(image, key, bits_stored=12, photometric="MONOCHROME2")
    (HERE / "seal_v1.kedi").write_bytes(blob)
    desc = {"key_id": key.key_id, "key_image_hex": key.image.astype("<u4").tobytes().hex(),
            "key_shape": list(key.image.shape), "shape": list(image.shape), "dtype": "<u2",
            "pixels_sha256": hashlib.sha256(image.astype("<u2").tobytes()).hexdigest(),
            "header": peek_header(blob)}
    (HERE / "seal_v1.json").write_text(json.dumps(desc, indent=1) + "\n")


if __name__ == "__main__":
    main()
