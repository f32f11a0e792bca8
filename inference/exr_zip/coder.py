"""ZIP and ZIPS scanline EXR frames decoded and encoded by the engine, chunks in one batch.

Decode: the whole file is read into (on CUDA, pinned) host memory and copied to the device once;
the header and chunk offset table are parsed here; the chunks' Deflate streams are inflated as one
batch (nvCOMP on a GPU, zlib on the CPU twin), their Adler-32 checked, the predictor and byte
interleave undone in torch, and the scanlines split into channel planes. Encode is the reverse,
with the header's other attributes serialised by OpenEXR itself (it writes them into a 1x1 file
whose attribute records are copied), so what OpenEXR would write is kept. Chunks that do not
shrink are stored raw, as OpenEXR stores them. Files this coder does not handle (other
compressions, tiled, deep, multi-part, subsampled or UINT channels) are left to OpenEXR: decode
returns None and encode False.
"""
from __future__ import annotations

import contextlib
import functools
import os
import struct
import tempfile
import threading
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import OpenEXR
import torch

from ..errors import ImageReadError
from .deflate import DEFAULT_LEVEL, NvcompStreams, Streams, ZlibStreams, agrees_with_zlib
from .layout import (
    FLOAT,
    HALF,
    LINES,
    STRUCTURE,
    VALUE_BYTES,
    Attribute,
    LayoutError,
    chunk_table,
    header_bytes,
    read_layout,
    structure,
)
from .transform import adler32, decode_rows, encode_rows

_ZLIB_HEADER = bytes([0x78, 0x5E])  # deflate, 32 KB window, no dictionary, "fast" level class
_TORCH_TYPE = {HALF: torch.float16, FLOAT: torch.float32}
_PIXEL_TYPE = {torch.float16: HALF, torch.float32: FLOAT}


@dataclass
class Decoded:
    """A frame's channel planes, ``(C, H, W)`` on the coder's device in file (name) order: half
    when every channel is half, else float32."""

    names: tuple[str, ...]
    planes: torch.Tensor

    def pixels(self, order: list[int]) -> np.ndarray:
        """The planes ``order`` picks as host ``(H, W, C)`` pixels, held planar (a transposed view
        of ``(C, H, W)``, as the engine holds EXR frames); from a GPU in one copy to pinned memory."""
        return _to_host(self.planes[order]).numpy().transpose(1, 2, 0)


def _read_into_memory(path: str, pinned: bool) -> torch.Tensor:
    size = os.path.getsize(path)
    buffer = torch.empty(size, dtype=torch.uint8, pin_memory=pinned)
    with open(path, "rb") as handle:
        if handle.readinto(buffer.numpy()) != size:
            raise ImageReadError(f"{path}: file changed size while being read")
    return buffer


