"""Batched raw Deflate (RFC 1951, no zlib wrapper): NVIDIA nvCOMP on a CUDA device, zlib as its
CPU twin. The zlib wrapper EXR chunks carry (2-byte header, Adler-32 trailer) is the coder's job,
so both engines see the same streams.

nvCOMP comes from its optional Python package (``pip install nvidia-nvcomp-cu12``); nothing here
needs it unless :class:`NvcompStreams` is built. Its Deflate is checked against zlib on first use
(:func:`agrees_with_zlib`) before the engine trusts it with a frame.
"""
from __future__ import annotations

import threading
import zlib
from typing import Protocol

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
    """nvCOMP's batched Deflate (raw bitstreams) on a CUDA device, on the calling thread's
    current torch stream (one codec per thread and stream)."""

    name = "nvcomp"

    def __init__(self, device: torch.device):
        from nvidia import nvcomp  # optional package: ImportError tells the caller to fall back

        self.device, self._nvcomp, self._local = device, nvcomp, threading.local()

    def _codec(self):
        stream = torch.cuda.current_stream(self.device).cuda_stream
        if getattr(self._local, "stream", None) != stream:
            self._local.codec = self._nvcomp.Codec(
                algorithm="Deflate", bitstream_kind=self._nvcomp.BitstreamKind.RAW,
                device_id=self.device.index or 0, cuda_stream=stream)
            self._local.stream = stream
        return self._local.codec

    def _tensors(self, arrays) -> list[torch.Tensor]:
        return [torch.from_dlpack(a).view(torch.uint8).reshape(-1) for a in arrays]

    def inflate(self, streams: list[torch.Tensor], sizes: list[int]) -> list[torch.Tensor]:
        return self._tensors(self._codec().decode([self._nvcomp.as_array(s) for s in streams]))

    def deflate(self, rows: list[torch.Tensor]) -> list[torch.Tensor]:
        return self._tensors(self._codec().encode([self._nvcomp.as_array(r.contiguous()) for r in rows]))


def sample_chunk(size: int = 16 * 2048 * 8, seed: int = 0) -> np.ndarray:
    """Bytes shaped like a predicted EXR chunk (runs and noise), for checking an engine."""
    rng = np.random.default_rng(seed)
    smooth = np.repeat(rng.integers(120, 136, size // 64 + 1, dtype=np.uint8), 64)[:size]
    noisy = rng.random(size) < 0.2
    return np.where(noisy, rng.integers(0, 256, size, dtype=np.uint8), smooth)


def agrees_with_zlib(engine: Streams) -> tuple[bool, bool]:
    """Whether ``engine`` inflates zlib's streams and zlib inflates ``engine``'s (a 256 KB chunk,
    as a 2K half RGBA ZIP chunk is, and a short one): ``(inflates, deflates)``."""
    chunks = [sample_chunk(), sample_chunk(5000, seed=1)]
    packed = [zlib.compressobj(DEFAULT_LEVEL, zlib.DEFLATED, -15) for _ in chunks]
    streams = [p.compress(c) + p.flush() for p, c in zip(packed, chunks)]
    try:
        out = engine.inflate([torch.frombuffer(bytearray(s), dtype=torch.uint8).to(engine.device) for s in streams],
                             [len(c) for c in chunks])
        inflates = all(np.array_equal(o.cpu().numpy(), c) for o, c in zip(out, chunks))
    except Exception:  # any failure of the engine means: do not use it for this
        inflates = False
    try:
        out = engine.deflate([torch.from_numpy(c).to(engine.device) for c in chunks])
        deflates = all(zlib.decompress(o.cpu().numpy(), -15) == c.tobytes() for o, c in zip(out, chunks))
    except Exception:
        deflates = False
    return inflates, deflates
