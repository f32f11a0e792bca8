"""Batched raw Deflate (RFC 1951, no zlib wrapper): NVIDIA nvCOMP on a CUDA device, zlib as its
CPU twin. The zlib wrapper EXR chunks carry (2-byte header, Adler-32 trailer) is the coder's job,
so both engines see the same streams.

nvCOMP comes from its optional Python package (``pip install nvidia-nvcomp-cu12``); nothing here
needs it unless :class:`NvcompStreams` is built. Its Deflate is checked against zlib on first use
(:func:`agrees_with_zlib`) before the engine trusts it with a frame.
"""
from __future__ import annotations

import threading
import warnings
import zlib
from typing import Callable, Protocol

import numpy as np
import torch

# OpenEXR's default ZIP level (its files start 78 5E: zlib's "fast" level class).
DEFAULT_LEVEL = 4


class Streams(Protocol):
    """Inflates and deflates lists of byte tensors on one device, as one batch."""

    name: str
    device: torch.device

    def inflate(self, streams: list[torch.Tensor], sizes: list[int]) -> list[torch.Tensor]:
        """Each raw Deflate stream inflated to a uint8 tensor (``sizes``: their expected lengths)."""
        ...

    def deflate(self, rows: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each uint8 tensor as a raw Deflate stream."""
        ...


class ZlibStreams:
    """The CPU twin: zlib on host memory, stream after stream."""

    name = "zlib"

    def __init__(self, level: int = DEFAULT_LEVEL):
        self.device, self.level = torch.device("cpu"), level

    def inflate(self, streams: list[torch.Tensor], sizes: list[int]) -> list[torch.Tensor]:
        out = [zlib.decompress(s.numpy(), -15, size) for s, size in zip(streams, sizes)]
        flat = torch.from_numpy(np.frombuffer(b"".join(out), np.uint8).copy())
        return list(torch.split(flat, [len(o) for o in out]))

    def deflate(self, rows: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for row in rows:
            packer = zlib.compressobj(self.level, zlib.DEFLATED, -15)
            out.append(packer.compress(row.contiguous().numpy()) + packer.flush())
        flat = torch.from_numpy(np.frombuffer(b"".join(out), np.uint8).copy())
        return list(torch.split(flat, [len(o) for o in out]))


class NvcompStreams:
    """nvCOMP's batched Deflate (raw bitstreams; nvCOMP 6's Python API: ``as_arrays`` over one
    buffer and an offset table, ``Codec.decode``/``encode`` of a ``BatchArray``) on a CUDA device,
    on the calling thread's current torch stream (one codec per thread and stream). Each call
    ends synchronised with that stream, so nvCOMP's batch objects may go."""

    name = "nvcomp"

    def __init__(self, device: torch.device):
        from nvidia import nvcomp  # optional package: ImportError tells the caller to fall back

        self.device, self._nvcomp, self._local = device, nvcomp, threading.local()

    def _codec(self, stream: int):
        if getattr(self._local, "stream", None) != stream:
            self._local.codec = self._nvcomp.Codec(
                algorithm="Deflate", bitstream_kind=self._nvcomp.BitstreamKind.RAW,
                device_id=self.device.index or 0, cuda_stream=stream)
            self._local.stream = stream
        return self._local.codec

    def _batch(self, buffer: torch.Tensor, offsets: list[int], sizes: list[int], stream: int):
        return self._nvcomp.as_arrays(buffer, offsets, sizes, stream)

    def _tensor(self, array) -> torch.Tensor:
        """A torch view of an nvCOMP array (DLPack, else the CUDA array interface)."""
        try:
            return torch.from_dlpack(array)
        except (AttributeError, TypeError, RuntimeError, BufferError):
            return torch.as_tensor(array, device=self.device)

    def inflate(self, streams: list[torch.Tensor], sizes: list[int]) -> list[torch.Tensor]:
        stream = torch.cuda.current_stream(self.device)
        source, offsets, lengths = packed(streams)
        out_offsets = aligned_offsets(sizes)
        out = torch.empty(max(out_offsets[-1] + sizes[-1], 1), dtype=torch.uint8, device=self.device)
        self._codec(stream.cuda_stream).decode(
            self._batch(source, offsets, lengths, stream.cuda_stream),
            out=self._batch(out, out_offsets, sizes, stream.cuda_stream))
        stream.synchronize()
        return [out[o:o + n] for o, n in zip(out_offsets, sizes)]

    def deflate(self, rows: list[torch.Tensor]) -> list[torch.Tensor]:
        stream = torch.cuda.current_stream(self.device)
        source, offsets, lengths = packed(rows)
        batch = self._codec(stream.cuda_stream).encode(self._batch(source, offsets, lengths, stream.cuda_stream))
        sizes = list(batch.buffer_sizes)
        out = [self._tensor(batch[i]).view(torch.uint8).reshape(-1)[:sizes[i]].clone() for i in range(len(sizes))]
        stream.synchronize()
        return out


