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


def to_host(frames: torch.Tensor, dtype: torch.dtype = torch.float32) -> list[np.ndarray]:
    """N ``(H, W, C)`` arrays of ``dtype`` (default float32) from ``(N, C, H, W)`` (laid out and
    converted on the device, copied once)."""
    return list(frames.permute(0, 2, 3, 1).to(dtype).contiguous().cpu().numpy())
