"""A plate's optical flow by the backend :class:`~.settings.FlowSettings` picks: OpenCV's DIS medium
on the CPU (:func:`.flow.compute_flow`, one pair at a time; ``auto``), or the torch DIS
(:mod:`.flow_torch`) on the work's device, pairs batched, forward and backward in one call.
Both give flows in :mod:`.flow`'s convention (pixels, x right, y down)."""
from __future__ import annotations

import os
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np
import torch

from ..image import Image, read_frame
from ..sequence import SequencePattern
from .flow import VECTOR_CHANNELS, compute_flow, image_vectors, own_vectors, vectors_check
from .flow_torch import dis_flows
from .settings import FlowSettings

FlowPair = tuple[np.ndarray, np.ndarray]
# (frame, its neighbour frame +-1) -> (flow frame -> neighbour, flow neighbour -> frame)
NeighbourFlows = Callable[[int, int], FlowPair]
# Pairs per torch call at 2K: its working memory grows with pairs x area, about 2.7 GB a 2K pair
# (peak resident growth on the CPU: 0.17 GB at 512x270, 0.68 GB at 1024x540), mostly the refinement's
# per-pixel terms when run eagerly.
_PAIRS_PER_CALL_2K = 2


def pairs_per_call(height: int, width: int) -> int:
    """Frame pairs the torch DIS takes in one batch at this size (2 at 2K, 1 at 4K)."""
    return max(1, int(_PAIRS_PER_CALL_2K * 2048 * 1080 / (height * width)))


def device_flow_pairs(firsts: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
    """Torch DIS of ``n`` pairs already on the device: ``(n, 2, 2, H, W)`` float32 holding, per
    pair, flow first -> second then second -> first. ``firsts``, ``seconds``: ``(n, C, H, W)``
    sRGB-encoded 0-1 views."""
    step = pairs_per_call(*firsts.shape[-2:])
    out = []
    for lo in range(0, firsts.shape[0], step):
        fw, bw = dis_flows(firsts[lo:lo + step], seconds[lo:lo + step])
        out.append(torch.stack([fw, bw], 1))
    return torch.cat(out)


def flow_pairs(firsts: Sequence[np.ndarray], seconds: Sequence[np.ndarray], device: object = None,
               settings: FlowSettings = FlowSettings()) -> list[FlowPair]:
    """Per pair ``(flow a -> b, flow b -> a)`` as ``(H, W, 2)`` float32 arrays, for ``(H, W, 3)``
    sRGB-encoded 0-1 views ``a`` of ``firsts`` and ``b`` of ``seconds``, by the backend ``settings``
    picks (the torch DIS runs on ``device``; None: the CPU)."""
    if len(firsts) != len(seconds):
        raise ValueError(f"{len(firsts)} first frames but {len(seconds)} second frames")
    if settings.resolve() == "opencv":
        return [(compute_flow(a, b), compute_flow(b, a)) for a, b in zip(firsts, seconds)]
    target = torch.device("cpu" if device is None else device)

    def upload(views: Sequence[np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack([np.asarray(v, np.float32).transpose(2, 0, 1) for v in views])).to(target)

    both = device_flow_pairs(upload(firsts), upload(seconds)).permute(0, 1, 3, 4, 2).cpu().numpy()
    return [(pair[0], pair[1]) for pair in both]


def both_flows(a: np.ndarray, b: np.ndarray, device: object = None, settings: FlowSettings = FlowSettings()) -> FlowPair:
    """``(flow a -> b, flow b -> a)`` of one pair (see :func:`flow_pairs`)."""
    return flow_pairs([a], [b], device, settings)[0]


@lru_cache(maxsize=3)
def _frame_as_stamped(path: str, stamp: tuple[int, int]) -> Image:
    return read_frame(path)


def plate_frame(path: str) -> Image:
    """:func:`~..image.read_frame` of ``path``, the last three kept while their files are unchanged
    (same modification time and size): a walk views a frame and reads its motion vectors with one read."""
    try:
        status = os.stat(path)
    except OSError:
        return read_frame(path)  # (which names what is wrong)
    return _frame_as_stamped(path, (status.st_mtime_ns, status.st_size))


def neighbour_motion(plate: SequencePattern, vectors: str, view: Callable[[int], np.ndarray],
                    device: object = None) -> NeighbourFlows:
    """The plate's motion between neighbouring frames: by DIS optical flow of ``view`` (frame ->
    ``(H, W, 3)`` sRGB-encoded 0-1 view; :func:`both_flows`, the torch DIS on ``device``) for
    ``vectors`` ``"dis"``, else from the plate files' own motion vectors (``"blender"``, ``"nuke"``:
    :func:`~.flow.image_vectors`; each file read once for a walk, its vectors checked finite)."""
    if vectors not in VECTOR_CHANNELS:
        return lambda frame, other: both_flows(view(frame), view(other), device)
    check = vectors_check(vectors)

    @lru_cache(maxsize=2)
    def own(frame: int) -> FlowPair:  # (flow frame -> frame + 1, flow frame -> frame - 1)
        image = plate_frame(plate.path(frame))
        if check:
            check(image)
        return image_vectors(image, vectors)

    def pair(frame: int, other: int) -> FlowPair:
        if abs(other - frame) != 1:
            raise ValueError(f"frames {frame} and {other} are not neighbours")
        towards = int(other < frame)  # own()'s index of the direction frame -> other
        return own(frame)[towards], own(other)[1 - towards]
    return pair


def resolve_vectors(vectors: str, plate_frame: str) -> str:
    """``vectors`` as asked, or for ``auto`` those the plate's frame ``plate_frame`` (a path) carries
    (:func:`~.flow.own_vectors`: ``blender``, ``nuke``, else ``dis``)."""
    return own_vectors(read_frame(plate_frame)) if vectors == "auto" else vectors
