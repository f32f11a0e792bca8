"""One image file in memory: pixels, channel names, windows and metadata.

EXR goes through the OpenEXR bindings (they release the GIL, so a thread pool encodes and
decodes frames in parallel, and they keep every header attribute); PNG, TIFF, JPEG, DPX and
the rest go through OpenImageIO. Pixels are seen as ``(height, width, channels)`` arrays:
float16 for half-float files, float32 for everything else (integer files normalised to 0-1).
EXR frames are held planar, one contiguous plane per channel seen through a transposed view, as
OpenEXR stores them: reading, writing, the finiteness check and a GPU upload then move whole
planes instead of gathering every channel's values across an interleaved buffer.
Data window, display window and the file's metadata travel with the pixels so a write
gives back what was read, except the colourspace a file records: a write records the one it is
given (:mod:`.colour`), never one carried over from the file the pixels came from. Writes are
atomic: a hidden temporary name in the destination folder, then ``os.replace``, so a reader
never sees a half-written frame.
"""
from __future__ import annotations

import fnmatch
import os
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import OpenEXR
import OpenImageIO as oiio

from .colour import COLOURSPACE_ATTRIBUTE, INTEROP_ATTRIBUTE
from .errors import ChannelError, ImageReadError, MissingFileError, NonFiniteError, OutputError, UsageError
from .sequence import file_extension

# Bit depth written when the caller does not choose one, by file extension.
DEFAULT_DTYPE = {"exr": "half", "png": "uint8", "jpg": "uint8", "jpeg": "uint8",
                 "tif": "uint16", "tiff": "uint16", "dpx": "uint10"}
# Header entries OpenEXR rebuilds from the pixels and write options.
_EXR_STRUCTURE = {"channels", "compression", "dataWindow", "displayWindow", "lineOrder", "type",
                  "chunkCount", "tiles", "version", "name", "view"}
