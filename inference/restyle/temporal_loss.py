"""Temporal stability in training, taught by the plate's own motion.

Besides the keyframes' supervised patches, training sees pairs of consecutive plate frames
(no painting needed) and the plate's optical flow between them. The loss asks the output of
frame t to equal the output of frame t-1 carried along that flow, wherever the flow passes
the forward-backward check. Render noise and grain change every frame but do not move with
the plate, so the network learns not to turn them into brushwork that crawls (the short-term
temporal loss of Ruder et al. 2016 and Gupta et al. 2017, "Characterizing and Improving
Stability in Neural Style Transfer", applied to few-shot training).

How much stability is worth how much fidelity depends on the plate: a clean live-action plate
needs little, a noisy 16-sample render a lot. So the weight is not a fixed number but follows a
target (:class:`Stability`): the output's change between frames along the plate's motion, as a
multiple of the plate's own change over the same pixels (the E_warp ratio, measured on a fixed
set of patches). Every ``CHECK_EVERY`` steps the weight grows while the output flickers more
than the target and shrinks while it is well within it, so a plate that is stable already keeps
all its fidelity.

The warped frame is the target and carries no gradient: no backward pass goes through the
resampling, whose CUDA kernel accumulates with atomics, so training stays deterministic.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..temporal import plate_flow
from ..temporal.flow import occlusion_mask

MAX_PAIRS = 12  # frame pairs kept in memory, spread over the shot
MARGIN = 4  # px of each patch's border left out: the network sees its padding there
CHECK_EVERY = 100  # steps between measurements of the output's flicker
PROBE_PATCHES = 64  # fixed patches the flicker is measured on
FIRST_WEIGHT, MAX_WEIGHT, STEP_FACTOR = 0.25, 8.0, 1.5


def pair_frames(frames: list[int], count: int = MAX_PAIRS) -> list[tuple[int, int]]:
    """Up to ``count`` consecutive (t-1, t) frame pairs spread evenly over ``frames``."""
    pairs = [(a, b) for a, b in zip(frames, frames[1:]) if b == a + 1]
    if len(pairs) <= count:
        return pairs
    picks = np.linspace(0, len(pairs) - 1, count).round().astype(int)
    return [pairs[i] for i in sorted(set(picks))]


def flow_pairs(views: list[tuple[np.ndarray, np.ndarray]], device: object = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per (t-1, t) pair of sRGB views, the flow t -> t-1 and where it is reliable (DIS flow by the
    backend FlowSettings picks, the torch one on ``device``; forward-backward check)."""
    flows = plate_flow.flow_pairs([cur for _, cur in views], [prev for prev, _ in views], device)
    return [(to_prev, occlusion_mask(to_prev, from_prev)) for to_prev, from_prev in flows]


