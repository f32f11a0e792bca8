"""Local deflicker on the GPU: a torch port of
:func:`inference.temporal.local_deflicker.deflicker_local` (same maths, same constants).

The algorithm is the one of :mod:`inference.temporal.local_deflicker` (read its module
docstring); this module only changes how it is computed:

- frames, plate and flows are torch tensors, ``(N, 3, H, W)`` and ``(N-1, 2, 2, H, W)``
  (pair k = ``(flow k -> k+1, flow k+1 -> k)``, channel 0 = x right, 1 = y down, pixels);
  the flows are supplied (motion vectors or precomputed): no optical flow here;
- several targets are processed at once (``batch``): every chain step of every target of
  a batch is one ``grid_sample`` call per sampled quantity, the past and the future chains
  separately; for consecutive targets the sources are views (no gather);
- warps are ``grid_sample`` (bilinear, ``padding_mode='border'`` = cv2's
  ``BORDER_REPLICATE``), normalised with ``align_corners=False`` so that pixel ``x`` maps
  to ``(2 x + 1) / W - 1`` (pixel centres, as ``cv2.remap``). OpenCV 4's ``cv2.remap``
  rounds float sampling positions to 1/32 pixel (``INTER_TAB_SIZE``), OpenCV 5's does not:
  ``match_cv2`` (default: probe the installed cv2) rounds them likewise, so the bilinear
  weights are the same as the numpy path's;
- Gaussian blurs (:mod:`.blur_torch`) are separable convolutions with OpenCV's kernel
  (``ksize = cvRound(8 sigma + 1) | 1`` for float images, :func:`cv2.getGaussianKernel`)
  and OpenCV's ``BORDER_REFLECT`` (symmetric, ``fedcba|abcdef``; not torch's 'reflect'
  which is ``BORDER_REFLECT_101``); the large blur (``sigma``) is computed at reduced
  resolution exactly as the numpy ``_blur`` does (INTER_AREA down, blur, INTER_LINEAR up);
- the noise scale ``tau`` uses the exact median (a sort) over the usable pixels;
- convolutions run with TF32 disabled (TF32 would change the mismatch by ~1e-3 relative).

Parity with the numpy path (tests/test_local_deflicker_torch.py, OpenCV 5.0 on the dev
machine): 1.2e-7 max abs on 64x32 frames with 1/32-pixel translations (the output moves up to
0.2 from the input), 1.0e-4 max abs with rotating, non-dyadic flows at 64x48. fp32 rounding of
the normalised coordinates (~1e-4 pixel at 2K) could flip a visibility test that sits exactly
on its threshold; the results would then differ at those pixels only.

Speed (bench/bench_deflicker_speed.py, H100 80GB HBM3, torch 2.11 cu130, fp32, radius 4,
8 middle targets of 16 frames, supplied flows, data on the GPU, occlusion masks included):
unfused, the default, 181 frames/s at 2048x1080 and 51 at 3840x2160 (an earlier version of
this path); elementwise chains fused with torch.compile (RESTYLE_TORCH_COMPILE=1) 247 and 69
frames/s (6.7 / 25 GB peak). Fused and unfused agree to 1.2e-7.
"""
from __future__ import annotations

import functools
import logging
import os
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .blur_torch import coarse_blur, gaussian_blur
from .local_deflicker import blend_correction, check_parameters
from .settings import (
    FRAME_GUIDE_BLUR,
    MOTION_BOUNDARIES,
    NOISE_FACTOR,
    PATCH_BLUR,
    TIME_SIGMA_PER_RADIUS,
    DeflickerSettings,
    LocalWeights,
)

# OpenCV 4 cv2.remap quantises the sampling positions to 1/INTER_TAB_SIZE pixel; OpenCV 5
# samples float maps exactly. Which one is installed is probed once (_cv2_quantises).
_INTER_TAB_SIZE = 32
DEFAULT_BATCH = 8
# "1" fuses the elementwise chains with torch.compile. Off by default: a render task compiles for
# each new window shape, which cost more than it saved end to end (bench/JOURNAL.md, Multi-GPU
# farm chunks).
COMPILE_ENV = "RESTYLE_TORCH_COMPILE"

log = logging.getLogger(__name__)

if MOTION_BOUNDARIES:  # pragma: no cover - the numpy module leaves the clause out
    raise NotImplementedError("local_deflicker_torch does not implement the motion-boundary clause")


