"""A procedurally "painted" keyframe: what an artist's paint-over of a plate frame stands for.

Edge-preserving stylisation (OpenCV), a posterised warm palette and a canvas grain, all
in display-referred sRGB like a painting made in a paint package.
"""
from __future__ import annotations

import cv2
import numpy as np


def paint(srgb: np.ndarray, seed: int = 7) -> np.ndarray:
    """Paint an ``(H, W, 3)`` sRGB image in 0-1; returns float32 sRGB in 0-1."""
    bgr = (np.clip(srgb[..., ::-1], 0, 1) * 255).astype(np.uint8)
    smooth = cv2.stylization(bgr, sigma_s=45, sigma_r=0.4).astype(np.float32) / 255.0
    levels = 7.0
    poster = np.round(smooth * levels) / levels
    painted = 0.6 * smooth + 0.4 * poster
    warm = painted[..., ::-1] * np.array([1.08, 0.98, 0.84], np.float32)
    rng = np.random.default_rng(seed)
    grain = cv2.GaussianBlur(rng.normal(0, 1, srgb.shape[:2]).astype(np.float32), (0, 0), 1.2)
    canvas = 1.0 + 0.05 * grain[..., None]
    return np.clip(warm * canvas, 0.0, 1.0).astype(np.float32)
