"""Optical flow, backward warping and occlusion masks.

Conventions used throughout this module:

- A flow field is an ``(H, W, 2)`` float32 array in pixels; channel 0 is x (to the right),
  channel 1 is y pointing DOWN (image rows, row 0 at the top, as the file stores it).
- "Flow from frame a to frame b" holds, for each pixel ``x`` of ``a``, the displacement to
  where that point is in ``b``: point ``x`` of ``a`` sits at ``x + flow(x)`` in ``b``.
  Hence ``warp(b, flow_a_to_b)`` resamples ``b`` onto the pixel grid of ``a``.
- Images handed to :func:`compute_flow` are display-encoded (sRGB) floats in [0, 1],
  ``(H, W, 3)`` RGB (or ``(H, W)`` / ``(H, W, 1)`` grey).
- Renderer and compositor motion vectors (y up) are converted to this convention by
  :func:`flow_from_blender_vectors` and :func:`flow_from_nuke_vectors`.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np

from ..errors import ChannelError

if TYPE_CHECKING:
    from ..image import Image

_PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
_LOCAL = threading.local()
# Rec.709 luma weights, applied to the display-encoded values (video luma Y').
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def _dis(preset: str, shape: tuple[int, int]) -> cv2.DISOpticalFlow:
    """This thread's DIS optical-flow object for ``preset`` and frames of ``shape`` (created once
    per thread and size: an OpenCV DIS object that has seen frames of another size gives other
    flows afterwards, up to a pixel apart, so a result would depend on what ran before it)."""
    if preset not in _PRESETS:
        raise ValueError(f"unknown DIS preset {preset!r}; choose one of {sorted(_PRESETS)}")
    cache = getattr(_LOCAL, "dis", None)
    if cache is None:
        cache = _LOCAL.dis = {}
    if cache.get(preset, (None,))[0] != shape:
        cache[preset] = (shape, cv2.DISOpticalFlow_create(_PRESETS[preset]))
    return cache[preset][1]


def to_gray_u8(srgb: np.ndarray) -> np.ndarray:
    """Rec.709 luma of display-encoded 0-1 values as uint8.

    Args:
        srgb: ``(H, W, 3)`` RGB, ``(H, W, 1)`` or ``(H, W)`` grey, sRGB-encoded in [0, 1]
            (extra channels beyond 3, e.g. alpha, are ignored).
    Returns:
        ``(H, W)`` uint8, contiguous.
    """
    img = np.asarray(srgb, dtype=np.float32)
    if img.ndim == 3 and img.shape[2] >= 3:
        gray = img[:, :, :3] @ _LUMA
    elif img.ndim == 3 and img.shape[2] == 1:
        gray = img[:, :, 0]
    elif img.ndim == 2:
        gray = img
    else:
        raise ValueError(f"expected (H, W), (H, W, 1) or (H, W, >=3) image, got {img.shape}")
    return np.ascontiguousarray(np.clip(gray * 255.0 + 0.5, 0, 255).astype(np.uint8))


def compute_flow(a: np.ndarray, b: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Dense optical flow from ``a`` to ``b`` with OpenCV's DIS (Kroeger et al. 2016).

    Args:
        a, b: ``(H, W, 3)`` sRGB-encoded 0-1 images of the same size (grey also accepted).
        preset: ``"ultrafast"``, ``"fast"`` or ``"medium"`` (DIS presets).
    Returns:
        ``(H, W, 2)`` float32 flow a -> b (x right, y down, pixels).
    """
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"frame sizes differ: {a.shape[:2]} vs {b.shape[:2]}")
    flow = _dis(preset, a.shape[:2]).calc(to_gray_u8(a), to_gray_u8(b), None)
    return flow.astype(np.float32, copy=False)


# Farneback (2003) settings: OpenCV's documented example values with a 7-pixel polynomial
# neighbourhood (poly_sigma 1.5, as its documentation pairs with poly_n 7) and 5 levels.
_FARNEBACK = dict(pyr_scale=0.5, levels=5, winsize=15, iterations=3, poly_n=7, poly_sigma=1.5, flags=0)


