"""Does the network reproduce its own painted keys? Training's health check and stopping rule.

Every ``KEY_CHECK_EVERY`` steps training runs the network on each key's full plate frame, as a
render would, and measures the PSNR of the output against the painting (:class:`KeyCheck`),
over the whole frame and over tiles of the key held back from the patches it trains on (how
well the look generalises to pixels it has not seen, the nearest thing to another frame that
training has a painting for).

- :class:`Guard` keeps the best weights in memory, lets the temporal weight grow only while the
  keys pass and stay within ``FIDELITY_DB`` of their best PSNR, and, when training diverges (a non-finite
  loss or output, the keys' PSNR falling far below its best, the loss growing), rolls back to
  them and continues with half the learning rate and a smaller temporal weight; after
  ``MAX_RECOVERIES`` it gives up with a message that says what to do.
- :class:`FarTexture` measures the texture of the network's output on the shot frame farthest
  from any key (its patch statistics against the key's painting): where a network that has
  learnt its keys still paints smooth.
- :class:`Learnt` stops training when the keys are reproduced (PSNR at least the threshold)
  and neither their PSNR, nor the held-back tiles', nor the far frame's texture improves any
  more; a run whose keys are not learnt yet is never stopped by it.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UsageError
from ..metrics import sliced_wasserstein
from .network import SIZE_MULTIPLE

KEY_CHECK_EVERY = 50  # steps between key checks
HELD_SHARE = 0.1  # share of each key's tiles held back from the training patches
MIN_TILES = 20  # fewer tiles than this in a key (a tiny frame): nothing held back
PATCH_TRIES = 32  # draws before a training patch may touch a held-back tile
DROP_DB = 3.0  # the keys' PSNR this far below its best: diverged
FIDELITY_DB = 1.0  # the temporal loss may cost the keys at most this much of their best PSNR
LOSS_GROWTH = 4.0  # the smoothed loss this many times its lowest: diverged
MAX_RECOVERIES = 3
TEXTURE_CHECK_EVERY = 250  # steps between texture checks of the far frame (about 0.7 s each on one CPU core at 640x360)
TEXTURE_TOLERANCE = 0.03  # the far frame's texture distance still falling by this share of it: still learning


@dataclass
class KeyScore:
    """One key check: PSNR (dB) of the output at each key, full frame, and over the held-back tiles."""

    psnr_db: list[float]
    held_db: float | None

    @property
    def worst(self) -> float:
        return min(self.psnr_db)

    @property
    def finite(self) -> bool:
        return all(math.isfinite(v) for v in self.psnr_db) and (self.held_db is None or math.isfinite(self.held_db))


def held_back_tiles(height: int, width: int, tile: int, seed: int) -> np.ndarray:
    """(H, W) bool: about ``HELD_SHARE`` of the ``tile``-square cells of a key, picked with ``seed``
    (none when the key has fewer than ``MIN_TILES`` cells)."""
    rows, cols = height // tile, width // tile
    mask = np.zeros((height, width), bool)
    if rows * cols < MIN_TILES:
        return mask
    picks = np.random.default_rng([seed, 23]).permutation(rows * cols)[:round(HELD_SHARE * rows * cols)]
    for cell in picks:
        y, x = divmod(int(cell), cols)
        mask[y * tile:(y + 1) * tile, x * tile:(x + 1) * tile] = True
    return mask


def _psnr(squared_error: torch.Tensor) -> float:
    mse = float(squared_error.mean()) if squared_error.numel() else float("nan")
    return 10 * math.log10(1 / max(mse, 1e-10)) if math.isfinite(mse) else float("nan")


class KeyCheck:
    """PSNR of the network's full-frame output at each key against its painting (both clipped to
    0-1 in the working encoding), and over the held-back tiles of all keys together. A 4th target
    channel weighs each pixel's error (a painting's alpha: :func:`.paintings.teaching`)."""

    def __init__(self, inputs: list[np.ndarray], targets: list[np.ndarray], held: list[np.ndarray],
                 device: torch.device):
        def chw(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1), dtype=np.float32))[None].to(device)

        self.inputs = [chw(x) for x in inputs]
        self.targets = [chw(t).clamp(0, 1) for t in targets]
        self.weights = [t[:, 3] if t.shape[1] == 4 else None for t in self.targets]
        self.targets = [t[:, :3] for t in self.targets]
        self.held = [torch.from_numpy(h).to(device) for h in held]

    @torch.no_grad()
    def measure(self, net: torch.nn.Module) -> KeyScore:
        was_training = net.training
        net.eval()
        full, held = [], []
        for x, target, weight, mask in zip(self.inputs, self.targets, self.weights, self.held):
            error = ((_run_full_frame(net, x) - target) ** 2).mean(dim=1)[0]
            if weight is None:
                full.append(_psnr(error))
                held.append(error[mask])
            else:  # the weighted mean error, as PSNR
                full.append(_psnr(((error * weight[0]).sum() / weight[0].sum().clamp(min=1e-6))[None]))
                held.append((error * weight[0] / weight[0].mean().clamp(min=1e-6))[mask])
        net.train(was_training)
        held_error = torch.cat(held)
        return KeyScore(full, _psnr(held_error) if held_error.numel() else None)


def _run_full_frame(net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The network on a whole frame, padded by reflection to its size multiple as a render pads it."""
    h, w = x.shape[2:]
    padded = F.pad(x, (0, (-w) % SIZE_MULTIPLE, 0, (-h) % SIZE_MULTIPLE), mode="reflect")
    return net(padded)[..., :h, :w].clamp(0, 1)


