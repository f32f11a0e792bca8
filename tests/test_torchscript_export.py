"""`restyle torchscript`: the TorchScript module for Nuke's Inference node gives what `restyle run` gives."""
from __future__ import annotations

import ast

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


@pytest.mark.parametrize("nuke, torch_version", [("13.1", "1.6"), ("14.0", "1.12"), ("14.1", "1.12"),
                                                 ("15.0", "1.12"), ("15.1", "2.1"), ("16.0", "2.1"), ("17.0", "2.1")])
def test_each_nuke_version_names_the_torch_it_runs(nuke, torch_version):
    from inference.restyle.torchscript import nuke_torch

    got, pin, source = nuke_torch(nuke)
    assert got == torch_version and pin.startswith(torch_version)
    assert source.startswith("Foundry") == (nuke < "15.0")  # only 13 and 14 are stated on Foundry's pages
    assert ("unverified" in source) == (nuke >= "15.0")


@pytest.mark.parametrize("bad, message", [("12.2", "came with Nuke 13.0"), ("14", "give MAJOR.MINOR")])
def test_a_nuke_without_the_inference_node_is_refused(bad, message):
    from inference.errors import UsageError
    from inference.restyle.torchscript import nuke_torch

    with pytest.raises(UsageError, match=message):
        nuke_torch(bad)


def test_for_an_older_nukes_torch_a_kit_builds_the_file_that_torch_can_load(tmp_path, capsys):
    """torch 2.13 here, Nuke 14.1 runs torch 1.12: no .pt, but a kit whose script (plain torch,
    run here with this torch since no 1.12 is at hand) builds one that restyles as the direct
    export does, and checks itself."""
    import subprocess
    import sys

    model_path = write_model(tmp_path / "look.onnx")
    assert cli.main(["torchscript", "--model", str(model_path), "--out", str(tmp_path / "look.pt"),
                     "--nuke-version", "14.1"]) == 0
    err = capsys.readouterr().err
    assert "Nuke 14.1 runs torch 1.12" in err and "look.pt is NOT written" in err and "torch==1.12.1" in err
    assert not (tmp_path / "look.pt").exists() and (tmp_path / "look.pt.kit" / "weights.npz").is_file()
    script = (tmp_path / "look.pt.kit" / "build.py").read_text()
    ast.parse(script, feature_version=(3, 7))  # Nuke 13's Python; torch 1.6 installs on 3.6-3.8
    assert "from inference" not in script and "import inference" not in script
    build = subprocess.run([sys.executable, str(tmp_path / "look.pt.kit" / "build.py")], capture_output=True, text=True,
                           timeout=300, cwd=tmp_path)
    assert build.returncode == 0, build.stderr
    assert "within" in build.stdout and (tmp_path / "look.pt").is_file()
    assert cli.main(["torchscript", "--model", str(model_path), "--out", str(tmp_path / "direct.pt")]) == 0
    assert "only in a Nuke whose torch is as new" in capsys.readouterr().err
    x = torch.from_numpy(np.random.default_rng(4).uniform(0, 2, (1, 3, 45, 61)).astype(np.float32))
    with torch.no_grad():
        kit_out = torch.jit.load(str(tmp_path / "look.pt"))(x)
        direct = torch.jit.load(str(tmp_path / "direct.pt"))(x)
    assert torch.abs(kit_out - direct).max() < 1e-5 and torch.abs(direct - x).max() > 0.05


def test_the_kit_refuses_a_file_that_does_not_reproduce_the_look(tmp_path):
    import subprocess
    import sys

    from inference.restyle.torchscript import export_torchscript

    kit = export_torchscript(write_model(tmp_path / "look.onnx"), tmp_path / "look.pt", "scene_linear", "13.1",
                             log=lambda _: None)
    weights = dict(np.load(kit / "weights.npz"))
    weights["sample_out"] = weights["sample_out"] + 0.01  # as if the old torch computed another look
    np.savez(kit / "weights.npz", **weights)
    build = subprocess.run([sys.executable, str(kit / "build.py")], capture_output=True, text=True, timeout=300)
    assert build.returncode == 1 and "does not reproduce the look" in build.stderr


def test_with_this_nukes_own_torch_the_file_is_written_directly(tmp_path, monkeypatch):
    from inference.restyle.torchscript import export_torchscript

    monkeypatch.setattr(torch, "__version__", "1.12.1")  # as if run with the torch Nuke 14 bundles
    said = []
    written = export_torchscript(write_model(tmp_path / "look.onnx"), tmp_path / "look.pt", "scene_linear", "14.1",
                                 log=said.append)
    assert written == tmp_path / "look.pt" and written.is_file() and not (tmp_path / "look.pt.kit").exists()
    assert "which Nuke 14.1 can load" in said[0]
