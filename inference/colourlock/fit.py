"""Fit colour transforms that map frames toward a locked reference.

* :class:`Affine` -- a 3x3 matrix plus offset, ``y = M @ x + b``; fitted either by least
  squares on corresponding pixels (:func:`fit_affine_lstsq`, when the frame and reference
  show the same picture) or by Monge-Kantorovich linear colour transfer between the two
  colour distributions (:func:`fit_mkl`, Pitie & Kokaram 2007), which needs no
  correspondence.
* :func:`fit_lut` -- a 3D LUT of the fitted affine plus a smooth residual (normalised
  convolution of trilinearly splatted residuals on the grid, shrunk toward zero where data
  are sparse), so the LUT is the affine wherever the frame has no colours.
* :func:`smooth_params` -- Gaussian smoothing of per-frame parameters over frame numbers
  with finite support (``radius``), so a chunk rendered with ``radius`` handle frames on
  each side gives exactly the whole-shot result.

All functions work in whatever encoding the caller passes (linear or display); fit and
apply in the same one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .lut import Lut3D, lattice

DEFAULT_MAX_SAMPLES = 200_000


@dataclass
class Affine:
    """``y = x @ matrix.T + offset`` on ``(..., 3)`` colours."""

    matrix: np.ndarray
    offset: np.ndarray

    def __post_init__(self):
        self.matrix = np.asarray(self.matrix, dtype=np.float64).reshape(3, 3)
        self.offset = np.asarray(self.offset, dtype=np.float64).reshape(3)

    @classmethod
    def identity(cls) -> "Affine":
        return cls(np.eye(3), np.zeros(3))

    def apply(self, rgb) -> np.ndarray:
        rgb = np.asarray(rgb)
        dtype = rgb.dtype if rgb.dtype.kind == "f" else np.float32
        out = rgb.astype(np.float64) @ self.matrix.T + self.offset
        return out.astype(dtype, copy=False)

    __call__ = apply

    def params(self) -> np.ndarray:
        """The 12 parameters (row-major matrix, then offset), for temporal smoothing."""
        return np.concatenate([self.matrix.ravel(), self.offset])

    @classmethod
    def from_params(cls, params) -> "Affine":
        params = np.asarray(params, dtype=np.float64).reshape(12)
        return cls(params[:9].reshape(3, 3), params[9:])

    def then(self, other: "Affine") -> "Affine":
        """The affine applying ``self`` and then ``other``."""
        return Affine(other.matrix @ self.matrix, other.matrix @ self.offset + other.offset)


# ---------------------------------------------------------------------------------------
# sampling helpers

def fit_stride(height: int, width: int, pixels: int = DEFAULT_MAX_SAMPLES) -> int:
    """Smallest k for which every k-th row and column of a frame is at most ``pixels`` pixels.

    Fits see ``frame[::k, ::k]``: the same pixels whether the frame is strided here or on
    the GPU before download (a strided frame strides again by 1).
    """
    k = max(1, math.isqrt(max(0, height * width // max(1, pixels))))
    while -(-height // k) * -(-width // k) > pixels:
        k += 1
    return k


def _sample(n: int, max_samples: int | None, seed: int) -> slice:
    """Every k-th of ``n`` rows, at most about ``max_samples`` of them, starting at ``seed`` mod k.

    A fixed stride (not a random draw) keeps the fit deterministic and costs nothing on a 4K
    frame; pixels in scanline order sample the whole picture evenly.
    """
    step = max(1, -(-n // max_samples)) if max_samples else 1
    return slice(seed % step, None, step)


def _pixels(image, mask=None, max_samples: int | None = DEFAULT_MAX_SAMPLES, seed: int = 0) -> np.ndarray:
    """``(N, 3)`` float64 finite pixels of ``image`` (optionally under a boolean mask)."""
    px = np.asarray(image)[..., :3].reshape(-1, 3)
    if mask is not None:
        px = px[np.asarray(mask, dtype=bool).reshape(-1)]
    px = px[_sample(len(px), max_samples, seed)].astype(np.float64)
    px = px[np.all(np.isfinite(px), axis=1)]
    if len(px) < 4:
        raise ValueError("need at least 4 valid pixels to fit a colour transform")
    return px


def _paired(src, ref, mask=None, max_samples=DEFAULT_MAX_SAMPLES, seed=0):
    src, ref = np.asarray(src)[..., :3], np.asarray(ref)[..., :3]
    if src.shape != ref.shape:
        raise ValueError(f"corresponding-pixel fit needs equal shapes, got {src.shape} and {ref.shape}")
    s, r = src.reshape(-1, 3), ref.reshape(-1, 3)
    if mask is not None:
        keep = np.asarray(mask, dtype=bool).reshape(-1)
        s, r = s[keep], r[keep]
    rows = _sample(len(s), max_samples, seed)
    s, r = s[rows].astype(np.float64), r[rows].astype(np.float64)
    keep = np.all(np.isfinite(s), axis=1) & np.all(np.isfinite(r), axis=1)
    s, r = s[keep], r[keep]
    if len(s) < 4:
        raise ValueError("need at least 4 valid pixel pairs to fit a colour transform")
    return s, r


# ---------------------------------------------------------------------------------------
# global linear fits

def fit_affine_lstsq(src, ref, mask=None, max_samples: int | None = DEFAULT_MAX_SAMPLES) -> Affine:
    """Least-squares affine from ``src`` pixels to the corresponding ``ref`` pixels."""
    s, r = _paired(src, ref, mask, max_samples)
    design = np.hstack([s, np.ones((len(s), 1))])
    coef, *_ = np.linalg.lstsq(design, r, rcond=None)       # (4, 3)
    return Affine(coef[:3].T, coef[3])


def _sqrtm_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


MKL_EPS = 1e-6  # added to the covariances' diagonal: flat (one-colour) frames stay invertible


def _gaussian(px: np.ndarray, eps: float = MKL_EPS) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (``np.cov``'s, + ``eps`` I) of ``(N, 3)`` samples, as matrix products:
    numpy's reductions down the rows of an ``(N, 3)`` array are several times slower."""
    n = len(px)
    mean = np.ones(n) @ px / n
    centred = px - mean
    return mean, centred.T @ centred / max(1, n - 1) + eps * np.eye(3)


