"""EXR ZIP's byte transforms, batched in torch on whatever device holds the chunks.

Before deflating a chunk OpenEXR splits its bytes into even then odd positions (the low and high
bytes of half floats land in separate runs) and replaces each byte after the first by its
difference from the one before, plus 128, modulo 256. Decoding undoes both: a running sum modulo
256, then the two halves woven back together. Each row of a ``(chunks, bytes)`` tensor is one chunk.
Also Adler-32, the checksum ending each zlib stream, for whole batches of chunks.
"""
from __future__ import annotations

import torch

_ADLER = 65521
# A running sum of values in [-128, 127] stays inside int32 below this many bytes per chunk.
_INT32_SPAN = 1 << 24


def unpredict(rows: torch.Tensor) -> torch.Tensor:
    """Undo the delta predictor: byte i becomes ``(b0 + sum_{k=1..i} (bk - 128)) mod 256``."""
    wide = torch.int32 if rows.shape[1] < _INT32_SPAN else torch.int64
    steps = rows.to(wide)
    steps[:, 1:] -= 128
    return torch.bitwise_and(torch.cumsum(steps, dim=1, dtype=wide), 255).to(torch.uint8)  # mod 256, negatives too


def predict(rows: torch.Tensor) -> torch.Tensor:
    """The delta predictor: byte i > 0 becomes ``(b_i - b_{i-1} + 128) mod 256``."""
    out = rows.clone()
    wide = rows.to(torch.int16)
    out[:, 1:] = torch.bitwise_and(wide[:, 1:] - wide[:, :-1] + 128, 255).to(torch.uint8)
    return out


def interleave(rows: torch.Tensor) -> torch.Tensor:
    """Even-position bytes first, then odd ones (each row)."""
    return torch.cat([rows[:, 0::2], rows[:, 1::2]], dim=1)


def deinterleave(rows: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`interleave`: the first ``ceil(n/2)`` bytes go to even positions."""
    half = (rows.shape[1] + 1) // 2
    out = torch.empty_like(rows)
    out[:, 0::2] = rows[:, :half]
    out[:, 1::2] = rows[:, half:]
    return out


def adler32(rows: torch.Tensor) -> torch.Tensor:
    """Adler-32 of each row as int64: ``a = 1 + sum b``, ``b = n + sum (n - i) b_i``, both mod 65521."""
    length = rows.shape[1]
    values = rows.to(torch.int64)
    weights = torch.arange(length, 0, -1, device=rows.device, dtype=torch.int64)
    low = (1 + values.sum(dim=1)) % _ADLER
    high = (length + (values * weights).sum(dim=1)) % _ADLER
    return high * 65536 + low


def encode_rows(rows: torch.Tensor) -> torch.Tensor:
    """Chunks' raw bytes as they go to deflate."""
    return predict(interleave(rows))


def decode_rows(rows: torch.Tensor) -> torch.Tensor:
    """Inflated chunks' bytes back to raw pixel bytes."""
    return deinterleave(unpredict(rows))
