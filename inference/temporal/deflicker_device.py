"""The deflicker with the frames held on the compute device (the GPU path of ``deflicker_frames``
and of ``restyle render``): global statistics, colour conversions and the local pass run where
the frames are; only the plates (guides, vectors) are uploaded, a window of targets at a time,
so device memory depends on the frame size, not on how many frames a chunk holds."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import PyOpenColorIO as ocio
import torch

from .. import colour, colour_torch
from ..image import Image
from ..tensors import DevicePlates, to_host, upload_channels, upload_small
from . import global_deflicker, local_deflicker
from .flow import VECTOR_CHANNELS
from .local_deflicker_torch import DEFAULT_BATCH, deflicker_stacked_torch
from .plate_flow import device_flow_pairs
from .settings import DeflickerSettings, FlowSettings

VIEW = colour.SRGB_VIEW  # the local pass's encoding (as the numpy path's)


def window_sizes(height: int, width: int) -> tuple[int, int]:
    """(targets per local-pass batch, targets per uploaded window) for a frame size:
    8 and 16 at 2K, 1 and 4 at 4K (the local pass's working memory grows with the square of
    the frame area per batch: measured 13.8 GB peak at 2K with 8)."""
    scale = max(1.0, height * width / (2048 * 1080))
    batch = max(1, int(DEFAULT_BATCH / scale ** 2))
    return batch, max(batch, int(16 / scale))


def _global_correction(frames: Sequence[torch.Tensor], space: str, linear: str, numbers: list[int], radius: int,
                       strength: float) -> global_deflicker.Correction:
    """:func:`global_deflicker.correct_frames`'s statistics (scene-linear mean and spread per
    channel) computed on the device, one download for the chunk."""
    stats = []
    for frame in frames:  # one at a time: no second copy of the chunk in float32
        flat = colour_torch.convert(frame, space, linear).reshape(3, -1).double()
        stats.append(torch.stack([flat.mean(1), flat.std(1, unbiased=False)]))
    means, stds = torch.stack(stats).cpu().numpy().transpose(1, 0, 2)
    return global_deflicker.fit_correction(numbers, means, stds, radius, "gain", strength)




class _Guides:
    """The plates' beauty and flows on the device as stored (half stays half: the window's plate
    views are converted from them as it is built, and the flows are exact in half), each frame
    uploaded once (none that ``uploaded`` already holds) and dropped once the windows have passed
    it: a window of targets reuses its neighbours'."""

    def __init__(self, plates: Sequence[Image], guide_space: str, vectors: str, device,
                 uploaded: DevicePlates | None = None, flow: FlowSettings = FlowSettings()):
        self.plates, self.guide_space, self.vectors, self.device = plates, guide_space, vectors, device
        self.flow = flow
        self.uploaded = uploaded
        self.beauty: dict[int, torch.Tensor] = {}  # frame -> (3, H, W)
        self.flows: dict[int, torch.Tensor] = {}  # frame -> (2 [t->t+1, t->t-1], 2, H, W), or pair k for DIS
        self.layers = [] if vectors == "dis" else VECTOR_CHANNELS[vectors]
        # (2 directions, 2 components) sign flips, on the device once (exact in any float type)
        self.signs = torch.tensor([s for *_, s in self.layers], device=device).view(1, 2, 2, 1, 1) if self.layers else None

    def _upload(self, frames: list[int]) -> None:
        picks = [lambda im: im.beauty_channels(alpha=False)] + [
            lambda im, layer=layer, channels=channels: im.layer_channels(layer, channels)
            for layer, channels, _ in self.layers]
        beauty, *directions = upload_channels([self.plates[i] for i in frames], picks, self.device, self.uploaded,
                                              dtype=None)
        self.beauty.update(zip(frames, beauty))
        if directions:
            self.flows.update(zip(frames, torch.stack(directions, 1) * self.signs.to(directions[0].dtype)))

    def _measure(self, pairs: list[int], lo: int, views: torch.Tensor) -> None:
        """DIS flows of the pairs ``k, k+1`` (views ``k - lo`` on) by the flow backend chosen:
        OpenCV's on the host, or the torch DIS where the views are, batched."""
        if not pairs:
            return
        if self.flow.resolve() == "torch":
            index = torch.tensor(pairs, device=views.device) - lo
            self.flows.update(zip(pairs, device_flow_pairs(views[index], views[index + 1])))
            return
        hosts = [to_host(views[k - lo:k - lo + 2]) for k in pairs]
        for k, pair in zip(pairs, local_deflicker.pair_flows(hosts)):  # the pairs at once, on the frame pool
            self.flows[k] = torch.from_numpy(np.stack(pair)).to(self.device).permute(0, 3, 1, 2)

    def window(self, lo: int, hi: int, views: torch.Tensor) -> torch.Tensor:
        """Plate views of frames lo..hi-1 written into ``views`` ``(n, 3, H, W)``; returns their
        flow pairs ``(n - 1, 2, 2, H, W)`` in the plates' float type (float32 for DIS)."""
        for cache in (self.beauty, self.flows):
            for index in [i for i in cache if i < lo]:
                del cache[index]
        missing = [i for i in range(lo, hi) if i not in self.beauty]
        if missing:
            self._upload(missing)
        for j, i in enumerate(range(lo, hi)):  # a frame at a time: no float32 copy of the window's plates
            views[j] = colour_torch.convert(self.beauty[i][None].float(), self.guide_space, VIEW).clamp(0, 1)[0]
        if self.vectors == "dis":
            self._measure([k for k in range(lo, hi - 1) if k not in self.flows], lo, views)
            return torch.stack([self.flows[k] for k in range(lo, hi - 1)])
        pairs = self.flows[lo].new_empty((hi - lo - 1, 2, 2, *views.shape[-2:]))
        for j, k in enumerate(range(lo, hi - 1)):
            pairs[j, 0], pairs[j, 1] = self.flows[k][0], self.flows[k + 1][1]
        return pairs