_BEAUTY_ORDER = {"R": 0, "G": 1, "B": 2, "A": 3}
_GREY_AS_RGB = ("R", "G", "B", "A")  # the names a grey image's beauty() gives its Y (and alpha)
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
    attributes: dict[str, Any] = field(default_factory=dict)
    file_format: str = "float"
    source: str | None = None
    # The frame as read, when this image is it cut to its format (:meth:`on_format`): what
    # :meth:`with_rgb` puts back around the format (the overscan passes through untouched).
    overscan: "Image | None" = field(default=None, repr=False, compare=False)

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
        return self.select(self.layer_channels(pattern, components))

    def layer_channels(self, pattern: str, components: Sequence[str]) -> list[str]:
        """The names :meth:`layer` selects (no pixels copied)."""
        for layer in self.layers():
            if fnmatch.fnmatchcase(layer, pattern):
                names = [f"{layer}.{c}" if layer else c for c in components]
                if all(n in self.channels for n in names):
                    return names
        raise ChannelError(
            f"{self._where()}: no layer matching '{pattern}' with channels {'/'.join(components)}; "
            f"layers present: {', '.join(k or '(rgba)' for k in self.layers())}")

    def beauty(self, alpha: bool = True) -> "Image":
        """The colour channels as ``R,G,B[,A]``: plain ``R,G,B[,A]``, a renderer's ``*.Combined``
        layer, or a grey image's ``Y`` (a pencil drawing saved single-channel) replicated to R, G, B."""
        names = self.beauty_channels(alpha)
        picked = self.select(names)
        return replace(picked, channels=_GREY_AS_RGB[:len(names)]) if names[0] == names[1] else picked

    def beauty_channels(self, alpha: bool = True) -> list[str]:
        """The names :meth:`beauty` selects (no pixels copied); a grey image's ``Y`` three times."""
        for pattern in ("", "*Combined", "rgba", "*rgba"):
            for comps in ((("R", "G", "B", "A"),) if alpha else ()) + (("R", "G", "B"),):
                try:
                    return self.layer_channels(pattern, comps)
                except ChannelError:
                    continue
        for grey in ((("Y", "A"),) if alpha else ()) + (("Y",),):
            if all(name in self.channels for name in grey):
                return [grey[0]] * 3 + list(grey[1:])
        raise ChannelError(
            f"{self._where()}: no colour channels (R,G,B, Y (grey) or a *.Combined layer); "
            f"the file has {', '.join(self.channels)}")

    def on_format(self) -> "Image":
        """This image on its display window (the compositor's format): overscan outside it cut
        off, a data window smaller than it padded with zeros (transparent black, as Nuke shows
        outside a bbox). Every frame of a sequence then has one size, whatever its bbox; the
        frame as read stays at hand (``overscan``) for :meth:`with_rgb` to put back."""
        data, full = self.data_window, self.display_window
        if data == full:
            return self
        x0, y0 = max(data.x, full.x), max(data.y, full.y)
        x1, y1 = min(data.x + data.width, full.x + full.width), min(data.y + data.height, full.y + full.height)
        planes = []
        for i in range(len(self.channels)):
            plane = np.zeros((full.height, full.width), self.pixels.dtype)
            if x1 > x0 and y1 > y0:
                plane[y0 - full.y:y1 - full.y, x0 - full.x:x1 - full.x] = \
                    self.pixels[y0 - data.y:y1 - data.y, x0 - data.x:x1 - data.x, i]
            planes.append(plane)
        return replace(self, pixels=_planar(planes), data_window=full, overscan=self)

    def alpha_plane(self) -> np.ndarray | None:
        """The beauty's alpha, ``(H, W)`` float32, or None for an opaque frame: no alpha, one of 1
        everywhere (dividing or multiplying by it changes nothing), or one of 0 everywhere (what a
        Write of rgba gives for a stream without alpha; taken as opaque, not as empty)."""
        beauty = self.beauty_channels()
        if len(beauty) < 4:
            return None
        alpha = self.pixels[..., self.channels.index(beauty[3])].astype(np.float32)
        return None if not alpha.any() or (alpha == 1).all() else alpha

    def straight_rgb(self) -> np.ndarray:
        """The colour ``(H, W, 3)`` float32, unpremultiplied: divided by alpha where alpha is not
        (nearly) 0 (:func:`unpremultiply`; elsewhere the colour stays as it is)."""
        rgb = self.beauty(alpha=False).as_float32()
        alpha = self.alpha_plane()
        return rgb if alpha is None else unpremultiply(rgb, alpha)

    def with_rgb(self, rgb: np.ndarray, attributes: dict[str, Any] | None = None,
                 premultiply: bool = False) -> "Image":
        """A new R, G, B[, A] image: ``rgb`` as colour, this image's alpha (if any), windows and
        metadata; half when ``rgb`` is half (frames bound for a half EXR), else float32. Held
        planar, ready for the EXR writer (``rgb`` planar too, as ``to_host(planar=True)`` gives
        it, makes every plane a straight copy). ``premultiply``: ``rgb`` is straight colour (as
        :meth:`straight_rgb` gives), multiplied by this image's alpha here."""
        dtype = np.float16 if rgb.dtype == np.float16 else np.float32
        planes, channels = [rgb[..., i] for i in range(3)], ["R", "G", "B"]
        alpha = self.alpha_plane() if premultiply else None
        if alpha is not None:  # plane by plane: a planar rgb stays planar
            planes = [(plane.astype(np.float32) * alpha).astype(dtype) for plane in planes]
        beauty = self.beauty_channels()
        if len(beauty) == 4:
            planes.append(self.pixels[..., self.channels.index(beauty[3])])
            channels.append("A")
        made = replace(self, pixels=_planar([p.astype(dtype, copy=False) for p in planes]),
                       channels=tuple(channels), attributes={**self.attributes, **(attributes or {})}, overscan=None)
        return made if self.overscan is None else made.around(self.overscan)

    def around(self, frame: "Image") -> "Image":
        """This image (on the format) inside ``frame``'s bbox: the data window is the union of both,
        ``frame``'s own pixels of the same channels (its beauty's) outside the format, as read."""
        data, full = frame.data_window, self.data_window
        x0, y0 = min(data.x, full.x), min(data.y, full.y)
        window = Window(x0, y0, max(data.x + data.width, full.x + full.width) - x0,
                        max(data.y + data.height, full.y + full.height) - y0)
        sources = frame.beauty_channels(alpha=len(self.channels) == 4)
        planes = []
        for i, name in enumerate(self.channels):
            plane = np.zeros((window.height, window.width), self.pixels.dtype)
            plane[data.y - y0:data.y - y0 + data.height, data.x - x0:data.x - x0 + data.width] = \
                frame.pixels[..., frame.channels.index(sources[i])]
            plane[full.y - y0:full.y - y0 + full.height, full.x - x0:full.x - x0 + full.width] = self.pixels[..., i]
            planes.append(plane)
        return replace(self, pixels=_planar(planes), data_window=window)

    def as_float32(self) -> np.ndarray:
        return self.pixels.astype(np.float32, copy=False)

    def check_finite(self, names: Sequence[str] | None = None) -> None:
        """Raise NonFiniteError naming the channel and first pixel holding NaN or Inf."""
        for name in names if names is not None else self.channels:
            plane = self.pixels[:, :, self.channels.index(name)]
            if not _all_finite(plane):
                bad = ~np.isfinite(plane)
                y, x = np.argwhere(bad)[0]
                raise NonFiniteError(
                    f"{self._where()}: {int(bad.sum())} NaN/Inf value(s) in channel {name}, "
                    f"first at x={x} y={y}; fix the render or clamp it (e.g. Nuke Expression "
                    "isnan/isinf) before restyling")

    def check_colour_finite(self) -> None:
        """Raise NonFiniteError when a colour channel holds NaN or Inf; AOVs such as depth may hold
        +inf (sky), and an image without colour channels has nothing to check here."""
        try:
            names = self.beauty_channels()
        except ChannelError:
            return
        self.check_finite(names)

    def _where(self) -> str:
        return self.source or "image"


