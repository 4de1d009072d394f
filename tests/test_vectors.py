"""Frozen test vectors (tests/vectors/, made by make_vectors.py) that pin the scan orders
and the fused layer for every future version."""

import json
from pathlib import Path

import numpy as np
import pytest

import kedi_edge
from kedi_edge import reference

VECTORS = json.loads((Path(__file__).parent / "vectors" / "zigzag_vectors.json").read_text())


@pytest.mark.parametrize("impl", [kedi_edge, reference], ids=["native", "reference"])
def test_diagonal_8x8_is_the_jpeg_zigzag(impl):
    assert impl.zigzag_order(8, 8, "diagonal").tolist() == VECTORS["jpeg_zigzag_8x8"]


@pytest.mark.parametrize("impl", [kedi_edge, reference], ids=["native", "reference"])
@pytest.mark.parametrize("shape", sorted(VECTORS["orders"]))
def test_frozen_orders(impl, shape):
    h, w = map(int, shape.split("x"))
    for pattern, order in VECTORS["orders"][shape].items():
        assert impl.zigzag_order(h, w, pattern).tolist() == order, pattern


@pytest.mark.parametrize("case", VECTORS["zigzag_xor"], ids=lambda c: f"{c['dtype']}-{c['pattern']}")
def test_frozen_cipher_layer(simd_level, case):
    image = np.array(case["image"], dtype=case["dtype"])
    key = np.array(case["key"], dtype=case["dtype"])
    cipher = np.array(case["cipher"], dtype=case["dtype"])
    np.testing.assert_array_equal(kedi_edge.zigzag_xor(image, key, case["pattern"]), cipher)
    np.testing.assert_array_equal(kedi_edge.xor_unzigzag(cipher, key, case["pattern"]), image)