def farneback_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense optical flow from ``a`` to ``b`` with OpenCV's Farneback polynomial expansion: an
    algorithm independent of DIS, to judge a method that moves pixels along DIS flow.

    Args and return as :func:`compute_flow`.
    """
    if a.shape[:2] != b.shape[:2]:
        raise ValueError(f"frame sizes differ: {a.shape[:2]} vs {b.shape[:2]}")
    flow = cv2.calcOpticalFlowFarneback(to_gray_u8(a), to_gray_u8(b), None, **_FARNEBACK)
    return flow.astype(np.float32, copy=False)


# Optical-flow algorithms by name (measures can be taken with more than one).
FLOW_METHODS = {"dis": compute_flow, "farneback": farneback_flow}


def _sample_maps(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute sampling coordinates ``x + flow(x)`` as two ``(H, W)`` float32 maps."""
    h, w = flow.shape[:2]
    xs = np.arange(w, dtype=np.float32)[None, :] + flow[:, :, 0]
    ys = np.arange(h, dtype=np.float32)[:, None] + flow[:, :, 1]
    return xs.astype(np.float32, copy=False), ys.astype(np.float32, copy=False)


def warp(image: np.ndarray, flow: np.ndarray, interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """Backward warp: ``out(x) = image(x + flow(x))``, bilinear (or ``interpolation``, an OpenCV
    flag), border replicated.

    Args:
        image: ``(H, W)`` or ``(H, W, C)`` array, any channel count (float16 is computed
            as float32 and returned as float32).
        flow: ``(H, W, 2)`` flow from the output's grid into ``image``.
        interpolation: ``cv2.INTER_LINEAR`` (default), or e.g. ``cv2.INTER_CUBIC`` for fine
            detail warped again and again, which bilinear softens a little every time.
    Returns:
        Array with ``image``'s shape (float16 input comes back as float32).
    """
    if flow.shape[:2] != image.shape[:2] or flow.ndim != 3 or flow.shape[2] != 2:
        raise ValueError(f"flow {flow.shape} does not match image {image.shape}")
    src = image.astype(np.float32) if image.dtype == np.float16 else image
    map_x, map_y = _sample_maps(flow)

    def remap(plane: np.ndarray) -> np.ndarray:
        return cv2.remap(np.ascontiguousarray(plane), map_x, map_y, interpolation, borderMode=cv2.BORDER_REPLICATE)

    if src.ndim == 2:
        return remap(src)
    channels = src.shape[2]
    if channels <= 4:
        out = remap(src)
        return out.reshape(src.shape)  # cv2 drops a trailing axis of size 1
    return np.concatenate([remap(src[:, :, i:i + 4]).reshape(*src.shape[:2], -1)
                           for i in range(0, channels, 4)], axis=2)


def _norm_sq(flow: np.ndarray) -> np.ndarray:
    """``(H, W)`` squared length of each ``(H, W, 2)`` vector."""
    return flow[:, :, 0] * flow[:, :, 0] + flow[:, :, 1] * flow[:, :, 1]


def _flow_gradient_sq(flow: np.ndarray) -> np.ndarray:
    """``|grad u|^2 + |grad v|^2`` with forward differences (0 on the last row/column)."""
    planes = []
    for c in range(2):  # (channel by channel: numpy reduces over a last axis of 2 many times slower)
        plane, du, dv = flow[:, :, c], np.zeros(flow.shape[:2], flow.dtype), np.zeros(flow.shape[:2], flow.dtype)
        du[:, :-1] = plane[:, :-1] - plane[:, 1:]
        dv[:-1, :] = plane[:-1, :] - plane[1:, :]
        planes.append(du * du + dv * dv)
    return planes[0] + planes[1]


def occlusion_mask(flow_fw: np.ndarray, flow_bw: np.ndarray,
                   motion_boundaries: bool = True) -> np.ndarray:
    """Visibility of the pixels of frame a in frame b (True = visible, usable).

    Forward-backward consistency check of Sundaram, Brox & Keutzer, "Dense point
    trajectories by GPU-accelerated large displacement optical flow" (ECCV 2010), with
    the thresholds of Lai et al., "Learning Blind Video Temporal Consistency" (ECCV 2018),
    ``utils.detect_occlusion`` called from ``compute_flow_occlusion.py`` and used by
    ``evaluate_WarpError.py`` (github.com/phoenix104104/fast_blind_video_consistency).
    With ``w_f = flow_fw`` and ``w_b' = flow_bw`` sampled (bilinear) at ``x + w_f(x)``,
    a pixel is occluded when

        |w_f + w_b'|^2 > 0.01 (|w_f|^2 + |w_b'|^2) + 0.5

    or, when ``motion_boundaries`` (as in Lai's code), when it lies on a motion boundary:

        |grad u|^2 + |grad v|^2 > 0.01 |w_f|^2 + 0.002   (forward differences of w_f).

    In addition (not in Lai's code) pixels whose target ``x + w_f(x)`` falls outside
    frame b are marked not visible, since the warp would only replicate the border there.

    Args:
        flow_fw: ``(H, W, 2)`` flow a -> b.
        flow_bw: ``(H, W, 2)`` flow b -> a.
        motion_boundaries: also exclude motion boundaries (Lai's evaluation does).
    Returns:
        ``(H, W)`` bool mask on the pixel grid of a.
    """
    fw = flow_fw.astype(np.float32, copy=False)
    bw_at_target = warp(flow_bw.astype(np.float32, copy=False), fw)
    fb_sq, fw_sq, bw_sq = _norm_sq(fw + bw_at_target), _norm_sq(fw), _norm_sq(bw_at_target)
    occluded = fb_sq > 0.01 * (fw_sq + bw_sq) + 0.5
    if motion_boundaries:
        occluded |= _flow_gradient_sq(fw) > 0.01 * fw_sq + 0.002
    h, w = fw.shape[:2]
    map_x, map_y = _sample_maps(fw)
    inside = (map_x >= 0) & (map_x <= w - 1) & (map_y >= 0) & (map_y <= h - 1)
    return ~occluded & inside


# A renderer's motion vectors as this module's flow (x right, y down), per kind: (layer, channels,
# the sign each channel takes) for flow t -> t+1, then for flow t -> t-1. The two readers below and
# the GPU deflicker (deflicker_device) read vectors through this table.
VECTOR_CHANNELS: dict[str, tuple[tuple[str, tuple[str, str], tuple[float, float]], ...]] = {
    "nuke": (("forward", ("u", "v"), (1.0, -1.0)), ("backward", ("u", "v"), (1.0, -1.0))),
    "blender": (("*Vector", ("Z", "W"), (-1.0, 1.0)), ("*Vector", ("X", "Y"), (1.0, -1.0))),
}


def _signed(x: np.ndarray, y: np.ndarray, signs: tuple[float, float]) -> np.ndarray:
    """``(H, W, 2)`` float32 flow from two channels and their signs (:data:`VECTOR_CHANNELS`)."""
    return np.stack([x * np.float32(signs[0]), y * np.float32(signs[1])], axis=2)


def flow_from_blender_vectors(vector_xyzw: np.ndarray, direction: str) -> np.ndarray:
    """Blender's (Cycles) ``Vector`` pass converted to this module's flow convention.

    The pass holds, per pixel of frame t, in pixels with y pointing UP: X,Y = motion
    towards the PREVIOUS frame, Z,W = motion towards the NEXT frame. Measured on the real
    Cycles renders in ../shared/data/render_sceneA (Blender 3.4, motion blur off), both
    pairs point AGAINST the direction of motion:

        X,Y = p(t-1) - p(t)   ("where the pixel came from": already flow t -> t-1)
        Z,W = p(t) - p(t+1)   (minus the flow t -> t+1)

    so X,Y ~= Z,W for a smooth move (correlation 0.99 on frame 1010). Evidence, frame
    1011 sRGB beauty, mean abs difference to frame t of the neighbour warped onto t:
    no warp 0.050; previous with (X, -Y) 0.021, with (-X, +Y) 0.071 (worse than no warp);
    next with (-Z, +W) 0.020, with (Z, -W) 0.071. Scaling the vectors by 0.9 or 1.1 makes
    the match worse, so they are in full pixels (see tests/test_flow.py).

    Args:
        vector_xyzw: ``(H, W, 4)`` pass in file row order (row 0 = top of the picture).
        direction: ``"previous"`` for flow t -> t-1, ``"next"`` for flow t -> t+1.
    Returns:
        ``(H, W, 2)`` float32 flow, x right, y down.
    """
    vec = np.asarray(vector_xyzw, dtype=np.float32)
    if vec.ndim != 3 or vec.shape[2] != 4:
        raise ValueError(f"expected (H, W, 4) Vector pass X,Y,Z,W, got {vec.shape}")
    if direction not in ("previous", "next"):
        raise ValueError(f"direction must be 'previous' or 'next', got {direction!r}")
    _, channels, signs = VECTOR_CHANNELS["blender"][0 if direction == "next" else 1]
    x, y = ("XYZW".index(c) for c in channels)
    return _signed(vec[:, :, x], vec[:, :, y], signs)


def flow_from_nuke_vectors(uv: np.ndarray) -> np.ndarray:
    """Nuke ``forward.u/v`` or ``backward.u/v`` motion channels as flow (y down).

    Nuke (VectorGenerator, Kronos, ScanlineRender) stores, per pixel of frame t and in
    pixels with v pointing UP, the offset to the matching pixel of the next frame
    (``forward``) or the previous frame (``backward``). So ``forward`` gives flow
    t -> t+1 and ``backward`` flow t -> t-1 once v is negated.

    Args:
        uv: ``(H, W, 2)`` u, v in file row order (row 0 = top of the picture).
    Returns:
        ``(H, W, 2)`` float32 flow, x right, y down.
    """
    vec = np.asarray(uv, dtype=np.float32)
    if vec.ndim != 3 or vec.shape[2] != 2:
        raise ValueError(f"expected (H, W, 2) u, v, got {vec.shape}")
    return _signed(vec[:, :, 0], vec[:, :, 1], VECTOR_CHANNELS["nuke"][0][2])  # forward and backward alike


def image_vectors(image: Image, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """A plate frame's own motion vectors as ``(flow t -> t+1, flow t -> t-1)``, each ``(H, W, 2)``
    float32 in this module's convention; ``kind``: ``"blender"`` (its ``*Vector`` pass) or
    ``"nuke"`` (its ``forward``/``backward`` layers). ``image``: an :class:`~inference.image.Image`
    (raises its ChannelError, naming the file and the layers it has, when the layer is missing)."""
    if kind == "blender":
        vector = image.layer("*Vector", ("X", "Y", "Z", "W")).as_float32()
        return flow_from_blender_vectors(vector, "next"), flow_from_blender_vectors(vector, "previous")
    return (flow_from_nuke_vectors(image.layer("forward", ("u", "v")).as_float32()),
            flow_from_nuke_vectors(image.layer("backward", ("u", "v")).as_float32()))


def vectors_check(vectors: str) -> Callable[[Image], None] | None:
    """The frame reader's check for plates whose own motion vectors (``blender``, ``nuke``) guide a
    pass: those vector channels must be finite, as colour is (None for optical flow)."""
    if vectors not in VECTOR_CHANNELS:
        return None

    def check(image: Image) -> None:
        image.check_finite([name for layer, channels, _ in VECTOR_CHANNELS[vectors]
                            for name in image.layer_channels(layer, channels)])
    return check


def own_vectors(image: Image) -> str:
    """Which motion vectors ``image`` (a plate frame) carries: ``"blender"`` (a ``*Vector`` pass),
    ``"nuke"`` (``forward``/``backward`` u, v layers), or ``"dis"`` when none (optical flow then)."""
    for kind, directions in VECTOR_CHANNELS.items():
        try:
            for layer, channels, _ in directions:
                image.layer_channels(layer, channels)
        except ChannelError:
            continue
        return kind
    return "dis"
