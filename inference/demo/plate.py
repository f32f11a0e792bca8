"""A procedural plate with exactly known motion: layered textures, a camera pan, occlusion.

Every layer is an analytic texture translated at a constant screen velocity, so each
pixel's motion is known exactly: the velocity of the front-most layer covering it.
Layers further away move less under the camera pan (parallax); objects cross each other
(occlusion). Colour is scene-linear Rec.709.

Motion vectors are written in Nuke's convention (the ``forward`` / ``backward`` layers
that VectorGenerator makes): pixels, ``u`` to the right, ``v`` up (Nuke's y axis points
up, image rows go down). ``forward`` points to where the pixel is in the next frame,
``backward`` to where it was in the previous one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..image import Image

CHANNELS = ("R", "G", "B", "A", "depth.Z", "forward.u", "forward.v", "backward.u", "backward.v")
PLATE_COLOURSPACE = "Linear Rec.709 (sRGB)"


@dataclass(frozen=True)
class Layer:
    """A textured shape: ``shape`` is 'plane', 'disc' or 'box'; sizes in plate-width units."""

    shape: str
    depth: float
    start: tuple[float, float]     # centre at frame 0, in units of plate width
    velocity: tuple[float, float]  # own motion, px/frame at 640 px width (x right, y down)
    size: float
    palette: tuple[tuple[float, float, float], tuple[float, float, float]]
    frequency: float


LAYERS = (
    Layer("plane", 60.0, (0.0, 0.0), (0.0, 0.0), 0.0, ((0.04, 0.08, 0.16), (0.60, 0.45, 0.28)), 38.0),
    Layer("disc", 14.0, (0.45, 0.50), (3.0, -0.4), 0.17, ((0.60, 0.08, 0.05), (0.95, 0.75, 0.20)), 60.0),
    Layer("box", 9.0, (0.80, 0.40), (1.5, 0.6), 0.13, ((0.05, 0.35, 0.10), (0.70, 0.90, 0.65)), 75.0),
    Layer("disc", 5.0, (1.05, 0.72), (4.0, -0.9), 0.10, ((0.10, 0.10, 0.55), (0.85, 0.85, 1.40)), 90.0),
)
PAN_PX = 8.0      # camera pan at depth 10, px/frame at 640 px width
_REFERENCE_WIDTH = 640.0


def _texture(u: np.ndarray, v: np.ndarray, layer: Layer, seed: int) -> np.ndarray:
    """Band-limited texture: soft checker plus sine detail, mixed between two colours."""
    rng = np.random.default_rng(seed + int(layer.depth * 10))
    phases = rng.uniform(0, 2 * np.pi, 4)
    f = layer.frequency
    checker = np.tanh(4.0 * np.sin(f * u + phases[0]) * np.sin(f * v + phases[1]))
    detail = 0.5 * np.sin(2.7 * f * u + 1.9 * f * v + phases[2]) * np.sin(3.3 * f * v - 0.7 * f * u + phases[3])
    mix = np.clip(0.5 + 0.35 * checker + 0.25 * detail, 0.0, 1.0)[..., None]
    low, high = (np.asarray(c, np.float32) for c in layer.palette)
    return (low * (1 - mix) + high * mix).astype(np.float32)


def _coverage(x: np.ndarray, y: np.ndarray, layer: Layer, width: int) -> np.ndarray:
    """Anti-aliased (1 px ramp) coverage of the layer's shape around its centre at (0, 0)."""
    if layer.shape == "plane":
        return np.ones_like(x)
    radius = layer.size * width
    if layer.shape == "disc":
        distance = np.hypot(x, y) - radius
    else:
        qx, qy = np.abs(x) - radius, np.abs(y) - 0.7 * radius
        distance = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0)
    return np.clip(0.5 - distance, 0.0, 1.0)


def layer_velocity(layer: Layer, width: int) -> tuple[float, float]:
    """Screen velocity in px/frame (x right, y down): own motion plus pan parallax."""
    scale = width / _REFERENCE_WIDTH
    pan = -PAN_PX * 10.0 / layer.depth
    return (layer.velocity[0] + pan) * scale, layer.velocity[1] * scale


def render_frame(index: int, width: int, height: int, seed: int = 7) -> Image:
    """Frame ``index`` (0-based) with beauty, depth and exact forward/backward vectors."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    rgb = np.zeros((height, width, 3), np.float32)
    depth = np.zeros((height, width), np.float32)
    motion = np.zeros((height, width, 2), np.float32)
    for layer in LAYERS:
        vx, vy = layer_velocity(layer, width)
        cx = layer.start[0] * width + vx * index
        cy = layer.start[1] * height + vy * index
        lx, ly = xs - cx, ys - cy
        cover = _coverage(lx, ly, layer, width)[..., None]
        colour = _texture(lx / width, ly / width, layer, seed)
        rgb = rgb * (1 - cover) + colour * cover
        front = cover[..., 0] >= 0.5
        depth[front] = layer.depth
        motion[front] = (vx, vy)
    forward = np.stack([motion[..., 0], -motion[..., 1]], axis=-1)   # Nuke: v points up
    pixels = np.concatenate(
        [rgb, np.ones((height, width, 1), np.float32), depth[..., None], forward, -forward], axis=-1)
    return Image.from_array(pixels.astype(np.float16), CHANNELS, file_format="half",
                            attributes={"restyle:demoFrame": index})
