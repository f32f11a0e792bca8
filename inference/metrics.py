"""Image and sequence quality measures, as defined in DESIGN.md "Measures".

Conventions: every image is display-encoded (sRGB view) float RGB in [0, 1], shape
``(H, W, 3)`` (float16 is accepted and computed in float32). Sequences are lists of such
frames, all of one size. Flows follow :mod:`inference.temporal.flow` (``(H, W, 2)``
float32, pixels, x right, y down; flow a -> b = where each pixel of a is in b).

- :func:`psnr`, :func:`ssim`, :func:`ssim_luma`: full-reference fidelity (Wang et al. 2004
  SSIM settings).
- :func:`e_warp`: temporal warping error of Lai et al. 2018, on flows of the PLATE.
- :func:`sliced_wasserstein`: multi-scale sliced Wasserstein distance between 7x7
  Laplacian-pyramid patches (Karras et al. 2018), a texture measure that, unlike PSNR and
  SSIM, does not reward blur.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from .temporal.flow import FLOW_METHODS, occlusion_mask, warp

# Rec.709 luma weights, applied to display-encoded values (Y').
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
FlowPair = tuple[np.ndarray, np.ndarray]


def _rgb(image: np.ndarray) -> np.ndarray:
    """``image`` as float32 ``(H, W, 3)``; raises on any other shape."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {img.shape}")
    return img.astype(np.float32, copy=False)


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float32 RGB of one size."""
    a, b = _rgb(a), _rgb(b)
    if a.shape != b.shape:
        raise ValueError(f"image sizes differ: {a.shape} vs {b.shape}")
    return a, b


def luma(image: np.ndarray) -> np.ndarray:
    """Rec.709 luma ``(H, W)`` float32 of an sRGB-encoded ``(H, W, 3)`` image."""
    return _rgb(image) @ _LUMA


# --------------------------------------------------------------------------- fidelity
def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, data range 1.0; ``inf`` for identical images.

    Args:
        a, b: ``(H, W, 3)`` sRGB-encoded images in [0, 1].
    """
    a, b = _pair(a, b)
    if not np.any(a != b):
        return float("inf")
    return float(peak_signal_noise_ratio(a, b, data_range=1.0))


