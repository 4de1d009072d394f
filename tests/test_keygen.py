"""kedi_edge.keygen: the shipped ZZ-GAN generator on ONNX Runtime."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

import kedi_edge
from kedi_edge import InvalidInputError, KeyGenerator, ModelError, ProviderError, metrics
from kedi_edge._prng import keystream
from kedi_edge.keygen import _cuda_driver_present, default_model_path


@pytest.fixture(scope="module")
def gen():
    return KeyGenerator(device="cpu", threads=1)


@pytest.fixture(scope="module")
def ct():
    import pydicom

    return pydicom.dcmread(pydicom.data.get_testdata_file("CT_small.dcm", download=False)).pixel_array


def test_shipped_model_loads_on_cpu(gen):
    assert default_model_path().is_file()
    assert gen.providers[0] == "CPUExecutionProvider" and gen.device == "cpu"
    assert len(gen.sha256) == 64
    assert (gen.noise_planes, gen.key_planes) == (2, 4)
    info = kedi_edge.runtime_info()
    assert info["execution_provider"] == "CPUExecutionProvider"
    assert "CPUExecutionProvider" in info["providers_available"]


def test_import_does_not_load_onnxruntime():
    code = "import sys, kedi_edge; assert 'onnxruntime' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_same_seed_same_key_and_seed_matters(gen, ct):
    a = gen.generate(ct.shape, np.uint8, ct, seed=b"s" * 32)
    b = gen.generate(ct.shape, np.uint8, ct, seed=b"s" * 32)
    c = gen.generate(ct.shape, np.uint8, ct, seed=b"t" * 32)
    assert a.shape == ct.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.98


def test_same_key_across_thread_counts(gen, ct):
    other = KeyGenerator(device="cpu", threads=2)
    np.testing.assert_array_equal(gen.generate(ct.shape, np.uint8, ct, seed=5),
                                  other.generate(ct.shape, np.uint8, ct, seed=5))


def test_key_depends_on_image(gen, ct):
    a = gen.generate(ct.shape, np.uint8, ct, seed=9, raw=True)
    b = gen.generate(ct.shape, np.uint8, np.flipud(ct).copy(), seed=9, raw=True)
    assert (a != b).mean() > 0.9


def test_default_seed_is_fresh(gen):
    a, b = gen.generate((32, 32)), gen.generate((32, 32))
    assert (a != b).mean() > 0.9


def _key_bytes(k: np.ndarray) -> np.ndarray:
    """Byte p of each pixel (least significant first) as plane p: shape (..., bytes, H, W)."""
    u = k.view(f"u{k.dtype.itemsize}").astype(np.uint64)
    shifts = (8 * np.arange(k.dtype.itemsize, dtype=np.uint64)).reshape(-1, 1, 1)
    return ((u[..., None, :, :] >> shifts) & 0xFF).astype(np.uint8)


# (30, 45) and (37, 10) are not multiples of the network stride (4): their pad is drawn
# for the padded plane and cropped.
@pytest.mark.parametrize("shape, dtype", [((128, 128), np.uint8), ((2, 30, 45), np.uint32),
                                          ((37, 10), np.uint8)])
def test_key_is_raw_plus_pad_mod_256(gen, shape, dtype):
    image = np.random.default_rng(5).integers(0, 4096, shape, dtype=np.uint16)
    seed = b"pad seed, sixteen bytes or more"
    key = gen.generate(shape, dtype, image, seed=seed)
    raw = gen.generate(shape, dtype, image, seed=seed, raw=True)
    # The keystream as generate() draws it: the noise planes' bytes, then one pad plane
    # per key byte, all for the plane padded to the stride.
    h, w = shape[-2:]
    planes = int(np.prod(shape[:-2], dtype=np.int64))
    hp, wp = -(-h // 4) * 4, -(-w // 4) * 4
    n_noise = planes * gen.noise_planes * hp * wp
    stream = keystream(seed, b"kedi-edge/zzgan/v1|%d|%d|%d" % (planes, hp, wp),
                       n_noise + planes * gen.key_planes * hp * wp)
    pad = stream[n_noise:].reshape(*shape[:-2], gen.key_planes, hp, wp)
    nbytes = np.dtype(dtype).itemsize
    want = (_key_bytes(raw).astype(np.uint16) + pad[..., :nbytes, :h, :w]) % 256
    np.testing.assert_array_equal(_key_bytes(key), want)
    assert (key != raw).mean() > 0.98  # the pad changes almost every pixel


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint32, np.int32, np.int8])
def test_wider_keys_are_byte_planes(gen, ct, dtype):
    k8 = gen.generate(ct.shape, np.uint8, ct, seed=11)
    k = gen.generate(ct.shape, dtype, ct, seed=11)
    assert k.dtype == np.dtype(dtype) and k.shape == ct.shape
    low = k.view(f"u{k.dtype.itemsize}") & 0xFF
    np.testing.assert_array_equal(low.astype(np.uint8), k8)  # byte 0 is plane 0
    if k.dtype.itemsize > 1:
        high = (k.view(f"u{k.dtype.itemsize}") >> 8) & 0xFF
        assert (high.astype(np.uint8) != k8).mean() > 0.98


@pytest.mark.parametrize("shape", [(1, 1), (1, 37), (37, 1), (3, 5), (127, 200), (2, 3, 17, 18)])
def test_any_size_pads_and_crops(gen, shape):
    image = np.random.default_rng(0).integers(0, 4096, shape, dtype=np.uint16)
    k = gen.generate(shape, np.uint16, image, seed=1)
    assert k.shape == shape and k.dtype == np.uint16
    np.testing.assert_array_equal(k, gen.generate(shape, np.uint16, image, seed=1))


def test_planes_get_their_own_keys(gen):
    k = gen.generate((3, 64, 64), np.uint8, seed=2)
    assert (k[0] != k[1]).mean() > 0.98 and (k[1] != k[2]).mean() > 0.98


def test_key_statistics_256(gen, ct):
    big = np.kron(ct, np.ones((2, 2), ct.dtype))  # 256x256 real CT
    keys = [gen.generate(big.shape, np.uint8, big, seed=s) for s in (21, 22)]
    for k in keys:
        assert metrics.entropy(k) > 7.99
        assert max(abs(v) for v in metrics.adjacent_correlation(k).values()) < 0.02
    t = metrics.npcr_uaci_test(keys[0], keys[1], alpha=0.001)
    assert t["npcr_pass"] and t["uaci_pass"], t


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"shape": (8, 8), "dtype": np.float32}, "dtype"),
        ({"shape": (8, 8), "dtype": np.uint64}, "dtype"),
        ({"shape": (8, 8), "dtype": "nonsense"}, "dtype"),
        ({"shape": (0, 8)}, "shape"),
        ({"shape": (8,)}, "shape"),
        ({"shape": "ab"}, "shape"),
        ({"shape": (8, 8), "image": np.zeros((8, 9))}, "image"),
        ({"shape": (8, 8), "image": np.zeros((8, 8), dtype=object)}, "image"),
        ({"shape": (8, 8), "seed": b"short"}, "seed"),
        ({"shape": (8, 8), "seed": -1}, "seed"),
        ({"shape": (8, 8), "seed": 1.5}, "seed"),
    ],
)
def test_bad_requests(gen, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        gen.generate(**kwargs)


def test_missing_model(tmp_path):
    with pytest.raises(ModelError, match="missing.onnx"):
        KeyGenerator(tmp_path / "missing.onnx", device="cpu")


def test_corrupt_model(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(default_model_path().read_bytes()[:5000])
    with pytest.raises(ModelError, match="bad.onnx"):
        KeyGenerator(bad, device="cpu")


def test_model_with_wrong_inputs(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "identity.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    onnx.save(model, path)
    with pytest.raises(ModelError, match="expected inputs"):
        KeyGenerator(path, device="cpu")


def test_bad_device_and_threads():
    with pytest.raises(InvalidInputError, match="device"):
        KeyGenerator(device="tpu")
    with pytest.raises(InvalidInputError, match="threads"):
        KeyGenerator(device="cpu", threads=0)


@pytest.mark.skipif(_cuda_driver_present(), reason="this machine has a CUDA driver")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(ProviderError, match="cuda"):
        KeyGenerator(device="cuda")


def test_auto_reports_what_it_got():
    g = KeyGenerator(device="auto")
    assert g.device in ("cpu", "cuda")
    assert kedi_edge.runtime_info()["execution_provider"] == g.providers[0]


def test_cuda_is_asked_for_full_float32_and_fixed_algorithms(monkeypatch):
    """Where CUDA is wanted, the session is asked for the CUDA provider without TF32
    (with it only 3% of key bytes matched the CPU provider's on an H200; see
    benchmarks/RESULTS.md), cuDNN algorithms chosen by heuristics rather than by timing,
    and deterministic compute. Checked here through the arguments given to ONNX Runtime;
    the spy's session falls back to the CPU, which is then rebuilt with the CPU options."""
    import onnxruntime as ort

    from kedi_edge import keygen

    calls = []
    real = ort.InferenceSession

    def spy(data, sess_options=None, providers=None):
        calls.append((providers, sess_options))
        return real(data, sess_options=sess_options, providers=["CPUExecutionProvider"])

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setattr(ort, "InferenceSession", spy)
    monkeypatch.setattr(keygen, "_cuda_driver_present", lambda: True)
    g = keygen.KeyGenerator(device="auto")
    (cuda_providers, cuda_opts), (cpu_providers, cpu_opts) = calls
    assert cuda_providers == [("CUDAExecutionProvider", {"use_tf32": "0", "cudnn_conv_algo_search": "HEURISTIC"}),
                              "CPUExecutionProvider"]
    assert cuda_opts.use_deterministic_compute
    assert cpu_providers == ["CPUExecutionProvider"] and g.device == "cpu"
    assert cpu_opts.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED


