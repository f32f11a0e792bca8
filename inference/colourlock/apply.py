"""Apply a fitted colour lock to frames with torch, on the CPU or a GPU.

The per-pixel part of ColourLock: each frame's (temporally smoothed) affine, then the brand
swatch holds. A hold adds, per frame, the offset that moves the swatch's mean onto its
target, at full strength inside the swatch and feathered to zero just outside, so the
swatch lands on its target whatever the global fit did. The same code runs in the engine's
``restyle colourlock`` (CPU by default) and on frames already on the GPU in a pipeline.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import torch

from ..colour import resolve_colourspace
from .fit import Affine
from .swatches import DEFAULT_COLOURSPACE, Swatch, swatch_delta_e

DEFAULT_FEATHER = 8.0  # pixels over which a swatch's correction fades out
DEFAULT_ITERATIONS = 2  # passes that settle overlapping swatches


def feather_weights(mask: np.ndarray, feather: float) -> np.ndarray:
    """1 inside ``mask``, falling linearly to 0 at ``feather`` pixels outside it."""
    if feather <= 0:
        return mask.astype(np.float32)
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)
    return np.clip(1.0 - dist / float(feather), 0.0, 1.0).astype(np.float32)


class ColourLockApply:
    """The lock's per-pixel work for frames of one size, prepared once on ``device``.

    Call with frames ``(B, H, W, 3)`` (float, in ``colourspace``, the encoding the fit and the
    swatches were measured in) and the affines' parameters ``(B, 12)`` (or None for identity).
    """

    def __init__(self, swatches: Sequence[Swatch], shape: tuple[int, int],
                 colourspace: str = DEFAULT_COLOURSPACE, feather: float = DEFAULT_FEATHER,
                 iterations: int = DEFAULT_ITERATIONS, device: str | torch.device = "cpu"):
        colourspace = resolve_colourspace(colourspace)
        self.device = torch.device(device)
        self.iterations = max(1, iterations)
        self.holds = []
        for swatch in swatches:
            mask = swatch.mask_for(shape)
            index = torch.from_numpy(np.flatnonzero(mask)).to(self.device)
            weights = feather_weights(mask, feather)
            rows, cols = np.flatnonzero(weights.any(axis=1)), np.flatnonzero(weights.any(axis=0))
            box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # where the hold acts
            target = torch.from_numpy(swatch.target_in(colourspace)).to(self.device)
            self.holds.append((index, box, torch.from_numpy(weights[box]).to(self.device), target))

    @staticmethod
    def affine(frames: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """``x @ M.T + o`` per frame; ``params`` rows as :meth:`Affine.params` (matrix, offset)."""
        params = params.to(frames.device, torch.float32)
        matrix, offset = params[:, :9].reshape(-1, 3, 3), params[:, 9:]
        flat = frames.reshape(frames.shape[0], -1, 3).float()
        return torch.baddbmm(offset[:, None, :], flat, matrix.transpose(1, 2)).reshape(frames.shape)

    def __call__(self, frames: torch.Tensor, params: torch.Tensor | None = None) -> torch.Tensor:
        out = self.affine(frames, params) if params is not None else frames.float().clone()
        flat = out.view(out.shape[0], -1, 3)
        for _ in range(self.iterations if self.holds else 0):
            for index, (rows, cols), weights, target in self.holds:
                mean = flat.index_select(1, index).double().mean(dim=1)         # (B, 3)
                offset = (target[None] - mean).float()
                out[:, rows, cols] += weights[None, :, :, None] * offset[:, None, None, :]
        return out


def lock_frames(frames: Sequence[np.ndarray], affines: Sequence[Affine] | None = None,
                swatches: Sequence[Swatch] = (), colourspace: str = DEFAULT_COLOURSPACE,
                feather: float = DEFAULT_FEATHER, iterations: int = DEFAULT_ITERATIONS,
                device: str = "cpu") -> list[np.ndarray]:
    """Apply each frame's affine (None = identity) and hold the swatches; numpy in and out."""
    if not frames:
        return []
    shape = frames[0].shape[:2]
    apply = ColourLockApply(swatches, shape, colourspace, feather, iterations, device)
    params = None if affines is None else torch.from_numpy(np.stack([a.params() for a in affines]))
    out = []
    for i, frame in enumerate(frames):      # one frame at a time keeps memory flat on long shots
        batch = torch.from_numpy(np.ascontiguousarray(frame[None, ..., :3], dtype=np.float32)).to(apply.device)
        locked = apply(batch, None if params is None else params[i:i + 1])
        out.append(locked[0].cpu().numpy())
    return out


def protect_swatches(frames: Sequence[np.ndarray], swatches: Sequence[Swatch],
                     frame_colourspace: str = DEFAULT_COLOURSPACE, feather: float = DEFAULT_FEATHER,
                     iterations: int = DEFAULT_ITERATIONS, device: str = "cpu"
                     ) -> tuple[list[np.ndarray], list[dict]]:
    """Hold every swatch on its target in every frame; returns the frames and a per-swatch report.

    The report has, per swatch: ``name``, ``tolerance``, ``before`` and ``after`` (ΔE00 per
    frame), ``max_after`` and ``passed``.
    """
    out = lock_frames(frames, None, swatches, frame_colourspace, feather, iterations, device)
    return out, swatch_report(frames, out, swatches, frame_colourspace)


def swatch_report(before: Sequence[np.ndarray], after: Sequence[np.ndarray], swatches: Sequence[Swatch],
                  frame_colourspace: str = DEFAULT_COLOURSPACE) -> list[dict]:
    """ΔE00 of each swatch per frame before and after, with pass/fail against its tolerance."""
    report = []
    for s in swatches:
        errors_after = [swatch_delta_e(f, s, frame_colourspace) for f in after]
        report.append({"name": s.name, "tolerance": s.tolerance,
                       "before": [swatch_delta_e(f, s, frame_colourspace) for f in before],
                       "after": errors_after, "max_after": max(errors_after) if errors_after else 0.0,
                       "passed": all(a <= s.tolerance for a in errors_after)})
    return report
