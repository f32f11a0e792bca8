"""fp16 ONNX export (issue 28 item 3): a valid model (ONNX checker), run by onnxruntime on the CPU,
within ``FP16_TOLERANCE`` of the fp32 export of the same weights; ``restyle train --onnx-dtype``."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx.reference import ReferenceEvaluator

from inference import cli, colour
from inference.image import Image, write_image
from inference.restyle.backends import OrtBackend, TorchBackend
from inference.restyle.model_file import FP16_TOLERANCE, export_onnx, load_model
from inference.restyle.network import RECEPTIVE_MARGIN, SIZE_MULTIPLE, NetworkConfig, RestyleNet

CPU = ["CPUExecutionProvider"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The default network (random weights scaled to make a strong look) exported both ways."""
    root = tmp_path_factory.mktemp("fp16")
    torch.manual_seed(5)
    net = RestyleNet(NetworkConfig(in_channels=3))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)
    meta = {"encoding": colour.WORKING_ENCODING, "input_channels": ["R", "G", "B"], "output_channels": ["R", "G", "B"],
            "guides": [], "size_multiple": SIZE_MULTIPLE, "receptive_margin": RECEPTIVE_MARGIN,
            "keyframes": {"1": "0" * 64}, "depth_scale": 1.0, "input_smoothing": 0.0, "training": {}}
    return (load_model(export_onnx(net, meta, root / "look32.onnx")),
            load_model(export_onnx(net, meta, root / "look16.onnx", dtype="fp16")))


def frames(n=2, h=64, w=96, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, (n, 3, h, w)).astype(np.float32)


def test_fp16_export_is_a_valid_half_precision_model_with_float32_io(pair):
    fp32, fp16 = pair
    onnx.checker.check_model(fp16.proto, full_check=True)  # also infers every shape and type
    weights = {t.name: t.data_type for t in fp16.proto.graph.initializer}
    assert set(weights) == {t.name for t in fp32.proto.graph.initializer}  # the same parameter names
    floats = [name for name, kind in weights.items() if kind in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16)]
    assert floats and all(weights[name] == onnx.TensorProto.FLOAT16 for name in floats)
    for value in (*fp16.proto.graph.input, *fp16.proto.graph.output):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert fp16.meta["dtype"] == "fp16" and "dtype" not in fp32.meta
    assert fp16.proto.ByteSize() < 0.6 * fp32.proto.ByteSize()


def test_fp16_runs_on_onnxruntime_cpu_within_the_stated_tolerance_of_fp32(pair):
    fp32, fp16 = pair
    x = frames()
    full = OrtBackend(fp32, lambda _: None, available=CPU).run(x)
    half_backend = OrtBackend(fp16, lambda _: None, available=CPU)
    half = half_backend.run(x)
    assert half.dtype == np.float32 and half.shape == full.shape and half_backend.dtype == "fp16"
    error = np.abs(half - full)
    assert error.max() < FP16_TOLERANCE["max"] and error.mean() < FP16_TOLERANCE["mean"]
    assert error.max() > 0  # really computed in half precision
    assert np.abs(full - x).max() > 0.05  # and the look is strong enough to tell


def test_fp16_in_true_half_arithmetic_is_also_within_tolerance(pair):
    """onnxruntime's CPU kernels may widen fp16 internally; ONNX's reference evaluator computes
    every op in the graph's own types (fp16), as a GPU does."""
    fp32, fp16 = pair
    x = frames(1, 32, 48, seed=1)
    full = OrtBackend(fp32, lambda _: None, available=CPU).run(x)
    half = ReferenceEvaluator(fp16.proto).run(None, {"input": x})[0]
    error = np.abs(half - full)
    assert error.max() < FP16_TOLERANCE["max"] and error.mean() < FP16_TOLERANCE["mean"]


def test_the_torch_backend_rebuilds_an_fp16_model(pair):
    fp32, fp16 = pair
    x = frames(1, 32, 48, seed=2)
    rebuilt = TorchBackend(fp16, "cpu").run(x)  # fp16 weights widened to fp32
    error = np.abs(rebuilt - TorchBackend(fp32, "cpu").run(x))
    assert error.max() < FP16_TOLERANCE["max"] and error.mean() < FP16_TOLERANCE["mean"]


def test_an_unknown_dtype_is_refused(tmp_path):
    with pytest.raises(ValueError, match="fp32, fp16"):
        export_onnx(RestyleNet(NetworkConfig(in_channels=3)), {}, tmp_path / "m.onnx", dtype="bf16")
    assert not list(tmp_path.iterdir())


def test_cli_trains_an_fp16_model_that_runs(tmp_path):
    from inference.demo.plate import render_frame

    (tmp_path / "plate").mkdir()
    for frame in (1, 2):
        write_image(tmp_path / "plate" / f"p.{frame:04d}.exr", render_frame(frame, 64, 48))
    write_image(tmp_path / "key.png", Image.from_array(np.full((48, 64, 3), 0.4, np.float32), ("R", "G", "B")))
    model = tmp_path / "look.onnx"
    plate = str(tmp_path / "plate" / "p.####.exr")
    assert cli.main(["train", "--plate", plate, "--frames", "1-2", "--key", f"1={tmp_path / 'key.png'}",
                     "--steps", "3", "--key-psnr", "0", "--stability", "0", "--device", "cpu", "--onnx-dtype", "fp16",
                     "--out", str(model), "--progress", "none"]) == 0
    loaded = load_model(model)
    assert loaded.meta["dtype"] == "fp16" and loaded.meta["training"]["onnx_dtype"] == "fp16"
    assert cli.main(["run", "--model", str(model), "--plate", plate, "--frames", "1-2", "--backend", "onnxruntime",
                     "--device", "cpu", "--detail", "0", "--out", str(tmp_path / "o" / "o.####.exr"),
                     "--progress", "none"]) == 0
    assert (tmp_path / "o" / "o.0002.exr").is_file()