def test_cuda_fallback_gives_the_cpu_key(monkeypatch, gen, ct):
    """device='auto' where CUDA is present but does not start (here: ONNX Runtime has the
    CUDA provider, the machine no CUDA libraries) gives the key device='cpu' gives. It
    used to run the fallback with ONNX Runtime's default optimisation level, which
    changed about 0.5% of the key bytes."""
    from kedi_edge import keygen

    monkeypatch.setattr(keygen, "_cuda_driver_present", lambda: True)
    auto = KeyGenerator(device="auto", threads=1)
    if auto.device == "cuda":
        pytest.skip("CUDA is active on this machine")
    np.testing.assert_array_equal(auto.generate(ct.shape, np.uint32, ct, seed=b"x" * 16),
                                  gen.generate(ct.shape, np.uint32, ct, seed=b"x" * 16))


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_image_is_rejected(gen, dtype, bad):
    image = np.ones((16, 16), dtype)
    image[3, 5] = bad
    with pytest.raises(InvalidInputError, match="image: contains NaN or infinity"):
        gen.generate(image.shape, np.uint32, image, seed=1)


@pytest.mark.parametrize("dtype, limit", [(np.float32, 3e38), (np.float64, 1.7e308)])
def test_float_ranges_near_the_limit_give_real_keys(gen, dtype, limit):
    """Finite images whose range overflows the float type (max - min > the largest
    float) are normalised without overflow: the keys are as random as any (they were
    all zeros for every seed)."""
    image = np.random.default_rng(0).uniform(-1, 1, (64, 64)) * limit
    image = image.astype(dtype)
    raw = gen.generate(image.shape, np.uint8, image, seed=2, raw=True)
    assert metrics.entropy(raw) > 7.9
    a = gen.generate(image.shape, np.uint32, image, seed=3)
    b = gen.generate(image.shape, np.uint32, image, seed=4)
    assert (a != b).mean() > 0.99 and (a != 0).mean() > 0.99