@dataclass
class Snapshot:
    step: int
    score: KeyScore
    net: dict
    optimizer: dict
    weight: float


class Guard:
    """Keeps the healthiest weights seen (highest worst-key PSNR) in memory; spots divergence and
    rolls training back to them with half the learning rate and a smaller temporal weight."""

    def __init__(self, net: torch.nn.Module, optimizer: torch.optim.Optimizer, stability=None):
        self.net, self.optimizer, self.stability = net, optimizer, stability
        self.best: Snapshot | None = None
        self.last: KeyScore | None = None
        self.fit: float | None = None  # smoothed loss of the keyframe patches
        self.lowest_fit = math.inf
        self.recoveries: list[str] = []

    def keep(self, step: int, score: KeyScore) -> None:
        """A healthy check: remember these weights when they reproduce the keys better than any before."""
        self.last = score
        if score.finite and (self.best is None or score.worst > self.best.score.worst):
            self.best = Snapshot(step, score, copy.deepcopy(self.net.state_dict()),
                                 copy.deepcopy(self.optimizer.state_dict()), self._weight())

    def watch(self, fit: float, total: float) -> str | None:
        """Per step, from the keyframe patches' loss ``fit`` and the ``total``: why training has
        diverged, or None."""
        if not (math.isfinite(fit) and math.isfinite(total)):
            return "the loss is no longer a finite number"
        self.fit = fit if self.fit is None else 0.98 * self.fit + 0.02 * fit
        self.lowest_fit = min(self.lowest_fit, self.fit)
        if self.fit > LOSS_GROWTH * self.lowest_fit:
            return f"the keyframes' loss grew to {self.fit:.3g} from {self.lowest_fit:.3g}"
        return None

    def fell(self, score: KeyScore) -> str | None:
        """Why ``score`` says the look is lost (non-finite, or far below the best), or None."""
        if not score.finite:
            return "the output at a key is no longer finite"
        if self.best and score.worst < self.best.score.worst - DROP_DB:
            return (f"the keys' PSNR fell to {score.worst:.1f} dB from {self.best.score.worst:.1f} dB "
                    f"at step {self.best.step}")
        return None

    def keys_ok(self, score: KeyScore, threshold_db: float) -> bool:
        """The keys pass the check and are within ``FIDELITY_DB`` of their best: the temporal weight may grow."""
        best = self.best.score.worst if self.best else -math.inf
        return score.worst >= threshold_db and score.worst >= best - FIDELITY_DB

    def restore_best(self) -> None:
        self.net.load_state_dict(self.best.net)
        self.optimizer.load_state_dict(self.best.optimizer)

    def recover(self, step: int, reason: str) -> int:
        """Roll back to the best weights with half the learning rate and temporal weight; returns the
        step they were saved at.

        Raises:
            UsageError: out of recoveries (or nothing healthy to roll back to).
        """
        self.recoveries.append(f"step {step}: {reason}")
        if self.best is None or len(self.recoveries) > MAX_RECOVERIES:
            raise UsageError(
                f"training diverged ({'; '.join(self.recoveries)}) and rolling back with a smaller step did not "
                "cure it; no model written. Try --stability 0 (temporal loss off) or a looser flicker target "
                "(e.g. --stability 4), a smaller --lr (e.g. 3e-4), or check the painting matches its plate frame")
        self.restore_best()
        self.fit, self.lowest_fit = None, math.inf
        for group in self.optimizer.param_groups:
            group["lr"] *= 0.5 ** len(self.recoveries)
        if self.stability is not None:
            self.stability.weight = self.best.weight
            self.stability.ceiling = max(self.best.weight, self.stability.ceiling / 4)
        return self.best.step

    def _weight(self) -> float:
        return self.stability.weight if self.stability is not None else 0.0


