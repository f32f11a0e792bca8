"""Content hashes of sequence frames: what a cache key and a plate sign-off are built from.

A frame's hash covers its decoded pixels, channel names and data window, not the file's bytes,
so the same picture written by another Nuke version, compression or header (time stamps, node
hashes) hashes the same, while any changed pixel changes it. SHA-256, hex.
"""
from __future__ import annotations

import hashlib
from typing import Iterator

import numpy as np

from .image import Image
from .progress import Progress
from .sequence import SequencePattern
from .sequence_io import read_sequence


def image_hash(image: Image) -> str:
    """SHA-256 of the channel names, data window and float32 pixels (little-endian); frames are
    hashed on their format (what the stages read), so overscan alone never changes a hash."""
    digest = hashlib.sha256()
    window = image.data_window
    digest.update(repr((image.channels, (window.x, window.y, window.width, window.height))).encode())
    digest.update(np.ascontiguousarray(image.pixels, dtype="<f4").tobytes())
    return digest.hexdigest()


def hash_frames(pattern: SequencePattern, frames: list[int], *, threads: int | None = None,
                progress_mode: str = "text") -> Iterator[tuple[int, str]]:
    """Yield ``(frame, hash)`` in frame order.

    Raises:
        MissingFramesError / ImageReadError: naming the frame, before or while reading.
    """
    progress = Progress("hash", len(frames), progress_mode)
    for frame, image in read_sequence(pattern, frames, threads=threads):
        yield frame, image_hash(image)
        progress.advance()