def read_image(path: str | os.PathLike) -> Image:
    """Read every channel of ``path`` (EXR through OpenEXR, other types through OpenImageIO).

    Every command reads its frames here, so a NaN or Inf in a colour channel stops it here, naming
    the file, the channel and the pixel, before it can spread into an output.

    Raises:
        MissingFileError: the file is absent (exit 66, as for any missing input).
        ImageReadError: the file is truncated or not an image that can be decoded.
        NonFiniteError: a colour channel holds NaN or Inf.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise MissingFileError(f"{path}: no such file")
    try:
        image = _read_exr(path) if file_extension(path) == "exr" else _read_oiio(path)
    except ImageReadError:
        raise
    except Exception as exc:  # the codecs raise RuntimeError/ValueError/... on damaged files
        raise ImageReadError(f"{path}: corrupt or truncated ({exc})") from None
    image.check_colour_finite()
    return image


def read_frame(path: str | os.PathLike) -> Image:
    """:func:`read_image` on the frame's format (:meth:`Image.on_format`): how the processing
    stages read frames, so overscan and a bbox that changes from frame to frame are no error."""
    return read_image(path).on_format()


def write_image(path: str | os.PathLike, image: Image, dtype: str | None = None,
                compression: str | None = None, durable: bool = True, colourspace: str | None = None) -> None:
    """Write ``image`` to ``path`` atomically (temporary sibling + rename).

    Args:
        colourspace: the OCIO colourspace of the pixels, recorded in the file's header (EXR:
            ``oiio:ColorSpace``; other types: what OpenImageIO can tag);
            None records none. A colourspace recorded by the file ``image`` was read from is
            never written.
        dtype: bit depth (``half``, ``float``, ``uint8``, ``uint16``, ``uint10`` for DPX);
            default by extension (EXR half, PNG 8-bit, TIFF 16-bit, DPX 10-bit).
        compression: EXR compression (``zip`` default, ``piz``, ``zstd``, ``dwaa``, ``none``...).
        durable: fsync before the rename so a crash cannot leave an empty file in place.

    Raises:
        OutputError: the destination cannot be written; no file is left behind.
    """
    path = Path(path)
    ext = file_extension(path.name)
    dtype = dtype or DEFAULT_DTYPE.get(ext, "float")
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp{path.suffix}")
    carried = {k: v for k, v in image.attributes.items() if k not in (COLOURSPACE_ATTRIBUTE, INTEROP_ATTRIBUTE)}
    image = replace(image, attributes={**carried, **({COLOURSPACE_ATTRIBUTE: colourspace} if colourspace else {})})
    try:
        if ext == "exr":
            _write_exr(tmp, image, dtype, compression or "zip")
        else:
            _write_oiio(tmp, image, dtype)
        if durable:
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        _remove_quietly(tmp)
        if isinstance(exc, OSError):
            raise OutputError(f"{path}: cannot write ({exc.strerror or exc})") from exc
        if isinstance(exc, (RuntimeError, ValueError, TypeError)):
            raise OutputError(f"{path}: cannot write ({exc})") from exc
        raise


# Alpha below this is not divided by (the colour stays as it is, as where alpha is 0): a colour
# that is not really premultiplied (more colour than coverage) would otherwise grow without bound.
UNPREMULT_MIN_ALPHA = 1e-2


def unpremultiply(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` colour divided by ``(H, W)`` alpha where alpha is at least
    ``UNPREMULT_MIN_ALPHA`` (Nuke's Unpremult divides wherever alpha is not 0)."""
    safe = np.where(alpha >= UNPREMULT_MIN_ALPHA, alpha, 1).astype(np.float32)
    return (rgb / safe[..., None]).astype(np.float32)