def _ssim_kwargs() -> dict:
    """Wang et al. 2004 settings: 11x11 Gaussian window, sigma 1.5, population covariance."""
    return dict(data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM over the three RGB channels (1.0 for identical images).

    Args:
        a, b: ``(H, W, 3)`` sRGB-encoded images in [0, 1].
    """
    a, b = _pair(a, b)
    return float(structural_similarity(a, b, channel_axis=-1, **_ssim_kwargs()))


def ssim_luma(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of the Rec.709 luma of two ``(H, W, 3)`` sRGB-encoded images."""
    a, b = _pair(a, b)
    return float(structural_similarity(luma(a), luma(b), **_ssim_kwargs()))


# --------------------------------------------------------------------------- E_warp
def plate_flows(plate: Sequence[np.ndarray], method: str = "dis") -> list[FlowPair]:
    """Flows of the plate between neighbours, for :func:`e_warp`.

    Args:
        plate: N frames ``(H, W, 3)``, sRGB-encoded in [0, 1].
        method: optical-flow algorithm, a key of ``FLOW_METHODS`` (``dis``: OpenCV DIS medium;
            ``farneback``: OpenCV Farneback). A method that moves pixels along one flow is
            judged with another.
    Returns:
        N-1 pairs ``(flow t -> t-1, flow t-1 -> t)`` for t = 1..N-1, each ``(H, W, 2)``.
    """
    if method not in FLOW_METHODS:
        raise ValueError(f"unknown flow method {method!r}; choose one of {sorted(FLOW_METHODS)}")
    flow = FLOW_METHODS[method]
    return [(flow(plate[t], plate[t - 1]), flow(plate[t - 1], plate[t])) for t in range(1, len(plate))]


def _warp_error(prev: np.ndarray, cur: np.ndarray, flows: FlowPair) -> tuple[float, float]:
    """Masked mean squared error of ``prev`` warped onto ``cur``; and the visible fraction.

    As in Lai's evaluate_WarpError.py, a frame pair with no visible pixel scores 0.
    """
    to_prev, from_prev = flows
    visible = occlusion_mask(to_prev, from_prev)
    count = int(visible.sum()) * cur.shape[2]
    if count == 0:
        return 0.0, 0.0
    diff = warp(prev, to_prev) - cur
    return float(np.square(diff[visible]).sum() / count), float(visible.mean())


def e_warp(frames: Sequence[np.ndarray], plate: Sequence[np.ndarray],
           flows: Sequence[FlowPair] | None = None) -> dict:
    """Temporal warping error E_warp (Lai et al., "Learning Blind Video Temporal
    Consistency", ECCV 2018, section 5, and their evaluate_WarpError.py).

    For t = 1..N-1, output frame t-1 is warped onto frame t with the PLATE's flow
    t -> t-1; pixels failing the forward-backward check (flow t -> t-1 against flow
    t-1 -> t, see :func:`occlusion_mask`) or leaving the frame are excluded; the error is
    the mean squared difference over the visible pixels and the 3 channels. (Lai warps
    t onto t-1 with the flow t-1 -> t; the direction is mirrored here, same measure.)

    Args:
        frames: N output frames ``(H, W, 3)``, sRGB-encoded in [0, 1].
        plate: the N plate frames the flows are measured on (same size as ``frames``).
        flows: optional :func:`plate_flows` result, to measure several outputs on one
            set of plate flows.
    Returns:
        ``{"e_warp": mean over t, "per_frame": [N-1 floats],
        "visible_fraction": mean visible fraction}``.
    """
    if len(frames) != len(plate):
        raise ValueError(f"{len(frames)} output frames but {len(plate)} plate frames")
    if len(frames) < 2:
        raise ValueError("E_warp needs at least two frames")
    if flows is None:
        flows = plate_flows(plate)
    if len(flows) != len(frames) - 1:
        raise ValueError(f"expected {len(frames) - 1} flow pairs, got {len(flows)}")
    per_frame, visible = [], []
    for t in range(1, len(frames)):
        prev, cur = _pair(frames[t - 1], frames[t])
        if cur.shape[:2] != flows[t - 1][0].shape[:2]:
            raise ValueError(f"frame {t} is {cur.shape[:2]}, flow is {flows[t - 1][0].shape[:2]}")
        err, vis = _warp_error(prev, cur, flows[t - 1])
        per_frame.append(err)
        visible.append(vis)
    return {"e_warp": float(np.mean(per_frame)), "per_frame": per_frame,
            "visible_fraction": float(np.mean(visible))}


# --------------------------------------------------------------------------- SWD
def _laplacian_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    """Laplacian pyramid (finest band first, coarsest Gaussian level last).

    Same construction as Karras et al.'s ``generate_laplacian_pyramid`` (their 5x5
    binomial filter is the one of cv2.pyrDown / cv2.pyrUp).
    """
    pyramid = [image.astype(np.float32)]
    for _ in range(1, levels):
        down = cv2.pyrDown(pyramid[-1])
        h, w = pyramid[-1].shape[:2]
        pyramid[-1] = pyramid[-1] - cv2.pyrUp(down, dstsize=(w, h))
        pyramid.append(down)
    return pyramid


def _pyramid_levels(height: int, width: int, min_side: int) -> int:
    """Number of levels, halving from full resolution while the short side >= min_side."""
    side, levels = min(height, width), 0
    while side >= min_side:
        levels += 1
        side //= 2
    return max(levels, 1)


def _patches(level: np.ndarray, count: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random ``size x size`` patches of an ``(H, W, C)`` level, ``(count, C, size, size)``.

    Positions are drawn uniformly (with replacement) among those where the patch fits,
    like Karras's ``get_descriptors_for_minibatch``.
    """
    windows = np.lib.stride_tricks.sliding_window_view(level, (size, size), axis=(0, 1))
    ys = rng.integers(0, windows.shape[0], size=count)
    xs = rng.integers(0, windows.shape[1], size=count)
    return windows[ys, xs]


def _descriptors(images: Sequence[np.ndarray], levels: int, per_image: int, size: int,
                 rng: np.random.Generator) -> list[np.ndarray]:
    """Per level, the normalised descriptors of a set, ``(len(images) * per_image, 3*size*size)``.

    Each channel is normalised by its mean and standard deviation over the set's
    descriptors (Karras's ``finalize_descriptors``).
    """
    per_level: list[list[np.ndarray]] = [[] for _ in range(levels)]
    for image in images:
        for lod, band in enumerate(_laplacian_pyramid(_rgb(image), levels)):
            per_level[lod].append(_patches(band, per_image, size, rng))
    out = []
    for chunks in per_level:
        desc = np.concatenate(chunks)  # (n, C, size, size)
        desc = (desc - desc.mean(axis=(0, 2, 3), keepdims=True)) / (
            desc.std(axis=(0, 2, 3), keepdims=True) + 1e-8)
        out.append(np.ascontiguousarray(desc.reshape(desc.shape[0], -1), dtype=np.float32))
    return out


def _sliced_distance(a: np.ndarray, b: np.ndarray, repeats: int, directions: int,
                     rng: np.random.Generator) -> float:
    """Sliced Wasserstein-1 distance of two equal-size descriptor sets ``(n, D)``.

    Per repeat: ``directions`` random unit vectors, project both sets, sort each
    projection, mean absolute difference; averaged over repeats (Karras's
    ``sliced_wasserstein``).
    """
    results = []
    for _ in range(repeats):
        dirs = rng.standard_normal((directions, a.shape[1])).astype(np.float32)
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        proj_a = np.sort(dirs @ a.T, axis=1)  # (directions, n)
        proj_b = np.sort(dirs @ b.T, axis=1)
        results.append(float(np.abs(proj_a - proj_b).mean()))
    return float(np.mean(results))


def _set_sizes(a_images: Sequence[np.ndarray], b_images: Sequence[np.ndarray]) -> tuple[int, int]:
    """Smallest height and width over both sets, checking each set holds one size."""
    for images in (a_images, b_images):
        if not images:
            raise ValueError("both image sets must hold at least one image")
        if len({np.shape(im)[:2] for im in images}) != 1:
            raise ValueError("images within one set must share one size")
    return (min(np.shape(a_images[0])[0], np.shape(b_images[0])[0]),
            min(np.shape(a_images[0])[1], np.shape(b_images[0])[1]))


def sliced_wasserstein_levels(a_images: Sequence[np.ndarray], b_images: Sequence[np.ndarray],
                              seed: int = 0, patches_per_image: int = 128,
                              min_patches: int = 16384, patch_size: int = 7, repeats: int = 4,
                              directions: int = 128, min_side: int = 16) -> list[float]:
    """Per-level sliced Wasserstein distances x 1e3, finest level first.

    See :func:`sliced_wasserstein` for the arguments.
    """
    height, width = _set_sizes(a_images, b_images)
    levels = _pyramid_levels(height, width, min_side)
    if min(height, width) >> (levels - 1) < patch_size:
        raise ValueError(f"images of {width}x{height} are too small for {patch_size}px patches")
    rng = np.random.default_rng(seed)

    def per_image(images: Sequence[np.ndarray]) -> int:
        return max(patches_per_image, -(-min_patches // len(images)))

    desc_a = _descriptors(a_images, levels, per_image(a_images), patch_size, rng)
    desc_b = _descriptors(b_images, levels, per_image(b_images), patch_size, rng)
    n = min(len(desc_a[0]), len(desc_b[0]))  # Karras compares equal-size sets
    desc_a = [d[rng.permutation(len(d))[:n]] if len(d) > n else d for d in desc_a]
    desc_b = [d[rng.permutation(len(d))[:n]] if len(d) > n else d for d in desc_b]
    return [1e3 * _sliced_distance(da, db, repeats, directions, rng)
            for da, db in zip(desc_a, desc_b)]


def sliced_wasserstein(a_images: Sequence[np.ndarray], b_images: Sequence[np.ndarray],
                       seed: int = 0, patches_per_image: int = 128, min_patches: int = 16384,
                       patch_size: int = 7, repeats: int = 4, directions: int = 128,
                       min_side: int = 16) -> float:
    """Multi-scale sliced Wasserstein distance (SWD) between two sets of images.

    Karras et al., "Progressive Growing of GANs" (ICLR 2018), metrics/sliced_wasserstein.py:
    each image is split into a Laplacian pyramid, from full resolution down while the
    short side is >= ``min_side`` px (the last level is the Gaussian remainder); per level,
    random 7x7x3 patches are taken independently from each set as descriptors and
    normalised per channel by the set's mean and standard deviation; the distance per level
    is the mean, over ``repeats`` draws of ``directions`` random unit directions, of the
    mean absolute difference of the sorted projections; the result is the average over
    levels, times 1e3 as they report.

    One deviation, for the handful of frames compared here: Karras takes 128 patches per
    image over ~16k images; with a few frames, 128 per image leaves a sampling-noise floor
    (identical sets of 4 frames score ~75) above the differences being measured. Each set
    therefore contributes at least ``min_patches`` descriptors per level, spread evenly
    over its images (per image: ``max(patches_per_image, ceil(min_patches / n_images))``);
    identical sets then score ~10-15 instead of 0 (the noise floor falls as
    1/sqrt(patches)). ``min_patches=0`` gives Karras's sampling exactly.

    Args:
        a_images, b_images: lists of ``(H, W, 3)`` sRGB-encoded images in [0, 1]
            (one size within a list; the lists may differ in size and length: levels
            follow the smaller size, and the larger descriptor set is subsampled).
        seed: seeds patch positions and directions; same seed, same result.
        patches_per_image, min_patches, patch_size, repeats, directions, min_side: as above.
    Returns:
        The SWD x 1e3, averaged over levels (lower = closer texture statistics).
    """
    return float(np.mean(sliced_wasserstein_levels(
        a_images, b_images, seed, patches_per_image, min_patches, patch_size, repeats,
        directions, min_side)))
