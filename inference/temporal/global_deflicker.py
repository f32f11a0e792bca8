"""Global deflicker: per-frame colour statistics smoothed over time.

Each frame's per-channel mean (and optionally spread) in scene-linear is pulled toward a
Gaussian-weighted average of its neighbours' within ``radius`` frames, as a gain (and
offset) per channel: ``out = multiply * in + add``. That is exactly what Nuke's Grade node
does with default black/white points and gamma, so the correction can also be written as
animated ``multiply``/``add`` curves and kept native in the comp (:func:`grade_nk`).

Every frame's correction depends only on frames within ``radius``, so chunks rendered with
handles >= radius equal a whole-shot render.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

MODES = ("gain", "gain_offset")


@dataclass(frozen=True)
class Correction:
    """Per-frame, per-channel Grade values: ``out = multiply * in + add``."""

    frames: list[int]
    multiply: np.ndarray  # (N, 3)
    add: np.ndarray       # (N, 3)

    def apply(self, index: int, rgb: np.ndarray) -> np.ndarray:
        return rgb * self.multiply[index] + self.add[index]


def frame_stats(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of an (H, W, 3) scene-linear frame."""
    flat = rgb.reshape(-1, 3).astype(np.float64)
    return flat.mean(axis=0), flat.std(axis=0)


def temporal_weights(count: int, index: int, radius: int, sigma: float | None = None) -> np.ndarray:
    """Gaussian weights over frames ``index - radius .. index + radius`` that exist, summing to 1."""
    sigma = sigma or max(radius / 2.0, 0.5)
    lo, hi = max(0, index - radius), min(count, index + radius + 1)
    offsets = np.arange(lo, hi) - index
    weights = np.zeros(count)
    weights[lo:hi] = np.exp(-0.5 * (offsets / sigma) ** 2)
    return weights / weights.sum()


def fit_correction(frames: list[int], means: np.ndarray, stds: np.ndarray, radius: int = 6,
                   mode: str = "gain", strength: float = 1.0) -> Correction:
    """Grade values that move each frame's statistics to their temporal average.

    Args:
        means, stds: (N, 3) per-frame statistics, in frame order, of consecutive frames.
        strength: 0 leaves frames alone, 1 matches the smoothed statistics fully.
    """
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: choose from {MODES}")
    count = len(frames)
    smooth_mean = np.stack([temporal_weights(count, i, radius) @ means for i in range(count)])
    smooth_std = np.stack([temporal_weights(count, i, radius) @ stds for i in range(count)])
    eps = 1e-6
    if mode == "gain":
        multiply = smooth_mean / np.maximum(means, eps)
        add = np.zeros_like(multiply)
    else:
        multiply = smooth_std / np.maximum(stds, eps)
        add = smooth_mean - multiply * means
    multiply = 1.0 + strength * (multiply - 1.0)
    add = strength * add
    return Correction(list(frames), multiply.astype(np.float32), add.astype(np.float32))


def correct_frames(rgb_frames: Sequence[np.ndarray], frames: list[int], radius: int = 6, mode: str = "gain",
                   strength: float = 1.0) -> tuple[list[np.ndarray], Correction]:
    """Deflicker (H, W, 3) scene-linear frames; returns the frames and the fitted correction."""
    stats = [frame_stats(rgb) for rgb in rgb_frames]
    correction = fit_correction(frames, np.array([m for m, _ in stats]), np.array([s for _, s in stats]),
                                radius, mode, strength)
    return [correction.apply(i, rgb) for i, rgb in enumerate(rgb_frames)], correction


def _curve(frames: list[int], values: np.ndarray) -> str:
    """A Nuke animation curve: keys on consecutive frames from the first (``x1001 v v v``)."""
    parts, expected = [], None
    for frame, value in zip(frames, values):
        if frame != expected:
            parts.append(f"x{frame}")
        parts.append(f"{float(value):.6g}")
        expected = frame + 1
    return "{curve " + " ".join(parts) + "}"


def grade_nk(correction: Correction, name: str = "RestyleDeflickerGrade", keep: Sequence[int] | None = None) -> str:
    """A Nuke Grade node (paste into a script) applying ``correction`` as animated curves.

    ``keep``: only these frames get keys (e.g. the chunk, not its handles).
    """
    index = [i for i, f in enumerate(correction.frames) if keep is None or f in set(keep)]
    frames = [correction.frames[i] for i in index]
    multiply = " ".join(_curve(frames, correction.multiply[index, c]) for c in range(3))
    add = " ".join(_curve(frames, correction.add[index, c]) for c in range(3))
    return (f"Grade {{\n name {name}\n multiply {{{multiply} 1}}\n add {{{add} 0}}\n"
            f" label \"restyle global deflicker\\nframes {frames[0]}-{frames[-1]}\"\n}}\n")


def write_grade_nk(path: str, correction: Correction, keep: Sequence[int]) -> None:
    """Write :func:`grade_nk` of ``correction`` (keys on the ``keep`` frames) to ``path``, making its folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(grade_nk(correction, keep=keep))