def pixel_gaussian(image, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of the finite pixels an MKL fit samples from ``image`` (``seed``:
    where its stride starts)."""
    return _gaussian(_pixels(image, seed=seed))


def _mkl(source: tuple[np.ndarray, np.ndarray], target: tuple[np.ndarray, np.ndarray]) -> Affine:
    (mu_s, cs), (mu_r, cr) = source, target
    cs_half = _sqrtm_psd(cs)
    cs_half_inv = np.linalg.inv(cs_half)
    t = cs_half_inv @ _sqrtm_psd(cs_half @ cr @ cs_half) @ cs_half_inv
    return Affine(t, mu_r - t @ mu_s)


def fit_mkl(src, ref, src_mask=None, ref_mask=None, eps: float = MKL_EPS,
            max_samples: int | None = DEFAULT_MAX_SAMPLES) -> Affine:
    """Monge-Kantorovich linear colour transfer (Pitie & Kokaram 2007).

    The affine ``T (x - mu_s) + mu_r`` with
    ``T = Cs^-1/2 (Cs^1/2 Cr Cs^1/2)^1/2 Cs^-1/2`` maps the Gaussian fitted to the frame's
    colours onto the reference's with the least mean squared displacement.
    """
    return _mkl(_gaussian(_pixels(src, src_mask, max_samples), eps),
                _gaussian(_pixels(ref, ref_mask, max_samples, seed=1), eps))


def fit_transform(src, ref, method: str = "mkl", **kwargs) -> Affine:
    """Global linear fit by ``method``: ``'mkl'`` (distributions) or ``'lstsq'`` (aligned pixels)."""
    if method == "mkl":
        return fit_mkl(src, ref, **kwargs)
    if method == "lstsq":
        return fit_affine_lstsq(src, ref, **kwargs)
    raise ValueError(f"method must be 'mkl' or 'lstsq', got {method!r}")


# ---------------------------------------------------------------------------------------
# 3D LUT fit: affine + smooth residual

def _blur_axis(a: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    rad = len(kernel) // 2
    a = np.moveaxis(a, axis, 0)
    pad = np.concatenate([np.zeros((rad,) + a.shape[1:]), a, np.zeros((rad,) + a.shape[1:])])
    out = np.zeros_like(a)
    for k, w in enumerate(kernel):
        out += w * pad[k:k + a.shape[0]]
    return np.moveaxis(out, 0, axis)


def _blur3(a: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return a
    rad = max(1, int(math.ceil(3 * sigma)))
    x = np.arange(-rad, rad + 1)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    for axis in range(3):
        a = _blur_axis(a, kernel, axis)
    return a


def _quantile_targets(pred: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per channel, the reference value at each predicted value's quantile."""
    out = np.empty_like(pred)
    for c in range(3):
        ranks = np.argsort(np.argsort(pred[:, c], kind="stable"), kind="stable")
        q = (ranks + 0.5) / len(pred)
        srt = np.sort(ref[:, c])
        out[:, c] = np.interp(q * (len(srt) - 1), np.arange(len(srt)), srt)
    return out


def fit_lut(src, ref, base: Affine | None = None, size: int = 17, aligned: bool = False,
            smoothing: float = 1.0, prior: float = 1.0, domain: tuple[float, float] = (0.0, 1.0),
            mask=None, max_samples: int | None = DEFAULT_MAX_SAMPLES) -> Lut3D:
    """A ``size``^3 LUT: ``base`` (fitted if None) plus a smooth residual toward ``ref``.

    With ``aligned`` the residual targets are the corresponding reference pixels;
    otherwise they come from per-channel quantile matching of ``base(src)`` to ``ref``.
    ``smoothing`` is the Gaussian sigma in grid cells; ``prior`` is the weight (in
    pixels-per-node units, relative to the mean node weight) pulling the residual to zero.
    ``domain``: the (min, max) input value the grid spans, per channel alike.
    """
    domain_min, domain_max = domain
    if base is None:
        base = fit_affine_lstsq(src, ref, mask) if aligned else fit_mkl(src, ref, mask)
    if aligned:
        x, y = _paired(src, ref, mask, max_samples)
    else:
        x = _pixels(src, mask, max_samples)
        y = _quantile_targets(base.apply(x), _pixels(ref, None, max_samples, seed=1))
    residual = y - base.apply(x)
    grid = lattice(size, domain_min, domain_max)
    lo, hi = grid[0, 0, 0], grid[-1, -1, -1]
    t = np.clip((x - lo) / (hi - lo) * (size - 1), 0, size - 1)
    i0 = np.minimum(np.floor(t).astype(np.int64), size - 2)
    f = t - i0
    num = np.zeros((size ** 3, 3))
    den = np.zeros(size ** 3)
    for dr in (0, 1):
        wr = f[:, 0] if dr else 1 - f[:, 0]
        for dg in (0, 1):
            wg = f[:, 1] if dg else 1 - f[:, 1]
            for db in (0, 1):
                wb = f[:, 2] if db else 1 - f[:, 2]
                w = wr * wg * wb
                idx = ((i0[:, 0] + dr) * size + (i0[:, 1] + dg)) * size + (i0[:, 2] + db)
                den += np.bincount(idx, w, size ** 3)
                for c in range(3):
                    num[:, c] += np.bincount(idx, w * residual[:, c], size ** 3)
    num = _blur3(num.reshape(size, size, size, 3), smoothing)
    den = _blur3(den.reshape(size, size, size), smoothing)
    lam = prior * len(x) / size ** 3
    table = base.apply(grid) + num / (den + lam)[..., None]
    return Lut3D(table, domain_min, domain_max)


# ---------------------------------------------------------------------------------------
# temporal smoothing

def smoothing_radius(sigma: float) -> int:
    """Frames of support each side for Gaussian ``sigma``: the handles a chunk needs."""
    return int(math.ceil(3 * sigma)) if sigma > 0 else 0


def smooth_params(params, sigma: float, radius: int | None = None,
                  frames: Sequence[int] | None = None) -> np.ndarray:
    """Gaussian-smooth per-frame parameters ``(T, ...)`` over frame numbers.

    Each frame becomes the normalised Gaussian-weighted mean of the frames within
    ``radius`` (default ``ceil(3 sigma)``) of it, using only frames present. Support is
    finite, so a chunk that carries ``radius`` handle frames beyond each end (clipped at
    the shot ends) reproduces the whole-shot result for its own frames exactly.
    """
    params = np.asarray(params, dtype=np.float64)
    n = len(params)
    frames = np.arange(n) if frames is None else np.asarray(frames, dtype=np.float64)
    if len(frames) != n:
        raise ValueError(f"{len(frames)} frame numbers for {n} parameter sets")
    if sigma <= 0 or n == 0:
        return params.copy()
    radius = smoothing_radius(sigma) if radius is None else radius
    dist = frames[:, None] - frames[None, :]
    w = np.exp(-0.5 * (dist / sigma) ** 2) * (np.abs(dist) <= radius)
    w /= w.sum(axis=1, keepdims=True)
    flat = params.reshape(n, -1)
    return (w @ flat).reshape(params.shape)


def smooth_affines(affines: Sequence[Affine], sigma: float, radius: int | None = None,
                   frames: Sequence[int] | None = None) -> list[Affine]:
    smoothed = smooth_params([a.params() for a in affines], sigma, radius, frames)
    return [Affine.from_params(p) for p in smoothed]


def fit_sequence(frames: Sequence[np.ndarray], reference: np.ndarray, method: str,
                 sigma: float, frame_numbers: Sequence[int] | None = None,
                 **kwargs) -> list[Affine]:
    """Fit each frame toward ``reference`` and smooth the transforms over time (for ``mkl``
    without options, the reference's Gaussian is fitted once for the sequence)."""
    if method == "mkl" and not kwargs:
        return fit_mkl_sequence([pixel_gaussian(f) for f in frames], pixel_gaussian(reference, seed=1), sigma,
                                frame_numbers)
    per_frame = [fit_transform(f, reference, method, **kwargs) for f in frames]
    return smooth_affines(per_frame, sigma, frames=frame_numbers)


def fit_mkl_sequence(gaussians: Sequence[tuple[np.ndarray, np.ndarray]], target: tuple[np.ndarray, np.ndarray],
                     sigma: float, frame_numbers: Sequence[int] | None = None) -> list[Affine]:
    """MKL transforms from each frame's colour Gaussian (mean, covariance) to ``target``'s,
    smoothed over time."""
    return smooth_affines([_mkl(g, target) for g in gaussians], sigma, frames=frame_numbers)


LUT_DOMAIN = (0.0, 2.0)  # working-encoding range a lock LUT covers: sRGB-encoded 2.0 is ~5.4x linear white


def fit_sequence_luts(frames: Sequence[np.ndarray], reference: np.ndarray, affines: Sequence[Affine],
                      sigma: float, frame_numbers: Sequence[int] | None, size: int, domain: tuple[float, float] = LUT_DOMAIN) -> list[Lut3D]:
    """Per frame, a ``size``^3 LUT: its (smoothed) affine plus a smooth residual toward the
    reference's per-channel distributions; the tables are smoothed over time like the affines.

    The domain is fixed (not taken from the frames), so chunks rendered apart give the same
    LUTs as the whole shot; it reaches above 1 so highlights are fitted rather than clamped.
    """
    tables = [fit_lut(f, reference, base=a, size=size, domain=domain).table
              for f, a in zip(frames, affines)]
    return [Lut3D(t, domain[0], domain[1]) for t in smooth_params(tables, sigma, frames=frame_numbers)]