def _planar(planes: Sequence[np.ndarray]) -> np.ndarray:
    """``(H, W, C)`` pixels stored planar: the planes copied one after another (whole-plane
    copies, no per-value gather), seen through a transposed view."""
    return np.stack(planes).transpose(1, 2, 0)


# Per float type: the unsigned type of its size and its exponent bits (all ones: NaN or Inf).
_EXPONENT_BITS = {np.dtype(np.float16): (np.uint16, 0x7C00), np.dtype(np.float32): (np.uint32, 0x7F800000)}


def _all_finite(plane: np.ndarray) -> bool:
    """No NaN or Inf in ``plane``: a test of the exponent bits, several times faster than
    ``np.isfinite`` on half floats (which numpy widens value by value)."""
    kind = _EXPONENT_BITS.get(plane.dtype)
    if kind is None:
        return bool(np.isfinite(plane).all())
    bits, exponent = kind
    return not np.any(np.bitwise_and(plane.view(bits), exponent) == exponent)


# Who codes EXRs: OpenEXR, unless this holds the engine's own ZIP coder (:func:`use_exr_coder`).
_zip_coder: Any = None
EXR_CODERS = ("auto", "openexr", "engine")
EXR_CODER_VARIABLE = "RESTYLE_EXR_CODER"  # overrides the choice a render makes (auto)


def use_exr_coder(choice: str | None = None, device: str = "cpu") -> str:
    """Choose, for this process from now on, who codes ZIP and ZIPS scanline EXRs; returns the
    coder in use (``openexr``, ``nvcomp``, ``zlib``, or ``nvcomp-read``/``-write`` where only one
    direction passed nvCOMP's check). Every other EXR (PIZ, DWA, tiled, ...) always goes through
    OpenEXR. See docs/exr_io.md.

    Args:
        choice: ``auto`` (OpenEXR: on an H100 with 16 vCPUs OpenEXR read 181-221 and wrote 39-59
            2K frames/s where nvCOMP read 22-28 and wrote 15-20; bench/results/io.json, label
            gpu-nvcomp), ``openexr``, or ``engine`` (the engine's coder on ``device``; on the CPU its zlib twin,
            for tests and comparisons). None: ``$RESTYLE_EXR_CODER``, else ``auto``.

    Raises:
        UsageError: an unknown choice, or ``engine`` on CUDA without nvCOMP.
    """
    global _zip_coder
    choice = choice or os.environ.get(EXR_CODER_VARIABLE) or "auto"
    if choice not in EXR_CODERS:
        raise UsageError(f"EXR coder must be one of {', '.join(EXR_CODERS)}, got {choice!r} "
                         f"(${EXR_CODER_VARIABLE} or the caller)")
    coder = None
    if choice == "engine":
        from .exr_zip import cpu_twin, gpu_coder

        coder = gpu_coder(device)
        if coder is None:
            if device != "cpu":
                raise UsageError(f"EXR coder 'engine' on {device}: nvCOMP (pip package nvidia-nvcomp-cu12) is not "
                                 "installed or does not agree with zlib here; use auto or openexr")
            coder = cpu_twin()
    _zip_coder = coder
    return coder.name if coder is not None else "openexr"


def _engine_order(names: Sequence[str]) -> list[str]:
    """R, G, B, A first, other channels in the file's (name) order."""
    order = list(names)
    return sorted(order, key=lambda n: (_BEAUTY_ORDER.get(n, len(_BEAUTY_ORDER)), order.index(n)))


def _read_exr(path: str) -> Image:
    """First part of an OpenEXR file; R,G,B,A first, other layers in the file's (name) order."""
    decoded = _zip_coder.decode(path) if _zip_coder is not None else None
    if decoded is not None:
        with OpenEXR.File(path, header_only=True) as exr:  # the header empties as the file closes
            header = dict(exr.header())
        names = _engine_order(decoded.names)
        pixels = decoded.pixels([decoded.names.index(n) for n in names])
        return _exr_image(path, header, names, pixels)
    with OpenEXR.File(path, separate_channels=True) as exr:  # its views die with the file
        header = exr.header()
        planes = {name: channel.pixels for name, channel in exr.channels().items()}
        if not planes:
            raise ImageReadError(f"{path}: no channels")
        names = _engine_order(list(planes))
        dtype = np.float16 if all(planes[n].dtype == np.float16 for n in names) else np.float32
        return _exr_image(path, header, names, _planar([planes[n].astype(dtype, copy=False) for n in names]))


