"""Optical flow, warping, occlusion and motion-vector conventions (inference.temporal.flow)."""
from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from inference.image import read_image
from inference.temporal import flow as F

VECTOR = ["ViewLayer.Vector.X", "ViewLayer.Vector.Y", "ViewLayer.Vector.Z", "ViewLayer.Vector.W"]


def texture(height: int, width: int, seed: int = 0, sigma: float = 1.5) -> np.ndarray:
    """Smooth random RGB texture in [0, 1], ``(height, width, 3)`` float32."""
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigma)
    return (smooth - smooth.min()) / (smooth.max() - smooth.min())


def interior(array: np.ndarray, margin: int) -> np.ndarray:
    return array[margin:-margin, margin:-margin]


# --------------------------------------------------------------------------- helpers
def test_to_gray_u8_uses_rec709_luma():
    img = np.zeros((2, 3, 3), np.float32)
    img[0, 0] = 1.0
    img[0, 1] = (0.0, 1.0, 0.0)
    img[0, 2] = (0.0, 0.0, 1.0)
    gray = F.to_gray_u8(img)
    assert gray.dtype == np.uint8 and gray.shape == (2, 3)
    assert gray[0].tolist() == [255, round(0.7152 * 255), round(0.0722 * 255)]
    assert gray[1].tolist() == [0, 0, 0]


def test_dis_object_is_reused_per_thread_preset_and_size():
    size = (64, 96)
    assert F._dis("medium", size) is F._dis("medium", size)
    assert F._dis("fast", size) is not F._dis("medium", size)
    other = []
    thread = threading.Thread(target=lambda: other.append(F._dis("medium", size)))
    thread.start()
    thread.join()
    assert other[0] is not F._dis("medium", size)
    assert F._dis("medium", (32, 48)) is not other[0]
    with pytest.raises(ValueError, match="preset"):
        F.compute_flow(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), preset="slow")


# --------------------------------------------------------------------------- compute_flow
@pytest.mark.parametrize("preset", ["medium", "fast", "ultrafast"])
@pytest.mark.parametrize("dx, dy", [(3, -2), (-5, 4), (0, 7)])
def test_compute_flow_recovers_known_translation(dx, dy, preset):
    a = texture(96, 128, seed=1)
    b = np.roll(a, (dy, dx), axis=(0, 1))  # b(x) = a(x - d): each pixel of a moves by d
    flow = F.compute_flow(a, b, preset)
    assert flow.shape == (96, 128, 2) and flow.dtype == np.float32
    epe = np.linalg.norm(interior(flow, 12) - np.float32([dx, dy]), axis=2)
    assert epe.mean() < 0.5, f"mean endpoint error {epe.mean():.3f} px"
    # warping b with flow a -> b brings it back onto a
    assert np.abs(interior(F.warp(b, flow) - a, 12)).mean() < 0.02


# --------------------------------------------------------------------------- warp
@pytest.mark.parametrize("channels", [None, 1, 3, 4, 7])
def test_warp_constant_flow_is_a_shift(channels):
    rng = np.random.default_rng(3)
    shape = (40, 50) if channels is None else (40, 50, channels)
    image = rng.random(shape).astype(np.float32)
    flow = np.zeros((40, 50, 2), np.float32)
    flow[..., 0], flow[..., 1] = 2.0, 1.0  # out(x, y) = image(x + 2, y + 1)
    out = F.warp(image, flow)
    assert out.shape == image.shape
    np.testing.assert_allclose(out[:-1, :-2], image[1:, 2:], atol=1e-6)
    # border replicate: the last column samples past the edge and repeats it
    np.testing.assert_allclose(out[:-1, -1], image[1:, -1], atol=1e-6)


def test_warp_half_pixel_is_bilinear_and_accepts_half_floats():
    image = np.random.default_rng(4).random((20, 30, 3)).astype(np.float16)
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0] = 0.5
    out = F.warp(image, flow)
    expected = 0.5 * (image[:, :-1].astype(np.float32) + image[:, 1:].astype(np.float32))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out[:, :-1], expected, atol=1e-2)  # cv2 bilinear: 1/32 px steps


