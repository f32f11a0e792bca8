"""The network's input: the plate in the working encoding plus optional guide channels.

Guides help the network tell apart regions that look alike in the plate (Texler et al. 2020):
- ``normals``: a renderer's normal AOV (Blender ``*.Normal.XYZ``, Nuke ``N.xyz``), mapped -1..1 -> 0..1;
- ``depth``: a depth AOV (``*.Depth.Z``, ``depth.Z``, ``Z``), as ``1 / (1 + z / scale)`` with one
  ``scale`` fixed at training (so the guide cannot flicker); the sky's +inf becomes 0;
- ``position``: x and y of the pixel, 0..1 across the frame.
With several keyframes, one constant plane per key tells the network which key's look to make.
"""
from __future__ import annotations

import cv2
import numpy as np

from .. import colour
from ..errors import ChannelError, UsageError
from ..image import Image

GUIDES = ("normals", "depth", "position")
_NORMAL_LAYERS = (("*Normal", ("X", "Y", "Z")), ("N", ("x", "y", "z")), ("N", ("X", "Y", "Z")),
                  ("normals", ("x", "y", "z")))
_DEPTH_LAYERS = (("*Depth", ("Z",)), ("depth", ("Z",)), ("", ("Z",)))


def check_guides(guides: list[str]) -> list[str]:
    unknown = [g for g in guides if g not in GUIDES]
    if unknown:
        raise UsageError(f"unknown guide(s) {', '.join(unknown)}; choose from {', '.join(GUIDES)}")
    return list(guides)


def channel_names(guides: list[str], n_keys: int) -> list[str]:
    """Names of the model's input channels, in order."""
    names = ["R", "G", "B"]
    for guide in guides:
        names += {"normals": ["N.x", "N.y", "N.z"], "depth": ["depth"], "position": ["pos.x", "pos.y"]}[guide]
    if n_keys > 1:
        names += [f"key{i}" for i in range(n_keys)]
    return names


def _first_layer(image: Image, candidates, what: str) -> np.ndarray:
    for pattern, components in candidates:
        try:
            return image.layer(pattern, components).as_float32()
        except ChannelError:
            continue
    raise ChannelError(f"{image.source}: the '{what}' guide needs a {what} layer "
                       f"({' or '.join(p for p, _ in candidates if p)}); layers present: "
                       f"{', '.join(k or '(rgba)' for k in image.layers())}")


def raw_depth(image: Image) -> np.ndarray:
    return _first_layer(image, _DEPTH_LAYERS, "depth")[..., 0]


def depth_scale(images: list[Image]) -> float:
    """Median finite depth over the keyframes' plates: the fixed scale of the depth guide."""
    values = np.concatenate([raw_depth(im)[np.isfinite(raw_depth(im))].ravel() for im in images])
    return float(np.median(values)) if values.size else 1.0


def guide_planes(image: Image, guides: list[str], scale: float = 1.0) -> list[np.ndarray]:
    """The guides' ``(H, W, k)`` float32 planes, in ``guides`` order."""
    planes = []
    height, width = image.size[1], image.size[0]
    for guide in guides:
        if guide == "normals":
            planes.append(np.clip((_first_layer(image, _NORMAL_LAYERS, "normals") + 1) / 2, 0, 1))
        elif guide == "depth":
            z = raw_depth(image)
            planes.append(np.where(np.isfinite(z), 1 / (1 + np.maximum(z, 0) / scale), 0)[..., None])
        elif guide == "position":
            ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
            planes.append(np.stack([(xs + 0.5) / width, (ys + 0.5) / height], axis=-1))
    return [plane.astype(np.float32, copy=False) for plane in planes]


def build_input(image: Image, plate_space: str, working: str, guides: list[str],
                scale: float = 1.0, smoothing: float = 0.0) -> np.ndarray:
    """(H, W, C) float32: plate RGB (unpremultiplied: the colour, not its coverage) in the working
    encoding, then the guides' channels.

    ``smoothing``: sigma (px) of a Gaussian applied to the plate's colour, the same in
    training and in every run, so grain and render noise do not become brushwork that
    changes every frame.
    """
    rgb = colour.convert(image.straight_rgb(), plate_space, working)
    if smoothing > 0:
        rgb = cv2.GaussianBlur(rgb, (0, 0), smoothing)
    return np.concatenate([rgb, *guide_planes(image, guides, scale)], axis=-1).astype(np.float32)


def key_planes(shape: tuple[int, int], n_keys: int, key: int) -> np.ndarray:
    """One-hot constant planes selecting ``key`` (none when there is a single key)."""
    planes = np.zeros((*shape, n_keys if n_keys > 1 else 0), np.float32)
    if n_keys > 1:
        planes[..., key] = 1.0
    return planes
