"""Apply a fitted colour lock to frames with torch, on the CPU or a GPU.

The per-pixel part of ColourLock: each frame's (temporally smoothed) affine, then the brand
swatch holds. A hold adds, per frame, the offset that moves the swatch's mean onto its
target, at full strength inside the swatch and feathered to zero just outside, so the
swatch lands on its target whatever the global fit did. The same code runs in the engine's
``restyle colourlock`` (CPU by default) and on frames already on the GPU in a pipeline.
"""
from __future__ import annotations

from typing import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..colour import resolve_colourspace
from ..tensors import upload_small
from .fit import Affine
from .lut import Lut3D
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
    swatches were measured in) and the affines' parameters ``(B, 12)`` or 3D LUTs (or neither:
    identity).
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
            index = upload_small(np.flatnonzero(mask), self.device)
            weights = feather_weights(mask, feather)
            rows, cols = np.flatnonzero(weights.any(axis=1)), np.flatnonzero(weights.any(axis=0))
            box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # where the hold acts
            target = upload_small(swatch.target_in(colourspace), self.device)
            self.holds.append((index, box, upload_small(weights[box], self.device), target))

    @staticmethod
    def affine(frames: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """``x @ M.T + o`` per frame; ``params`` rows as :meth:`Affine.params` (matrix, offset)."""
        params = params.to(frames.device, torch.float32)
        matrix, offset = params[:, :9].reshape(-1, 3, 3), params[:, 9:]
        flat = frames.reshape(frames.shape[0], -1, 3).float()
        return torch.baddbmm(offset[:, None, :], flat, matrix.transpose(1, 2)).reshape(frames.shape)

    @staticmethod
    def lut(frames: torch.Tensor, tables: torch.Tensor, domain_min=0.0, domain_max=1.0) -> torch.Tensor:
        """Trilinear lookup in per-frame tables ``(B, N, N, N, 3)`` indexed [r, g, b] over the domain;
        inputs outside it clamp, as OCIO clamps a .cube's."""
        lo = torch.as_tensor(domain_min, dtype=torch.float32, device=frames.device)
        hi = torch.as_tensor(domain_max, dtype=torch.float32, device=frames.device)
        volume = tables.to(frames.device, torch.float32).permute(0, 4, 3, 2, 1)   # (B, 3, b, g, r)
        grid = (frames.float()[:, None] - lo) / (hi - lo) * 2.0 - 1.0               # x=r, y=g, z=b
        out = F.grid_sample(volume, grid, mode="bilinear", padding_mode="border", align_corners=True)
        return out[:, :, 0].permute(0, 2, 3, 1).contiguous()

    def __call__(self, frames: torch.Tensor, params: torch.Tensor | None = None,
                 luts: tuple | None = None) -> torch.Tensor:
        """``luts``: ``(tables, domain_min, domain_max)`` as :meth:`lut` takes them."""
        if luts is not None:
            out = self.lut(frames, *luts)
        else:
            out = self.affine(frames, params) if params is not None else frames.float().clone()
        flat = out.view(out.shape[0], -1, 3)
        for _ in range(self.iterations if self.holds else 0):
            for index, (rows, cols), weights, target in self.holds:
                mean = flat.index_select(1, index).double().mean(dim=1)         # (B, 3)
                offset = (target[None] - mean).float()
                out[:, rows, cols] += weights[None, :, :, None] * offset[:, None, None, :]
        return out


def _per_frame(transforms: Sequence[Affine] | Sequence[Lut3D] | None, device) -> Callable[[int], dict]:
    """Frame i's arguments for :class:`ColourLockApply`: its affine's parameters or its 3D LUT
    (None: identity), every frame's sent to ``device`` in one copy."""
    if transforms is None:
        return lambda i: {}
    if isinstance(transforms[0], Lut3D):
        tables, lows, highs = (upload_small(np.stack([getattr(t, name) for t in transforms]), device)
                               for name in ("table", "domain_min", "domain_max"))
        return lambda i: {"luts": (tables[i:i + 1], lows[i], highs[i])}
    params = upload_small(np.stack([t.params() for t in transforms]), device)
    return lambda i: {"params": params[i:i + 1]}


def lock_frames(frames: Sequence[np.ndarray], transforms: Sequence[Affine] | Sequence[Lut3D] | None = None,
                swatches: Sequence[Swatch] = (), colourspace: str = DEFAULT_COLOURSPACE,
                feather: float = DEFAULT_FEATHER, iterations: int = DEFAULT_ITERATIONS,
                device: str = "cpu") -> list[np.ndarray]:
    """Apply each frame's affine or 3D LUT (None = identity) and hold the swatches; numpy in and out."""
    if not frames:
        return []
    apply = ColourLockApply(swatches, frames[0].shape[:2], colourspace, feather, iterations, device)
    arguments = _per_frame(transforms, apply.device)
    out = []
    for i, frame in enumerate(frames):      # one frame at a time keeps memory flat on long shots
        batch = torch.from_numpy(np.ascontiguousarray(frame[None, ..., :3], dtype=np.float32)).to(apply.device)
        out.append(apply(batch, **arguments(i))[0].cpu().numpy())
    return out


def lock_tensors(frames: Sequence[torch.Tensor], transforms: Sequence[Affine] | Sequence[Lut3D] | None = None,
                 swatches: Sequence[Swatch] = (), colourspace: str = DEFAULT_COLOURSPACE,
                 feather: float = DEFAULT_FEATHER, iterations: int = DEFAULT_ITERATIONS,
                 dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """:func:`lock_frames` for ``(3, H, W)`` frames already on a device, each returned there in
    ``dtype``; computed a frame at a time in float32."""
    if not frames:
        return []
    device = frames[0].device
    apply = ColourLockApply(swatches, tuple(frames[0].shape[-2:]), colourspace, feather, iterations, device)
    arguments = _per_frame(transforms, device)
    return [apply(frame[None].permute(0, 2, 3, 1).float().contiguous(), **arguments(i))[0].permute(2, 0, 1).to(dtype)
            for i, frame in enumerate(frames)]


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
