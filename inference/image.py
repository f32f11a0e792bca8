"""One image file in memory: pixels, channel names, windows and metadata (OpenImageIO).

Pixels are held as ``(height, width, channels)`` arrays: float16 for half-float files,
float32 for everything else (integer files are normalised to 0-1 the way OpenImageIO does).
Data window, display window and the file's metadata travel with the pixels so a write
gives back what was read. Writes are atomic: a hidden temporary name in the destination
folder, then ``os.replace``, so a reader never sees a half-written frame.
"""
from __future__ import annotations

import fnmatch
import os
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import OpenImageIO as oiio

from .errors import ChannelError, ImageReadError, NonFiniteError, OutputError

# Bit depth written when the caller does not choose one, by file extension.
DEFAULT_DTYPE = {"exr": "half", "png": "uint8", "jpg": "uint8", "jpeg": "uint8",
                 "tif": "uint16", "tiff": "uint16", "dpx": "uint10"}
# Metadata that describes one file's encoding rather than the picture; never copied over.
_NOT_COPIED = ("oiio:", "compression", "openexr:lineOrder", "Exif:ImageHistory", "png:", "jpeg:",
               "tiff:", "dpx:", "planarconfig", "XResolution", "YResolution", "ResolutionUnit")


@dataclass(frozen=True)
class Window:
    """A pixel rectangle, OpenEXR/Nuke-style: origin ``(x, y)`` and size, y down in the file."""

    x: int
    y: int
    width: int
    height: int


@dataclass
class Image:
    """Pixels plus what a compositor expects to survive a round trip."""

    pixels: np.ndarray
    channels: tuple[str, ...]
    data_window: Window
    display_window: Window
    attributes: dict[str, tuple[str, Any]] = field(default_factory=dict)
    file_format: str = "float"
    source: str | None = None

    def __post_init__(self) -> None:
        if self.pixels.ndim != 3 or self.pixels.shape[2] != len(self.channels):
            raise ValueError(f"pixels {self.pixels.shape} do not match channels {self.channels}")

    @classmethod
    def from_array(cls, pixels: np.ndarray, channels: Sequence[str] = ("R", "G", "B", "A"),
                   **kwargs: Any) -> "Image":
        """A new image whose data and display windows are the array's extent."""
        height, width = pixels.shape[:2]
        window = Window(0, 0, width, height)
        kwargs.setdefault("data_window", window)
        kwargs.setdefault("display_window", window)
        return cls(pixels=pixels, channels=tuple(channels), **kwargs)

    @property
    def size(self) -> tuple[int, int]:
        return self.data_window.width, self.data_window.height

    def layers(self) -> dict[str, list[str]]:
        """Channels grouped by layer (``ViewLayer.Normal.X`` -> layer ``ViewLayer.Normal``)."""
        grouped: dict[str, list[str]] = {}
        for name in self.channels:
            layer, _, _ = name.rpartition(".")
            grouped.setdefault(layer, []).append(name)
        return grouped

    def select(self, names: Sequence[str]) -> "Image":
        """A new image holding only ``names``, in that order.

        Raises:
            ChannelError: a channel is missing; the message lists what the file has.
        """
        missing = [n for n in names if n not in self.channels]
        if missing:
            raise ChannelError(
                f"{self._where()}: missing channel(s) {', '.join(missing)}; "
                f"the file has {', '.join(self.channels)}")
        index = [self.channels.index(n) for n in names]
        return replace(self, pixels=self.pixels[:, :, index], channels=tuple(names))

    def layer(self, pattern: str, components: Sequence[str]) -> "Image":
        """The channels of the layer matching ``pattern`` (fnmatch), e.g. ``*Normal``.

        ``components`` are the channel suffixes wanted in order (``("X", "Y", "Z")``).
        """
        for layer in self.layers():
            if fnmatch.fnmatchcase(layer, pattern):
                names = [f"{layer}.{c}" if layer else c for c in components]
                if all(n in self.channels for n in names):
                    return self.select(names)
        raise ChannelError(
            f"{self._where()}: no layer matching '{pattern}' with channels {'/'.join(components)}; "
            f"layers present: {', '.join(k or '(rgba)' for k in self.layers())}")

    def beauty(self, alpha: bool = True) -> "Image":
        """The colour channels: plain ``R,G,B[,A]`` or a renderer's ``*.Combined`` layer."""
        for pattern in ("", "*Combined", "rgba", "*rgba"):
            for comps in ((("R", "G", "B", "A"),) if alpha else ()) + (("R", "G", "B"),):
                try:
                    return self.layer(pattern, comps)
                except ChannelError:
                    continue
        raise ChannelError(
            f"{self._where()}: no colour channels (R,G,B or a *.Combined layer); "
            f"the file has {', '.join(self.channels)}")

    def as_float32(self) -> np.ndarray:
        return self.pixels.astype(np.float32, copy=False)

    def check_finite(self, names: Sequence[str] | None = None) -> None:
        """Raise NonFiniteError naming the channel and first pixel holding NaN or Inf."""
        for name in names if names is not None else self.channels:
            plane = self.pixels[:, :, self.channels.index(name)]
            bad = ~np.isfinite(plane)
            if bad.any():
                y, x = np.argwhere(bad)[0]
                raise NonFiniteError(
                    f"{self._where()}: {int(bad.sum())} NaN/Inf value(s) in channel {name}, "
                    f"first at x={x} y={y}; fix the render or clamp it (e.g. Nuke Expression "
                    "isnan/isinf) before restyling")

    def _where(self) -> str:
        return self.source or "image"


