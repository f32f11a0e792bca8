"""Colour management on OpenColorIO.

The config is the job's (``--ocio-config``, the ``ocio_config`` manifest field: what a Nuke
node passes from its project's colour settings), else ``$OCIO``, else OCIO's built-in ACES
studio config, so a shell, a farm task and Nuke agree on every colourspace name.
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
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

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


_job_config: list[str] = []  # the running job's config (using_config), innermost last


def config_source() -> str:
    """Where the active config comes from: the job's (:func:`using_config`), else ``$OCIO``, else
    the built-in ACES config."""
    return _job_config[-1] if _job_config else os.environ.get("OCIO") or BUILTIN_CONFIG


def _config_origin() -> str:
    return "the job (--ocio-config)" if _job_config else "$OCIO" if os.environ.get("OCIO") else "built-in"


@contextmanager
def using_config(source: str | None) -> Iterator[None]:
    """Run a job with its own OCIO config (a file or an ``ocio://`` built-in); None keeps
    ``$OCIO``/built-in. The config is loaded at once, so a bad one fails before any work."""
    if source:
        _job_config.append(source)
    try:
        if source:
            load_config()
        yield
    finally:
        if source:
            _job_config.pop()


@lru_cache(maxsize=4)
def _load(source: str) -> ocio.Config:
    try:
        return ocio.Config.CreateFromFile(source)
    except (ocio.Exception, ocio.ExceptionMissingFile) as exc:
        fix = "fix --ocio-config (the ocio_config field)" if _job_config else "fix $OCIO or unset it"
        raise UsageError(f"OCIO config '{source}' cannot be loaded: {exc}; {fix}") from exc


def describe(**spaces: str | None) -> dict[str, Any]:
    """What a report or log says about colour: the config (where from, its name and description's
    first line) and the given colourspaces by role (``input_colourspace="ACEScg"``), those not
    None."""
    config = load_config()
    first_line = (config.getDescription() or "").strip().splitlines()
    return {"ocio_config": config_source(), "config_from": _config_origin(), "config_name": config.getName(),
            "config_description": first_line[0] if first_line else "",
            **{role: name for role, name in spaces.items() if name}}


def summary_line(info: dict[str, Any]) -> str:
    """:func:`describe` as one log line."""
    spaces = ", ".join(f"{role} {name}" for role, name in info.items()
                       if role not in ("ocio_config", "config_from", "config_name", "config_description"))
    return "OCIO config {} ({}{}){}".format(info["ocio_config"], info["config_from"],
                                            ", " + info["config_name"] if info["config_name"] else "",
                                            "; " + spaces if spaces else "")


def load_config() -> ocio.Config:
    """The active OCIO config (cached per source)."""
    return _load(config_source())


def resolve_colourspace(name: str, config: ocio.Config | None = None) -> str:
    """Canonical name of a colourspace, alias or role (in the active config: also the engine's own
    names of the built-in config, e.g. its working encoding, reached through the configs'
    interchange roles by :func:`processor`).

    Raises:
        UsageError: unknown name; the message suggests the closest names in the config.
    """
    space = (config or load_config()).getColorSpace(name)
    if space is None and config is None and config_source() != BUILTIN_CONFIG:
        space = _load(BUILTIN_CONFIG).getColorSpace(name)
    config = config or load_config()
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
                           "colourspace flag, or give the config it was written with (--ocio-config or $OCIO)")
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


def processor(src: str, dst: str) -> ocio.Processor:
    """The conversion between two canonical names (:func:`resolve_colourspace`) in the active
    config; a name only the built-in config has (the engine's working encoding, under a show's
    config) is reached from the show's through both configs' interchange roles."""
    return _processor(config_source(), src, dst)


@lru_cache(maxsize=64)
def _processor(source: str, src: str, dst: str) -> ocio.Processor:
    config = _load(source)
    if config.getColorSpace(src) is not None and config.getColorSpace(dst) is not None:
        return config.getProcessor(src, dst)
    builtin = _load(BUILTIN_CONFIG)
    own = [name for name in (src, dst) if config.getColorSpace(name) is None]
    try:
        return ocio.Config.GetProcessorFromConfigs(config if src not in own else builtin, src,
                                                   config if dst not in own else builtin, dst)
    except ocio.Exception as exc:
        raise UsageError(f"the OCIO config {source} has no colourspace '{own[0]}' (the engine's own, from "
                         f"{BUILTIN_CONFIG}) and the two configs cannot be bridged ({exc}): give the config the "
                         "interchange roles aces_interchange and cie_xyz_d65_interchange (OCIO 2.2+ configs "
                         "have them), or that colourspace") from None


@lru_cache(maxsize=64)
def _cpu_processor(source: str, src: str, dst: str) -> ocio.CPUProcessor:
    return _processor(source, src, dst).getDefaultCPUProcessor()


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
