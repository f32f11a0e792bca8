"""The bytes around an EXR's pixels: header attributes, chunk offset table, chunk records.

Only what the engine's ZIP coder needs is decoded (channels, compression, data window, line
order, the version flags); every other attribute is carried as the raw bytes OpenEXR wrote for it.
File layout (OpenEXR "file layout" docs): magic ``76 2f 31 01``, a 4-byte version whose low byte
is 2 and whose higher bits flag tiled, long-name, deep and multi-part files, then attributes as
``name\\0 type\\0 size(int32) value`` up to an empty name, then one ``uint64`` offset per chunk,
then the chunks, each ``y(int32) size(int32) data``. Everything is little-endian.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = 20000630
# Version flags a single-part scanline file does not set (tiled, deep, multi-part).
_NOT_SCANLINE = 0x200 | 0x800 | 0x1000
_LONG_NAMES = 0x400  # some attribute or channel name is longer than 31 bytes
# Compression codes and the scanlines in each of their chunks (the ones this coder handles).
ZIPS, ZIP = 2, 3
LINES = {ZIPS: 1, ZIP: 16}
# Pixel types: UINT 0 (left to OpenEXR), HALF 1, FLOAT 2; their bytes per value.
HALF, FLOAT = 1, 2
VALUE_BYTES = {HALF: 2, FLOAT: 4}
# Attributes the coder writes itself; every other one is kept as OpenEXR serialised it.
STRUCTURE = ("channels", "compression", "dataWindow", "lineOrder")


class LayoutError(ValueError):
    """The header or offset table cannot be what an EXR holds (a damaged or truncated file)."""


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str
    value: bytes

    def encode(self) -> bytes:
        return b"%s\0%s\0" % (self.name.encode(), self.type.encode()) + struct.pack("<i", len(self.value)) + self.value


@dataclass(frozen=True)
class Layout:
    """The parts of a scanline header the coder reads (``channels`` in file order, as the file
    stores them: sorted by name), and where the offset table starts."""

    version: int
    attributes: tuple[Attribute, ...]
    channels: tuple[tuple[str, int], ...]  # (name, pixel type)
    sampled: bool  # some channel has an x or y sampling other than 1
    compression: int
    window: tuple[int, int, int, int]  # data window x0, y0, x1, y1 (inclusive)
    line_order: int
    table_start: int

    @property
    def width(self) -> int:
        return self.window[2] - self.window[0] + 1

    @property
    def height(self) -> int:
        return self.window[3] - self.window[1] + 1

    @property
    def scanline(self) -> bool:
        return not self.version & _NOT_SCANLINE

    def chunk_count(self) -> int:
        lines = LINES[self.compression]
        return (self.height + lines - 1) // lines


def _string(data: memoryview, pos: int) -> tuple[str, int]:
    end = bytes(data[pos:pos + 256]).find(b"\0")
    if end < 0:
        raise LayoutError(f"attribute name at byte {pos} is not terminated")
    return bytes(data[pos:pos + end]).decode("utf-8", "replace"), pos + end + 1


def _channels(value: bytes) -> tuple[tuple[tuple[str, int], ...], bool]:
    found, sampled, pos = [], False, 0
    view = memoryview(value)
    while pos < len(value) and value[pos] != 0:
        name, pos = _string(view, pos)
        pixel_type, _, xs, ys = struct.unpack_from("<iI ii", value, pos)
        found.append((name, pixel_type))
        sampled |= (xs, ys) != (1, 1)
        pos += 16
    return tuple(found), sampled


def read_layout(data: memoryview) -> Layout:
    """The header at the start of ``data`` (at least the whole header and offset table).

    Raises:
        LayoutError: not an EXR, or a header that runs past the data.
    """
    if len(data) < 8 or struct.unpack_from("<i", data, 0)[0] != MAGIC:
        raise LayoutError("not an OpenEXR file (bad magic number)")
    version = struct.unpack_from("<i", data, 4)[0]
    attributes, pos = [], 8
    while True:
        if pos >= len(data):
            raise LayoutError("header runs past the end of the file")
        name, pos = _string(data, pos)
        if not name:
            break
        kind, pos = _string(data, pos)
        (size,) = struct.unpack_from("<i", data, pos)
        if size < 0 or pos + 4 + size > len(data):
            raise LayoutError(f"attribute {name} runs past the end of the file")
        attributes.append(Attribute(name, kind, bytes(data[pos + 4:pos + 4 + size])))
        pos += 4 + size
    by_name = {a.name: a.value for a in attributes}
    missing = [n for n in STRUCTURE if n not in by_name]
    if missing:
        raise LayoutError(f"header lacks {', '.join(missing)}")
    channels, sampled = _channels(by_name["channels"])
    return Layout(version, tuple(attributes), channels, sampled, by_name["compression"][0],
                  struct.unpack("<4i", by_name["dataWindow"]), by_name["lineOrder"][0], pos)


def chunk_table(data: memoryview, layout: Layout) -> list[tuple[int, int, int]]:
    """``(y, start, size)`` of every chunk's data, in offset-table order.

    Raises:
        LayoutError: an offset or size outside the file, or a y outside the data window.
    """
    count = layout.chunk_count()
    end = layout.table_start + 8 * count
    if end > len(data):
        raise LayoutError("offset table runs past the end of the file")
    chunks = []
    for offset in struct.unpack_from(f"<{count}Q", data, layout.table_start):
        if offset < end or offset + 8 > len(data):
            raise LayoutError(f"chunk offset {offset} outside the file")
        y, size = struct.unpack_from("<ii", data, offset)
        if size <= 0 or offset + 8 + size > len(data) or not layout.window[1] <= y <= layout.window[3]:
            raise LayoutError(f"chunk at byte {offset} (y {y}, {size} bytes) does not fit the file")
        chunks.append((y, offset + 8, size))
    return chunks


def channel_list(channels: list[tuple[str, int]]) -> bytes:
    """A ``chlist`` value: each channel linear-flag 0, sampling 1x1, then the closing zero."""
    return b"".join(name.encode() + b"\0" + struct.pack("<iI ii", kind, 0, 1, 1) for name, kind in channels) + b"\0"


def header_bytes(attributes: list[Attribute], channel_names: list[str]) -> bytes:
    """Magic, version (2; flagged "long names" when a name passes 31 bytes) and ``attributes``
    sorted by name (as OpenEXR writes them), closed by a zero."""
    names = channel_names + [a.name for a in attributes] + [a.type for a in attributes]
    version = 2 | (_LONG_NAMES if any(len(n.encode()) > 31 for n in names) else 0)
    records = b"".join(a.encode() for a in sorted(attributes, key=lambda a: a.name.encode()))
    return struct.pack("<ii", MAGIC, version) + records + b"\0"


def structure(channels: list[tuple[str, int]], compression: int, window: tuple[int, int, int, int]) -> list[Attribute]:
    """The attributes the coder writes for its pixels (increasing-y line order)."""
    return [Attribute("channels", "chlist", channel_list(channels)),
            Attribute("compression", "compression", bytes([compression])),
            Attribute("dataWindow", "box2i", struct.pack("<4i", *window)),
            Attribute("lineOrder", "lineOrder", b"\0")]
