"""Local deflicker: motion-compensated temporal consistency guided by the plate's motion.

Family of Bonneel et al., "Blind video temporal consistency" (SIGGRAPH Asia 2015): the
output keeps each frame's own detail and takes its temporally varying part from its
neighbours brought onto it along the motion of the PLATE (the un-stylised footage, whose
motion is reliable where the stylised frames flicker). Unlike Bonneel's recursive solve,
every output frame here depends only on the input and plate frames within
``[t - radius, t + radius]``; so a farm chunk rendered with ``handles >= radius`` equals
the whole-shot render (no lag, no state carried across the shot).

For a target frame t (``I`` the stylised frames, ``P`` the plate):

1. Neighbours s in ``[t - radius, t + radius]`` are warped onto t with the flow t -> s,
   chained from consecutive plate flows
   ``F(t->s)(x) = F(t->n)(x) + F(n->s)(x + F(t->n)(x))``. A pixel is usable in s only if it
   passes the forward-backward consistency test (:func:`~inference.temporal.flow.occlusion_mask`,
   Sundaram 2010 thresholds; its motion-boundary clause is left out here: it compounds
   along the chain (on sceneA only 42% of the pixels kept 5 or more of their 8
   neighbours; with it E_warp of sceneA_painting is 1.26x the plate's instead of 1.15x)
   while the plate weight below already rejects mis-registered boundary pixels) at every
   step of the chain, and stays inside the frame.
2. Each usable neighbour pixel gets the weight
   ``w_s(x) = exp(-(s - t)^2 / (2 radius^2)) * exp(-m_s(x) / (2 tau^2))`` where
   ``m_s = G_1 * mean_RGB (P~_s - P_t)^2`` is the plate's local (Gaussian 1 pixel) squared
   mismatch after warping ``P_s`` onto t: where the plate itself does not match, the flow
   is wrong there (or an occlusion escaped the test) and the neighbour would ghost, so it
   is down-weighted. The scale adapts to the plate's noise or grain:
   ``tau^2 = tolerance^2 + 6^2 * median(m_{t-1}, m_{t+1})`` (median over usable pixels of
   the immediate neighbours; measured sqrt(median) ~0.006 on the bikes plate, ~0.027 on
   the 16-sample Cycles render, 0 on a clean synthetic plate). The frame itself has
   weight 1. Past and future neighbours are treated alike (no lag, no one-sided smear).
3. With ``num = sum_s w_s (I~_s - I_t)`` (``I~_s`` the warped neighbour), ``den = 1 +
   sum_s w_s``, ``G`` a Gaussian blur of ``sigma`` pixels:

   - ``D = num / den``: the full-band correction (weighted temporal mean minus ``I_t``);
   - ``L = G(num) / G(den)``: the low-frequency correction by normalised convolution.
     It is smooth and also reaches pixels with no usable neighbour (just uncovered
     ones) from their surroundings: their colour follows the corrected neighbourhood
     while their content stays the frame's own;
   - ``H = D - (den - 1) / den * G(num) / (G(den) - 1)``: the fine part of the correction
     (D minus its own low-frequency share), 0 where the pixel has no usable neighbour.

   ``out = I_t + strength * (L + detail * H)``. ``detail = 0`` replaces only the
   frequencies below ``sigma`` by their temporal average and keeps the frame's fine detail
   exactly (the gradient-domain split of Bonneel et al.); ``detail = 1`` (default) also
   averages the fine, stroke-level flicker of per-frame stylisations (G'MIC painting,
   Kuwahara), which a low-frequency-only correction leaves untouched (below).

Measured with the defaults on ../shared/data at full size (E_warp of
:func:`inference.metrics.e_warp` against the plate, SSIM of :func:`inference.metrics.ssim`
of output vs input, mean over frames; goal E_warp <= 1.2x plate, SSIM >= 0.85):

- bikes_kuwahara (32 frames, 640x272): plate 1.77e-4; input 8.30e-4 (4.7x the plate);
  output 1.29e-4 (0.73x the plate); SSIM(out, in) 0.964.
- sceneA_painting (24 frames, 640x360): plate 1.25e-3; input 2.24e-2 (17.9x);
  output 1.44e-3 (1.15x); SSIM(out, in) 0.889.

``detail = 0`` (low frequencies only): bikes 4.65x the plate (SSIM 1.000), sceneA 17.1x
(SSIM 0.995), i.e. almost no gain: the flicker of these styles is at the stroke level.
``detail = 0.9``: bikes 0.83x (SSIM 0.971), sceneA 1.51x (0.906). ``radius = 5``: bikes
0.70x (0.962), sceneA 1.07x (0.882). About 0.1 s a frame at 640x360 on 2 CPU cores,
DIS flows included.

Conventions: frames and plate are display-encoded (sRGB) float32 ``(H, W, 3)`` in [0, 1]
(the caller converts colourspaces); flows follow :mod:`inference.temporal.flow` (``(H, W, 2)``
float32 pixels, x right, y down; flow a -> b gives, for each pixel of a, where it is in b).
Consecutive flows are passed as pairs ``(flow k -> k+1, flow k+1 -> k)`` for ``k = 0..N-2``
(note :func:`inference.metrics.plate_flows` uses the other order, ``(t -> t-1, t-1 -> t)``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import cv2
import numpy as np

from ..workers import map_frames
from .flow import compute_flow, occlusion_mask
from .settings import (
    FRAME_GUIDE_BLUR,
    MOTION_BOUNDARIES,
    NOISE_FACTOR,
    PATCH_BLUR,
    TIME_SIGMA_PER_RADIUS,
    DeflickerSettings,
    LocalWeights,
)

FlowPair = tuple[np.ndarray, np.ndarray]


# --------------------------------------------------------------------------- flows
def neighbour_flows(plate: Sequence[np.ndarray], preset: str = "medium") -> list[FlowPair]:
    """Consecutive flows of the plate, forward and backward.

    Args:
        plate: N frames ``(H, W, 3)``, sRGB-encoded float in [0, 1].
        preset: DIS preset of :func:`~inference.temporal.flow.compute_flow`.
    Returns:
        N-1 pairs ``(flow k -> k+1, flow k+1 -> k)`` for ``k = 0..N-2``, each ``(H, W, 2)``
        float32 (x right, y down, pixels).
    """
    return pair_flows([plate[k:k + 2] for k in range(len(plate) - 1)], preset)


def pair_flows(pairs: Sequence[Sequence[np.ndarray]], preset: str = "medium") -> list[FlowPair]:
    """:func:`neighbour_flows` of each two-frame ``pairs[i]`` (frames not consecutive in one
    list), the pairs at once on the frame pool (OpenCV's DIS keeps an instance per thread)."""
    return map_frames(lambda pair: _pair_flow(pair, 0, preset), pairs)


def neighbour_flows_from_vectors(forward: Sequence[np.ndarray],
                                 backward: Sequence[np.ndarray]) -> list[FlowPair]:
    """Consecutive flow pairs from per-frame motion vectors (renderer or Nuke).

    Args:
        forward: N flows, ``forward[t]`` = flow t -> t+1 (e.g. from
            :func:`~inference.temporal.flow.flow_from_nuke_vectors` of ``forward.u/v`` or
            ``flow_from_blender_vectors(..., "next")``); the last one is not used.
        backward: N flows, ``backward[t]`` = flow t -> t-1; the first one is not used.
    Returns:
        N-1 pairs ``(forward[k], backward[k+1])``, as :func:`neighbour_flows`.
    """
    if len(forward) != len(backward):
        raise ValueError(f"{len(forward)} forward but {len(backward)} backward flows")
    return [(np.asarray(forward[k], np.float32), np.asarray(backward[k + 1], np.float32))
            for k in range(len(forward) - 1)]


def _pair_flow(plate: Sequence[np.ndarray], k: int, preset: str) -> FlowPair:
    """``(flow k -> k+1, flow k+1 -> k)`` of the plate."""
    return (compute_flow(plate[k], plate[k + 1], preset),
            compute_flow(plate[k + 1], plate[k], preset))


# --------------------------------------------------------------------------- helpers
def _remap(image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Bilinear backward sampling at absolute coordinates, border replicated."""
    out = cv2.remap(np.ascontiguousarray(image), map_x, map_y, cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(image.shape[:2] + image.shape[2:])


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``sigma`` pixels (border reflected); identity for sigma <= 0.

    Large sigmas are computed on a downscaled copy (the result is smooth anyway), so the
    cost does not grow with sigma.
    """
    if sigma <= 0:
        return image
    h, w = image.shape[:2]
    factor = int(max(1, min(sigma // 4, min(h, w) // 8)))
    if factor <= 1:
        return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    small = cv2.resize(image, (max(1, round(w / factor)), max(1, round(h / factor))),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma / factor, borderType=cv2.BORDER_REFLECT)
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return out.reshape(image.shape)


def _as_frame(image: np.ndarray, what: str) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{what}: expected an (H, W, 3) RGB frame, got shape {img.shape}")
    return np.ascontiguousarray(img, dtype=np.float32)


class _Pairs:
    """Flow pairs and their visibility masks, computed (or taken) on demand, evictable."""

    def __init__(self, plate: Sequence[np.ndarray] | None, flows: Sequence[FlowPair] | None,
                 preset: str):
        self.plate, self.flows, self.preset = plate, flows, preset
        self.cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}

    def get(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(flow k->k+1, flow k+1->k, visible k in k+1, visible k+1 in k)`` (masks float32)."""
        if k not in self.cache:
            if self.flows is not None:
                fw, bw = (np.asarray(f, np.float32) for f in self.flows[k])
            else:
                fw, bw = _pair_flow(self.plate, k, self.preset)
            self.cache[k] = (fw, bw,
                             occlusion_mask(fw, bw, MOTION_BOUNDARIES).astype(np.float32),
                             occlusion_mask(bw, fw, MOTION_BOUNDARIES).astype(np.float32))
        return self.cache[k]

    def evict_below(self, k: int) -> None:
        for key in [key for key in self.cache if key < k]:
            del self.cache[key]


def _chains(pairs: _Pairs, t: int, lo: int, hi: int, shape: tuple[int, int]):
    """Yield ``(s, map_x, map_y, visible)`` for s = t-1 .. lo and t+1 .. hi.

    ``map_x, map_y`` are the absolute positions in frame s of the pixels of t
    (``x + F(t->s)(x)``); ``visible`` is 1 where every step of the chain passed the
    occlusion test.
    """
    h, w = shape
    grid_x = np.arange(w, dtype=np.float32)[None, :].repeat(h, 0)
    grid_y = np.arange(h, dtype=np.float32)[:, None].repeat(w, 1)
    for step in (-1, 1):
        map_x, map_y = grid_x, grid_y
        visible = np.ones(shape, np.float32)
        n = t
        while lo <= n + step <= hi:
            fw, bw, vis_fw, vis_bw = pairs.get(n if step > 0 else n - 1)
            flow, vis = (fw, vis_fw) if step > 0 else (bw, vis_bw)
            # flow n -> n+step and its visibility, sampled where the chain is in frame n
            flow_at = _remap(flow, map_x, map_y)
            visible = visible * (_remap(vis, map_x, map_y) > 0.5)
            map_x = map_x + flow_at[:, :, 0]
            map_y = map_y + flow_at[:, :, 1]
            visible *= (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
            n += step
            yield n, map_x, map_y, visible


# --------------------------------------------------------------------------- deflicker
def check_parameters(n_frames: int, radius: int, strength: float, detail: float, tolerance: float,
                     targets: Sequence[int] | None) -> list[int]:
    """Validate the knobs shared by the numpy and torch paths; returns the target indices."""
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    if not 0.0 <= strength <= 1.0 or not 0.0 <= detail <= 1.0:
        raise ValueError(f"strength and detail must be in [0, 1], got {strength}, {detail}")
    if tolerance <= 0:
        raise ValueError(f"tolerance must be > 0, got {tolerance}")
    targets = list(range(n_frames)) if targets is None else [int(t) for t in targets]
    for t in targets:
        if not 0 <= t < n_frames:
            raise IndexError(f"target {t} outside the {n_frames} given frames")
    return targets


def deflicker_local(frames: Sequence[np.ndarray], plate: Sequence[np.ndarray] | None = None, *,
                    flows: Sequence[FlowPair] | None = None, radius: int = DeflickerSettings.radius,
                    strength: float = DeflickerSettings.strength, weights: LocalWeights = LocalWeights(),
                    targets: Sequence[int] | None = None,
                    progress: Callable[[int], None] | None = None) -> list[np.ndarray]:
    """Deflicker ``frames`` along the plate's motion, with finite temporal support.

    Output frame t depends only on ``frames``/``plate``/``flows`` within
    ``[t - radius, t + radius]`` (clipped to the given lists). A chunk rendered from the
    chunk's frames plus ``handles >= radius`` on each side (fewer only at the shot's ends)
    therefore equals the whole-shot render.

    Args:
        frames: N stylised frames ``(H, W, 3)`` float32, sRGB-encoded in [0, 1] (any
            indexable sequence; each frame is read up to ``2 radius + 1`` times, so a lazy
            loader should cache).
        plate: N plate frames (same size), sRGB-encoded; gives the motion (flows are
            computed with DIS when ``flows`` is None) and the robust weights.
        flows: optional N-1 pairs ``(flow k -> k+1, flow k+1 -> k)`` (see
            :func:`neighbour_flows`, :func:`neighbour_flows_from_vectors`). Either
            ``plate`` or ``flows`` is required; with flows and no plate, the robust weights
            compare the frames themselves, blurred by 2 pixels (weaker: their flicker
            counts as mismatch).
        radius: temporal half window in frames (0 returns the input).
        strength: 0 returns the input, 1 the fully deflickered frames, linear in between.
        weights: ``sigma``, spatial scale (pixels) below which frequencies are taken from the
            temporal average whatever ``detail``, larger = only broader flicker removed;
            ``detail``, fraction in [0, 1] of the fine (above-``sigma``) flicker also removed;
            ``tolerance``, sRGB difference of the warped plate (local RMS) at which a neighbour's
            weight falls to exp(-1/2) on a noise-free plate (flow errors, occlusions the
            check missed); the plate's measured noise is added to it (module doc).
        targets: indices into ``frames`` to return (default all, in order).
        progress: called with the index of each target once it is done.
    Returns:
        One ``(H, W, 3)`` float32 frame per target (not clipped).
    """
    n_frames = len(frames)
    if plate is None and flows is None:
        raise ValueError("deflicker_local needs the plate or its flows")
    if plate is not None and len(plate) != n_frames:
        raise ValueError(f"{n_frames} frames but {len(plate)} plate frames")
    if flows is not None and len(flows) != max(n_frames - 1, 0):
        raise ValueError(f"expected {max(n_frames - 1, 0)} flow pairs, got {len(flows)}")
    targets = check_parameters(n_frames, radius, strength, weights.detail, weights.tolerance, targets)

    pairs = _Pairs(plate, flows, "medium")
    guides: dict[int, np.ndarray] = {}

    def guide(s: int) -> np.ndarray:
        if s not in guides:
            if plate is not None:
                guides[s] = _as_frame(plate[s], f"plate frame {s}")
            else:
                guides[s] = _blur(_as_frame(frames[s], f"frame {s}"), FRAME_GUIDE_BLUR)
        return guides[s]

    time_sigma = max(radius * TIME_SIGMA_PER_RADIUS, 0.5)
    results: dict[int, np.ndarray] = {}
    for t in sorted(set(targets)):
        current = _as_frame(frames[t], f"frame {t}")
        if strength == 0.0 or radius == 0 or n_frames < 2:
            results[t] = current.copy()
        else:
            lo, hi = max(0, t - radius), min(n_frames - 1, t + radius)
            pairs.evict_below(lo)
            for key in [key for key in guides if key < lo]:
                del guides[key]
            results[t] = _deflicker_frame(frames, pairs, guide, t, lo, hi, current, time_sigma,
                                          strength, weights)
        if progress is not None:
            progress(t)
    return [results[t] for t in targets]


def _deflicker_frame(frames, pairs: _Pairs, guide, t: int, lo: int, hi: int,
                     current: np.ndarray, time_sigma: float, strength: float, weights: LocalWeights) -> np.ndarray:
    """One target frame (see the module docstring for the formulas)."""
    h, w = current.shape[:2]
    guide_t = guide(t)

    def mismatch(s: int, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
        diff = np.square(_remap(guide(s), map_x, map_y) - guide_t).mean(axis=2)
        if PATCH_BLUR > 0:
            diff = cv2.GaussianBlur(diff, (0, 0), PATCH_BLUR, borderType=cv2.BORDER_REFLECT)
        return diff

    # Robust scale: the plate's own frame-to-frame mismatch (noise, grain, small flow
    # errors), median over the usable pixels of the immediate neighbours.
    noise, direct = [], {}
    grid_x = np.arange(w, dtype=np.float32)[None, :].repeat(h, 0)
    grid_y = np.arange(h, dtype=np.float32)[:, None].repeat(w, 1)
    for s in (t - 1, t + 1):
        if lo <= s <= hi:
            fw, bw, vis_fw, vis_bw = pairs.get(min(s, t))
            flow, vis = (fw, vis_fw) if s > t else (bw, vis_bw)
            usable = vis > 0.5
            if usable.any():
                direct[s] = mismatch(s, grid_x + flow[:, :, 0], grid_y + flow[:, :, 1])
                noise.append(float(np.median(direct[s][usable])))
    scale_sq = weights.tolerance ** 2 + NOISE_FACTOR ** 2 * (float(np.mean(noise)) if noise else 0.0)
    inv_tol = 1.0 / (2.0 * scale_sq)

    num = np.zeros_like(current)
    den = np.ones((h, w), np.float32)
    for s, map_x, map_y, visible in _chains(pairs, t, lo, hi, (h, w)):
        weight = np.float32(np.exp(-((s - t) ** 2) / (2.0 * time_sigma ** 2))) * visible
        # (one step from t the chain's positions are grid + flow: same mismatch as above)
        diff = direct[s] if s in direct else mismatch(s, map_x, map_y)
        weight *= np.exp(-diff * inv_tol)
        warped = _remap(_as_frame(frames[s], f"frame {s}"), map_x, map_y)
        num += weight[:, :, None] * (warped - current)
        den += weight
    return blend_correction(current, num, den[:, :, None], strength, weights,
                            lambda n, d: (_blur(n, weights.sigma), _blur(d[:, :, 0], weights.sigma)[:, :, None]),
                            np.maximum)


def blend_correction(current, num, den, strength: float, weights: LocalWeights,
                     blur_both: Callable, at_least: Callable):
    """The deflickered frame from the neighbours' weighted differences ``num`` and the weights
    ``den`` (1 + their sum, shaped to broadcast against ``num``): the full-band correction, or with
    ``weights.sigma`` its low band (``blur_both(num, den)``) plus ``weights.detail`` times its fine
    part; ``strength`` of it added to ``current``. One formula for numpy arrays and torch tensors
    (``at_least``: ``np.maximum`` / ``torch.clamp_min``)."""
    full = num / den
    if weights.detail >= 1.0 and weights.sigma <= 0:
        return current + float(np.float32(strength)) * full
    num_low, den_low = blur_both(num, den)
    low = num_low / den_low
    if weights.detail > 0.0:
        # Fine part: the full-band correction minus its own low-frequency share, where the
        # pixel has neighbours (0 where it has none, so holes keep the low correction).
        share = (den - 1.0) / den
        mean_low = num_low / at_least(den_low - 1.0, 1e-6)
        low = low + float(np.float32(weights.detail)) * (full - share * mean_low)
    return current + float(np.float32(strength)) * low
