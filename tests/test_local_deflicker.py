"""Local (motion-compensated) deflicker: inference.temporal.local_deflicker.

Real material from ../shared/data (bikes plate + its per-frame Kuwahara stylisation),
downscaled 4x to 160x68 so the whole file runs in a few seconds on 2 cores.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.image import read_image
from inference.metrics import e_warp, plate_flows, psnr, ssim
from inference.temporal.local_deflicker import deflicker_local, neighbour_flows, neighbour_flows_from_vectors
from inference.temporal.settings import LocalWeights

FRAMES = range(1001, 1025)  # 24 frames
pytestmark = pytest.mark.shared_data  # the whole 24-frame shot; the figures below were measured on it


def _read_small(path, factor: int = 4) -> np.ndarray:
    image = read_image(path).beauty(alpha=False).as_float32()
    h, w = image.shape[:2]
    small = cv2.resize(image, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(small, dtype=np.float32)


@pytest.fixture(scope="module")
def bikes(shared_data):
    """(plate, kuwahara style): 24 frames each, (68, 160, 3) sRGB floats."""
    plate = [_read_small(shared_data / "live_bikes" / f"bikes.{f}.png") for f in FRAMES]
    style = [_read_small(shared_data / "style" / f"bikes_kuwahara.{f}.png") for f in FRAMES]
    return plate, style


def _mean(measure, frames, references) -> float:
    return float(np.mean([measure(np.clip(a, 0, 1), b) for a, b in zip(frames, references)]))


# --------------------------------------------------------------------------- identity cases
def test_static_scene_is_unchanged(bikes):
    plate, style = bikes
    frames = [style[5].copy() for _ in range(7)]
    plates = [plate[5].copy() for _ in range(7)]
    out = deflicker_local(frames, plates)
    assert len(out) == 7
    for result in out:
        assert result.shape == frames[0].shape and result.dtype == np.float32
        assert np.abs(result - frames[0]).max() < 1e-4


def test_strength_zero_and_radius_zero_return_the_input(bikes):
    plate, style = bikes
    for kwargs in ({"strength": 0.0}, {"radius": 0}):
        out = deflicker_local(style[:6], plate[:6], **kwargs)
        for result, frame in zip(out, style[:6]):
            assert np.array_equal(result, frame)
    half = deflicker_local(style[:6], plate[:6], strength=0.5, targets=[3])[0]
    full = deflicker_local(style[:6], plate[:6], targets=[3])[0]
    np.testing.assert_allclose(half, 0.5 * (style[3] + full), atol=1e-5)


# --------------------------------------------------------------------------- flicker removal
def test_synthetic_flicker_is_reduced(bikes):
    """Per-frame random gain/offset and a random brightness ramp on a real style sequence."""
    plate, clean = bikes[0][:12], bikes[1][:12]
    rng = np.random.default_rng(3)
    h, w = clean[0].shape[:2]
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    flickered = []
    for frame in clean:
        gain = rng.uniform(0.75, 1.25, 3).astype(np.float32)
        offset = rng.uniform(-0.08, 0.08, 3).astype(np.float32)
        ramp = (rng.uniform(-0.15, 0.15) * (xx - 0.5) + rng.uniform(-0.15, 0.15) * (yy - 0.25))
        flickered.append(((frame - 0.5) * gain + 0.5 + offset
                          + ramp[:, :, None]).astype(np.float32))
    flows = plate_flows(plate)
    e_in = e_warp(flickered, plate, flows)["e_warp"]
    ssim_in, psnr_in = _mean(ssim, flickered, clean), _mean(psnr, flickered, clean)

    # Defaults (all frequencies): measured E_warp 11.4x lower, SSIM 0.972 -> 0.985,
    # PSNR 24.9 -> 30.7 dB; the output is steadier than the clean stylisation itself.
    out = deflicker_local(flickered, plate)
    e_out = e_warp(out, plate, flows)["e_warp"]
    assert e_out < e_in / 6
    assert e_out < e_warp(clean, plate, flows)["e_warp"]
    assert _mean(ssim, out, clean) > ssim_in + 0.008
    assert _mean(psnr, out, clean) > psnr_in + 4.0

    # Low frequencies only (gradient-domain split, the frame's fine detail kept):
    # measured E_warp 3.7x lower, SSIM 0.972 -> 0.986.
    low = deflicker_local(flickered, plate, weights=LocalWeights(detail=0.0))
    assert e_warp(low, plate, flows)["e_warp"] < e_in / 2.5
    assert _mean(ssim, low, clean) > ssim_in + 0.008


# --------------------------------------------------------------------------- occlusions
def _moving_square(bikes, count: int = 9, step: int = 3):
    """A textured square moving ``step`` px/frame right over a static real background."""
    background = bikes[0][0]
    patch = np.clip(bikes[1][12][10:34, 40:64] * 0.5 + 0.5, 0, 1)  # bright, textured
    size, y0 = patch.shape[0], 22

    def square(t):
        m = np.zeros(background.shape[:2], bool)
        m[y0:y0 + size, 20 + step * t:20 + step * t + size] = True
        return m

    clean = []
    for t in range(count):
        frame = background.copy()
        frame[square(t)] = patch.reshape(-1, 3)
        clean.append(frame)
    rng = np.random.default_rng(5)
    flickered = [(f * rng.uniform(0.85, 1.15) + rng.uniform(-0.06, 0.06)).astype(np.float32)
                 for f in clean]
    true_flows = []
    for k in range(count - 1):
        fw = np.zeros(background.shape[:2] + (2,), np.float32)
        fw[square(k), 0] = step
        bw = np.zeros_like(fw)
        bw[square(k + 1), 0] = -step
        true_flows.append((fw, bw))
    return clean, flickered, square, true_flows


def test_uncovered_and_covered_pixels_are_not_smeared(bikes):
    clean, flickered, square, true_flows = _moving_square(bikes)
    t = 4
    uncovered = square(t - 1) & ~square(t)  # background now, under the square before
    covered = square(t + 1) & ~square(t)    # background now, under the square next
    band = uncovered | covered
    assert band.sum() == 2 * 3 * 24

    def band_error(out):
        return np.abs(out - clean[t]).mean(axis=2)[band]

    # The flicker alone costs 0.028 there. Measured: 0.020 (max 0.05) with the plate's DIS
    # flows; 0.12 (max 0.47) when the plate weight is switched off (DIS smooths the flow
    # across the square's edges and the forward-backward test misses it).
    err = band_error(deflicker_local(flickered, clean, targets=[t])[0])
    assert err.mean() < 0.03 and err.max() < 0.1
    no_plate_weight = deflicker_local(flickered, clean, targets=[t], weights=LocalWeights(tolerance=10.0))[0]
    assert band_error(no_plate_weight).mean() > 0.06

    # Exact flows, no plate, robust weights disabled: the chained forward-backward
    # visibility alone keeps the square out (measured 0.017; 0.20 without the visibility).
    err = band_error(deflicker_local(flickered, flows=true_flows, targets=[t],
                                     weights=LocalWeights(tolerance=10.0))[0])
    assert err.mean() < 0.03 and err.max() < 0.06


# --------------------------------------------------------------------------- farm chunks
def test_chunk_with_handles_equals_whole_shot(bikes):
    plate, style = bikes
    radius = 4
    whole = deflicker_local(style, plate, radius=radius)
    lo, hi = 8 - radius, 15 + radius + 1
    seen = []
    chunk = deflicker_local(style[lo:hi], plate[lo:hi], radius=radius,
                            targets=range(8 - lo, 16 - lo), progress=seen.append)
    assert seen == list(range(8 - lo, 16 - lo))
    for frame, a, b in zip(range(8, 16), whole[8:16], chunk):
        assert np.abs(a - b).max() < 1e-3, frame
        assert np.abs(a - style[frame]).mean() > 1e-3  # it did change the frame


def test_precomputed_flows_and_vector_pairs(bikes):
    plate, style = bikes
    flows = neighbour_flows(plate[:6])
    assert len(flows) == 5 and flows[0][0].shape == (68, 160, 2)
    a = deflicker_local(style[:6], plate[:6], targets=[4, 2])
    b = deflicker_local(style[:6], plate[:6], flows=flows, targets=[4, 2])
    for x, y in zip(a, b):
        assert np.array_equal(x, y)
    forward = [np.full((2, 2, 2), i, np.float32) for i in range(3)]
    backward = [np.full((2, 2, 2), -i, np.float32) for i in range(3)]
    pairs = neighbour_flows_from_vectors(forward, backward)
    assert [(p[0][0, 0, 0], p[1][0, 0, 0]) for p in pairs] == [(0, -1), (1, -2)]
    with pytest.raises(ValueError):
        deflicker_local(style[:3])


def test_chained_flows_follow_a_zoom(bikes):
    """A steady 1.2x/frame zoom with exact flows: neighbours two and three frames
    away only line up if the flows are composed,
    F(t->s)(x) = F(t->n)(x) + F(n->s)(x + F(t->n)(x)),
    so the deflickered frame stays the frame (measured mean error 0.003; adding the
    per-step flows at x without following the chain gives 0.015)."""
    source = cv2.resize(bikes[1][4], (320, 136), interpolation=cv2.INTER_CUBIC)
    h, w, zoom = 80, 120, 1.2
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    dx, dy = gx - (w - 1) / 2, gy - (h - 1) / 2
    frames = [cv2.remap(source, (159.5 + dx / zoom ** t).astype(np.float32),
                        (67.5 + dy / zoom ** t).astype(np.float32), cv2.INTER_CUBIC)
              for t in range(7)]
    radial = np.stack([dx, dy], axis=2)
    flows = [((zoom - 1) * radial, (1 / zoom - 1) * radial) for _ in range(6)]
    out = deflicker_local(frames, flows=flows, targets=[3], radius=3, weights=LocalWeights(tolerance=10.0))[0]
    assert np.abs(out - frames[3])[8:-8, 8:-8].mean() < 0.006