def test_integer_images_normalise_as_before(gen, ct):
    """Normalising in float64 then rounding equals float32 normalisation for integer
    images (both round the exact quotient once), so their keys did not change."""
    from kedi_edge.keygen import _normalise

    for image in (ct, np.random.default_rng(1).integers(-2**15, 2**15, (3, 40, 50), dtype=np.int16)):
        x = image.astype(np.float32)
        lo = x.min(axis=(-2, -1), keepdims=True)
        old = (x - lo) / (x.max(axis=(-2, -1), keepdims=True) - lo)
        np.testing.assert_array_equal(_normalise(image), old)
    np.testing.assert_array_equal(_normalise(np.full((2, 3, 4), 7, np.uint16)), np.zeros((2, 3, 4), np.float32))


def _write_model(path, nodes, initializers=(), out_planes=4):
    """A stand-in generator with the shipped model's inputs and outputs ``key`` and
    ``raw`` of ``out_planes`` planes, computed by ``nodes``."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    ins = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", c, "H", "W"])
           for n, c in (("image", 1), ("noise", 2), ("pad", 4))]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", out_planes, "H", "W"])
            for n in ("key", "raw")]
    graph = helper.make_graph(nodes, "g", ins, outs, list(initializers))
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10), path)
    return path


def _scalar(name, value):
    from onnx import TensorProto, helper

    return helper.make_tensor(name, TensorProto.FLOAT, [], [value])


def test_no_model_can_cancel_the_pad(tmp_path):
    """A replaced graph whose ``key`` is zero and whose ``raw`` is 255 - pad: the runtime
    adds the pad itself and shows the graph zeros in its place, so the keys stay random
    (they were all zeros)."""
    pytest.importorskip("onnx")
    from onnx import helper

    path = _write_model(tmp_path / "cancel.onnx", [
        helper.make_node("Mul", ["pad", "zero"], ["key"]),
        helper.make_node("Sub", ["c255", "pad"], ["raw"]),
    ], [_scalar("zero", 0.0), _scalar("c255", 255.0)])
    g = KeyGenerator(path, device="cpu")
    a, b = g.generate((64, 64), np.uint32), g.generate((64, 64), np.uint32)
    assert (a != 0).mean() > 0.99 and (a != b).mean() > 0.99
    assert metrics.entropy(a.view(np.uint8)) > 7.9


def test_shipped_key_output_is_raw_plus_pad(gen):
    """The runtime computes (raw + pad) mod 256 itself and runs the graph with zeros for
    ``pad``: bit for bit what the shipped graph's ``key`` output gives, because its
    ``raw`` does not depend on ``pad``."""
    rng = np.random.default_rng(0)
    feed = {"image": rng.random((2, 1, 32, 48), dtype=np.float32),
            "noise": ((rng.integers(0, 256, (2, 2, 32, 48)) + 0.5) / 256).astype(np.float32),
            "pad": rng.integers(0, 256, (2, 4, 32, 48)).astype(np.float32)}
    key, raw = gen.session.run(["key", "raw"], feed)
    (raw0,) = gen.session.run(["raw"], feed | {"pad": np.zeros_like(feed["pad"])})
    np.testing.assert_array_equal(raw0, raw)
    np.testing.assert_array_equal(key, (raw + feed["pad"]) % 256)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 300.0, -1.0])
@pytest.mark.parametrize("raw", [False, True])
def test_model_output_outside_bytes_is_a_model_error(tmp_path, value, raw):
    pytest.importorskip("onnx")
    from onnx import helper

    path = _write_model(tmp_path / "bad_out.onnx", [
        helper.make_node("Mul", ["pad", "zero"], ["z"]),
        helper.make_node("Add", ["z", "v"], ["key"]),
        helper.make_node("Add", ["z", "v"], ["raw"]),
    ], [_scalar("zero", 0.0), _scalar("v", value)])
    g = KeyGenerator(path, device="cpu")
    with pytest.raises(ModelError, match="bad_out.onnx: output 'raw' holds values"):
        g.generate((8, 8), np.uint16, seed=1, raw=raw)


def test_model_with_too_few_output_planes(tmp_path):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    axis = helper.make_tensor("axis", TensorProto.INT64, [1], [1])
    path = _write_model(tmp_path / "narrow.onnx", [
        helper.make_node("ReduceMax", ["pad", "axis"], [n], keepdims=1) for n in ("key", "raw")
    ], [axis], out_planes=1)
    with pytest.raises(ModelError, match=r"narrow.onnx: output 'raw' must be .* at least 4"):
        KeyGenerator(path, device="cpu")


def _copy_shipped(tmp_path, card=True):
    src = default_model_path()
    model = tmp_path / src.name
    model.write_bytes(src.read_bytes())
    if card:
        model.with_suffix(".json").write_bytes(src.with_suffix(".json").read_bytes())
    return model


def _flip_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40  # inside a weight: the file still loads
    path.write_bytes(bytes(data))


def test_damaged_shipped_model_is_refused(tmp_path, monkeypatch):
    from kedi_edge import keygen

    model = _copy_shipped(tmp_path)
    monkeypatch.setattr(keygen, "default_model_path", lambda: model)
    assert KeyGenerator(device="cpu").sha256 == json.loads(model.with_suffix(".json").read_text())["sha256"]
    _flip_byte(model)
    with pytest.raises(ModelError, match=r"zzgan_generator.onnx: sha256 \w+\.\.\. does not match "
                                         r"its model card zzgan_generator.json"):
        KeyGenerator(device="cpu")


def test_shipped_model_needs_its_card(tmp_path, monkeypatch):
    from kedi_edge import keygen

    model = _copy_shipped(tmp_path, card=False)
    monkeypatch.setattr(keygen, "default_model_path", lambda: model)
    with pytest.raises(ModelError, match="model card zzgan_generator.json is missing"):
        KeyGenerator(device="cpu")


def test_custom_model_is_checked_against_a_card_of_its_name(tmp_path):
    model = _copy_shipped(tmp_path)
    _flip_byte(model)
    with pytest.raises(ModelError, match="does not match its model card"):
        KeyGenerator(model, device="cpu")
    model.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match="zzgan_generator.json: cannot read the model card"):
        KeyGenerator(model, device="cpu")
    model.with_suffix(".json").write_text('{"sha256": null}')
    with pytest.raises(ModelError, match="no sha256"):
        KeyGenerator(model, device="cpu")
    model.with_suffix(".json").unlink()  # no card: a custom model is accepted as it is
    assert KeyGenerator(model, device="cpu").sha256 == hashlib.sha256(model.read_bytes()).hexdigest()
