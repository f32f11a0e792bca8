"""`restyle torchscript`: the TorchScript module for Nuke's Inference node gives what `restyle run` gives."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inference import cli, colour
from inference.errors import ModelError
from inference.image import Image
from inference.restyle.apply import restyle_images
from inference.restyle.backends import TorchBackend
from inference.restyle.model_file import export_onnx, load_model
from inference.restyle.network import RECEPTIVE_MARGIN, SIZE_MULTIPLE, NetworkConfig, RestyleNet


def write_model(path, keys=("1001",), guides=()):
    torch.manual_seed(3)
    channels = 3 + (len(keys) if len(keys) > 1 else 0) + 2 * len(guides)  # "position": 2 planes
    net = RestyleNet(NetworkConfig(in_channels=channels, width=8, res_blocks=1))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)  # an untrained net is close to the identity; make the look visible
    meta = {"encoding": colour.WORKING_ENCODING, "plate_colourspace": "ACEScg",
            "input_channels": [f"c{i}" for i in range(channels)], "output_channels": ["R", "G", "B"],
            "guides": list(guides), "size_multiple": SIZE_MULTIPLE,
            "receptive_margin": RECEPTIVE_MARGIN, "keyframes": {k: "0" * 64 for k in keys}, "depth_scale": 1.0,
            "input_smoothing": 1.0, "network": net.config.to_dict(), "training": {}}
    return export_onnx(net.eval(), meta, path)


def test_torchscript_matches_restyle_run(tmp_path):
    from inference.demo.plate import render_frame

    model_path = write_model(tmp_path / "look.onnx")
    assert cli.main(["torchscript", "--model", str(model_path), "--out", str(tmp_path / "look.pt")]) == 0
    plate = render_frame(0, 160, 90).beauty(alpha=False)  # the demo's procedural plate, values below 1 here
    crop = Image.from_array(plate.as_float32()[:50, :70].copy(), ("R", "G", "B"))  # 70x50: pads to 4s

    model = load_model(model_path)
    look = restyle_images(model, TorchBackend(model, device="cpu", dtype="fp32"), [(1001, crop)], "ACEScg")[0]
    expected = colour.from_working(look, "ACEScg")
    scripted = torch.jit.load(str(tmp_path / "look.pt"))
    with torch.no_grad():
        got = scripted(torch.from_numpy(crop.pixels.transpose(2, 0, 1)[None].copy()))[0].numpy().transpose(1, 2, 0)
    assert got.shape == expected.shape
    error = np.abs(got - expected)  # OCIO's CPU curves are fast approximations: small differences
    assert error.mean() < 2e-3 and error.max() < 0.02 * max(1.0, np.abs(expected).max())
    assert np.abs(got - crop.pixels).max() > 0.05  # the look really changed the plate


@pytest.mark.parametrize("keys, guides", [(("1001", "1010"), ()), (("1001",), ("position",))])
def test_torchscript_refuses_what_the_inference_node_cannot_feed(tmp_path, keys, guides):
    from inference.restyle.torchscript import export_torchscript

    path = write_model(tmp_path / "look.onnx", keys=keys, guides=guides)
    with pytest.raises(ModelError, match="only colour-only, single-keyframe"):
        export_torchscript(path, tmp_path / "look.pt", "scene_linear")