def _to_host(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` in host memory: from a GPU in one copy to pinned memory."""
    if not tensor.is_cuda:
        return tensor
    host = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
    host.copy_(tensor, non_blocking=True)
    torch.cuda.current_stream(tensor.device).synchronize()
    return host


def _zlib_stream(data: memoryview, start: int, size: int) -> bool:
    """Whether ``size`` bytes at ``start`` open like a zlib stream: Deflate, header check
    ``(CMF * 256 + FLG) % 31 == 0``, no preset dictionary, room for a stream and the trailer."""
    cmf, flg = data[start], data[start + 1]
    return size >= 7 and cmf & 0x0F == 8 and (cmf * 256 + flg) % 31 == 0 and not flg & 0x20


def _grouped(rows: list[torch.Tensor]) -> dict[int, list[int]]:
    """Row indices by length (a frame's chunks have one length, except maybe its last)."""
    groups: dict[int, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(int(row.numel()), []).append(index)
    return groups


class ZipCoder:
    """Codes ZIP/ZIPS scanline EXRs on ``device`` with ``inflater``/``deflater`` (either may be
    None: that direction stays with OpenEXR)."""

    def __init__(self, device: torch.device | str, inflater: Streams | None, deflater: Streams | None):
        self.device = torch.device(device)
        self._local = threading.local()
        self.inflater, self.deflater = inflater, deflater

    @property
    def name(self) -> str:
        """``nvcomp`` or ``zlib``; ``nvcomp-read`` (or ``-write``) where one direction stays with OpenEXR."""
        if self.inflater is not None and self.deflater is not None and self.inflater.name == self.deflater.name:
            return self.inflater.name
        return "+".join(f"{s.name}-{direction}" for s, direction in ((self.inflater, "read"), (self.deflater, "write"))
                        if s is not None) or "none"

    @contextlib.contextmanager
    def _own_stream(self) -> Iterator[None]:
        """On CUDA, the calling thread's own stream (reading and writing threads code frames side
        by side), after the work already queued on the caller's, and finished on leaving."""
        if self.device.type != "cuda":
            yield
            return
        stream = getattr(self._local, "stream", None) or torch.cuda.Stream(self.device)
        self._local.stream = stream
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            yield
        stream.synchronize()

    # ---- decode -------------------------------------------------------------------------
    def decode(self, path: str) -> Decoded | None:
        """``path``'s pixels, or None when this coder does not read such a file.

        Raises:
            ImageReadError: a ZIP file whose chunks are damaged or truncated.
        """
        if self.inflater is None:
            return None
        host = _read_into_memory(path, self.device.type == "cuda")
        data = memoryview(host.numpy())
        try:
            layout = read_layout(data)
        except LayoutError:
            return None  # OpenEXR names what is wrong with it
        kinds = {kind for _, kind in layout.channels}
        if (not layout.scanline or layout.compression not in LINES or layout.sampled or not layout.channels
                or not kinds <= set(VALUE_BYTES) or layout.width <= 0 or layout.height <= 0):
            return None
        try:
            chunks = sorted(chunk_table(data, layout))
        except LayoutError as exc:
            raise ImageReadError(f"{path}: corrupt or truncated ({exc})") from None
        try:
            with self._own_stream():
                planes = self._planes(self._rows(path, host, data, layout, chunks), layout)
        except torch.OutOfMemoryError:  # the device is full: OpenEXR decodes this frame on the CPU
            return None
        return Decoded(tuple(name for name, _ in layout.channels), planes)

    def _rows(self, path: str, host: torch.Tensor, data: memoryview, layout, chunks) -> torch.Tensor:
        """The frame's raw scanline bytes, ``(H, bytes per line)``, from its chunks."""
        lines, y0 = LINES[layout.compression], layout.window[1]
        line_bytes = layout.width * sum(VALUE_BYTES[kind] for _, kind in layout.channels)
        device = host.to(self.device, non_blocking=True) if self.device.type == "cuda" else host
        pieces: list[Any] = []
        streams, sizes, checks, slots = [], [], [], []
        for index, (y, start, size) in enumerate(chunks):
            raw = min(lines, layout.window[3] + 1 - y) * line_bytes
            if y != y0 + index * lines or size > raw or (size < raw and not _zlib_stream(data, start, size)):
                raise ImageReadError(f"{path}: corrupt or truncated (chunk at line {y})")
            if size == raw:  # stored as is: no predictor, no interleave
                pieces.append(device[start:start + size])
                continue
            streams.append(device[start + 2:start + size - 4])
            sizes.append(raw)
            checks.append(int.from_bytes(data[start + size - 4:start + size], "big"))
            slots.append(len(pieces))
            pieces.append(None)
        if streams:
            for slot, row in zip(slots, self._inflated(path, streams, sizes, checks)):
                pieces[slot] = row
        return torch.cat(pieces).view(layout.height, line_bytes)

    def _inflated(self, path: str, streams: list[torch.Tensor], sizes: list[int], checks: list[int]) -> list[torch.Tensor]:
        assert self.inflater is not None
        try:
            out = self.inflater.inflate(streams, sizes)
        except Exception as exc:  # zlib.error, nvCOMP's RuntimeError: a damaged stream
            raise ImageReadError(f"{path}: corrupt or truncated ZIP data ({exc})") from None
        if [int(o.numel()) for o in out] != sizes:
            raise ImageReadError(f"{path}: a ZIP chunk inflates to the wrong size")
        rows: list[Any] = [None] * len(out)
        for indices in _grouped(out).values():
            batch = torch.stack([out[i] for i in indices])
            expected = torch.tensor([checks[i] for i in indices], device=batch.device)
            if not bool((adler32(batch) == expected).all()):
                raise ImageReadError(f"{path}: a ZIP chunk fails its Adler-32 check")
            for i, row in zip(indices, decode_rows(batch)):
                rows[i] = row
        return rows

    @staticmethod
    def _planes(rows: torch.Tensor, layout) -> torch.Tensor:
        kinds = [kind for _, kind in layout.channels]
        dtype = torch.float16 if set(kinds) == {HALF} else torch.float32
        planes, column = [], 0
        for kind in kinds:
            width = layout.width * VALUE_BYTES[kind]
            flat = rows[:, column:column + width].reshape(-1)  # a copy, unless one line or one channel
            if flat.storage_offset() % 4:  # a view starting mid-value: copied so the type view aligns
                flat = flat.clone()
            planes.append(flat.view(_TORCH_TYPE[kind]).view(layout.height, layout.width).to(dtype))
            column += width
        return torch.stack(planes)

    # ---- encode -------------------------------------------------------------------------
    def encode(self, path: str, header: dict[str, Any], names: list[str], planes: Any) -> bool:
        """Write ``planes`` (``(C, H, W)`` half or float32, numpy or torch) as ``path`` with the
        OpenEXR ``header`` (its compression ZIP or ZIPS, its data window theirs); False (nothing
        written) when this coder does not write such a file."""
        compression = int(header["compression"])
        tensor = torch.as_tensor(planes)
        if self.deflater is None or compression not in LINES or tensor.dtype not in _PIXEL_TYPE:
            return False
        order = sorted(range(len(names)), key=lambda i: names[i].encode())
        channels = [(names[i], _PIXEL_TYPE[tensor.dtype]) for i in order]
        (x0, y0), (x1, y1) = (tuple(int(v) for v in corner) for corner in header["dataWindow"])
        window = (x0, y0, x1, y1)
        head = header_bytes(_serialised(header) + structure(channels, compression, window), [n for n, _ in channels])
        try:
            with self._own_stream():
                payloads, chunk_ys = self._payloads(self._upload(tensor)[order], LINES[compression], y0)
                flat = _to_host(torch.cat(payloads)).numpy()
        except torch.OutOfMemoryError:  # the device is full: OpenEXR encodes this frame on the CPU
            return False
        _write_file(path, head, chunk_ys, [int(p.numel()) for p in payloads], flat)
        return True

    def _upload(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.device.type != "cuda" or tensor.is_cuda:
            return tensor.to(self.device).contiguous()
        return tensor.contiguous().pin_memory().to(self.device, non_blocking=True)

    def _payloads(self, planes: torch.Tensor, lines: int, y0: int) -> tuple[list[torch.Tensor], list[int]]:
        """Each chunk's bytes as they go in the file, and its first line."""
        count, height, width = planes.shape
        raw = planes.reshape(-1).view(torch.uint8).view(count, height, -1).permute(1, 0, 2).reshape(height, -1)
        rows = [raw[y:y + lines].reshape(-1) for y in range(0, height, lines)]
        assert self.deflater is not None
        payloads: list[Any] = [None] * len(rows)
        for indices in _grouped(rows).values():
            batch = torch.stack([rows[i] for i in indices])
            ready = encode_rows(batch)
            checks = adler32(ready)
            trailers = torch.stack([(checks >> shift) & 255 for shift in (24, 16, 8, 0)], dim=1).to(torch.uint8)
            streams = self.deflater.deflate(list(ready))
            head = torch.tensor(list(_ZLIB_HEADER), dtype=torch.uint8, device=batch.device)
            for i, stream, trailer, plain in zip(indices, streams, trailers, batch):
                small = int(stream.numel()) + 6 < int(plain.numel())
                payloads[i] = torch.cat([head, stream.to(batch.device), trailer]) if small else plain
        return payloads, [y0 + y for y in range(0, height, lines)]


def _write_file(path: str, head: bytes, chunk_ys: list[int], sizes: list[int], flat: np.ndarray) -> None:
    """Header, offset table, then each chunk (``y``, size, its bytes: ``flat``'s next ``size``)."""
    offsets = np.cumsum([len(head) + 8 * len(sizes)] + [8 + size for size in sizes[:-1]])
    with open(path, "wb") as handle:
        handle.write(head + struct.pack(f"<{len(sizes)}Q", *(int(o) for o in offsets)))
        start = 0
        for y, size in zip(chunk_ys, sizes):
            handle.write(struct.pack("<ii", y, size))
            handle.write(memoryview(flat[start:start + size]))
            start += size


_SERIALISED: dict[tuple, list[Attribute]] = {}  # a sequence's frames share one header
_SERIALISED_LOCK = threading.Lock()


def _key(header: dict[str, Any]) -> tuple | None:
    """``header``'s values, comparable (the coder's own attributes left out); None when a value
    is an OpenEXR object whose content cannot be compared here."""
    parts: list[tuple] = []
    for name in sorted(set(header) - {"compression", "dataWindow", "channels"}):
        value = header[name]
        if isinstance(value, (str, int, float)):
            parts.append((name, type(value).__name__, value))
        elif hasattr(type(value), "__members__"):  # OpenEXR's enums (line order, storage type)
            parts.append((name, type(value).__name__, int(value)))
        elif isinstance(value, np.ndarray) or (isinstance(value, tuple) and all(isinstance(v, np.ndarray) for v in value)):
            arrays = value if isinstance(value, tuple) else (value,)
            parts.append((name, isinstance(value, tuple)) + tuple((a.dtype.str, a.shape, a.tobytes()) for a in arrays))
        else:
            return None
    return tuple(parts)


def _serialised(header: dict[str, Any]) -> list[Attribute]:
    """OpenEXR's attribute records for ``header`` (all but the coder's own):
    OpenEXR writes them into a 1x1 uncompressed file, whose header is read back here (once for
    all the frames of a sequence that share a header)."""
    key = _key(header)
    with _SERIALISED_LOCK:
        known = _SERIALISED.get(key) if key is not None else None
    if known is not None:
        return known
    found = _written_by_openexr(header)
    if key is not None:
        with _SERIALISED_LOCK:
            if len(_SERIALISED) >= 16:
                _SERIALISED.clear()
            _SERIALISED[key] = found
    return found


def _written_by_openexr(header: dict[str, Any]) -> list[Attribute]:
    (x0, y0), _ = header["dataWindow"]
    tiny = {**{k: v for k, v in header.items() if k not in ("channels", "chunkCount")},
            "compression": OpenEXR.NO_COMPRESSION,
            "dataWindow": (np.array([x0, y0], np.int32), np.array([x0, y0], np.int32))}
    handle, name = tempfile.mkstemp(suffix=".exr", prefix=".restyle-header-")
    os.close(handle)
    try:
        with OpenEXR.File(tiny, {"R": np.zeros((1, 1), np.float16)}) as exr:
            exr.write(name)
        with open(name, "rb") as stream:
            layout = read_layout(memoryview(stream.read()))
    finally:
        os.unlink(name)
    return [a for a in layout.attributes if a.name not in STRUCTURE]


def cpu_twin(level: int = DEFAULT_LEVEL) -> ZipCoder:
    """The coder on the CPU with zlib: the GPU coder's code path, for tests and comparisons."""
    return ZipCoder("cpu", ZlibStreams(level), ZlibStreams(level))


@functools.lru_cache(maxsize=None)
def gpu_coder(device: str) -> ZipCoder | None:
    """The nvCOMP coder on CUDA ``device``, each direction only where nvCOMP agrees with zlib on a
    sample; None off CUDA, without the ``nvidia-nvcomp-cu12`` package, or when it agrees on neither."""
    where = torch.device(device)
    if where.type != "cuda":
        return None
    try:
        streams = NvcompStreams(where)
    except ImportError:
        return None
    inflates, deflates = agrees_with_zlib(streams)
    if not (inflates or deflates):
        return None
    return ZipCoder(where, streams if inflates else None, streams if deflates else None)
