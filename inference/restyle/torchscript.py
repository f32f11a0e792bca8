"""Export a restyle model as TorchScript for Nuke's own Inference node (``restyle torchscript``).

Nuke's CatFileCreator turns a TorchScript file into a ``.cat`` that the Inference node runs on
the comp's image: (1, 3, H, W) float RGB in the script's working space, RGB back. The exported
module does what ``restyle run`` does around the network, in torch ops: working space to linear
Rec.709 (a 3x3 matrix taken from OCIO at export), the unclamped sRGB curve of the model's working
encoding, the Gaussian input smoothing, reflection padding to the size multiple, the network,
and the way back. Colour-only models with one keyframe only: guide AOVs and per-frame keyframe
blending need inputs the Inference node does not give.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import colour
from ..errors import ModelError
from .model_file import load_model, require_key_check

LINEAR_REC709 = "Linear Rec.709 (sRGB)"


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


def export_torchscript(model_path: str | os.PathLike, out: str | os.PathLike, nuke_space: str) -> Path:
    """Write the TorchScript file atomically; returns its path.

    Raises:
        ModelError: the model has guides or several keyframes, or its working encoding is not
            the sRGB-encoded Rec.709 this wrapper reproduces.
    """
    model = require_key_check(load_model(model_path))
    if model.guides or len(model.key_frames) > 1:
        raise ModelError(f"{model_path}: only colour-only, single-keyframe models run in Nuke's Inference node "
                         f"(this one has guides {model.guides or 'none'} and keys {model.key_frames})")
    if colour.resolve_colourspace(model.meta["encoding"]) != colour.resolve_colourspace(colour.WORKING_ENCODING):
        raise ModelError(f"{model_path}: working encoding {model.meta['encoding']} is not {colour.WORKING_ENCODING}")
    smoothing = float(model.meta.get("input_smoothing", 0.0))
    wrapper = NukeRestyle(model.torch_module(), working_to_rec709(nuke_space), smoothing,
                          int(model.meta["size_multiple"])).eval()
    scripted = torch.jit.script(wrapper)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    scripted.save(str(tmp))
    os.replace(tmp, out)
    return out