def test_warp_rejects_mismatched_flow():
    with pytest.raises(ValueError):
        F.warp(np.zeros((10, 10, 3), np.float32), np.zeros((10, 12, 2), np.float32))


# --------------------------------------------------------------------------- occlusion
def moving_square_frames(shift: int = 6):
    """Textured square moving ``shift`` px right over a static textured background."""
    background, square = texture(96, 128, seed=1), texture(32, 32, seed=2)
    y0, x0, size = 32, 40, 32
    a, b = background.copy(), background.copy()
    a[y0:y0 + size, x0:x0 + size] = square
    b[y0:y0 + size, x0 + shift:x0 + shift + size] = square
    covered = np.zeros((96, 128), bool)  # background of a hidden by the square in b
    covered[y0:y0 + size, x0 + size:x0 + size + shift] = True
    away = np.ones((96, 128), bool)  # well clear of the square and the frame edge
    away[y0 - 4:y0 + size + 4, x0 - 4:x0 + size + shift + 4] = False
    away[:4], away[-4:], away[:, :4], away[:, -4:] = False, False, False, False
    return a, b, covered, away


def test_occlusion_mask_exact_flows_flags_covered_background():
    a, b, covered, away = moving_square_frames(shift=6)
    fw = np.zeros((96, 128, 2), np.float32)
    bw = np.zeros((96, 128, 2), np.float32)
    fw[32:64, 40:72, 0] = 6.0    # square pixels of a move right by 6
    bw[32:64, 46:78, 0] = -6.0   # square pixels of b came from 6 px left
    visible = F.occlusion_mask(fw, bw)
    assert visible.dtype == bool and visible.shape == (96, 128)
    assert not visible[covered].any()
    assert visible[away].all()
    assert visible[36:60, 44:68].all()  # square interior: moves consistently
    # Lai's motion-boundary term flags the square's edges; without it they pass
    assert not visible[32:64, 39].all()
    assert F.occlusion_mask(fw, bw, motion_boundaries=False)[32:64, 39].all()


def test_occlusion_mask_with_estimated_flow():
    a, b, covered, away = moving_square_frames(shift=6)
    visible = F.occlusion_mask(F.compute_flow(a, b), F.compute_flow(b, a))
    assert (~visible[covered]).mean() > 0.9   # measured 0.98
    assert visible[away].mean() > 0.9         # measured 0.97


def test_occlusion_mask_drops_pixels_leaving_the_frame():
    fw = np.zeros((20, 30, 2), np.float32)
    fw[..., 0] = 5.0
    visible = F.occlusion_mask(fw, -fw)
    assert not visible[:, -5:].any()
    assert visible[:, :-5].all()


# --------------------------------------------------------------------------- motion vectors
@pytest.fixture(scope="module")
def scene_a(shared_data):
    """Frames 1010 and 1011 of the Blender render: sRGB beauty and Vector pass."""
    root = shared_data / "render_sceneA"
    beauty = {t: read_image(root / "png" / f"sceneA_beauty.{t}.png").pixels for t in (1010, 1011)}
    vectors = {t: read_image(root / "exr" / f"sceneA.{t}.exr").select(VECTOR).pixels
               for t in (1010, 1011)}
    return beauty, vectors


