"""CIEDE2000 colour difference (colour-science) and RGB -> CIE Lab through OpenColorIO.

Lab is CIE 1976 L*a*b* relative to D65 (L in 0-100), computed from Rec.709-primaries
linear light, the space the sRGB/Rec.709 colourspaces of the OCIO config decode to.
"""
from __future__ import annotations

import atexit
import functools
import importlib
import sys
import threading
import warnings

import numpy as np

from ..colour import convert

LINEAR_REC709 = "Linear Rec.709 (sRGB)"
DEFAULT_COLOURSPACE = "sRGB Encoded Rec.709 (sRGB)"


def _colour_science():
    """The colour-science package (not ``inference.colour``); quiet about matplotlib."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = importlib.import_module("colour")
    if not hasattr(module, "difference"):
        raise ImportError("'colour' resolved to %s, not colour-science" % module.__file__)
    _release_openimageio_at_exit()
    return module


@functools.cache
def _release_openimageio_at_exit() -> None:
    atexit.register(_release_openimageio)


def _release_openimageio() -> None:
    """Drop colour-science's references to OpenImageIO objects (``colour.io.image`` keeps the
    ImageSpec class and TypeDesc constants, for image I/O this engine never asks it for).

    With torch loaded that module outlives OpenImageIO's teardown at exit, and nanobind then
    prints a screen of "leaked N instances/types/functions" for ImageSpec and its methods.
    Released here, they are freed with OpenImageIO's module.
    """
    module = sys.modules.get("colour.io.image")
    for name, value in list(vars(module).items()) if module else ():
        if str(getattr(value, "__module__", "")).startswith("OpenImageIO"):
            delattr(module, name)


def preload_colour_science() -> threading.Thread:
    """Import colour-science on a background thread (about a second in a fresh process), so a
    render's colour lock, whose QC is its first use, does not wait for it; returns the thread."""
    thread = threading.Thread(target=_colour_science, name="import colour-science", daemon=True)
    thread.start()
    return thread


def delta_e_2000(lab1, lab2) -> np.ndarray:
    """CIEDE2000 difference of two broadcastable ``(..., 3)`` Lab arrays (L in 0-100)."""
    cs = _colour_science()
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    return np.asarray(cs.difference.delta_E_CIE2000(lab1, lab2), dtype=np.float64)


def _rec709_to_xyz_matrix() -> np.ndarray:
    cs = _colour_science()
    return np.asarray(cs.RGB_COLOURSPACES["sRGB"].matrix_RGB_to_XYZ, dtype=np.float64)


def linear_to_lab(linear_rgb) -> np.ndarray:
    """Linear Rec.709 RGB ``(..., 3)`` -> Lab (D65)."""
    cs = _colour_science()
    rgb = np.asarray(linear_rgb, dtype=np.float64)
    xyz = rgb @ _rec709_to_xyz_matrix().T
    d65 = cs.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]
    return np.asarray(cs.XYZ_to_Lab(xyz, d65), dtype=np.float64)


def srgb_to_lab(rgb, colourspace: str = DEFAULT_COLOURSPACE) -> np.ndarray:
    """RGB ``(..., 3)`` in an OCIO ``colourspace`` -> CIE Lab (D65), float64 ``(..., 3)``.

    The colourspace conversion to linear Rec.709 goes through OpenColorIO
    (``inference.colour.convert``); XYZ -> Lab through colour-science.
    """
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) RGB, got shape {rgb.shape}")
    shape = rgb.shape
    flat = rgb.reshape(-1, 1, 3)
    linear = convert(flat, colourspace, LINEAR_REC709).reshape(shape)
    return linear_to_lab(linear)
