"""Apply a fitted colour lock to frames with torch, on the CPU or a GPU.

The per-pixel part of ColourLock: each frame's (temporally smoothed) affine, then the brand
swatch holds. A hold adds, per frame, the offset that moves the swatch's mean onto its
target, at full strength inside the swatch and feathered to zero just outside, so the
swatch lands on its target whatever the global fit did. A hold only corrects drift: where the
lock leaves a swatch further from its target than ``HoldSettings.max_hold`` tolerances, the
frame did not carry that colour there (the region was repainted, or the swatch region does
not follow the object), so that swatch is not held in that frame and the QC fails
(:mod:`.qc`): painting the brand colour over whatever is there would only hide the fault.
The same code runs in the engine's ``restyle colourlock`` (CPU by default) and on frames
already on the GPU in a pipeline.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..colour import resolve_colourspace
from ..tensors import upload_small
from .delta_e import delta_e_2000, srgb_to_lab
from .fit import Affine
from .lut import Lut3D
from .settings import HoldSettings
from .swatches import DEFAULT_COLOURSPACE, Swatch


@dataclass
class HoldRecord:
    """What the holds did, per frame (rows) and swatch (columns): ``correction``, the ΔE00 from
    the swatch's mean after the lock (before its hold) to its target, which is the correction
    the hold had to make; ``held``, whether it was made (finite and within the limit)."""

    correction: np.ndarray  # (frames, swatches) float64
    held: np.ndarray  # (frames, swatches) bool

    @classmethod
    def nothing(cls, frames: int, swatches: int) -> "HoldRecord":
        """No correction made and none needed (no swatches, or no frames)."""
        return cls(np.zeros((frames, swatches)), np.zeros((frames, swatches), bool))


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
    identity); ``held`` (per frame, per swatch) says which swatches to hold (default all).
    """

    def __init__(self, swatches: Sequence[Swatch], shape: tuple[int, int],
                 colourspace: str = DEFAULT_COLOURSPACE, hold: HoldSettings = HoldSettings(),
                 device: str | torch.device = "cpu"):
        self.colourspace = resolve_colourspace(colourspace)
        self.device = torch.device(device)
        self.swatches, self.settings = list(swatches), hold
        self.iterations = max(1, hold.iterations)
        self.holds = []
        for swatch in self.swatches:
            mask = swatch.mask_for(shape)
            index = upload_small(np.flatnonzero(mask), self.device)
            weights = feather_weights(mask, hold.feather)
            rows, cols = np.flatnonzero(weights.any(axis=1)), np.flatnonzero(weights.any(axis=0))
            box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))  # where the hold acts
            target = upload_small(swatch.target_in(self.colourspace), self.device)
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

    def transform(self, frames: torch.Tensor, params: torch.Tensor | None = None,
                  luts: tuple | None = None) -> torch.Tensor:
        """The global lock alone, as a new float32 tensor: the LUTs ``(tables, domain_min,
        domain_max)`` as :meth:`lut` takes them, else the affines' ``params``, else identity."""
        if luts is not None:
            return self.lut(frames, *luts)
        return self.affine(frames, params) if params is not None else frames.float().clone()

    def locked_means(self, frames: torch.Tensor, **transform) -> torch.Tensor:
        """``(B, S, 3)`` float64: each swatch's mean after the global lock, before its hold; the
        lock is applied to the swatches' pixels only."""
        flat = frames.reshape(frames.shape[0], -1, 3)
        return torch.stack([self.transform(flat.index_select(1, index)[:, :, None, :], **transform)
                            .double().mean(dim=(1, 2)) for index, *_ in self.holds], 1)

    def record(self, means: torch.Tensor) -> HoldRecord:
        """The holds' corrections (ΔE00, colour-science) from :meth:`locked_means` (downloaded
        once), and which of them are within the limit."""
        rgb = means.cpu().numpy().astype(np.float32)  # (B, S, 3)
        correction = np.stack([delta_e_2000(srgb_to_lab(rgb[:, s], self.colourspace), swatch.target_lab())
                               for s, swatch in enumerate(self.swatches)], 1).reshape(rgb.shape[:2])
        limits = np.array([self.settings.limit(s) for s in self.swatches])
        return HoldRecord(correction, np.isfinite(correction) & (correction <= limits))

    def __call__(self, frames: torch.Tensor, params: torch.Tensor | None = None,
                 luts: tuple | None = None, held: np.ndarray | None = None) -> torch.Tensor:
        out = self.transform(frames, params, luts)
        flat = out.view(out.shape[0], -1, 3)
        everywhere = slice(None)
        for _ in range(self.iterations if self.holds else 0):
            for s, (index, (rows, cols), weights, target) in enumerate(self.holds):
                frames_held = range(out.shape[0]) if held is None else np.flatnonzero(held[:, s]).tolist()
                # all frames at once where every one is held; one at a time (integer indices: nothing
                # to upload) where some are not
                for b in [everywhere] if len(frames_held) == out.shape[0] else frames_held:
                    mean = flat[b].index_select(-2, index).double().mean(dim=-2)       # (B, 3) or (3,)
                    offset = (target - mean).float()
                    out[b, rows, cols] += weights[..., None] * offset[..., None, None, :]
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


