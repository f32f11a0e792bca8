"""Export a restyle model as TorchScript for Nuke's own Inference node (``restyle torchscript``).

Nuke's CatFileCreator turns a TorchScript file into a ``.cat`` that the Inference node runs on
the comp's image: (1, 3, H, W) float RGB in the script's working space, RGB back. The exported
module does what ``restyle run`` does around the network, in torch ops: working space to linear
Rec.709 (a 3x3 matrix taken from OCIO at export), the unclamped sRGB curve of the model's working
encoding, the Gaussian input smoothing, reflection padding to the size multiple, the network,
and the way back. Colour-only models with one keyframe only: guide AOVs and per-frame keyframe
blending need inputs the Inference node does not give.

Which torch each Nuke runs (:data:`NUKE_TORCH`): TorchScript loads in the torch that saved it or a
newer one, not reliably in an older one (a file saved by torch 2.13 calls ``aten::pad``, which by
our reading came after torch 1.12; unchecked without an old torch). With ``--nuke-version`` naming a Nuke whose torch is older than this
process's, the export writes a build kit instead (:mod:`.nuke_kit`: a plain-torch script and the
weights) that makes the file with that Nuke's own torch, as Foundry's .cat guide asks, and checks it
against this export's look.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .. import colour
from ..errors import ModelError, UsageError
from .model_file import load_model, require_key_check

LINEAR_REC709 = "Linear Rec.709 (sRGB)"

_FOUNDRY = ("Foundry, .cat File Creation guide (learn.foundry.com/nuke/developers/<version>/"
            "catfilecreationreferenceguide/introduction.html, 14.0-15.1)")
# (first Nuke version, torch it runs .cat files with, pip pin to build with, source). Rows apply up
# to the next row's version. Only the first two are stated by Foundry's pages read for this project.
NUKE_TORCH = (
    ((13, 0), "1.6", "1.6.0", f"{_FOUNDRY}: torch 1.6 for every Nuke from 13"),
    ((14, 0), "1.12", "1.12.1", f"{_FOUNDRY}: 'Nuke 14 now uses PyTorch 1.12'"),
    ((15, 0), "1.12", "1.12.1", "inferred: Foundry's 15.0 guide names no torch newer than 1.12 (unverified)"),
    ((15, 1), "2.1", "2.1.1", "unverified: third-party notes (not a Foundry page) say Nuke 15.1-17 run torch 2.x, "
                              "built with torch 2.1.1"),
)
KIT_TOLERANCE = 1e-4  # the kit's file against this export on the stored sample (float32, same ops)


def nuke_torch(nuke_version: str) -> tuple[str, str, str]:
    """``(torch major.minor, pip pin, source)`` for Nuke ``MAJOR.MINOR``.

    Raises:
        UsageError: not MAJOR.MINOR, or older than Nuke 13 (no Inference node).
    """
    match = re.fullmatch(r"(\d+)\.(\d+)", nuke_version or "")
    if not match:
        raise UsageError(f"--nuke-version {nuke_version!r}: give MAJOR.MINOR, e.g. 15.1")
    version = (int(match[1]), int(match[2]))
    rows = [row for row in NUKE_TORCH if row[0] <= version]
    if not rows:
        raise UsageError(f"--nuke-version {nuke_version}: the Inference node (and .cat files) came with Nuke 13.0")
    _, torch_version, pin, source = rows[-1]
    return torch_version, pin, source


def _major_minor(version: str) -> tuple[int, int]:
    major, minor = re.match(r"(\d+)\.(\d+)", version).groups()
    return int(major), int(minor)


def _srgb_encode(x: torch.Tensor) -> torch.Tensor:
    a = x.abs()
    curve = torch.where(a <= 0.0031308, 12.92 * a, 1.055 * a.clamp(min=1e-12).pow(1.0 / 2.4) - 0.055)
    return torch.sign(x) * curve


def _srgb_decode(x: torch.Tensor) -> torch.Tensor:
    a = x.abs()
    curve = torch.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055).pow(2.4))
    return torch.sign(x) * curve


def smoothing_kernel(smoothing: float) -> torch.Tensor:
    """``(3, 1, 1, k)`` taps of ``cv2.GaussianBlur(x, (0, 0), smoothing)`` for a depthwise convolution."""
    radius = int(round(smoothing * 4)) if smoothing > 0 else 0  # OpenCV's float kernel size
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (taps / max(smoothing, 1e-6)) ** 2)
    return (kernel / kernel.sum()).view(1, 1, 1, -1).repeat(3, 1, 1, 1)


def smooth(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """The Gaussian of :func:`smoothing_kernel` on ``(B, 3, H, W)``, edges reflected as OpenCV's default."""
    radius = kernel.shape[-1] // 2
    if radius == 0:
        return x
    x = F.conv2d(F.pad(x, [radius, radius, 0, 0], mode="reflect"), kernel, groups=3)
    return F.conv2d(F.pad(x, [0, 0, radius, radius], mode="reflect"), kernel.transpose(2, 3), groups=3)


