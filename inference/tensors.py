"""Frames between numpy ``(H, W, C)`` (files, OCIO's CPU path) and torch ``(C, H, W)`` (GPU stages)."""
from __future__ import annotations

import threading
from typing import Callable, Sequence

import numpy as np
import torch

from .image import Image


def to_device(frames: Sequence[np.ndarray], device: str | torch.device) -> torch.Tensor:
    """``(N, C, H, W)`` float32 on ``device`` from N ``(H, W, C)`` arrays (half frames travel as
    half and are widened there)."""
    batch = torch.from_numpy(np.stack([np.asarray(f) for f in frames])).to(device)
    return batch.permute(0, 3, 1, 2).float().contiguous()


def upload_small(array: np.ndarray, device: str | torch.device) -> torch.Tensor:
    """A small host array (parameters, constants) on ``device`` without waiting for it: on CUDA
    staged in pinned memory and copied asynchronously, since a copy from pageable memory waits
    until every queued kernel has run and leaves the device idle while the host goes on."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    if torch.device(device).type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def to_host(frames: torch.Tensor, dtype: torch.dtype = torch.float32, planar: bool = False) -> list[np.ndarray]:
    """N ``(H, W, C)`` arrays of ``dtype`` (default float32) from ``(N, C, H, W)`` (laid out and
    converted on the device, copied once: from a GPU into pinned memory, several times faster
    than into pageable memory and without the host copying it through a staging buffer).
    ``planar``: each array a transposed view of its ``(C, H, W)`` planes, as
    :class:`~inference.image.Image` holds EXR frames (for frames bound for an EXR file;
    OpenColorIO's CPU path wants them interleaved)."""
    laid_out = (frames if planar else frames.permute(0, 2, 3, 1)).to(dtype).contiguous()
    if laid_out.is_cuda:
        host = torch.empty(laid_out.shape, dtype=dtype, pin_memory=True)  # from torch's pinned-memory cache
        host.copy_(laid_out, non_blocking=True)
        torch.cuda.current_stream(laid_out.device).synchronize()
    else:
        host = laid_out.cpu()
    pixels = host.numpy()
    return list(pixels.transpose(0, 2, 3, 1) if planar else pixels)


# Device memory a render may spend on plate copies kept for its stages: at most a tenth of the
# device's and 6 GB. A 2K chunk's 90 or so plates (half beauty, depth, vectors; reading ahead
# included) take about 3.6 GB, so they are kept on an 80 GB card; at 4K they would take 14 GB, so
# there (and on small cards) each stage uploads the plates it uses.
DEVICE_PLATE_BUDGET = 6 << 30


def plate_budget(device: str | torch.device) -> int:
    """Bytes of plate copies a render may keep on ``device`` (see ``DEVICE_PLATE_BUDGET``)."""
    device = torch.device(device)
    if device.type != "cuda":
        return DEVICE_PLATE_BUDGET
    return min(DEVICE_PLATE_BUDGET, torch.cuda.get_device_properties(device).total_memory // 10)


class DevicePlates:
    """Plates copied to the device by the threads that read them and kept until dropped.

    ``add`` runs on a reading thread (each its own CUDA stream) and returns once the copy is
    complete, so the render's own thread neither waits for uploads nor makes any: the restyle
    and the deflicker pick their channels from the same device copy (:func:`upload_channels`).
    When ``held`` plates of an image's size would pass ``budget`` bytes (default
    :func:`plate_budget`), or the device runs out of memory, a plate is not copied and the stages
    upload it where they use it instead.
    """

    def __init__(self, device: str | torch.device, held: int = 1, budget: int | None = None):
        self.device, self.held = torch.device(device), held
        self.budget = plate_budget(self.device) if budget is None else budget
        self._copies: dict[int, tuple[Image, torch.Tensor]] = {}
        self._lock = threading.Lock()
        self._streams = threading.local()

    def add(self, image: Image) -> None:
        """Copy ``image``'s pixels (every channel, as stored) to the device, within the budget."""
        if image.pixels.nbytes * self.held > self.budget:
            return
        try:
            pixels = self._copy(image.pixels)
        except torch.OutOfMemoryError:  # the stages upload it when they use it
            return
        with self._lock:
            self._copies[id(image)] = (image, pixels)

    def _copy(self, pixels: np.ndarray) -> torch.Tensor:
        if self.device.type != "cuda":
            return torch.tensor(pixels, device=self.device)  # a copy, as on a GPU
        stream = getattr(self._streams, "stream", None) or torch.cuda.Stream(self.device)
        self._streams.stream = stream
        with torch.cuda.stream(stream):
            copy = torch.from_numpy(pixels).to(self.device, non_blocking=True)
        stream.synchronize()
        return copy

    def get(self, image: Image) -> torch.Tensor | None:
        """``image``'s ``(H, W, C)`` device copy, or None if it has none."""
        with self._lock:
            entry = self._copies.get(id(image))
        if entry is None:
            return None
        if self.device.type == "cuda":  # used on this thread's stream: its memory waits for that work
            entry[1].record_stream(torch.cuda.current_stream(self.device))
        return entry[1]

    def drop(self, image: Image) -> None:
        """Forget ``image``'s device copy (its memory returns to torch's cache)."""
        with self._lock:
            self._copies.pop(id(image), None)

    def __len__(self) -> int:
        return len(self._copies)


def upload_channels(images: Sequence[Image], picks: Sequence[Callable[[Image], Sequence[str]]],
                    device: str | torch.device, uploaded: DevicePlates | None = None,
                    dtype: torch.dtype | None = torch.float32) -> list[torch.Tensor]:
    """Per ``pick`` (channel names of an image, e.g. ``lambda im: im.beauty_channels(False)``) an
    ``(N, k, H, W)`` tensor on ``device``, of ``dtype`` (None: as stored). Each image's pixels
    travel once, as stored (half stays half), and the channels are picked there: no host copy
    per channel set, and one gather of plane views per pick (indexing with a list would send
    the list to the device and wait for its queue). Images with a copy in ``uploaded`` are not
    uploaded again."""
    groups: list[list[torch.Tensor]] = [[] for _ in picks]
    for image in images:
        copy = uploaded.get(image) if uploaded is not None else None
        full = (copy if copy is not None else torch.from_numpy(image.pixels).to(device)).permute(2, 0, 1)
        for group, pick in zip(groups, picks):
            group.extend(full[image.channels.index(name)] for name in pick(image))
    out = [torch.stack(group).view(len(images), -1, *group[0].shape) for group in groups]
    return out if dtype is None else [x.to(dtype) for x in out]
