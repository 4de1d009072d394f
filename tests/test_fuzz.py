"""Short runs of the atheris fuzz targets (fuzz/run.py); the long runs are in fuzz/README.md."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

RUN = Path(__file__).resolve().parents[1] / "fuzz" / "run.py"


@pytest.mark.parametrize("target, runs", [("container", 3000), ("kernels", 3000), ("dicom_decrypt", 400),
                                          ("dicom_encrypt", 150)])
def test_short_fuzz_run(target, runs, tmp_path):
    r = subprocess.run([sys.executable, str(RUN), target, "--runs", str(runs), "--corpus", str(tmp_path / "c")],
                       capture_output=True, text=True, timeout=600, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    # libFuzzer may report a run more than asked for (seen: "Done 401 runs" for 400).
    done = re.search(r"Done (\d+) runs", r.stderr)
    assert done and int(done.group(1)) >= runs, r.stderr[-3000:]


def test_targets_reject_only_with_documented_errors():
    sys.path.insert(0, str(RUN.parent))
    import targets

    for name, fn in targets.TARGETS.items():
        for seed in targets.seeds(name):
            fn(seed)
            fn(seed[: len(seed) // 2])  # truncated
            fn(bytes(b ^ 0x55 for b in seed[:300]) + seed[300:])  # scrambled header


def test_container_target_on_crafted_headers():
    """Headers a byte-level fuzzer rarely builds (deep nesting, Infinity, 1e400, huge or
    boolean dimensions, too many axes): the container target accepts only KediError,
    and each of these is an AuthenticationError."""
    import struct

    from kedi_edge import AuthenticationError

    sys.path.insert(0, str(RUN.parent))
    import targets

    fields = '"format":"kedi/1","key_id":"fuzz","dtype":"|u1","channel_axis":null'
    headers = [b"[" * 100_000, b'{"shape":' + b"[" * 50_000 + b"}"]
    headers += [("{" + fields + ',"shape":[' + shape + "]}").encode()
                for shape in ("Infinity,8", "-Infinity,8", "NaN,8", "1e400,8", "8.0,8", "true,64", "9" * 5000 + ",8",
                              ",".join(["9" * 4300] * 200), "2147483648,1", "1,1,1,1,1,1,1,8,8", "0,8", "8,9")]
    for header in headers:
        blob = b"KEDI\x01" + struct.pack("<I", len(header)) + header + bytes(12 + 64 + 16)
        targets.container(blob)  # anything but KediError escapes and fails the test
        with pytest.raises(AuthenticationError):
            targets._open_container(blob)
