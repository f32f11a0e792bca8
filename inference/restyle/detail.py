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
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from .. import colour
from ..errors import OutputError, ResolutionMismatchError, UsageError
from ..image import read_frame, read_image
from ..sequence import SequencePattern
from ..temporal.flow import occlusion_mask, warp
from ..temporal.plate_flow import NeighbourFlows, resolve_vectors
from ..temporal.settings import VECTORS
from .keys import key_weights
from .model_file import RestyleModel, sha256_file
from .settings import DEFAULT_DETAIL_PX, DEFAULT_DETAIL_PX_VECTORS, DetailSettings

FLOW_VIEW = colour.SRGB_VIEW  # the encoding flows are measured in (as the deflicker's)
AGREE_BLUR = 2.0  # px: plates are compared blurred (render noise and grain left out)
AGREE_TOLERANCE = 0.08  # mean absolute sRGB difference up to which the plates agree


def high_pass(image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` minus its Gaussian blur of ``sigma`` pixels (border reflected)."""
    return image - cv2.GaussianBlur(image, (0, 0), sigma)


def walk(view: Callable[[int], np.ndarray], flows: NeighbourFlows, key: int, painting: np.ndarray, last: int,
         sigma: float) -> Iterator[tuple[int, np.ndarray]]:
    """(frame, detail) from ``key`` (its own high-pass) one frame at a time to ``last``, either way.

    Args:
        view: frame -> the plate's ``(H, W, 3)`` sRGB-encoded view in [0, 1] (where the plates agree).
        flows: the plate's motion between neighbouring frames (:func:`~..temporal.plate_flow.neighbour_flows`:
            DIS optical flow, or the plate's own motion vectors).
        key: the keyframe.
        painting: the ``(H, W, 3)`` float32 image whose detail is carried (a key's residual), in
            the encoding the detail is added in.
        last: the walk's last frame (before or after ``key``).
        sigma: detail finer than this many pixels is carried.
    """
    step = 1 if last >= key else -1
    key_detail = detail = high_pass(painting, sigma)
    to_key = np.zeros((*painting.shape[:2], 2), np.float32)
    yield key, detail
    key_view = view(key)
    for frame in range(key + step, last + step, step):
        now = view(frame)  # (viewed first: a frame of another size is named before its flows are asked)
        back, ahead = flows(frame, frame - step)
        to_key = back + warp(to_key, back)  # chained: frame -> previous -> ... -> key
        # the key's detail moved (not the painting moved, then filtered: one Gaussian per key, not per frame)
        reseed = plate_agrees(now, key_view, to_key)[..., None] * warp(key_detail, to_key)
        detail = np.where(occlusion_mask(back, ahead)[..., None], warp(detail, back), reseed)
        yield frame, detail


def plate_agrees(now: np.ndarray, key_view: np.ndarray, to_key: np.ndarray) -> np.ndarray:
    """``(H, W)`` weight in [0, 1]: 1 where the plate ``now`` looks like the key's plate where
    ``to_key`` lands (both blurred by AGREE_BLUR, mean absolute difference within AGREE_TOLERANCE),
    0 where it does not, softened over a few pixels."""
    error = np.abs(cv2.GaussianBlur(now, (0, 0), AGREE_BLUR) - warp(cv2.GaussianBlur(key_view, (0, 0), AGREE_BLUR),
                                                                    to_key)).mean(axis=2)
    return cv2.GaussianBlur((error <= AGREE_TOLERANCE).astype(np.float32), (0, 0), AGREE_BLUR)


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

    @lru_cache(maxsize=2)  # a walk views each frame twice (its flow, then the plates' agreement)
    def view(frame: int) -> np.ndarray:
        image = read_frame(plate.path(frame))
        first[:] = first or [(frame, image.size)]
        if image.size != first[0][1]:
            raise ResolutionMismatchError(
                f"{image.source} (frame {frame}) is {image.size[0]}x{image.size[1]} but frame {first[0][0]} is "
                f"{first[0][1][0]}x{first[0][1][1]}; every frame of a plate must have one size")
        return np.clip(colour.convert(image.beauty(alpha=False).as_float32(), plate_space, FLOW_VIEW), 0, 1)

    return view


Walker = Callable[[int, int], Iterator[tuple[int, np.ndarray]]]  # (key, last frame) -> (frame, correction)...


class WalkedFromKeys:
    """Each frame's correction to the look, walked once from every key out to the frames that
    need it (``walker(key, last)``, as :func:`walk`) and kept in a scratch folder (float16 ``.npy``
    files, so memory holds one frame per walk, whatever the range). Several keys' corrections
    are weighted as their looks are."""

    def __init__(self, key_frames: list[int], frames: list[int], walker: Walker,
                 log: Callable[[str], None] = lambda _: None, what: str = "brushwork"):
        self.key_frames = key_frames  # each frame's key weights are worked out when it is asked for
        self._scratch = tempfile.TemporaryDirectory(prefix="restyle_detail_")
        try:
            for index, key in enumerate(key_frames):
                wanted = {f for f in frames if any(i == index for i, _ in key_weights(f, key_frames))}
                if wanted:
                    self._walk(index, key, wanted, walker, log, what)
        except BaseException:
            self.close()
            raise

    def _walk(self, index: int, key: int, wanted: set[int], walker: Walker, log: Callable[[str], None],
              what: str) -> None:
        """Key ``key``'s correction for the ``wanted`` frames, walking out to each side it has any."""
        for last in sorted({min(wanted), max(wanted)} - {key}) or [key]:
            log(f"{what}: carrying key {key}'s {what} to frame {last}")
            for frame, correction in walker(key, last):
                if frame != key and frame % 25 == 0:
                    log(f"{what}: key {key}'s {what} carried to frame {frame}")
                if frame in wanted:
                    self._save(index, frame, correction)

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
        """Frame ``frame``'s correction, ``(H, W, 3)`` float32 in the model's working encoding."""
        return sum(weight * np.load(self._path(index, frame)).astype(np.float32)
                   for index, weight in key_weights(frame, self.key_frames))

    def close(self) -> None:
        self._scratch.cleanup()
