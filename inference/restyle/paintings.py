"""The painted keyframes as training and the keys' brushwork read them.

A painting is taken on its format (overscan cut off, as every frame), resized to the plate's
format when it is of another size (with a warning: a painting made at proxy or at a delivery
size is still usable), and unpremultiplied: its colour is the straight colour, and its alpha
says where it was painted. An alpha of zero everywhere, or none, means painted everywhere.

Where a painting's alpha is below 1 its key teaches less of the painting and more of the plate
(:func:`teaching`): painting only the hero leaves the rest of that frame to follow the plate
itself, at ``TrainSettings.unpainted_weight`` of a painted pixel's weight, so another key that
paints that area (its own frame) speaks louder there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from .. import colour
from ..image import Image, read_frame


@dataclass
class Painting:
    """One key's painting on the plate's format: straight colour in the working encoding and its
    alpha (None: painted everywhere)."""

    colour: np.ndarray  # (H, W, 3) float32
    alpha: np.ndarray | None  # (H, W) float32 in 0-1


def fit_to(image: Image, size: tuple[int, int], what: str, log: Callable[[str], None]) -> Image:
    """``image`` resized to ``size`` (width, height) when it is of another size, saying so: area
    filter to shrink, bicubic to enlarge; every channel (alpha too)."""
    if image.size == size:
        return image
    log(f"WARNING: {what} is {image.size[0]}x{image.size[1]} but the plate's format is {size[0]}x{size[1]}: "
        f"resized to the plate's format (paint at the plate's format for the exact pixels)")
    shrink = size[0] * size[1] < image.size[0] * image.size[1]
    pixels = cv2.resize(image.as_float32(), size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return Image.from_array(pixels.reshape(size[1], size[0], -1), image.channels, attributes=image.attributes,
                            source=image.source)


def read_painting(path: str, size: tuple[int, int], space: str, working: str, log: Callable[[str], None]
                  ) -> Painting:
    """The painting at ``path`` on the plate's format ``size``, its colour unpremultiplied and
    taken from ``space`` to ``working``."""
    image = fit_to(read_frame(path), size, f"keyframe {path}", log)
    alpha = image.alpha_plane()
    return Painting(colour.convert(image.straight_rgb(), space, working),
                    None if alpha is None else np.clip(alpha, 0, 1))


def teaching(painting: Painting, plate: np.ndarray, unpainted_weight: float) -> tuple[np.ndarray, np.ndarray | None]:
    """What a key teaches: (target ``(H, W, 3)``, per-pixel loss weight ``(H, W)`` or None for 1
    everywhere). Where the painting's alpha ``a`` is below 1 the target leans to ``plate`` (the
    plate's own colour in the working encoding): ``(a P + (1 - a) w X) / (a + (1 - a) w)``, weighed
    ``a + (1 - a) w`` with ``w = unpainted_weight`` (0: unpainted pixels teach nothing)."""
    if painting.alpha is None:
        return painting.colour, None
    a = painting.alpha[..., None]
    weight = a + (1 - a) * unpainted_weight
    target = (a * painting.colour + (1 - a) * unpainted_weight * plate) / np.maximum(weight, 1e-6)
    return target.astype(np.float32), weight[..., 0].astype(np.float32)
