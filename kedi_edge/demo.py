"""The end-to-end demo on real DICOM images bundled with pydicom (offline).

    python -m kedi_edge.demo [--out DIR]        (or: kedi-edge demo [--out DIR])

In a temporary key store with a fresh KEK it makes a ZZ-GAN key for each image with
the shipped generator (ONNX Runtime, CUDA when active, else CPU), encrypts the CT, MR,
ultrasound (RGB) and RT dose (multi-frame) files into valid encrypted DICOM, writes
and reads them back, decrypts them, checks that the pixels come back bit for bit, and
prints a table. Then it shows why the product seals the paper's layer: one known
plaintext gives away the bare layer's key, and does not open a sealed image. With
``--out`` it also writes plain, cipher and decrypted images as PNG files.
"""

from __future__ import annotations

import argparse
import io
import struct
import tempfile
import time
import warnings
import zlib
from pathlib import Path

import numpy as np

import kedi_edge
from kedi_edge import dicom as kdicom

IMAGES = ["CT_small.dcm", "MR_small.dcm", "examples_overlay.dcm", "examples_rgb_color.dcm", "rtdose.dcm"]


def _read(path):
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(path)


def bundled_paths() -> list[Path]:
    """The demo's DICOM files inside pydicom's wheel (nothing is downloaded)."""
    import pydicom

    folder = Path(pydicom.__file__).parent / "data" / "test_files"
    return [folder / n for n in IMAGES if (folder / n).exists()]


def _png(path: Path, image: np.ndarray) -> None:
    """8-bit greyscale or RGB PNG, scaled from the image's own range (zlib + CRC framing)."""
    a = image.astype(np.float64)
    lo, hi = a.min(), a.max()
    a = np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo) * 255
    a = a.round().astype(np.uint8)
    colour = a.ndim == 3
    h, w = a.shape[:2]
    raw = b"".join(b"\x00" + a[r].tobytes() for r in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2 if colour else 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 6))
                     + chunk(b"IEND", b""))


def _first_plane(pixels: np.ndarray, axis: int | None) -> np.ndarray:
    return pixels.reshape((-1,) + pixels.shape[-3 if axis == -1 else -2:])[0]


def run(out: Path | None = None) -> list[dict]:
    """Run the demo, print its table, and return its rows."""
    gen = kedi_edge.KeyGenerator()
    info = kedi_edge.runtime_info()
    print(f"kedi_edge {info['version']}: SIMD {info['simd']} x{info['threads']} threads, "
          f"ZZ-GAN on {info['execution_provider']}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as td:
        store = kedi_edge.KeyStore.init(Path(td) / "keys", kek_file=Path(td) / "kek.key")
        print(f"temporary key store with a new KEK: {store.path}\n")
        print(f"{'file':<24} {'modality':<8} {'shape':<16} {'dtype':<7} {'key id':<27} {'key ms':>7} "
              f"{'seal ms':>8} {'open ms':>8}  bit-exact")
        for path in bundled_paths():
            ds = _read(path)
            pixels, axis, _ = kdicom.read_pixels(ds)
            plane = _first_plane(pixels, axis)
            t0 = time.perf_counter()
            key = store.new_key(gen, plane.shape[:2], plane.mean(axis=-1) if axis == -1 else plane)
            t_key = time.perf_counter() - t0
            t0 = time.perf_counter()
            enc = kdicom.encrypt_dicom(ds, key)
            t_seal = time.perf_counter() - t0
            buf = io.BytesIO()
            kdicom.write_dicom(enc, buf)
            enc_read = _read(io.BytesIO(buf.getvalue()))
            t0 = time.perf_counter()
            dec = kdicom.decrypt_dicom(enc_read, store)
            t_open = time.perf_counter() - t0
            restored, _, _ = kdicom.read_pixels(dec)
            exact = bool(np.array_equal(restored, pixels)) and dec.SOPInstanceUID == ds.SOPInstanceUID
            rows.append({"file": path.name, "modality": str(ds.get("Modality", "?")), "shape": pixels.shape,
                         "dtype": str(pixels.dtype), "key_id": key.key_id, "key_s": t_key,
                         "seal_s": t_seal, "open_s": t_open, "bit_exact": exact})
            print(f"{path.name:<24} {rows[-1]['modality']:<8} {'x'.join(map(str, pixels.shape)):<16} "
                  f"{pixels.dtype!s:<7} {key.key_id:<27} {t_key * 1e3:7.1f} {t_seal * 1e3:8.2f} "
                  f"{t_open * 1e3:8.2f}  {'yes' if exact else 'NO'}")
            if out is not None:
                stem = path.stem
                _png(out / f"{stem}_plain.png", plane)
                cipher = np.frombuffer(bytes(enc.PixelData)[:pixels.nbytes], pixels.dtype).reshape(pixels.shape)
                _png(out / f"{stem}_cipher.png", _first_plane(cipher, axis))
                _png(out / f"{stem}_decrypted.png", _first_plane(restored, axis))
        _known_plaintext(store, gen)
    if out is not None:
        print(f"\nPNG files in {out}")
    return rows


def _known_plaintext(store, gen) -> None:
    """One known (plain, cipher) pair: the bare layer gives up its key, the sealed one does not."""
    paths = bundled_paths()
    p1 = kdicom.read_pixels(_read(paths[0]))[0]
    p2 = np.ascontiguousarray(np.flipud(p1))  # a second image under the same key
    key = store.new_key(gen, p1.shape, p1)
    k = key.array_for(p1.shape, p1.dtype, None)
    c1, c2 = (kedi_edge.zigzag_xor(p, k, "diagonal") for p in (p1, p2))
    recovered = c1 ^ kedi_edge.zigzag(p1, "diagonal")
    bare = np.array_equal(kedi_edge.xor_unzigzag(c2, recovered, "diagonal"), p2)
    s1, s2 = kedi_edge.seal(p1, key), kedi_edge.seal(p2, key)
    body = np.frombuffer(s1[-(p1.nbytes + 16):-16], p1.dtype).reshape(p1.shape)
    guess = body ^ kedi_edge.zigzag(p1, "diagonal")
    body2 = np.frombuffer(s2[-(p2.nbytes + 16):-16], p2.dtype).reshape(p2.shape)
    sealed = any(np.array_equal(kedi_edge.xor_unzigzag(body2, guess, pat), p2) for pat in kedi_edge.PATTERNS)
    print(f"\nknown-plaintext attack, bare zigzag + XOR layer: key recovered, second image decrypted: {bare}")
    print(f"known-plaintext attack, sealed format (AES-256-GCM around the layer): second image decrypted: "
          f"{sealed}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="write plain, cipher and decrypted PNGs here")
    args = ap.parse_args(argv)
    rows = run(Path(args.out) if args.out else None)
    if not all(r["bit_exact"] for r in rows):
        raise SystemExit("demo: a decrypted image differs from its original")


if __name__ == "__main__":
    main()
