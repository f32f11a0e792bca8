"""Brand swatches: validate the swatch JSON, measure swatch colours, hold them in tolerance.

A swatch JSON is a list of objects::

    {"name": "logo red", "rgb": [0.8, 0.1, 0.1], "colourspace": "sRGB - Texture",
     "tolerance": 1.0, "region": [x, y, w, h]}          # or "mask": "logo_mask.png"

``region`` is in reference-image pixels, top-left origin; ``mask`` an image the size of
the reference (non-zero first channel = swatch). A swatch's measured colour is the mean of
its pixels in the frame's encoding, converted to CIE Lab; its error is the CIEDE2000 to
the target ``rgb``. Holding swatches on their targets is in :mod:`.apply`.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..colour import convert, resolve_colourspace
from ..errors import UsageError
from .delta_e import DEFAULT_COLOURSPACE, delta_e_2000, srgb_to_lab

DEFAULT_TOLERANCE = 1.0


class SwatchError(UsageError):
    """A swatch-JSON field is missing or invalid; the message names the field."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"swatch field '{field}': {problem}")
        self.field = field


@dataclass
class Swatch:
    name: str
    rgb: tuple[float, float, float]
    colourspace: str
    tolerance: float
    mask: np.ndarray = field(repr=False)             # bool (H, W) in reference pixels
    region: tuple[int, int, int, int] | None = None

    def target_lab(self) -> np.ndarray:
        return srgb_to_lab(np.array(self.rgb, np.float32), self.colourspace)

    def target_in(self, colourspace: str) -> np.ndarray:
        """The target colour expressed in ``colourspace``."""
        return convert(np.array(self.rgb, np.float32).reshape(1, 1, 3), self.colourspace,
                       colourspace).reshape(3).astype(np.float64)

    def mask_for(self, shape: tuple[int, int]) -> np.ndarray:
        """The swatch mask resampled (nearest) to a frame of ``(height, width)``."""
        if self.mask.shape == tuple(shape):
            return self.mask
        resized = cv2.resize(self.mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
        return resized.astype(bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def load_swatches(path_or_list, reference_size: tuple[int, int]) -> list[Swatch]:
    """Validate a swatch JSON file (path) or an already-parsed list into :class:`Swatch` es.

    ``reference_size`` is the reference image's ``(width, height)``.

    Raises:
        SwatchError: the first invalid field, named like ``swatches[2].rgb``.
    """
    base_dir = Path(".")
    data = path_or_list
    if isinstance(path_or_list, (str, os.PathLike)):
        path = Path(path_or_list)
        base_dir = path.parent
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise SwatchError("swatches", f"file {path} does not exist") from exc
        except (OSError, ValueError) as exc:
            raise SwatchError("swatches", f"{path} is not valid JSON: {exc}") from exc
    if isinstance(data, dict) and "swatches" in data:
        data = data["swatches"]
    if not isinstance(data, list):
        raise SwatchError("swatches", f"expected a list of swatch objects, got {type(data).__name__}")
    width, height = (int(v) for v in reference_size)
    out, names = [], set()
    for i, item in enumerate(data):
        where = f"swatches[{i}]"
        if not isinstance(item, dict):
            raise SwatchError(where, f"expected an object, got {type(item).__name__}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SwatchError(f"{where}.name", "missing or empty; give each swatch a name")
        if name in names:
            raise SwatchError(f"{where}.name", f"duplicate swatch name {name!r}")
        names.add(name)
        where = f"swatches[{i}] ({name})"
        if "rgb" not in item:
            raise SwatchError(f"{where}.rgb", "missing; give three floats")
        rgb = item["rgb"]
        if not isinstance(rgb, (list, tuple)) or len(rgb) != 3 or not all(_is_number(v) for v in rgb):
            raise SwatchError(f"{where}.rgb", f"expected three finite floats, got {rgb!r}")
        space_name = item.get("colourspace", item.get("colorspace", DEFAULT_COLOURSPACE))
        if not isinstance(space_name, str):
            raise SwatchError(f"{where}.colourspace", f"expected an OCIO colourspace name, got {space_name!r}")
        try:
            space = resolve_colourspace(space_name)
        except UsageError as exc:
            raise SwatchError(f"{where}.colourspace", str(exc)) from exc
        if any(v < 0.0 or v > 1.0 for v in rgb):
            raise SwatchError(f"{where}.rgb", f"{list(rgb)} is out of gamut: each value must lie in "
                                              f"0..1 in colourspace {space!r}")
        tol = item.get("tolerance", DEFAULT_TOLERANCE)
        if not _is_number(tol) or tol <= 0:
            raise SwatchError(f"{where}.tolerance", f"must be a ΔE00 greater than 0, got {tol!r}")
        has_region, has_mask = item.get("region") is not None, item.get("mask") is not None
        if has_region == has_mask:
            raise SwatchError(f"{where}.region", "give exactly one of 'region' [x, y, w, h] or 'mask'")
        region = None
        if has_region:
            region = item["region"]
            if (not isinstance(region, (list, tuple)) or len(region) != 4
                    or not all(_is_number(v) and float(v).is_integer() for v in region)):
                raise SwatchError(f"{where}.region", f"expected four integers [x, y, w, h], got {region!r}")
            x, y, w, h = (int(v) for v in region)
            if w <= 0 or h <= 0:
                raise SwatchError(f"{where}.region", f"{[x, y, w, h]} is empty (width and height must be > 0)")
            if x < 0 or y < 0 or x + w > width or y + h > height:
                raise SwatchError(f"{where}.region", f"{[x, y, w, h]} lies outside the {width}x{height} reference")
            mask = np.zeros((height, width), bool)
            mask[y:y + h, x:x + w] = True
            region = (x, y, w, h)
        else:
            mask = _load_mask(item["mask"], base_dir, f"{where}.mask", (height, width))
        out.append(Swatch(name, tuple(float(v) for v in rgb), space, float(tol), mask, region))
    return out


def _load_mask(value, base_dir: Path, where: str, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(value, (str, os.PathLike)):
        path = Path(value)
        path = path if path.is_absolute() else base_dir / path
        if not path.is_file():
            raise SwatchError(where, f"mask image {path} does not exist")
        from ..image import read_image
        try:
            pixels = np.asarray(read_image(path).pixels, dtype=np.float32)
        except Exception as exc:  # noqa: BLE001 - any decode failure is a bad field
            raise SwatchError(where, f"mask image {path} cannot be read: {exc}") from exc
        arr = pixels[..., 0] if pixels.ndim == 3 else pixels
    else:
        arr = np.asarray(value, dtype=np.float32)
        if arr.ndim == 3:
            arr = arr[..., 0]
        if arr.ndim != 2:
            raise SwatchError(where, f"expected an image path or a 2D array, got shape {arr.shape}")
    if arr.shape != shape:
        raise SwatchError(where, f"mask is {arr.shape[1]}x{arr.shape[0]}, the reference is {shape[1]}x{shape[0]}")
    mask = arr > 0.5
    if not mask.any():
        raise SwatchError(where, "mask is empty (no pixel above 0.5)")
    return mask


def measure_swatch(frame: np.ndarray, swatch: Swatch, frame_colourspace: str = DEFAULT_COLOURSPACE) -> np.ndarray:
    """Lab of the swatch's mean colour in ``frame`` (mean taken in the frame's encoding)."""
    mask = swatch.mask_for(frame.shape[:2])
    mean = np.asarray(frame)[..., :3][mask].astype(np.float64).mean(axis=0)
    return srgb_to_lab(mean.astype(np.float32), frame_colourspace)


def swatch_delta_e(frame: np.ndarray, swatch: Swatch, frame_colourspace: str = DEFAULT_COLOURSPACE) -> float:
    return float(delta_e_2000(measure_swatch(frame, swatch, frame_colourspace), swatch.target_lab()))