def deflicker_tensors(frames: torch.Tensor | Sequence[torch.Tensor], space: str, plates: Sequence[Image],
                      guide_space: str, targets: list[int], frame_numbers: list[int], settings: DeflickerSettings, *,
                      grade_nk: str | None = None, window: int | None = None,
                      uploaded: DevicePlates | None = None) -> torch.Tensor:
    """Deflicker ``(N, 3, H, W)`` frames (or N ``(3, H, W)`` tensors, never stacked whole) in
    colourspace ``space`` (the targets and their handles) guided by the ``plates`` (in
    ``guide_space``); returns the ``targets`` in ``space``, in the frames' dtype (computed in
    float32).

    As :func:`inference.temporal.deflicker.deflicker_frames`: ``global`` in scene-linear,
    ``local`` on the sRGB view, ``both`` one then the other. ``window`` overrides the targets
    uploaded together (see :func:`window_sizes`); plates with a copy in ``uploaded`` are not
    uploaded again.
    """
    linear = colour.resolve_colourspace(ocio.ROLE_SCENE_LINEAR)
    mode, strength, radius, vectors = settings.mode, settings.strength, settings.radius, settings.vectors
    frames = list(frames)  # views of a stacked batch: no copy
    dtype, device = frames[0].dtype, frames[0].device
    correction = None
    if mode in ("global", "both"):
        with torch.profiler.record_function("stage:deflicker/global"):
            correction = _global_correction(frames, space, linear, frame_numbers, radius, strength)
        if grade_nk:
            global_deflicker.write_grade_nk(grade_nk, correction, keep=[frame_numbers[t] for t in targets])
    gain = None if correction is None else upload_small(correction.multiply, device)[:, :, None, None]

    def corrected(lo: int, hi: int) -> torch.Tensor:
        x = colour_torch.convert(torch.stack(frames[lo:hi]), space, linear)
        return x * gain[lo:hi] if gain is not None else x

    if mode == "global":
        return torch.cat([colour_torch.convert(corrected(t, t + 1), linear, space).to(dtype) for t in targets])
    batch, size = window_sizes(*frames[0].shape[-2:])
    guides = _Guides(plates, guide_space, vectors, device, uploaded, settings.flow)
    out = []
    for start in range(0, len(targets), window or size):
        part = targets[start:start + (window or size)]
        lo, hi = max(0, min(part) - radius), min(len(frames), max(part) + radius + 1)
        # plate views (0:3) and frames (3:6) of the window in the local pass's layout, no other copy
        stack = torch.empty((hi - lo, 6, *frames[0].shape[-2:]), dtype=torch.float32, device=device)
        for j in range(hi - lo):  # a frame at a time: no float32 copies of the window on the way
            stack[j, 3:] = colour_torch.convert(corrected(lo + j, lo + j + 1), linear, VIEW).clamp(0, 1)[0]
        with torch.profiler.record_function("stage:deflicker/plates"):
            flows = guides.window(lo, hi, stack[:, :3])
        with torch.profiler.record_function("stage:deflicker/local"):
            settled = deflicker_stacked_torch(stack, flows, radius=radius, strength=strength,
                                              targets=[t - lo for t in part], batch=batch)
        del stack, flows  # before the next window's are built
        out.append(colour_torch.convert(settled, VIEW, space).to(dtype))
    return torch.cat(out)
