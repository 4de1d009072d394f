"""The README's main job: the end-to-end demo runs offline on pydicom's bundled images."""

import subprocess
import sys


def test_demo_round_trips_bundled_images(tmp_path):
    result = subprocess.run([sys.executable, "-m", "kedi_edge.demo", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in ("CT_small.dcm", "MR_small.dcm", "examples_rgb_color.dcm", "rtdose.dcm"):
        assert name in out
    table = [line for line in out.splitlines() if line.endswith((" yes", " NO"))]
    assert len(table) == 5 and all(line.endswith(" yes") for line in table)
    assert "bare zigzag + XOR layer: key recovered, second image decrypted: True" in out
    assert "sealed format (AES-256-GCM around the layer): second image decrypted: False" in out
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert "CT_small_cipher.png" in pngs and len(pngs) == 15
    assert (tmp_path / "CT_small_plain.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
