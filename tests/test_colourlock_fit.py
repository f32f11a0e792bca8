"""ColourLock fitting: drift recovery on a real frame, temporal smoothing, LUT fit."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from inference.colour import convert
from inference.colourlock.delta_e import delta_e_2000, linear_to_lab, srgb_to_lab
from inference.colourlock.fit import (
    Affine,
    fit_affine_lstsq,
    fit_lut,
    fit_mkl,
    fit_sequence,
    pixel_gaussian,
    smooth_params,
    smoothing_radius,
)

SRGB, LINEAR = "sRGB Encoded Rec.709 (sRGB)", "Linear Rec.709 (sRGB)"


@pytest.fixture(scope="module")
def reference(small_data):
    img = cv2.imread(str(small_data / "live_bikes" / "bikes.1001.png"), cv2.IMREAD_COLOR)
    assert img is not None
    img = cv2.resize(img[:, :, ::-1], (320, 136), interpolation=cv2.INTER_AREA)
    return img.astype(np.float32) / 255.0


def drift_matrix(k: int) -> np.ndarray:
    """Hue rotation (2 deg/frame), saturation (+4 %/frame), exposure (+0.08 stop/frame)."""
    a, s, e = np.deg2rad(2.0 * k), 1 + 0.04 * k, 2 ** (0.08 * k)
    u = np.ones(3) / np.sqrt(3)
    kx = np.array([[0, -u[2], u[1]], [u[2], 0, -u[0]], [-u[1], u[0], 0]])
    rot = np.eye(3) + np.sin(a) * kx + (1 - np.cos(a)) * kx @ kx
    luma = np.array([0.2126, 0.7152, 0.0722])
    sat = s * np.eye(3) + (1 - s) * np.outer(np.ones(3), luma)
    return e * sat @ rot


def mean_de(linear, ref_lab):
    return float(delta_e_2000(linear_to_lab(linear), ref_lab).mean())


def test_drift_recovery_mkl_and_lstsq(reference):
    ref_lin = convert(reference, SRGB, LINEAR)
    ref_lab = linear_to_lab(ref_lin)
    frames = [(ref_lin @ drift_matrix(k).T).astype(np.float32) for k in range(10)]
    before = [mean_de(f, ref_lab) for f in frames]
    assert before[-1] > 9.0 and np.mean(before) > 4.5          # the drift is real
    mkl = fit_sequence(frames, ref_lin, "mkl", sigma=1.0)
    after_mkl = [mean_de(a.apply(f), ref_lab) for a, f in zip(mkl, frames)]
    assert np.mean(after_mkl) < 0.8 and max(after_mkl) < 1.5
    lsq = fit_sequence(frames, ref_lin, "lstsq", sigma=1.0)
    after_lsq = [mean_de(a.apply(f), ref_lab) for a, f in zip(lsq, frames)]
    assert np.mean(after_lsq) < 0.3 and max(after_lsq) < 0.8


def test_lstsq_recovers_exact_affine(reference):
    true = Affine([[0.9, 0.1, 0.0], [0.05, 1.1, -0.05], [0.0, -0.1, 0.95]], [0.02, -0.01, 0.03])
    fitted = fit_affine_lstsq(true.apply(reference), reference)
    inverse = np.linalg.inv(true.matrix)
    np.testing.assert_allclose(fitted.matrix, inverse, atol=1e-4)
    np.testing.assert_allclose(fitted.offset, -inverse @ true.offset, atol=1e-4)


def test_mkl_matches_mean_and_covariance(reference):
    rng = np.random.default_rng(0)
    src = (reference @ rng.uniform(0.7, 1.2, (3, 3)).T * 0.5 + 0.1).astype(np.float32)
    out = fit_mkl(src, reference, max_samples=None).apply(src).reshape(-1, 3)
    ref = reference.reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(out.mean(0), ref.mean(0), atol=1e-4)
    np.testing.assert_allclose(np.cov(out, rowvar=False), np.cov(ref, rowvar=False), rtol=0.02, atol=2e-4)
    assert np.abs(np.cov(src.reshape(-1, 3), rowvar=False) - np.cov(ref, rowvar=False)).max() > 5e-3


def test_lut_fit_in_display_encoding_reduces_error(reference):
    ref_lab = srgb_to_lab(reference)
    drifted = convert((convert(reference, SRGB, LINEAR) @ drift_matrix(6).T).astype(np.float32),
                      LINEAR, SRGB)
    before = float(delta_e_2000(srgb_to_lab(drifted), ref_lab).mean())
    lut = fit_lut(drifted, reference, size=17)                      # distributions only
    after = float(delta_e_2000(srgb_to_lab(lut.apply(drifted)), ref_lab).mean())
    assert before > 5.0 and after < 1.0
    base_only = float(delta_e_2000(srgb_to_lab(fit_mkl(drifted, reference).apply(drifted)), ref_lab).mean())
    assert after <= base_only + 0.05                                # residual does not hurt
    # No data at the grid's far corners: the LUT falls back to the affine there (smooth).
    assert lut.table.shape == (17, 17, 17, 3) and np.all(np.isfinite(lut.table))


def test_torch_lut_lookup_matches_the_engine_lut(reference):
    import torch

    from inference.colourlock.apply import ColourLockApply

    drifted = convert((convert(reference, SRGB, LINEAR) @ drift_matrix(4).T).astype(np.float32), LINEAR, SRGB)
    lut = fit_lut(drifted, reference, size=17)
    frames = np.stack([drifted, reference]).astype(np.float32)
    out = ColourLockApply.lut(torch.from_numpy(frames), torch.from_numpy(np.stack([lut.table, lut.table])))
    for got, frame in zip(out.numpy(), frames):
        np.testing.assert_allclose(got, lut.apply(np.clip(frame, 0, 1), "trilinear"), atol=1e-5)


def test_temporal_smoothing_chunks_with_handles_equal_whole_shot():
    rng = np.random.default_rng(3)
    params = rng.normal(size=(40, 12)).cumsum(axis=0)
    frames = np.arange(1001, 1041)
    sigma = 2.0
    radius = smoothing_radius(sigma)
    whole = smooth_params(params, sigma, frames=frames)
    for start in range(0, 40, 7):                                     # chunks of 7 frames
        end = min(start + 7, 40)
        lo, hi = max(0, start - radius), min(40, end + radius)        # handles, clipped at the shot
        chunk = smooth_params(params[lo:hi], sigma, frames=frames[lo:hi])
        np.testing.assert_allclose(chunk[start - lo:end - lo], whole[start:end], rtol=0, atol=1e-12)
    # Without handles the chunk edges differ (the check above has teeth).
    bare = smooth_params(params[7:14], sigma, frames=frames[7:14])
    assert np.abs(bare - whole[7:14]).max() > 1e-3
    # Smoothing reduces frame-to-frame jumps, and a constant sequence is left alone.
    assert np.abs(np.diff(whole, axis=0)).mean() < np.abs(np.diff(params, axis=0)).mean()
    np.testing.assert_allclose(smooth_params(np.ones((10, 12)), sigma), np.ones((10, 12)))


def test_device_frames_are_fitted_from_statistics_computed_where_they_are(tmp_path):
    """MKL on device frames: each frame's colour Gaussian is computed on the device (non-finite
    pixels left out) and gives the host path's transforms."""
    import torch

    from inference.colourlock.lock import LockTarget, device_gaussians, fit_transforms, fit_views
    from inference.colourlock.settings import ColourLockSettings
    from inference.image import Image, write_image

    rng = np.random.default_rng(3)
    frames = [rng.uniform(0, 1, (90, 140, 3)).astype(np.float16) * (0.6 + 0.1 * i) for i in range(5)]
    frames[2][10, 20] = np.nan
    frames[3][5, 0] = np.inf
    host_gaussians = [pixel_gaussian(view) for view in fit_views(frames)]
    tensors = [torch.from_numpy(f).permute(2, 0, 1) for f in frames]
    for (mean, cov), (host_mean, host_cov) in zip(device_gaussians(tensors), host_gaussians):
        np.testing.assert_allclose(mean, host_mean, rtol=1e-12)
        np.testing.assert_allclose(cov, host_cov, rtol=1e-10)
    write_image(tmp_path / "ref.exr", Image.from_array(rng.uniform(0, 1, (90, 140, 3)).astype(np.float32),
                                                       ("R", "G", "B")))
    target = LockTarget(str(tmp_path / "ref.exr"), "sRGB - Texture")
    numbers = [11, 12, 13, 14, 15]
    fit = ColourLockSettings(str(tmp_path / "ref.exr"), str(tmp_path / "qc"), sigma=1.0)
    on_host = fit_transforms(dict(zip(numbers, frames)), target, fit)
    on_device = fit_transforms(dict(zip(numbers, tensors)), target, fit)
    for frame in numbers:
        np.testing.assert_allclose(on_device[frame].params(), on_host[frame].params(), atol=1e-10)
    with pytest.raises(ValueError, match="4 valid pixels"):
        device_gaussians([torch.full((3, 8, 8), float("nan"))])
