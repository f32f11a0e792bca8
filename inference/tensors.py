"""Frames between numpy ``(H, W, C)`` (files, OCIO's CPU path) and torch ``(C, H, W)`` (GPU stages)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def to_device(frames: Sequence[np.ndarray], device: str | torch.device) -> torch.Tensor:
    """``(N, C, H, W)`` float32 on ``device`` from N ``(H, W, C)`` arrays (half frames travel as
    half and are widened there)."""
    batch = torch.from_numpy(np.stack([np.asarray(f) for f in frames])).to(device)
    return batch.permute(0, 3, 1, 2).float().contiguous()


def to_host(frames: torch.Tensor) -> list[np.ndarray]:
    """N float32 ``(H, W, C)`` arrays from ``(N, C, H, W)`` (laid out on the device, copied once)."""
    return list(frames.permute(0, 2, 3, 1).float().contiguous().cpu().numpy())