class TemporalSampler:
    """Aligned random patches of plate frames t-1 and t, with the sampling grid from t to t-1.

    ``pairs``: per pair, ((input, view) of t-1, (input, view) of t): the (H, W, C) network
    inputs and the sRGB views the flow is measured on. Draws from ``rng`` (shared with the
    keyframe patches, so one random state resumes both). The frames stay in host memory (a 4K
    shot's pairs would take gigabytes of GPU memory); each batch's patches go to ``device``.
    """

    def __init__(self, pairs: list[tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]],
                 patch: int, rng: np.random.Generator, device: torch.device):
        def tensor(array: np.ndarray) -> torch.Tensor:
            chw = array.transpose(2, 0, 1) if array.ndim == 3 else array[None]
            return torch.from_numpy(np.ascontiguousarray(chw, dtype=np.float32))

        self.pairs = []
        flows = flow_pairs([(prev_view, cur_view) for (_, prev_view), (_, cur_view) in pairs], device)
        for ((prev, prev_view), (cur, cur_view)), (to_prev, visible) in zip(pairs, flows):
            self.pairs.append((tensor(prev), tensor(cur), tensor(to_prev), tensor(visible.astype(np.float32)),
                               tensor(prev_view), tensor(cur_view)))
        self.patch, self.rng, self.device = patch, rng, device
        ys, xs = torch.meshgrid(torch.arange(patch, dtype=torch.float32), torch.arange(patch, dtype=torch.float32),
                                indexing="ij")
        self.pixels = torch.stack([xs, ys])  # (2, P, P): x, y of each patch pixel
        inner = torch.zeros(patch, patch)
        inner[MARGIN:patch - MARGIN, MARGIN:patch - MARGIN] = 1
        self.inner = inner

    def batch(self, size: int, rng: np.random.Generator | None = None, views: bool = False) -> tuple[torch.Tensor, ...]:
        """(prev, cur) patches, the grid_sample grid from cur into prev and the (B, 1, P, P) mask;
        with ``views``, also the plate's (prev, cur) sRGB view patches."""
        rng = rng or self.rng
        drawn = []
        p = self.patch
        for _ in range(size):
            prev, cur, to_prev, visible, prev_view, cur_view = self.pairs[int(rng.integers(len(self.pairs)))]
            _, h, w = cur.shape
            y, x = int(rng.integers(0, h - p + 1)), int(rng.integers(0, w - p + 1))
            where = self.pixels + to_prev[:, y:y + p, x:x + p]  # patch coordinates of each pixel in t-1
            lands_inside = ((where >= MARGIN) & (where <= p - 1 - MARGIN)).all(dim=0)
            crop = (slice(None), slice(y, y + p), slice(x, x + p))
            drawn.append((prev[crop], cur[crop], (where * (2 / (p - 1)) - 1).permute(1, 2, 0),
                          (visible[0][crop[1:]] * self.inner * lands_inside)[None], prev_view[crop], cur_view[crop]))
        return tuple(torch.stack(parts).to(self.device) for parts in zip(*drawn))[:6 if views else 4]


def temporal_loss(net: torch.nn.Module, prev: torch.Tensor, cur: torch.Tensor, grid: torch.Tensor,
                  mask: torch.Tensor) -> torch.Tensor:
    """Masked L1 between the output of t and the output of t-1 carried to t along the plate's flow."""
    with torch.no_grad():
        carried = _carry(net(prev), grid)
    return _masked_mean((net(cur) - carried).abs(), mask)


def _carry(frames: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    return F.grid_sample(frames, grid, mode="bilinear", align_corners=True)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / (mask.sum() * values.shape[1]).clamp_min(1.0)


class Stability:
    """The temporal loss's weight, steered towards a flicker target.

    ``target``: the output's mean squared change between frames along the plate's flow, over the
    plate's own on the same pixels (E_warp ratio). Measured on ``PROBE_PATCHES`` fixed patches
    drawn with ``seed``; the weight starts at 0 (the first check turns it on if needed), grows
    by ``STEP_FACTOR`` while the ratio is above the target (up to ``ceiling``, ``MAX_WEIGHT``
    unless training lowered it after a divergence) and shrinks by it while the ratio is below
    half the target. Fidelity comes first: while the keys are not reproduced (``keys_ok`` False)
    the weight shrinks whatever the flicker, so a target the look cannot reach (a high-contrast
    painting multiplies the plate's own change) cannot take the weight up until the look is lost.
    """

    def __init__(self, sampler: TemporalSampler, target: float, seed: int, weight: float = 0.0):
        self.target, self.weight, self.ratio = target, weight, float("nan")
        self.ceiling = MAX_WEIGHT
        prev, cur, self.grid, self.mask, prev_view, cur_view = sampler.batch(
            PROBE_PATCHES, np.random.default_rng([seed, 7]), views=True)
        self.inputs = (prev, cur)
        self.plate_change = float(_masked_mean((cur_view - _carry(prev_view, self.grid)) ** 2, self.mask))

    @torch.no_grad()
    def check(self, net: torch.nn.Module, keys_ok: bool = True) -> float:
        """Measure the output's flicker ratio now and adapt the weight; returns the ratio."""
        prev, cur = self.inputs
        change = float(_masked_mean((net(cur) - _carry(net(prev), self.grid)) ** 2, self.mask))
        self.ratio = change / max(self.plate_change, 1e-12)
        if self.ratio > self.target and keys_ok:
            self.weight = min(self.ceiling, max(FIRST_WEIGHT, self.weight * STEP_FACTOR))
        elif self.ratio < 0.5 * self.target or not keys_ok:
            self.weight = self.weight / STEP_FACTOR if self.weight >= FIRST_WEIGHT * STEP_FACTOR else 0.0
        return self.ratio
