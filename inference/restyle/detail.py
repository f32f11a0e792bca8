"""The painted keyframes' brushwork carried to every frame along the plate's motion (``--detail``).

The network learns a look's colour, shapes and edges, but texture that nothing in the plate
predicts (strokes a painting filter grew from render noise, canvas grain, dry-brush breaks)
comes out as its average: smooth. This module carries the keyframe's own detail instead: what
the network leaves out of the painting at the key (:func:`key_residuals`), finer than a
Gaussian of ``sigma`` pixels, added to the network's look.

Walking away from a key one frame at a time, frame t's detail is:

- frame t-1's detail moved along the plate's optical flow t -> t-1, where that flow passes the
  forward-backward test (Sundaram et al. 2010 with Lai et al. 2018's thresholds, the test
  E_warp uses): the brushwork sticks to the plate and does not crawl;
- elsewhere (revealed areas, frame edges, where flow fails), re-seeded from the keyframe carried
  along the chained flow t -> key, so new areas get brushwork of the key's kind, but only where
  the plate there looks like the key's plate where that flow lands (:func:`plate_agrees`): in an
  area the key never saw (background revealed behind a moving object) the chained flow follows the
  occluder and would drag its strokes into streaks, so it gets no detail instead.

Frames before a key are walked backwards from it. With several keys, each key's detail is
weighted as the look is (:func:`~inference.restyle.keys.key_weights`). A walk only depends on
the plate and the keys, so a frame range (a farm chunk) gives the frames a whole-shot run gives.
"""
from __future__ import annotations

import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Generator

import cv2
import numpy as np
import torch

from .. import colour
from ..errors import OutputError, ResolutionMismatchError, UsageError
from ..image import read_image
from ..sequence import SequencePattern
from ..temporal import flow, flow_torch
from ..temporal.blur_torch import gaussian_blur
from ..temporal.plate_flow import NeighbourFlows, plate_frame, resolve_vectors
from ..temporal.settings import VECTORS
from .keys import key_weights
from .model_file import RestyleModel, sha256_file
from .settings import DEFAULT_DETAIL_PX, DEFAULT_DETAIL_PX_VECTORS, DetailSettings

FLOW_VIEW = colour.SRGB_VIEW  # the encoding flows are measured in (as the deflicker's)
AGREE_BLUR = 2.0  # px: plates are compared blurred (render noise and grain left out)
AGREE_TOLERANCE = 0.08  # mean absolute sRGB difference up to which the plates agree
# The walk's warps sit this far from bilinear towards bicubic (OpenCV's kernel): the detail is warped
# once per frame walked, and bilinear softens it a little every time. Chosen 2026-12-05 on shot2's
# pencil and cartoon looks and the render (bench/JOURNAL.md, "Sharper carrying"): 0 = bilinear.
CARRY_SHARPNESS = 0.5
Steps = Generator[tuple[int, np.ndarray], None, None]  # (frame, correction)... from a key outwards


@dataclass(frozen=True)
class WalkOps:
    """The walk's image operations on one kind of array: :data:`HOST_OPS` (numpy ``(H, W, C)``,
    OpenCV: fastest on a CPU) or :data:`DEVICE_OPS` (torch ``(1, C, H, W)`` on the tensors' device:
    a GPU). Flows are ``(H, W, 2)`` or ``(1, 2, H, W)`` likewise; both give the same numbers up to
    float rounding and the blur's border rule (tests/test_restyle_detail.py)."""

    upload: Callable[[np.ndarray, object], Any]  # (H, W, C) float array, device -> array
    host: Callable[[Any], np.ndarray]  # array -> (H, W, C) float32
    warp: Callable[[Any, Any], Any]  # :func:`~..temporal.flow.warp`, CARRY_SHARPNESS towards bicubic
    visible: Callable[[Any, Any], Any]  # flows back, ahead -> where back is trusted (broadcasts over channels)
    blur: Callable[[Any, float], Any]  # Gaussian of sigma pixels
    channel_mean: Callable[[Any], Any]  # mean over channels, kept as one channel
    where: Callable[[Any, Any, Any], Any]
    weight: Callable[[Any], Any]  # bool mask -> float32 0/1


def _planar(image: np.ndarray, device: object) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))[None].to(device)


def _host_warp(image: np.ndarray, motion: np.ndarray) -> np.ndarray:
    linear = flow.warp(image, motion)
    return linear + CARRY_SHARPNESS * (flow.warp(image, motion, cv2.INTER_CUBIC) - linear)


