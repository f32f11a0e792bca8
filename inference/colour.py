"""Colour management on OpenColorIO.

The show's config comes from ``$OCIO``; without it the engine uses OCIO's built-in
ACES studio config, so a shell, a farm task and Nuke agree on every colourspace name.
Plates are scene-linear and painted keyframes display-referred; both are converted to
one *working encoding* the model sees, and results go back to the plate's space.

Colour travels with the frames: every EXR the engine writes records its colourspace in its
header (``oiio:ColorSpace``, the OCIO name, which OpenImageIO reads back as the image's
colourspace), and every reader uses a recorded colourspace before any default by file type
(:func:`file_colourspace`; OpenImageIO also reads the Color Interop Forum's ``colorInteropID``
that it writes itself). EXR output is scene-linear unless asked otherwise
(:func:`output_colourspace`). Integer formats (PNG, JPEG, TIFF, DPX) have no field for an
OCIO name (OpenImageIO maps one onto an sRGB or gamma tag, losing the primaries), so they
keep their default by type.
"""
from __future__ import annotations

import difflib
import os
from functools import lru_cache

import numpy as np
import PyOpenColorIO as ocio

from .errors import RestyleError, UsageError
from .sequence import file_extension

BUILTIN_CONFIG = "ocio://studio-config-latest"
# The encoding models are trained and run in: sRGB-encoded Rec.709 primaries. OCIO's
# sRGB curve is unclamped and mirrored below zero, so scene-linear values above 1 and
# out-of-gamut negatives survive the round trip.
WORKING_ENCODING = "sRGB Encoded Rec.709 (sRGB)"
# The display-encoded view in [0, 1] that flows, the local deflicker and the measures work on.
SRGB_VIEW = "sRGB - Texture"
# Roles used for a file's colourspace when none is given, by file type (Nuke's defaults:
# float files linear, log DPX/Cineon, integer files display-referred).
DEFAULT_ROLE_BY_EXTENSION = {"exr": ocio.ROLE_SCENE_LINEAR, "hdr": ocio.ROLE_SCENE_LINEAR,
                             "dpx": ocio.ROLE_COMPOSITING_LOG, "cin": ocio.ROLE_COMPOSITING_LOG}
DISPLAY_ROLE = ocio.ROLE_TEXTURE_PAINT
# The EXR header attribute that records a file's colourspace (OCIO name), as OpenImageIO reads
# and writes it; OpenImageIO 3 reads (and writes) the Color Interop ID there as well.
COLOURSPACE_ATTRIBUTE = "oiio:ColorSpace"
INTEROP_ATTRIBUTE = "colorInteropID"


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


def recorded_colourspace(path: str, config: ocio.Config | None = None) -> str | None:
    """The colourspace an EXR's header records (``oiio:ColorSpace``, else ``colorInteropID``, as
    OpenImageIO reads them), resolved in the active config; None when it records none, or for
    other file types (see the module docstring) and files that cannot be opened (their reader
    says why).

    Raises:
        RestyleError: the recorded name is not in the config (exit 65, naming the file).
    """
    if file_extension(str(path)) != "exr":
        return None
    import OpenImageIO as oiio

    image = oiio.ImageInput.open(str(path))
    if image is None:
        oiio.geterror()  # the reader reports the damage
        return None
    try:
        name = image.spec().get_string_attribute(COLOURSPACE_ATTRIBUTE)
    finally:
        image.close()
    if not name:
        return None
    config = config or load_config()
    space = config.getColorSpace(name)
    if space is None:
        raise RestyleError(f"{path}: its header records colourspace '{name}', which the OCIO config "
                           f"{config_source()} does not know; name the file's colourspace with the command's "
                           "colourspace flag, or set $OCIO to the config it was written with")
    return space.getName()


def file_colourspace(path: str, given: str | None = None, fallback: str | None = None) -> str:
    """The colourspace a reader takes a file (or a sequence, by one of its frames) to be in:
    ``given`` (a flag), else what the file records, else ``fallback`` (e.g. the plate
    colourspace a model was trained with), else the default by file type."""
    return resolve_colourspace(given or recorded_colourspace(path) or fallback or default_colourspace(path))


def output_colourspace(path: str, source: str) -> str:
    """The colourspace frames derived from ``source``-space frames are written in when none is
    asked for: EXR is scene-linear (``source`` itself when it is scene-linear, else the config's
    scene_linear role); other file types take their default by type."""
    config = load_config()
    if file_extension(str(path)) != "exr":
        return default_colourspace(path, config)
    source = resolve_colourspace(source, config)
    if config.isColorSpaceLinear(source, ocio.REFERENCE_SPACE_SCENE):
        return source
    return resolve_colourspace(ocio.ROLE_SCENE_LINEAR, config)


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