# --------------------------------------------------------------------------- helpers
def _cv2_quantises() -> bool:
    """Whether the installed cv2.remap rounds float sampling positions to 1/32 pixel."""
    image = np.array([[0.0, 1.0]], np.float32)
    map_x, map_y = np.full((1, 1), 0.01, np.float32), np.zeros((1, 1), np.float32)
    value = float(cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE).reshape(-1)[0])
    return abs(value - 0.01) > 1e-3


_CV2_QUANTISES = _cv2_quantises()


def fused(fn: Callable) -> Callable:
    """``fn`` through ``torch.compile`` (one fused kernel per call) for CUDA tensors.

    Elementwise chains are memory-bound; fused they read and write each pixel once. CPU
    tensors, CUDA unless RESTYLE_TORCH_COMPILE=1, and any call whose compiling fails (logged)
    run ``fn`` as written, so the CPU path and the parity tests stay eager.
    """
    compiled: list = []

    @functools.wraps(fn)
    def call(*args):
        if args[0].is_cuda and os.environ.get(COMPILE_ENV, "0") == "1" and compiled != [None]:
            try:
                if not compiled:
                    compiled.append(torch.compile(fn, dynamic=True))
                return compiled[0](*args)
            except Exception as exc:  # noqa: BLE001 - any compiler failure: run eagerly
                log.warning("torch.compile of %s failed (%s); running it unfused", fn.__name__, exc)
                compiled[:] = [None]
        return fn(*args)

    return call


class _Sampler:
    """Absolute pixel positions -> grid_sample grids; bilinear sampling, border replicated.
    Made once per frame size and device (:func:`_sampler`): its constants are created there, and
    creating them waits for the device's queue."""

    def __init__(self, h: int, w: int, device, match_cv2: bool):
        self.h, self.w, self.match_cv2 = h, w, match_cv2
        scale = torch.tensor([2.0 / w, 2.0 / h], dtype=torch.float32, device=device)
        self.scale = scale / _INTER_TAB_SIZE if match_cv2 else scale
        self.offset = torch.tensor([1.0 / w - 1.0, 1.0 / h - 1.0], dtype=torch.float32, device=device)
        self.limit = torch.tensor([w - 1.0, h - 1.0], dtype=torch.float32, device=device)
        ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=device),
                                torch.arange(w, dtype=torch.float32, device=device), indexing="ij")
        self.base = torch.stack([xs, ys], dim=-1)[None]  # (1, H, W, 2)

    def grid(self, pos: torch.Tensor) -> torch.Tensor:
        """``(B, H, W, 2)`` pixel positions (x, y) -> normalised grid (align_corners=False)."""
        return _grid(pos, self.offset, self.scale, self.match_cv2)

    @staticmethod
    def sample(src: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
        return F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)

    def inside(self, pos: torch.Tensor) -> torch.Tensor:
        return _inside(pos, self.limit)


@functools.lru_cache(maxsize=4)
def _sampler(h: int, w: int, device: str, match_cv2: bool) -> _Sampler:
    return _Sampler(h, w, device, match_cv2)


def _take(x: torch.Tensor, idx: Sequence[int]) -> torch.Tensor:
    """``x[idx]``: a view when idx are consecutive, else a gather."""
    idx = list(idx)
    if idx == list(range(idx[0], idx[0] + len(idx))):
        return x[idx[0]:idx[0] + len(idx)]
    return x.index_select(0, torch.tensor(idx, dtype=torch.int64, device=x.device))


def _occlusion(sampler: _Sampler, fw: torch.Tensor, bw: torch.Tensor) -> torch.Tensor:
    """:func:`inference.temporal.flow.occlusion_mask` without motion boundaries, batched.

    ``fw``, ``bw``: ``(P, 2, H, W)``; returns ``(P, 1, H, W)`` float 1 = visible.
    """
    pos = sampler.base + fw.permute(0, 2, 3, 1)
    bw_at = sampler.sample(bw, sampler.grid(pos))
    return _visible_pairs(fw, bw_at, pos, sampler.limit)


@fused
def _visible_pairs(fw: torch.Tensor, bw_at: torch.Tensor, pos: torch.Tensor, limit: torch.Tensor) -> torch.Tensor:
    """Forward-backward consistency (Sundaram et al. 2010) and in-frame test, ``(P, 1, H, W)`` float."""
    fb_sq = ((fw + bw_at) ** 2).sum(dim=1)
    fw_sq = (fw ** 2).sum(dim=1)
    bw_sq = (bw_at ** 2).sum(dim=1)
    occluded = fb_sq > 0.01 * (fw_sq + bw_sq) + 0.5
    return (~occluded & _inside(pos, limit)).unsqueeze(1).float()


