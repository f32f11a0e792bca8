"""Frames between numpy ``(H, W, C)`` (files, OCIO's CPU path) and torch ``(C, H, W)`` (GPU stages)."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from .image import Image
from .workers import map_frames


def to_device(frames: Sequence[np.ndarray], device: str | torch.device) -> torch.Tensor:
    """``(N, C, H, W)`` float32 on ``device`` from N ``(H, W, C)`` arrays (half frames travel as
    half and are widened there)."""
    batch = torch.from_numpy(np.stack([np.asarray(f) for f in frames])).to(device)
    return batch.permute(0, 3, 1, 2).float().contiguous()


def to_host(frames: torch.Tensor, dtype: torch.dtype = torch.float32) -> list[np.ndarray]:
    """N ``(H, W, C)`` arrays of ``dtype`` (default float32) from ``(N, C, H, W)`` (laid out and
    converted on the device, copied once)."""
    return list(frames.permute(0, 2, 3, 1).to(dtype).contiguous().cpu().numpy())


def upload_channels(images: Sequence[Image], picks: Sequence[Callable[[Image], Sequence[str]]],
                    device: str | torch.device) -> list[torch.Tensor]:
    """Per ``pick`` (channel names of an image, e.g. ``lambda im: im.beauty_channels(False)``) an
    ``(N, k, H, W)`` float32 tensor on ``device``. The frame pool gathers each set's channels
    into one contiguous batch, as stored (half stays half), so the calling thread only copies
    the bytes needed to the device, once per set."""
    dtype = np.result_type(*[image.pixels.dtype for image in images])
    height, width = images[0].pixels.shape[:2]
    batches = [np.empty((len(images), height, width, len(pick(images[0]))), dtype) for pick in picks]

    def gather(index: int) -> None:
        image = images[index]
        for batch, pick in zip(batches, picks):
            np.take(image.pixels, [image.channels.index(name) for name in pick(image)], axis=2, out=batch[index])

    map_frames(gather, range(len(images)))
    return [torch.from_numpy(batch).to(device).permute(0, 3, 1, 2).float().contiguous() for batch in batches]
