"""The README's demo runs offline on pydicom's bundled images and round-trips them."""

import subprocess
import sys


def test_demo_round_trips_bundled_images():
    result = subprocess.run(
        [sys.executable, "-m", "kedi_edge.demo"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in ("CT_small.dcm", "MR_small.dcm", "examples_rgb_color.dcm", "rtdose.dcm"):
        assert name in out
    assert out.count("bit-exact True") == 15 and "bit-exact False" not in out
    assert out.count("recovers the key: True") == 5
    assert out.count("ZZ-GAN key") == 5 and "ZZ-GAN on CPUExecutionProvider" in out