_ALIGN = 16  # bytes: nvCOMP's documented safe alignment for every entry of a batch


def aligned_offsets(sizes: list[int]) -> list[int]:
    """Where entries of ``sizes`` bytes start when each starts at a multiple of 16 bytes."""
    offsets, position = [], 0
    for size in sizes:
        offsets.append(position)
        position += -(-size // _ALIGN) * _ALIGN
    return offsets


def packed(tensors: list[torch.Tensor]) -> tuple[torch.Tensor, list[int], list[int]]:
    """``tensors`` (uint8) copied into one buffer in one go, each starting 16-byte aligned:
    the buffer, the offsets and the sizes."""
    sizes = [int(t.numel()) for t in tensors]
    offsets = aligned_offsets(sizes)
    pad = torch.zeros(_ALIGN, dtype=torch.uint8, device=tensors[0].device)
    pieces = [piece for t, size in zip(tensors, sizes) for piece in (t.reshape(-1), pad[:-size % _ALIGN])]
    return torch.cat(pieces), offsets, sizes


def sample_chunk(size: int = 16 * 2048 * 8, seed: int = 0) -> np.ndarray:
    """Bytes shaped like a predicted EXR chunk (runs and noise), for checking an engine."""
    rng = np.random.default_rng(seed)
    smooth = np.repeat(rng.integers(120, 136, size // 64 + 1, dtype=np.uint8), 64)[:size]
    noisy = rng.random(size) < 0.2
    return np.where(noisy, rng.integers(0, 256, size, dtype=np.uint8), smooth)


def agrees_with_zlib(engine: Streams) -> tuple[bool, bool]:
    """Whether ``engine`` inflates zlib's streams and zlib inflates ``engine``'s (a 256 KB chunk,
    as a 2K half RGBA ZIP chunk is, and a short one): ``(inflates, deflates)``. A direction that
    fails is reported in a warning, with why."""
    chunks = [sample_chunk(), sample_chunk(5000, seed=1)]
    packed = [zlib.compressobj(DEFAULT_LEVEL, zlib.DEFLATED, -15) for _ in chunks]
    streams = [p.compress(c) + p.flush() for p, c in zip(packed, chunks)]

    def inflates() -> bool:
        out = engine.inflate([torch.frombuffer(bytearray(s), dtype=torch.uint8).to(engine.device) for s in streams],
                             [len(c) for c in chunks])
        return all(np.array_equal(o.cpu().numpy(), c) for o, c in zip(out, chunks))

    def deflates() -> bool:
        out = engine.deflate([torch.from_numpy(c).to(engine.device) for c in chunks])
        return all(zlib.decompress(o.cpu().numpy(), -15) == c.tobytes() for o, c in zip(out, chunks))

    return _checked(engine, "inflate", inflates), _checked(engine, "deflate", deflates)


def _checked(engine: Streams, direction: str, check: Callable[[], bool]) -> bool:
    try:
        agrees = check()
        why = "its output differs from zlib's"
    except Exception as exc:  # any failure of the engine means: do not use it for this
        agrees, why = False, f"{type(exc).__name__}: {exc}"
    if not agrees:
        warnings.warn(f"{engine.name} on {engine.device}: {direction} not used for EXR ZIP, {why}; "
                      "OpenEXR does it", RuntimeWarning, stacklevel=3)
    return agrees