def _device_warp(image: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
    linear = flow_torch.warp(image, motion)
    return linear + CARRY_SHARPNESS * (flow_torch.warp(image, motion, "bicubic") - linear)


HOST_OPS = WalkOps(
    upload=lambda image, _: np.asarray(image, np.float32), host=lambda image: image, warp=_host_warp,
    visible=lambda back, ahead: flow.occlusion_mask(back, ahead)[..., None],
    blur=lambda image, sigma: cv2.GaussianBlur(image, (0, 0), sigma).reshape(image.shape),
    channel_mean=lambda image: (sum(image[..., c] for c in range(image.shape[2])) / image.shape[2])[..., None],
    where=np.where,
    weight=lambda mask: mask.astype(np.float32))
DEVICE_OPS = WalkOps(
    upload=_planar, host=lambda image: image[0].permute(1, 2, 0).float().cpu().numpy(), warp=_device_warp,
    visible=flow_torch.occlusion_mask, blur=gaussian_blur, channel_mean=lambda image: image.mean(1, keepdim=True),
    where=torch.where, weight=lambda mask: mask.float())


def walk_ops(device: object) -> WalkOps:
    """The walk's operations for work on ``device`` (a torch device or its name; None: the CPU)."""
    return DEVICE_OPS if device is not None and torch.device(device).type == "cuda" else HOST_OPS


def high_pass(image: Any, sigma: float, ops: WalkOps = HOST_OPS) -> Any:
    """``image`` minus its Gaussian blur of ``sigma`` pixels (border reflected)."""
    return image - ops.blur(image, sigma)


def walk(view: Callable[[int], np.ndarray], flows: NeighbourFlows, key: int, painting: np.ndarray, last: int,
         sigma: float, device: object = None) -> Steps:
    """(frame, detail) from ``key`` (its own high-pass) one frame at a time to ``last``, either way,
    each detail ``(H, W, 3)`` float32 on the host; computed by :func:`walk_ops` for ``device``.

    Args:
        view: frame -> the plate's ``(H, W, 3)`` sRGB-encoded view in [0, 1] (where the plates agree).
        flows: the plate's motion between neighbouring frames (:func:`~..temporal.plate_flow.neighbour_motion`:
            DIS optical flow, or the plate's own motion vectors).
        key: the keyframe.
        painting: the ``(H, W, 3)`` float32 image whose detail is carried (a key's residual), in
            the encoding the detail is added in.
        last: the walk's last frame (before or after ``key``).
        sigma: detail finer than this many pixels is carried.
        device: where the walk's work runs (None: the CPU).
    """
    ops = walk_ops(device)
    step = 1 if last >= key else -1
    # (no torch.no_grad() here: held across a yield it would switch autograd off in the caller's thread; nothing
    # the walk computes needs gradients)
    with ThreadPoolExecutor(1, thread_name_prefix="restyle-walk-read") as reader:
        key_detail = detail = high_pass(ops.upload(painting, device), sigma, ops)
        to_key = ops.upload(np.zeros((*painting.shape[:2], 2), np.float32), device)
        yield key, ops.host(detail)
        key_view = ops.blur(ops.upload(view(key), device), AGREE_BLUR)
        coming = reader.submit(view, key + step)  # the next frame is read while this one is walked
        for frame in range(key + step, last + step, step):
            seen = coming.result()  # (viewed first: a frame of another size is named before its flows)
            if frame != last:
                coming = reader.submit(view, frame + step)
            now = ops.upload(seen, device)
            back, ahead = (ops.upload(motion, device) for motion in flows(frame, frame - step))
            to_key = back + ops.warp(to_key, back)  # chained: frame -> previous -> ... -> key
            # the key's detail moved (not the painting moved, then filtered: one Gaussian per key, not per frame)
            reseed = plate_agrees(now, key_view, to_key, ops) * ops.warp(key_detail, to_key)
            detail = ops.where(ops.visible(back, ahead), ops.warp(detail, back), reseed)
            yield frame, ops.host(detail)


def plate_agrees(now: Any, key_view: Any, to_key: Any, ops: WalkOps = HOST_OPS) -> Any:
    """Weight in [0, 1] (one channel): 1 where the plate ``now`` looks like the key's plate where
    ``to_key`` lands (``key_view`` already blurred by AGREE_BLUR, ``now`` blurred here; mean absolute
    difference within AGREE_TOLERANCE), 0 where it does not, softened over a few pixels."""
    error = ops.channel_mean(abs(ops.blur(now, AGREE_BLUR) - ops.warp(key_view, to_key)))
    return ops.blur(ops.weight(error <= AGREE_TOLERANCE), AGREE_BLUR)


def resolve_detail(model: RestyleModel, detail: DetailSettings, plate_frame: str) -> DetailSettings:
    """``detail`` with its ``vectors`` and ``px`` decided and checked. ``vectors`` ``auto``: the
    plate's own motion vectors when its frame ``plate_frame`` (a path) carries them, else DIS flow.
    ``px``: as asked, or, when the keys' paintings are at hand (the model carries them or ``keys``
    are given) and ``texture`` is off, :data:`~.settings.DEFAULT_DETAIL_PX` along optical flow and
    :data:`~.settings.DEFAULT_DETAIL_PX_VECTORS` along the plate's own vectors; else 0. Refused: an
    unknown ``vectors``, a negative ``px``, both ``px`` and ``texture``, or, with either on, keys
    other than the model's paintings (none needed when the model carries them)."""
    px, vectors = detail.px, detail.vectors
    if vectors not in VECTORS:
        raise UsageError(f"--vectors {vectors}: choose from {', '.join(VECTORS)}")
    if px is None and (detail.texture or not (model.carries_paintings or detail.keys)):
        px = 0.0
    if vectors == "auto":
        vectors = resolve_vectors(vectors, plate_frame) if px is None or px > 0 else "dis"
    if px is None:
        px = DEFAULT_DETAIL_PX if vectors == "dis" else DEFAULT_DETAIL_PX_VECTORS
    if px < 0:
        raise UsageError(f"--detail {px}: give a blur radius in pixels above 0, or 0 for no carried detail")
    if px and detail.texture:
        raise UsageError("--detail and --texture both bring the keyframes' brushwork; choose one")
    if px or detail.texture:
        check_keys(model, dict(detail.keys or {}))
    return replace(detail, px=px, vectors=vectors)


def check_keys(model: RestyleModel, keys: dict[int, str]) -> None:
    """Refuse keys that are not the paintings ``model`` was trained on (by content hash); no keys
    are needed from a model that carries its paintings."""
    if not keys and model.carries_paintings:
        return
    trained = {int(frame): digest for frame, digest in model.meta["keyframes"].items()}
    if sorted(keys) != sorted(trained):
        raise UsageError(f"--detail/--texture need the model's keyframes {sorted(trained)} as --key FRAME=IMAGE; "
                         f"got {sorted(keys) or 'none'}")
    for frame, path in sorted(keys.items()):
        if not Path(path).is_file():
            raise UsageError(f"--key {frame}={path}: no such file")
        if sha256_file(path) != trained[frame]:
            raise UsageError(f"--key {frame}={path} is not the painting the model was trained on for frame {frame} "
                             "(its content hash differs); pass the keyframe the model learnt from")


def key_paintings(model: RestyleModel, keys: dict[int, str], key_space: str | None) -> dict[int, np.ndarray]:
    """Per key, its painting ``(H, W, 3)`` in the model's working encoding: those the model
    carries, else read from ``keys`` (as :func:`check_keys` accepts: the same paintings)."""
    carried = model.paintings
    if carried is not None:
        return carried
    paintings = {}
    for key in model.key_frames:
        painting = read_image(keys[key]).beauty(alpha=False).as_float32()
        space = colour.file_colourspace(keys[key], key_space)
        paintings[key] = colour.convert(painting, space, model.meta["encoding"])
    return paintings


def key_residuals(model: RestyleModel, keys: dict[int, str], key_space: str | None,
                  look: Callable[[int], np.ndarray]) -> dict[int, np.ndarray]:
    """Per key, what the network leaves out of the painting: painting minus ``look(key)`` (the
    network's look of that plate frame), in the model's working encoding. Carrying this rather
    than the painting itself leaves out the outlines and edges the network already paints, which
    would show twice wherever the plate's flow is off. ``keys``: as :func:`check_keys` accepts."""
    return {key: painting - look(key) for key, painting in key_paintings(model, keys, key_space).items()}


def plate_view(plate: SequencePattern, plate_space: str) -> Callable[[int], np.ndarray]:
    """frame -> the plate's ``(H, W, 3)`` sRGB-encoded view in [0, 1], the one flows are measured on.

    Raises:
        ResolutionMismatchError: a frame of another size than the first one viewed (flows need one).
    """
    first: list[tuple[int, tuple[int, int]]] = []

    @lru_cache(maxsize=3)  # a walk views a frame ahead, then the frame and the one before (its flow)
    def view(frame: int) -> np.ndarray:
        image = plate_frame(plate.path(frame))  # (read once with its motion vectors)
        first[:] = first or [(frame, image.size)]
        if image.size != first[0][1]:
            raise ResolutionMismatchError(
                f"{image.source} (frame {frame}) is {image.size[0]}x{image.size[1]} but frame {first[0][0]} is "
                f"{first[0][1][0]}x{first[0][1][1]}; every frame of a plate must have one size")
        return np.clip(colour.convert(image.beauty(alpha=False).as_float32(), plate_space, FLOW_VIEW), 0, 1)

    return view


Walker = Callable[[int, int], Steps]  # (key, last frame) -> (frame, correction)... as walk() yields


@dataclass
class _Walk:
    """One key's walk towards one side, as far as it has gone."""

    index: int  # the key's place in the key frames
    key: int
    last: int
    wanted: set[int]  # the frames of this side whose correction is kept
    steps: Steps

    def reaches(self, frame: int) -> bool:
        return min(self.key, self.last) <= frame <= max(self.key, self.last)


class WalkedFromKeys:
    """Each frame's correction to the look, walked from every key out to the frames that need it
    (``walker(key, last)``, as :func:`walk`) only as far as the frames asked for so far need (a
    render asks chunk by chunk: its first frames do not wait for the whole shot's walk), kept in a
    scratch folder (float16 ``.npy`` files, so memory holds one frame per walk, whatever the
    range). Several keys' corrections are weighted as their looks are."""

    def __init__(self, key_frames: list[int], frames: list[int], walker: Walker,
                 log: Callable[[str], None] = lambda _: None, what: str = "brushwork"):
        self.key_frames = key_frames  # each frame's key weights are worked out when it is asked for
        self._log, self._what, self._lock = log, what, threading.Lock()
        self._scratch = tempfile.TemporaryDirectory(prefix="restyle_detail_")
        self._walks: list[_Walk] = []
        for index, key in enumerate(key_frames):
            wanted = {f for f in frames if any(i == index for i, _ in key_weights(f, key_frames))}
            if not wanted:
                continue
            for last in sorted({min(wanted), max(wanted)} - {key}) or [key]:
                side = {f for f in wanted if min(key, last) <= f <= max(key, last)}
                self._walks.append(_Walk(index, key, last, side, walker(key, last)))
        try:  # each walk's first step now: a plate that cannot be walked (no vectors, another size) stops before any work
            for walk_ in self._walks:
                self._walk_to(walk_.index, walk_.key + (walk_.last > walk_.key) - (walk_.last < walk_.key))
        except BaseException:
            self.close()
            raise

    def _walk_to(self, index: int, frame: int) -> None:
        """Go on with key ``index``'s walk that reaches ``frame`` until that frame's correction is kept."""
        walk_ = next(w for w in self._walks if w.index == index and w.reaches(frame))
        for done, correction in walk_.steps:
            if done == walk_.key:
                self._log(f"{self._what}: carrying key {walk_.key}'s {self._what} towards frame {walk_.last}")
            elif done % 25 == 0:
                self._log(f"{self._what}: key {walk_.key}'s {self._what} carried to frame {done}")
            if done in walk_.wanted:
                self._save(index, done, correction)
            if done == frame:
                return

    def _save(self, index: int, frame: int, correction: np.ndarray) -> None:
        path = self._path(index, frame)
        try:
            np.save(path, correction.astype(np.float16))
        except OSError as exc:
            raise OutputError(f"cannot write the keys' carried detail for frame {frame} to {path} ({exc}); free "
                              "space there or point TMPDIR at a folder with room") from None

    def _path(self, index: int, frame: int) -> str:
        # a plain string: pathlib interns every path part, so one Path per frame would grow
        # Python's interned-string table with the shot's length
        return os.path.join(self._scratch.name, f"{index}_{frame}.npy")

    def __call__(self, frame: int) -> np.ndarray:
        """Frame ``frame``'s correction, ``(H, W, 3)`` float32 in the model's working encoding
        (walked to first if no frame asked for before needed it)."""
        weights = key_weights(frame, self.key_frames)
        with self._lock:
            for index, _ in weights:
                if not os.path.isfile(self._path(index, frame)):
                    self._walk_to(index, frame)
        return sum(weight * np.load(self._path(index, frame)).astype(np.float32) for index, weight in weights)

    def close(self) -> None:
        for walk_ in self._walks:
            walk_.steps.close()
        self._scratch.cleanup()
