"""Frames between numpy ``(H, W, C)`` (files, OCIO's CPU path) and torch ``(C, H, W)`` (GPU stages)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch


def to_device(frames: Sequence[np.ndarray], device: str | torch.device, dtype=torch.float32) -> torch.Tensor:
    """``(N, C, H, W)`` on ``device`` from N ``(H, W, C)`` arrays (half frames travel as half)."""
    batch = np.stack([np.asarray(f) for f in frames])
    tensor = torch.from_numpy(batch).to(device, non_blocking=False)
    return tensor.permute(0, 3, 1, 2).to(dtype).contiguous()


def to_host(frames: torch.Tensor, dtype=np.float32) -> list[np.ndarray]:
    """N ``(H, W, C)`` arrays from ``(N, C, H, W)`` (converted on the device, then copied once)."""
    host = frames.permute(0, 2, 3, 1).to(torch.float16 if dtype == np.float16 else torch.float32).cpu().numpy()
    return list(host)