class NukeRestyle(torch.nn.Module):
    """(1, 3, H, W) working-space RGB -> restyled RGB in the same space."""

    def __init__(self, net: torch.nn.Module, to_rec709: np.ndarray, smoothing: float, multiple: int):
        super().__init__()
        self.net = net
        self.register_buffer("to_rec709", torch.from_numpy(to_rec709.astype(np.float32)))
        self.register_buffer("from_rec709", torch.from_numpy(np.linalg.inv(to_rec709).astype(np.float32)))
        self.register_buffer("blur", smoothing_kernel(smoothing))
        self.multiple = multiple

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = torch.einsum("ij,bjhw->bihw", self.to_rec709, x[:, :3])
        smoothed = smooth(_srgb_encode(rgb), self.blur)
        height, width = x.shape[2], x.shape[3]
        pad_h = (self.multiple - height % self.multiple) % self.multiple
        pad_w = (self.multiple - width % self.multiple) % self.multiple
        padded = F.pad(smoothed, [0, pad_w, 0, pad_h], mode="reflect")
        look = self.net(padded)[:, :, :height, :width]
        return torch.einsum("ij,bjhw->bihw", self.from_rec709, _srgb_decode(look))


def working_to_rec709(space: str) -> np.ndarray:
    """3x3 matrix from a linear OCIO colourspace to linear Rec.709, sampled with OCIO."""
    basis = np.eye(3, dtype=np.float32).reshape(1, 3, 3)
    rows = colour.convert(basis, space, LINEAR_REC709).reshape(3, 3)
    return rows.T.astype(np.float64)


def export_torchscript(model_path: str | os.PathLike, out: str | os.PathLike, nuke_space: str,
                       nuke_version: str | None = None, log: Callable[[str], None] | None = None) -> Path:
    """Write the TorchScript file atomically; returns its path. For a ``nuke_version`` whose
    torch (:func:`nuke_torch`) is older than this process's, write the build kit
    ``OUT.kit/`` instead (returns its folder) and say how to run it.

    Raises:
        ModelError: the model has guides or several keyframes, or its working encoding is not
            the sRGB-encoded Rec.709 this wrapper reproduces.
        UsageError: ``nuke_version`` is not a Nuke with an Inference node.
    """
    target = nuke_torch(nuke_version) if nuke_version else None
    log = log or (lambda message: print(message, file=sys.stderr))
    model = require_key_check(load_model(model_path))
    if model.guides or len(model.key_frames) > 1:
        raise ModelError(f"{model_path}: only colour-only, single-keyframe models run in Nuke's Inference node "
                         f"(this one has guides {model.guides or 'none'} and keys {model.key_frames})")
    if colour.resolve_colourspace(model.meta["encoding"]) != colour.resolve_colourspace(colour.WORKING_ENCODING):
        raise ModelError(f"{model_path}: working encoding {model.meta['encoding']} is not {colour.WORKING_ENCODING}")
    smoothing = float(model.meta.get("input_smoothing", 0.0))
    wrapper = NukeRestyle(model.torch_module(), working_to_rec709(nuke_space), smoothing,
                          int(model.meta["size_multiple"])).eval()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    here = _major_minor(torch.__version__)
    if target and _major_minor(target[0]) < here:
        return _write_kit(wrapper, model_path, out, nuke_version, target, log)
    scripted = torch.jit.script(wrapper)
    tmp = out.with_name(f".{out.name}.tmp")
    scripted.save(str(tmp))
    os.replace(tmp, out)
    if target:
        log(f"{out}: made with torch {torch.__version__}, which Nuke {nuke_version} can load (it runs torch "
            f"{target[0]}: {target[2]})")
    else:
        log(f"warning: {out} is made with torch {torch.__version__}: it loads only in a Nuke whose torch is as new "
            "(Nuke 13-15.0 run torch 1.6/1.12 and cannot load it); pass --nuke-version to build for a given Nuke")
    return out


def _write_kit(wrapper: NukeRestyle, model_path, out: Path, nuke_version: str, target: tuple[str, str, str],
               log: Callable[[str], None]) -> Path:
    """``OUT.kit/`` with ``build.py`` (:mod:`.nuke_kit`) and ``weights.npz``: the network's
    weights, the colour matrices as 1x1 convolutions, the smoothing taps, and a sample input
    with this export's output for the build's own check."""
    from .nuke_kit import BUILD_SCRIPT

    kit = out.with_name(out.name + ".kit")
    kit.mkdir(exist_ok=True)
    sample = torch.from_numpy(np.random.default_rng(0).uniform(0.0, 1.0, (1, 3, 37, 53)).astype(np.float32))
    with torch.no_grad():
        expected = wrapper(sample)
    net = wrapper.net
    config = np.array([net.config.in_channels, net.config.out_channels, net.config.width, net.config.res_blocks,
                       wrapper.multiple], np.int64)
    arrays = {f"net.{name}": value.detach().cpu().numpy() for name, value in net.state_dict().items()}
    arrays.update(config=config, blur=wrapper.blur.numpy(), sample_in=sample.numpy(), sample_out=expected.numpy(),
                  to_rec709=wrapper.to_rec709.numpy().reshape(3, 3, 1, 1),
                  from_rec709=wrapper.from_rec709.numpy().reshape(3, 3, 1, 1))
    tmp = kit / ".weights.tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, kit / "weights.npz")
    script = BUILD_SCRIPT.substitute(out_name=out.name, nuke_version=nuke_version, torch=target[0],
                                     model_name=Path(model_path).name, torch_pin=target[1], kit_name=kit.name,
                                     tolerance=repr(KIT_TOLERANCE))
    (kit / "build.py").write_text(script)
    log(f"Nuke {nuke_version} runs torch {target[0]} ({target[2]}); this is torch {torch.__version__}, whose "
        f"TorchScript it may not load. {out.name} is NOT written: {kit} builds it with torch {target[1]}:\n"
        f"  python3 -m venv nuke_torch && nuke_torch/bin/pip install 'torch=={target[1]}' numpy && "
        f"nuke_torch/bin/python {kit / 'build.py'}")
    return kit
