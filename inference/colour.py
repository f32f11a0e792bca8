"""Colour management on OpenColorIO.

The show's config comes from ``$OCIO``; without it the engine uses OCIO's built-in
ACES studio config, so a shell, a farm task and Nuke agree on every colourspace name.
Plates are scene-linear and painted keyframes display-referred; both are converted to
one *working encoding* the model sees, and results go back to the plate's space.
"""
from __future__ import annotations

import difflib
import os
from functools import lru_cache

import numpy as np
import PyOpenColorIO as ocio

from .errors import UsageError
from .sequence import file_extension

BUILTIN_CONFIG = "ocio://studio-config-latest"
# The encoding models are trained and run in: sRGB-encoded Rec.709 primaries. OCIO's
# sRGB curve is unclamped and mirrored below zero, so scene-linear values above 1 and
# out-of-gamut negatives survive the round trip.
WORKING_ENCODING = "sRGB Encoded Rec.709 (sRGB)"
# Roles used for a file's colourspace when none is given, by file type (Nuke's defaults:
# float files linear, log DPX/Cineon, integer files display-referred).
DEFAULT_ROLE_BY_EXTENSION = {"exr": ocio.ROLE_SCENE_LINEAR, "hdr": ocio.ROLE_SCENE_LINEAR,
                             "dpx": ocio.ROLE_COMPOSITING_LOG, "cin": ocio.ROLE_COMPOSITING_LOG}
DISPLAY_ROLE = ocio.ROLE_TEXTURE_PAINT


def config_source() -> str:
    """Where the active config comes from: ``$OCIO`` if set, else the built-in ACES config."""
    return os.environ.get("OCIO") or BUILTIN_CONFIG


@lru_cache(maxsize=4)
def _load(source: str) -> ocio.Config:
    try:
        return ocio.Config.CreateFromFile(source)
    except (ocio.Exception, ocio.ExceptionMissingFile) as exc:
        raise UsageError(f"OCIO config '{source}' cannot be loaded: {exc}; fix $OCIO or unset it") from exc


def load_config() -> ocio.Config:
    """The active OCIO config (cached per source)."""
    return _load(config_source())


def resolve_colourspace(name: str, config: ocio.Config | None = None) -> str:
    """Canonical name of a colourspace, alias or role.

    Raises:
        UsageError: unknown name; the message suggests the closest names in the config.
    """
    config = config or load_config()
    space = config.getColorSpace(name)
    if space is None:
        names = [cs.getName() for cs in config.getColorSpaces()]
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.4)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UsageError(f"colourspace '{name}' is not in the OCIO config {config_source()}{hint}")
    return space.getName()


def default_colourspace(path: str, config: ocio.Config | None = None) -> str:
    """Colourspace assumed for a file when none is given, chosen by its extension."""
    config = config or load_config()
    ext = file_extension(str(path))
    return resolve_colourspace(DEFAULT_ROLE_BY_EXTENSION.get(ext, DISPLAY_ROLE), config)


@lru_cache(maxsize=64)
def _cpu_processor(source: str, src: str, dst: str) -> ocio.CPUProcessor:
    return _load(source).getProcessor(src, dst).getDefaultCPUProcessor()


def convert(pixels: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Convert an ``(H, W, 3|4)`` array from colourspace ``src`` to ``dst`` (active config).

    Returns a new float32 array; alpha (a 4th channel) passes through unchanged.
    """
    src, dst = resolve_colourspace(src), resolve_colourspace(dst)
    out = np.array(pixels, dtype=np.float32, copy=True, order="C")
    if src == dst:
        return out
    if out.ndim != 3 or out.shape[2] not in (3, 4):
        raise ValueError(f"expected (H, W, 3|4) pixels, got {out.shape}")
    processor = _cpu_processor(config_source(), src, dst)
    rgb = np.ascontiguousarray(out[:, :, :3])
    processor.applyRGB(rgb)
    out[:, :, :3] = rgb
    return out


def to_working(pixels: np.ndarray, src: str, working: str = WORKING_ENCODING) -> np.ndarray:
    """Plate or keyframe pixels into the working encoding the model sees."""
    return convert(pixels, src, working)


def from_working(pixels: np.ndarray, dst: str, working: str = WORKING_ENCODING) -> np.ndarray:
    """Model output from the working encoding back to the plate's colourspace."""
    return convert(pixels, working, dst)