class FarTexture:
    """Texture of the network's output on one plate frame far from the keys: the multi-scale sliced
    Wasserstein distance of its Laplacian patches to those of the nearest key's painting
    (:func:`inference.metrics.sliced_wasserstein`; both in the working encoding, display-referred).

    Training has no painting of that frame, but the look's brushwork and outlines should have the
    painting's statistics there too; a network that fits its keys and paints smooth elsewhere
    scores high. Patch positions and directions are drawn with one seed, the same at every check,
    so the score moves only with the output. Lower is better.
    """

    def __init__(self, frame: int, x: np.ndarray, painting: np.ndarray, device: torch.device):
        self.frame = frame
        self.x = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float32))[None].to(device)
        self.painting = np.clip(painting, 0, 1).astype(np.float32)

    @torch.no_grad()
    def measure(self, net: torch.nn.Module) -> float:
        was_training = net.training
        net.eval()
        output = _run_full_frame(net, self.x)[0].permute(1, 2, 0).cpu().numpy()
        net.train(was_training)
        if not np.isfinite(output).all():
            return float("nan")
        return sliced_wasserstein([output], [self.painting], seed=0, min_patches=8192, repeats=2)


def far_frame(frames: list[int], key_frames: list[int]) -> int | None:
    """The frame of ``frames`` farthest from every key (the earliest of a tie), None when every frame is a key."""
    others = sorted(set(frames) - set(key_frames))
    return max(others, key=lambda f: (min(abs(f - k) for k in key_frames), -f)) if others else None


class Learnt:
    """Stopping rule: the keys are reproduced (worst key PSNR at least ``threshold_db``), neither
    the worst key's PSNR nor the held-back tiles' gained ``tolerance_db`` over the last ``window``
    steps, and the far frame's texture distance (:meth:`texture`, when measured) fell by less than
    ``TEXTURE_TOLERANCE`` of itself over them. Checked at fixed steps, so the same run stops at the
    same step."""

    def __init__(self, threshold_db: float, window: int, tolerance_db: float):
        self.threshold_db, self.window, self.tolerance_db = threshold_db, window, tolerance_db
        self.history: list[tuple[int, float, float]] = []
        self.textures: list[tuple[int, float]] = []

    def texture(self, step: int, distance: float) -> None:
        """Record the far frame's texture distance at ``step``."""
        self.textures.append((step, distance))

    def update(self, step: int, score: KeyScore) -> bool:
        held = score.worst if score.held_db is None else score.held_db
        self.history.append((step, score.worst, held))
        if score.worst < self.threshold_db or step < 2 * self.window:
            return False
        then = [entry for entry in self.history if entry[0] <= step - self.window]
        keys_flat = bool(then) and all(max(e[i] for e in self.history) - max(e[i] for e in then) < self.tolerance_db
                                       for i in (1, 2))
        return keys_flat and self._texture_flat(step)

    def _texture_flat(self, step: int) -> bool:
        """No texture measured, or its best before the window is within ``TEXTURE_TOLERANCE`` of its best."""
        if not self.textures:
            return True
        then = [d for s, d in self.textures if s <= step - self.window]
        return bool(then) and min(then) - min(d for _, d in self.textures) < TEXTURE_TOLERANCE * min(then)
