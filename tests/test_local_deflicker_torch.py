"""GPU port of the local deflicker: inference.temporal.local_deflicker_torch.

Compared with the numpy reference (inference.temporal.local_deflicker.deflicker_local) on
small synthetic sequences with exact flows (CPU torch is enough here).
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from inference.temporal.blur_torch import coarse_blur, gaussian_blur
from inference.temporal.local_deflicker import deflicker_local
from inference.temporal.local_deflicker_torch import deflicker_local_torch, deflicker_stacked_torch
from inference.temporal.settings import LocalWeights

# Per pair k: translation (dx, dy) of the plate from frame k to k+1 (multiples of 1/32 pixel,
# so cv2.remap's 1/32 quantisation is exact and both paths sample the same positions).
SHIFTS = [(1.25, -0.5), (0.75, 0.25), (-0.5, 1.0), (1.5, 0.0), (0.25, -0.75),
          (-1.0, 0.5), (2.0, 0.25), (0.5, -0.25), (-0.75, 0.75)]


def _sequence(h: int = 32, w: int = 64, n: int = 10, seed: int = 0, bad_region: bool = True):
    """(frames, plate, flow pairs): textured plate translated by SHIFTS, flickering style."""
    rng = np.random.default_rng(seed)
    big = rng.random((h + 80, w + 80, 3)).astype(np.float32)
    big = cv2.GaussianBlur(big, (0, 0), 1.5)
    big = (big - big.min()) / (big.max() - big.min())
    pos = np.zeros(2, np.float64)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    plate, frames, flows = [], [], []
    for k in range(n):
        # point x of frame k is at x + pos_k in the texture's frame of reference... shifted
        map_x = (xs + 40 - pos[0]).astype(np.float32)
        map_y = (ys + 40 - pos[1]).astype(np.float32)
        p = cv2.remap(big, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        p = p + rng.normal(0, 0.004, p.shape).astype(np.float32)  # grain
        plate.append(np.ascontiguousarray(p, np.float32))
        gain, offset = 1.0 + rng.normal(0, 0.08), rng.normal(0, 0.04)
        stroke = cv2.GaussianBlur(rng.normal(0, 0.05, p.shape).astype(np.float32), (0, 0), 0.8)
        frames.append(np.ascontiguousarray(np.clip(p * gain + offset, 0, 1) + stroke, np.float32))
        if k < n - 1:
            dx, dy = SHIFTS[k % len(SHIFTS)]
            fw = np.empty((h, w, 2), np.float32)
            fw[..., 0], fw[..., 1] = dx, dy
            bw = -fw
            if bad_region and k == 3:
                fw = fw.copy()
                fw[8:16, 20:30] += (3.0, -2.0)  # inconsistent: occlusion test rejects it
            flows.append((fw, bw))
            pos += (dx, dy)
    return frames, plate, flows


def _to_torch(frames, plate, flows):
    ft = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2).contiguous()
    pt = torch.from_numpy(np.stack(plate)).permute(0, 3, 1, 2).contiguous()
    fl = torch.from_numpy(np.stack([np.stack(pair) for pair in flows])).permute(0, 1, 4, 2, 3)
    return ft, pt, fl.contiguous()


def _to_numpy(out: torch.Tensor) -> np.ndarray:
    return out.permute(0, 2, 3, 1).numpy()


@pytest.fixture(scope="module")
def seq():
    frames, plate, flows = _sequence()
    return (frames, plate, flows), _to_torch(frames, plate, flows)


def test_blurs_match_opencv():
    rng = np.random.default_rng(1)
    img = rng.random((32, 64, 3)).astype(np.float32)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].contiguous()
    for sigma in (1.0, 2.0, 3.0):
        ref = cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
        got = gaussian_blur(x, sigma)[0].permute(1, 2, 0).numpy()
        assert np.abs(got - ref).max() < 1e-5, sigma
    from inference.temporal.local_deflicker import _blur as np_blur
    for sigma in (4.0, 16.0):
        ref = np_blur(img, sigma)
        got = coarse_blur(x, sigma)[0].permute(1, 2, 0).numpy()
        assert np.abs(got - ref).max() < 1e-5, sigma


@pytest.mark.parametrize("kwargs", [{}, {"weights": LocalWeights(detail=0.5), "radius": 3},
                                    {"weights": LocalWeights(detail=0.0, sigma=4.0), "strength": 0.7},
                                    {"weights": LocalWeights(sigma=0.0)}])
def test_matches_numpy(seq, kwargs):
    (frames, plate, flows), (ft, pt, fl) = seq
    ref = np.stack(deflicker_local(frames, plate, flows=flows, **kwargs))
    got = _to_numpy(deflicker_local_torch(ft, pt, fl, batch=4, **kwargs))
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.abs(ref - np.stack(frames)).max() > 0.02  # the comparison is not trivial
    assert np.abs(got - ref).max() < 2e-3


def test_without_plate_matches_numpy(seq):
    (frames, _, flows), (ft, _, fl) = seq
    ref = np.stack(deflicker_local(frames, None, flows=flows, radius=2, targets=[0, 4, 9]))
    got = _to_numpy(deflicker_local_torch(ft, None, fl, radius=2, targets=[0, 4, 9]))
    assert np.abs(got - ref).max() < 2e-3


def test_targets_subset(seq):
    (frames, plate, flows), (ft, pt, fl) = seq
    targets = [7, 0, 3, 9, 3]
    full = deflicker_local_torch(ft, pt, fl)
    sub = deflicker_local_torch(ft, pt, fl, targets=targets, batch=2)
    assert sub.shape == (5, 3, 32, 64)
    assert torch.allclose(sub, full[targets], atol=1e-6)
    ref = np.stack(deflicker_local(frames, plate, flows=flows, targets=targets))
    assert np.abs(_to_numpy(sub) - ref).max() < 2e-3


def test_strength_zero_and_radius_zero_return_the_input(seq):
    _, (ft, pt, fl) = seq
    for kwargs in ({"strength": 0.0}, {"radius": 0}):
        out = deflicker_local_torch(ft, pt, fl, targets=[1, 5], **kwargs)
        assert torch.equal(out, ft[[1, 5]])
    half = deflicker_local_torch(ft, pt, fl, strength=0.5, targets=[3])[0]
    full = deflicker_local_torch(ft, pt, fl, targets=[3])[0]
    assert torch.allclose(half, 0.5 * (ft[3] + full), atol=1e-5)


def test_non_dyadic_size_and_smooth_flows():
    """48 rows (not a power of two) and rotating flows: same result except, at most, a few
    pixels where a visibility test sits exactly on its threshold."""
    h, w, n = 48, 64, 7
    frames, plate, _ = _sequence(h, w, n, seed=3, bad_region=False)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    flows = []
    for k in range(n - 1):
        angle = 0.01 * (k + 1)
        cx, cy = w / 2, h / 2
        fx = np.cos(angle) * (xs - cx) - np.sin(angle) * (ys - cy) + cx - xs + 0.37
        fy = np.sin(angle) * (xs - cx) + np.cos(angle) * (ys - cy) + cy - ys - 0.21
        fw = np.stack([fx, fy], -1).astype(np.float32)
        flows.append((fw, (-fw).astype(np.float32)))
    ref = np.stack(deflicker_local(frames, plate, flows=flows))
    got = _to_numpy(deflicker_local_torch(*_to_torch(frames, plate, flows)))
    err = np.abs(got - ref).max(axis=-1)
    assert np.mean(err > 2e-3) < 0.002  # measured: 0 (max 1.0e-4)
    assert np.median(err) < 1e-4


def test_the_stacked_layout_gives_the_same_frames(seq):
    """Guides and frames handed over as one (N, 6, H, W) stack (how the render's deflicker
    builds a window, with no other copy) give exactly the separate tensors' result."""
    _, (ft, pt, fl) = seq
    stack = torch.cat([pt.float(), ft.float()], dim=1)
    assert torch.equal(deflicker_stacked_torch(stack, fl, targets=[7, 0, 3, 3], batch=2),
                       deflicker_local_torch(ft, pt, fl, targets=[7, 0, 3, 3], batch=2))
    with pytest.raises(ValueError, match="expected \\(N, 6, H, W\\)"):
        deflicker_stacked_torch(ft, fl)