def _inside(pos: torch.Tensor, limit: torch.Tensor) -> torch.Tensor:
    """``(B, H, W)`` bool: position inside ``[0, W-1] x [0, H-1]``."""
    ok = (pos >= 0) & (pos <= limit)
    return ok[..., 0] & ok[..., 1]


@fused
def _grid(pos: torch.Tensor, offset: torch.Tensor, scale: torch.Tensor, quantise: bool) -> torch.Tensor:
    if quantise:
        pos = torch.round(pos * float(_INTER_TAB_SIZE))
    return torch.addcmul(offset, pos, scale)


@fused
def _mismatch(sampled: torch.Tensor, guide_t: torch.Tensor) -> torch.Tensor:
    """Mean squared guide difference ``(B, 1, H, W)``; ``sampled`` holds guide (0:3) and frame (3:6)."""
    return torch.square(sampled[:, :3] - guide_t).mean(dim=1, keepdim=True)


@fused
def _advance(pos: torch.Tensor, visible: torch.Tensor, flow_vis: torch.Tensor, limit: torch.Tensor):
    """One chain step: follow the sampled flow (channels 0-1); visible while its mask (2) says so."""
    visible = visible * (flow_vis[:, 2:3] > 0.5)
    pos = pos + flow_vis[:, :2].permute(0, 2, 3, 1)
    return pos, visible * _inside(pos, limit).unsqueeze(1)


@fused
def _weighted(diff: torch.Tensor, visible: torch.Tensor, warped: torch.Tensor, current: torch.Tensor,
              inv_tol: torch.Tensor, time_weight: float):
    """Robust weight of a neighbour and its weighted difference to the current frame."""
    weight = torch.exp(diff * -inv_tol[:, None, None, None]) * visible * time_weight
    return weight, weight * (warped - current)


