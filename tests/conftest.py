import contextlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

from kedi_edge import _native

settings.register_profile(
    "default", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("default")

SIMD_LEVELS = list(_native.simd_info()["supported"])


@contextlib.contextmanager
def simd_path(level: str):
    """Switches the native module to one SIMD path, then back to the default."""
    active = _native.simd_info()["active"]
    _native._set_simd(level)
    try:
        yield level
    finally:
        _native._set_simd(active)


@pytest.fixture(params=SIMD_LEVELS)
def simd_level(request):
    """Runs the test once per SIMD path this CPU supports."""
    with simd_path(request.param) as level:
        yield level


def random_array(rng: np.random.Generator, shape, dtype) -> np.ndarray:
    """Values over the dtype's whole range."""
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, dtype=dtype, endpoint=True)