def read_image(path: str | os.PathLike) -> Image:
    """Read every channel of the first subimage of ``path``.

    Raises:
        ImageReadError: the file is absent, truncated or not an image OpenImageIO can decode.
    """
    path = str(path)
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise ImageReadError(f"{path}: cannot open ({oiio.geterror() or 'unknown error'})")
    try:
        spec = inp.spec()
        formats = {str(f) for f in spec.channelformats} or {str(spec.format)}
        file_format = formats.pop() if len(formats) == 1 else "float"
        pixels = inp.read_image(0, 0, 0, spec.nchannels, "half" if file_format == "half" else "float")
        error = inp.geterror()
        if pixels is None or error:
            raise ImageReadError(f"{path}: corrupt or truncated ({error or 'no pixels read'})")
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        return Image(
            pixels=pixels,
            channels=tuple(spec.channelnames),
            data_window=Window(spec.x, spec.y, spec.width, spec.height),
            display_window=Window(spec.full_x, spec.full_y, spec.full_width, spec.full_height),
            attributes={p.name: (str(p.type), p.value) for p in spec.extra_attribs
                        if not p.name.startswith(_NOT_COPIED)},
            file_format=file_format,
            source=path,
        )
    finally:
        inp.close()


def write_image(path: str | os.PathLike, image: Image, dtype: str | None = None,
                compression: str | None = None, durable: bool = True) -> None:
    """Write ``image`` to ``path`` atomically (temporary sibling + rename).

    Args:
        dtype: bit depth (``half``, ``float``, ``uint8``, ``uint16``, ``uint10`` for DPX);
            default by extension (EXR half, PNG 8-bit, TIFF 16-bit, DPX 10-bit).
        compression: e.g. ``zip``, ``piz``, ``dwaa`` for EXR; default ``zip`` for EXR.
        durable: fsync before the rename so a crash cannot leave an empty file in place.

    Raises:
        OutputError: the destination cannot be written; no file is left behind.
    """
    path = Path(path)
    ext = path.suffix.lower().lstrip(".")
    dtype = dtype or DEFAULT_DTYPE.get(ext, "float")
    spec = _spec_for(image, dtype, compression or ("zip" if ext == "exr" else None))
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")
    out = oiio.ImageOutput.create(str(tmp))
    if out is None:
        raise OutputError(f"{path}: no writer for '.{ext}' ({oiio.geterror()})")
    try:
        pixels = np.ascontiguousarray(image.pixels)
        if not out.open(str(tmp), spec) or not out.write_image(pixels):
            raise OutputError(f"{path}: cannot write ({out.geterror() or oiio.geterror()})")
        if not out.close():
            raise OutputError(f"{path}: cannot finish writing ({out.geterror()})")
        if durable:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        out.close()
        _remove_quietly(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
        raise


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _spec_for(image: Image, dtype: str, compression: str | None) -> oiio.ImageSpec:
    bits = 10 if dtype == "uint10" else None
    spec = oiio.ImageSpec(image.data_window.width, image.data_window.height, len(image.channels),
                          "uint16" if bits else dtype)
    spec.channelnames = image.channels
    spec.x, spec.y = image.data_window.x, image.data_window.y
    dw = image.display_window
    spec.full_x, spec.full_y, spec.full_width, spec.full_height = dw.x, dw.y, dw.width, dw.height
    for channel in ("A", "rgba.A"):
        if channel in image.channels:
            spec.alpha_channel = image.channels.index(channel)
    for name, (type_name, value) in image.attributes.items():
        spec.attribute(name, oiio.TypeDesc(type_name), value)
    if compression:
        spec.attribute("compression", compression)
    if bits:
        spec.attribute("oiio:BitsPerSample", bits)
    return spec