def _medians(values: torch.Tensor, usable: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row ``np.median(values[usable])`` of ``(B, ...)``; and whether any is usable."""
    b = values.shape[0]
    flat = torch.where(usable, values, torch.full_like(values, float("inf"))).reshape(b, -1)
    count = usable.reshape(b, -1).sum(dim=1)
    ordered = torch.sort(flat, dim=1).values
    last = flat.shape[1] - 1
    lo = ((count - 1).clamp(min=0) // 2).clamp(max=last)
    hi = (count // 2).clamp(max=last)
    med = 0.5 * (ordered.gather(1, lo[:, None]) + ordered.gather(1, hi[:, None]))[:, 0]
    valid = count > 0
    return torch.where(valid, med, torch.zeros_like(med)), valid


# --------------------------------------------------------------------------- deflicker
def deflicker_local_torch(frames: torch.Tensor, plate: torch.Tensor | None, flows: torch.Tensor, *,
                          radius: int = DeflickerSettings.radius, strength: float = DeflickerSettings.strength,
                          weights: LocalWeights = LocalWeights(), targets: Sequence[int] | None = None, batch: int = DEFAULT_BATCH,
                          match_cv2: bool | None = None) -> torch.Tensor:
    """:func:`~inference.temporal.local_deflicker.deflicker_local` on torch tensors (GPU).

    Args:
        frames: ``(N, 3, H, W)`` stylised frames, sRGB-encoded in [0, 1] (float; computed
            as float32), on the device to compute on.
        plate: ``(N, 3, H, W)`` plate frames (robust weights); None uses the frames
            blurred by 2 pixels, as the numpy path does without a plate.
        flows: ``(N-1, 2, 2, H, W)``: ``flows[k, 0]`` = flow k -> k+1, ``flows[k, 1]`` =
            flow k+1 -> k (pixels, x right, y down); any float type, kept as given (a half
            plate's vectors stay half: exact, half the memory) and widened a step at a time.
        radius, strength, weights: as in ``deflicker_local``.
        targets: indices of the frames to return (default all, in order).
        batch: targets computed together (memory grows linearly: about 0.45 GB per
            target at 2048x1080 fp32).
        match_cv2: round sampling positions to 1/32 pixel as OpenCV 4's ``cv2.remap``
            does; None (default): do so if the installed cv2 does (OpenCV 5 does not).
    Returns:
        ``(len(targets), 3, H, W)`` float32 (not clipped).
    """
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames: expected (N, 3, H, W), got {tuple(frames.shape)}")
    if plate is not None and tuple(plate.shape) != tuple(frames.shape):
        raise ValueError(f"plate {tuple(plate.shape)} does not match frames {tuple(frames.shape)}")
    frames = frames.float()
    guides = plate.float() if plate is not None else gaussian_blur(frames, FRAME_GUIDE_BLUR)
    # guide and frame of a neighbour are always sampled together: one 6-channel grid_sample
    return deflicker_stacked_torch(torch.cat([guides, frames], dim=1), flows, radius=radius, strength=strength,
                                   weights=weights, targets=targets, batch=batch, match_cv2=match_cv2)


def deflicker_stacked_torch(guide_frames: torch.Tensor, flows: torch.Tensor, *,
                            radius: int = DeflickerSettings.radius, strength: float = DeflickerSettings.strength,
                            weights: LocalWeights = LocalWeights(), targets: Sequence[int] | None = None,
                            batch: int = DEFAULT_BATCH, match_cv2: bool | None = None) -> torch.Tensor:
    """:func:`deflicker_local_torch` on the guides and frames stacked as one float32
    ``(N, 6, H, W)`` tensor (guide 0:3, frame 3:6), the layout its sampling uses: a caller that
    builds it directly holds no second copy of either."""
    if guide_frames.ndim != 4 or guide_frames.shape[1] != 6:
        raise ValueError(f"guide_frames: expected (N, 6, H, W), got {tuple(guide_frames.shape)}")
    n, _, h, w = guide_frames.shape
    if tuple(flows.shape) != (max(n - 1, 0), 2, 2, h, w):
        raise ValueError(f"flows: expected {(max(n - 1, 0), 2, 2, h, w)}, got {tuple(flows.shape)}")
    sigma, detail, tolerance = weights.sigma, weights.detail, weights.tolerance
    targets = check_parameters(n, radius, strength, detail, tolerance, targets)
    device, guide_frames = guide_frames.device, guide_frames.float()  # no copy when float32 already
    guides, frames = guide_frames[:, :3], guide_frames[:, 3:]
    out = torch.empty((len(targets), 3, h, w), dtype=torch.float32, device=device)
    if not targets:
        return out
    if strength == 0.0 or radius == 0 or n < 2:
        out.copy_(frames.index_select(0, torch.tensor(targets, device=device)))
        return out

    sampler = _sampler(h, w, str(device), _CV2_QUANTISES if match_cv2 is None else bool(match_cv2))
    time_sigma = max(radius * TIME_SIGMA_PER_RADIUS, 0.5)
    time_weight = [float(np.float32(np.exp(-(j ** 2) / (2.0 * time_sigma ** 2))))
                   for j in range(radius + 1)]
    uniq = sorted(set(targets))
    batch = max(1, int(batch))

    # visibility of the consecutive pairs, computed once per pair (kept for the window, as bytes)
    vis_cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def visibility(k_lo: int, k_hi: int) -> None:
        """Masks of pairs k_lo..k_hi-1 in ``vis_cache`` (batched), those before k_lo dropped."""
        for key in [key for key in vis_cache if key < k_lo]:
            del vis_cache[key]
        missing = [k for k in range(k_lo, k_hi) if k not in vis_cache]
        for part in (missing[i:i + batch] for i in range(0, len(missing), batch)):  # working memory of a batch
            fw, bw = (_take(flows, part)[:, i].float() for i in (0, 1))
            vis_fw, vis_bw = _occlusion(sampler, fw, bw), _occlusion(sampler, bw, fw)
            for i, k in enumerate(part):
                vis_cache[k] = (vis_fw[i].to(torch.uint8), vis_bw[i].to(torch.uint8))

    def flow_visibility(d: int, pairs: Sequence[int]) -> torch.Tensor:
        """``(P, 3, H, W)`` float32 for pairs k: the flow k -> k+d (0-1), its mask (2). The flows
        stay in the type they came in (exact in half for half plates) until a step takes them."""
        i = 0 if d > 0 else 1
        return torch.cat([_take(flows, pairs)[:, i].float(),
                          torch.stack([vis_cache[k][i] for k in pairs]).float()], dim=1)

    def mismatch(sampled: torch.Tensor, guide_t: torch.Tensor) -> torch.Tensor:
        return gaussian_blur(_mismatch(sampled, guide_t), PATCH_BLUR)

    slots: dict[int, list[int]] = {}  # target -> its places in ``out``
    for i, t in enumerate(targets):
        slots.setdefault(t, []).append(i)
    for start in range(0, len(uniq), batch):
        tt = uniq[start:start + batch]
        count = len(tt)
        visibility(max(0, tt[0] - radius), min(n - 1, tt[-1] + radius))
        current, guide_t = _take(frames, tt), _take(guides, tt)
        num = torch.zeros((count, 3, h, w), dtype=torch.float32, device=device)
        den = torch.ones((count, 1, h, w), dtype=torch.float32, device=device)

        def active(d: int, j: int) -> tuple[int, int]:
            """Batch positions [a, b) whose chain in direction d has a step j."""
            idx = [p for p in range(count) if 0 <= tt[p] + d * j <= n - 1]
            return (idx[0], idx[-1] + 1) if idx else (0, 0)

        def neighbour(d: int, j: int, a: int, b: int, grid: torch.Tensor) -> torch.Tensor:
            """Guide (0:3) and frame (3:6) of s = t + d j sampled on grid (chains a..b-1)."""
            return sampler.sample(_take(guide_frames, [tt[p] + d * j for p in range(a, b)]), grid)

        def accumulate(j: int, a: int, b: int, visible, diff, sampled, inv_tol) -> None:
            weight, delta = _weighted(diff, visible, sampled[:, 3:], current[a:b], inv_tol[a:b], time_weight[j])
            num[a:b] += delta
            den[a:b] += weight

        # step 1 (immediate neighbours), both directions: also gives the noise scale
        state, first = {}, {}
        noise_sum = torch.zeros(count, dtype=torch.float64, device=device)
        noise_n = torch.zeros(count, dtype=torch.float64, device=device)
        for d in (1, -1):
            a, b = active(d, 1)
            if a == b:
                continue
            pair_idx = [tt[p] if d > 0 else tt[p] - 1 for p in range(a, b)]
            step = flow_visibility(d, pair_idx)
            pos = sampler.base + step[:, :2].permute(0, 2, 3, 1)
            usable = step[:, 2] > 0.5
            visible = (usable & sampler.inside(pos)).unsqueeze(1).float()
            grid = sampler.grid(pos)
            sampled = neighbour(d, 1, a, b, grid)
            diff = mismatch(sampled, guide_t[a:b])
            med, valid = _medians(diff[:, 0], usable)
            noise_sum[a:b] += med.double()
            noise_n[a:b] += valid.double()
            state[d] = (a, b, pos, grid, visible)
            first[d] = (diff, sampled)
        noise = torch.where(noise_n > 0, noise_sum / noise_n.clamp(min=1), torch.zeros_like(noise_sum))
        scale_sq = tolerance ** 2 + NOISE_FACTOR ** 2 * noise
        inv_tol = (1.0 / (2.0 * scale_sq)).float()

        for d, (a, b, pos, grid, visible) in state.items():
            diff, sampled = first.pop(d)
            accumulate(1, a, b, visible, diff, sampled, inv_tol)
            del diff, sampled
            for j in range(2, radius + 1):
                a2, b2 = active(d, j)
                if a2 == b2:
                    break
                pos, grid, visible = pos[a2 - a:b2 - a], grid[a2 - a:b2 - a], visible[a2 - a:b2 - a]
                a, b = a2, b2
                # flow n -> n + d and its visibility, sampled where the chain is in frame n
                pair_idx = [tt[p] + d * (j - 1) - (0 if d > 0 else 1) for p in range(a, b)]
                step = sampler.sample(flow_visibility(d, pair_idx), grid)
                pos, visible = _advance(pos, visible, step, sampler.limit)
                grid = sampler.grid(pos)
                sampled = neighbour(d, j, a, b, grid)
                accumulate(j, a, b, visible, mismatch(sampled, guide_t[a:b]), sampled, inv_tol)
        del state

        def blur_both(num: torch.Tensor, den: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            both = coarse_blur(torch.cat([num, den], dim=1), sigma)
            return both[:, :3], both[:, 3:]

        result = blend_correction(current, num, den, strength, weights, blur_both, torch.clamp_min)
        for p, t in enumerate(tt):
            for i in slots[t]:
                out[i] = result[p]
        del result  # before the next batch's are built
    return out
