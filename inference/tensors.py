"""Frames between numpy ``(H, W, C)`` (files, OCIO's CPU path) and torch ``(C, H, W)`` (GPU stages)."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from .image import Image


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
    ``(N, k, H, W)`` float32 tensor on ``device``. Each image's pixels travel once, as stored
    (half stays half), and the channels are picked there: no host copy per channel set."""
    groups: list[list[torch.Tensor]] = [[] for _ in picks]
    for image in images:
        full = torch.from_numpy(image.pixels).to(device).permute(2, 0, 1)
        for group, pick in zip(groups, picks):
            group.append(full[[image.channels.index(name) for name in pick(image)]])
    return [torch.stack(group).float() for group in groups]