def test_half_flows_give_the_float_flows_frames():
    """Flows handed over in half (a half plate's own vectors, kept as stored to halve the
    window's memory) give exactly the frames their float32 widening gives, also where the
    occlusion test rejects pixels and chains run several steps."""
    frames, plate, flows = _sequence(n=8, seed=3)
    ft, pt, fl = _to_torch(frames, plate, flows)
    half = (fl * 1.37).half()  # not dyadic: every step interpolates flows and masks
    want = deflicker_local_torch(ft, pt, half.float(), targets=[0, 3, 7], batch=2)
    assert torch.equal(deflicker_local_torch(ft, pt, half, targets=[0, 3, 7], batch=2), want)
    assert not torch.equal(want, deflicker_local_torch(ft, pt, fl, targets=[0, 3, 7], batch=2))


def test_bad_shapes(seq):
    _, (ft, pt, fl) = seq
    with pytest.raises(ValueError):
        deflicker_local_torch(ft, pt, fl[:-1])
    with pytest.raises(ValueError):
        deflicker_local_torch(ft, pt[:-1], fl)
    with pytest.raises(IndexError):
        deflicker_local_torch(ft, pt, fl, targets=[10])


def test_cv2_quantisation_mode_is_exact_on_dyadic_flows(seq):
    """Rounding positions to 1/32 pixel (OpenCV 4's remap) changes nothing on 1/32 flows."""
    _, (ft, pt, fl) = seq
    a = deflicker_local_torch(ft, pt, fl, targets=[2, 6], match_cv2=True)
    b = deflicker_local_torch(ft, pt, fl, targets=[2, 6], match_cv2=False)
    assert torch.allclose(a, b, atol=1e-6)