def _exr_image(path: str, header: dict[str, Any], names: list[str], pixels: np.ndarray) -> Image:
    return Image(pixels, tuple(names), _window(header["dataWindow"]), _window(header["displayWindow"]),
                 {k: v for k, v in header.items() if k not in _EXR_STRUCTURE},
                 "half" if pixels.dtype == np.float16 else "float", path)


def exr_codec(compression: str, where: str = "EXR output") -> Any:
    """OpenEXR's codec for a compression name (``zip``, ``piz``, ``zstd``, ``dwaa``, ``none``...).

    Raises:
        UsageError: naming ``where`` and the names OpenEXR knows.
    """
    if compression.lower() == "none":
        return OpenEXR.NO_COMPRESSION
    codec = getattr(OpenEXR, f"{compression.upper()}_COMPRESSION", None)
    if codec is None:
        known = sorted(n[:-len("_COMPRESSION")].lower() for n in dir(OpenEXR)
                       if n.endswith("_COMPRESSION") and n != "NO_COMPRESSION")
        raise UsageError(f"{where}: unknown EXR compression '{compression}'; use none or one of {', '.join(known)}")
    return codec


def _write_exr(path: Path, image: Image, dtype: str, compression: str) -> None:
    if dtype not in ("half", "float"):
        raise OutputError(f"{path}: EXR needs dtype half or float (got {dtype})")
    codec = exr_codec(compression, str(path))
    pixels = image.pixels.astype(np.float16 if dtype == "half" else np.float32, copy=False)
    dw, full = image.data_window, image.display_window
    header = {k: v for k, v in image.attributes.items() if _exr_attribute_ok(v)}
    header.update({
        "compression": codec, "type": OpenEXR.scanlineimage, "lineOrder": OpenEXR.INCREASING_Y,
        "dataWindow": _box(dw), "displayWindow": _box(full)})
    if _zip_coder is not None and _zip_coder.encode(str(path), header, list(image.channels), pixels.transpose(2, 0, 1)):
        return
    channels = {name: np.ascontiguousarray(pixels[:, :, i]) for i, name in enumerate(image.channels)}
    with OpenEXR.File(header, channels) as exr:
        exr.write(str(path))


def _read_oiio(path: str) -> Image:
    inp = oiio.ImageInput.open(path)
    if inp is None:
        raise ImageReadError(f"{path}: cannot open ({oiio.geterror() or 'unknown error'})")
    try:
        spec = inp.spec()
        formats = {str(f) for f in spec.channelformats} or {str(spec.format)}
        file_format = formats.pop() if len(formats) == 1 else "float"
        pixels = inp.read_image(0, 0, 0, spec.nchannels, "float")
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
            attributes={p.name: p.value for p in spec.extra_attribs
                        if not p.name.startswith(_NOT_COPIED) and isinstance(p.value, (str, int, float))},
            file_format=file_format,
            source=path,
        )
    finally:
        inp.close()


def _write_oiio(path: Path, image: Image, dtype: str) -> None:
    out = oiio.ImageOutput.create(str(path))
    if out is None:
        raise OutputError(f"{path}: no writer for this file type ({oiio.geterror()})")
    try:
        if not out.open(str(path), _spec_for(image, dtype)):
            raise OutputError(f"{path}: cannot write ({out.geterror() or oiio.geterror()})")
        if not out.write_image(np.ascontiguousarray(image.pixels)):
            raise OutputError(f"{path}: cannot write ({out.geterror()})")
    finally:
        if not out.close():
            raise OutputError(f"{path}: cannot finish writing ({out.geterror()})")


def _window(box) -> Window:
    (x0, y0), (x1, y1) = box
    return Window(int(x0), int(y0), int(x1 - x0 + 1), int(y1 - y0 + 1))


def _box(window: Window) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([window.x, window.y], np.int32),
            np.array([window.x + window.width - 1, window.y + window.height - 1], np.int32))


def _exr_attribute_ok(value: Any) -> bool:
    """Values the OpenEXR bindings can write back (what they read, or plain scalars)."""
    return isinstance(value, (str, int, float, np.ndarray, tuple, list)) or type(value).__module__ == "OpenEXR"


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


def _spec_for(image: Image, dtype: str) -> oiio.ImageSpec:
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
    for name, value in image.attributes.items():
        if isinstance(value, (str, int, float)) and not name.startswith(_NOT_COPIED):
            spec.attribute(name, value)
    if COLOURSPACE_ATTRIBUTE in image.attributes:
        spec.attribute(COLOURSPACE_ATTRIBUTE, image.attributes[COLOURSPACE_ATTRIBUTE])
    if bits:
        spec.attribute("oiio:BitsPerSample", bits)
    return spec