def mse(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    err = np.square(a - b).mean(axis=2)
    return float(err[mask].mean() if mask is not None else err.mean())


@pytest.mark.shared_data
def test_blender_vectors_previous_warp_beauty(scene_a):
    beauty, vectors = scene_a
    to_prev = F.flow_from_blender_vectors(vectors[1011], "previous")
    assert to_prev.shape == (360, 640, 2) and to_prev.dtype == np.float32
    no_warp = mse(beauty[1010], beauty[1011])
    warped = mse(F.warp(beauty[1010], to_prev), beauty[1011])
    wrong_sign = mse(F.warp(beauty[1010], -to_prev), beauty[1011])
    # measured: no warp 0.0120, warped 0.0029 (4.1x lower, the rest is occlusion and
    # Cycles sampling noise), opposite sign 0.0201 (worse than not warping)
    assert warped < no_warp / 3
    assert wrong_sign > no_warp
    # y flip: keeping Blender's y-up sign is clearly worse too
    y_up = to_prev * np.float32([1, -1])
    assert mse(F.warp(beauty[1010], y_up), beauty[1011]) > 2 * warped


@pytest.mark.shared_data
def test_blender_vectors_next_and_previous_are_consistent(scene_a):
    beauty, vectors = scene_a
    to_prev = F.flow_from_blender_vectors(vectors[1011], "previous")  # 1011 -> 1010
    to_next = F.flow_from_blender_vectors(vectors[1010], "next")      # 1010 -> 1011
    # warp 1011 onto 1010 with frame 1010's Z,W
    no_warp = mse(beauty[1011], beauty[1010])
    assert mse(F.warp(beauty[1011], to_next), beauty[1010]) < no_warp / 3
    # the two passes are inverse flows: forward-backward check passes almost everywhere
    visible = F.occlusion_mask(to_prev, to_next)
    assert visible.mean() > 0.9  # measured 0.937
    # on the visible pixels the warp is within render noise: measured 0.0109 -> 0.00095
    assert mse(F.warp(beauty[1010], to_prev), beauty[1011], visible) < (
        mse(beauty[1010], beauty[1011], visible) / 8)


def test_blender_vectors_rejects_bad_input():
    with pytest.raises(ValueError, match="direction"):
        F.flow_from_blender_vectors(np.zeros((4, 4, 4)), "forward")
    with pytest.raises(ValueError):
        F.flow_from_blender_vectors(np.zeros((4, 4, 2)), "next")


def test_nuke_vectors_forward_convention_on_synthetic_shift():
    a = texture(64, 80, seed=5)
    b = np.roll(a, (3, 4), axis=(0, 1))  # content moves 4 px right and 3 px DOWN a -> b
    forward_uv = np.zeros((64, 80, 2), np.float32)
    forward_uv[..., 0], forward_uv[..., 1] = 4.0, -3.0  # Nuke: v up, so down is negative
    flow = F.flow_from_nuke_vectors(forward_uv)
    np.testing.assert_array_equal(flow[0, 0], [4.0, 3.0])
    assert np.abs(interior(F.warp(b, flow) - a, 8)).max() < 1e-5
    # and it agrees with the flow measured from the pictures
    measured = interior(F.compute_flow(a, b), 12).reshape(-1, 2).mean(axis=0)
    np.testing.assert_allclose(measured, [4.0, 3.0], atol=0.3)
    with pytest.raises(ValueError):
        F.flow_from_nuke_vectors(np.zeros((4, 4, 3)))


@pytest.mark.parametrize("method", sorted(F.FLOW_METHODS))
def test_every_flow_method_recovers_a_known_translation(method):
    # a smooth random texture shifted by (3, -2) px: both algorithms find it inside the frame
    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.uniform(0, 1, (96, 128, 3)).astype(np.float32), (0, 0), 2.0)
    shifted = np.roll(base, shift=(-2, 3), axis=(0, 1))
    flow = F.FLOW_METHODS[method](base, shifted)
    inner = flow[16:-16, 16:-16].reshape(-1, 2)
    assert np.allclose(np.median(inner, axis=0), [3, -2], atol=0.3)


def test_a_flow_does_not_depend_on_the_sizes_computed_before_it():
    """OpenCV's DIS object keeps state from frames of another size: the same pair must still give
    the same flow (a farm task and a warm process that ran other shots agree)."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((64, 96, 3), dtype=np.float32) for _ in range(2))
    first = F.compute_flow(a, b)
    other = rng.random((24, 32, 3), dtype=np.float32)
    F.compute_flow(other, other)
    assert np.array_equal(F.compute_flow(a, b), first)