def _lock(apply: ColourLockApply, frames: Sequence, transforms, batch: Callable, unbatch: Callable
          ) -> tuple[list, HoldRecord]:
    """Lock ``frames`` one at a time (memory stays flat on long shots): first every frame's swatch
    means after the lock (one download for all, to decide which holds to make), then the frames."""
    arguments = _per_frame(transforms, apply.device)
    if apply.holds:
        record = apply.record(torch.cat([apply.locked_means(batch(f), **arguments(i)) for i, f in enumerate(frames)]))
    else:
        record = HoldRecord.nothing(len(frames), 0)
    return [unbatch(apply(batch(f), held=record.held[i:i + 1], **arguments(i))) for i, f in enumerate(frames)], record


def lock_frames(frames: Sequence[np.ndarray], transforms: Sequence[Affine] | Sequence[Lut3D] | None = None,
                swatches: Sequence[Swatch] = (), colourspace: str = DEFAULT_COLOURSPACE,
                hold: HoldSettings = HoldSettings(), device: str = "cpu") -> tuple[list[np.ndarray], HoldRecord]:
    """Apply each frame's affine or 3D LUT (None = identity) and hold the swatches; numpy in and
    out, with what the holds did."""
    if not frames:
        return [], HoldRecord.nothing(0, len(swatches))
    apply = ColourLockApply(swatches, frames[0].shape[:2], colourspace, hold, device)
    return _lock(apply, frames, transforms,
                 lambda f: torch.from_numpy(np.ascontiguousarray(f[None, ..., :3], dtype=np.float32)).to(apply.device),
                 lambda out: out[0].cpu().numpy())


def lock_tensors(frames: Sequence[torch.Tensor], transforms: Sequence[Affine] | Sequence[Lut3D] | None = None,
                 swatches: Sequence[Swatch] = (), colourspace: str = DEFAULT_COLOURSPACE,
                 hold: HoldSettings = HoldSettings(), dtype: torch.dtype = torch.float32
                 ) -> tuple[list[torch.Tensor], HoldRecord]:
    """:func:`lock_frames` for ``(3, H, W)`` frames already on a device, each returned there in
    ``dtype``; computed a frame at a time in float32."""
    if not frames:
        return [], HoldRecord.nothing(0, len(swatches))
    apply = ColourLockApply(swatches, tuple(frames[0].shape[-2:]), colourspace, hold, frames[0].device)
    return _lock(apply, frames, transforms, lambda f: f[None].permute(0, 2, 3, 1).float().contiguous(),
                 lambda out: out[0].permute(2, 0, 1).to(dtype))
