"""Apply a trained look to a frame range (``restyle run`` and the engine API for Nuke/farm).

Frames are padded to the model's size multiple, optionally cut into overlapping tiles (the
overlap exceeds the network's receptive field and tiles sit on the size-multiple grid, so a
tiled frame equals an untiled one), run in batches, blended between keyframes, taken back to
the output colourspace and written atomically as they finish.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .. import colour, colour_torch
from ..devices import resolve_device
from ..errors import GpuMemoryError
from ..image import UNPREMULT_MIN_ALPHA, Image, read_frame
from ..progress import Progress
from ..sequence import SequencePattern
from ..sequence_io import SequenceWriter, check_frames_exist, read_sequence
from ..temporal.flow import VECTOR_CHANNELS
from ..temporal.plate_flow import neighbour_motion
from ..tensors import DevicePlates, to_device, upload_channels, upload_small
from ..workers import map_frames
from . import guides as guide_mod
from .backends import Backend, TorchBackend
from .detail import WalkedFromKeys, key_paintings, key_residuals, plate_view, resolve_detail, walk
from .keys import key_weights
from .model_file import RestyleModel, sha256_file
from .settings import DetailSettings, RuntimeSettings
from .texture import TextureSettings, walk_texture
from .torchscript import smooth, smoothing_kernel
from .warm import backend_for, checked_model


def pad_to_multiple(x: np.ndarray, multiple: int) -> np.ndarray:
    """(C, H, W) padded at the bottom/right by reflection to multiples of ``multiple``."""
    _, h, w = x.shape
    ph, pw = (-h) % multiple, (-w) % multiple
    return np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="reflect") if ph or pw else x


def tile_grid(height: int, width: int, tile: int, margin: int, multiple: int) -> Iterator[tuple[slice, slice, slice, slice]]:
    """(read rows, read cols, keep rows within read, keep cols within read) for each tile.

    Tiles are ``tile`` square (rounded to ``multiple``); each is read with ``margin`` extra on
    every side (clipped at the frame) and only its centre is kept.
    """
    tile = max(multiple, tile // multiple * multiple)
    for y in range(0, height, tile):
        for x in range(0, width, tile):
            y0, x0 = max(0, y - margin), max(0, x - margin)
            y1, x1 = min(height, y + tile + margin), min(width, x + tile + margin)
            keep_h, keep_w = min(tile, height - y), min(tile, width - x)
            yield (slice(y0, y1), slice(x0, x1), slice(y - y0, y - y0 + keep_h), slice(x - x0, x - x0 + keep_w))


def infer(backend: Backend, inputs: list[np.ndarray], multiple: int, margin: int,
          tile: int | None = None, batch: int = 4) -> list[np.ndarray]:
    """Run (C, H, W) inputs of one size; returns (3, H, W) outputs, tiled when ``tile`` is set."""
    _, height, width = inputs[0].shape
    padded = [pad_to_multiple(x, multiple) for x in inputs]
    if not tile or tile >= max(padded[0].shape[1:]):
        outs = [o for i in range(0, len(padded), batch) for o in backend.run(np.stack(padded[i:i + batch]))]
        return [o[:, :height, :width] for o in outs]
    results = []
    for x in padded:
        out = np.zeros((3, *x.shape[1:]), np.float32)
        for rows, cols, keep_r, keep_c in tile_grid(*x.shape[1:], tile, margin, multiple):
            piece = backend.run(x[None, :, rows, cols])[0]
            out[:, rows, cols][:, keep_r, keep_c] = piece[:, keep_r, keep_c]
        results.append(out[:, :height, :width])
    return results


MIN_TILE = 128  # smallest tile the out-of-memory fallback goes down to


def is_out_of_memory(exc: BaseException) -> bool:
    """A GPU allocation failure, from torch or onnxruntime (whose errors only say so in words)."""
    import torch

    text = str(exc).lower()
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in text or "failed to allocate memory" in text


def infer_within_memory(backend: Backend, inputs: list[np.ndarray], multiple: int, margin: int,
                        tile: int | None, batch: int, log: Callable[[str], None]) -> list[np.ndarray]:
    """:func:`infer`, and when the GPU runs out of memory, again with half the batch, then with
    tiles half the size (tiled results equal untiled ones), saying so each time."""
    while True:
        try:
            return infer(backend, inputs, multiple, margin, tile, batch)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled; the rest re-raised
            if not is_out_of_memory(exc):
                raise
            side = tile or max(inputs[0].shape[1:])
            if batch > 1:
                batch //= 2
            elif side // 2 >= MIN_TILE:
                tile = side // 2
            else:
                raise GpuMemoryError(f"GPU out of memory even for one {side}px tile at a time; free GPU memory "
                                     "(other jobs on this GPU?) or run with --device cpu") from None
            _release_gpu_cache()
            log(f"GPU out of memory: retrying with batch {batch}, tile {tile or 'off'}")


def _release_gpu_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def restyle_images(model: RestyleModel, backend: Backend, frames: list[tuple[int, Image]], plate_space: str,
                   tile: int | None = None, batch: int = 4,
                   log: Callable[[str], None] = lambda _: None) -> list[np.ndarray]:
    """Plate frames -> (H, W, 3) looks in the model's working encoding, run ``batch`` at a time."""
    meta = model.meta
    bases = map_frames(lambda item: guide_mod.build_input(item[1], plate_space, meta["encoding"], model.guides,
                                                          meta["depth_scale"], meta.get("input_smoothing", 0.0)), frames)
    inputs, owners = [], []
    for index, ((frame, _), base) in enumerate(zip(frames, bases)):
        for key, weight in key_weights(frame, model.key_frames):
            planes = guide_mod.key_planes(base.shape[:2], len(model.key_frames), key)
            inputs.append(np.concatenate([base, planes], -1).transpose(2, 0, 1))
            owners.append((index, weight))
    outs = infer_within_memory(backend, inputs, meta["size_multiple"], meta["receptive_margin"], tile, batch, log)
    looks: list[np.ndarray] = [np.zeros_like(outs[0]) for _ in frames]
    for (index, weight), out in zip(owners, outs):
        looks[index] += weight * out
    return [look.transpose(1, 2, 0) for look in looks]


def restyle_tensors(model: RestyleModel, runner: TorchBackend, frames: list[tuple[int, Image]], plate_space: str,
                    log: Callable[[str], None] = lambda _: None, uploaded: DevicePlates | None = None
                    ) -> torch.Tensor:
    """:func:`restyle_images` with the input built, run and blended where the network runs:
    ``(B, 3, H, W)`` float32 looks in the model's working encoding on the runner's device.

    Only the plate's colour (and guide planes) travel to the device (none that ``uploaded``
    already holds); the colour conversion, smoothing, padding and keyframe blending happen
    there. Out of GPU memory, the batch goes through :func:`restyle_images` (smaller batches,
    then tiles) instead.
    """
    meta = model.meta
    device, n_keys = runner.device, len(model.key_frames)
    try:
        plates = upload_channels([image for _, image in frames], [lambda im: im.beauty_channels(alpha=False)], device,
                                 uploaded)
        rgb = colour_torch.convert(_unpremultiplied(plates[0], [image for _, image in frames]), plate_space,
                                   meta["encoding"])
        planes = [smooth(rgb, upload_small(smoothing_kernel(float(meta.get("input_smoothing", 0.0))).numpy(), device))]
        if model.guides:
            planes.append(to_device([np.concatenate(guide_mod.guide_planes(im, model.guides, meta["depth_scale"]), -1)
                                     for _, im in frames], device))
        base = torch.cat(planes, 1)
        height, width = base.shape[-2:]
        inputs, owners = [], []
        for index, (frame, _) in enumerate(frames):
            for key, weight in key_weights(frame, model.key_frames):
                one_hot = torch.zeros(n_keys if n_keys > 1 else 0, height, width, device=device)
                if n_keys > 1:
                    one_hot[key] = 1.0
                inputs.append(torch.cat([base[index], one_hot]))
                owners.append((index, weight))
        multiple = meta["size_multiple"]
        padded = F.pad(torch.stack(inputs), [0, (-width) % multiple, 0, (-height) % multiple], mode="reflect")
        outs = runner.run_tensor(padded)[:, :, :height, :width].float()
    except Exception as exc:  # noqa: BLE001 - only out-of-memory is handled; the rest re-raised
        if not is_out_of_memory(exc):
            raise
        _release_gpu_cache()
        log("GPU out of memory building a batch on the GPU: running it in smaller pieces")
        looks = restyle_images(model, runner, frames, plate_space, None, max(1, len(frames) // 2), log)
        return to_device(looks, device)
    looks = torch.zeros(len(frames), 3, height, width, device=device)
    for (index, weight), out in zip(owners, outs):
        looks[index] += weight * out
    return looks


def _unpremultiplied(rgb: torch.Tensor, images: list[Image]) -> torch.Tensor:
    """``(N, 3, H, W)`` plate colour divided by each frame's alpha where it is not (nearly) 0 (frames
    without alpha, or with one of zeros, as they are): :meth:`~inference.image.Image.straight_rgb`
    where the network runs."""
    alphas = [image.alpha_plane() for image in images]
    if all(a is None for a in alphas):
        return rgb
    ones = np.ones(rgb.shape[-2:], np.float32)
    alpha = to_device([(ones if a is None else a)[..., None] for a in alphas], rgb.device)
    return rgb / torch.where(alpha >= UNPREMULT_MIN_ALPHA, alpha, torch.ones_like(alpha))


def carry_detail(model: RestyleModel, backend: Backend, plate: SequencePattern, plate_space: str, frames: list[int],
                 detail: DetailSettings, tile: int | None = None,
                 log: Callable[[str], None] = lambda _: None) -> WalkedFromKeys:
    """The keys' brushwork brought to ``frames``, against this ``backend``'s look of each frame;
    close it when done. ``detail`` (resolved: :func:`~.detail.resolve_detail`): with ``texture``,
    the keys' patches synthesised onto every frame (:mod:`.texture`); otherwise their detail finer
    than ``px`` carried along the plate's flow (:mod:`.detail`)."""
    keys, key_space, sigma = dict(detail.keys or {}), detail.key_space, detail.px
    def look(frame: int) -> np.ndarray:
        return restyle_images(model, backend, [(frame, read_frame(plate.path(frame)))], plate_space, tile, 1, log)[0]

    view = plate_view(plate, plate_space)
    if detail.texture:
        paintings, device = key_paintings(model, keys, key_space), torch.device(resolve_device("auto"))
        settings = TextureSettings()
        return WalkedFromKeys(model.key_frames, frames, lambda key, last: walk_texture(
            view, look, key, paintings[key], last, settings, device), log, "texture")
    residuals = key_residuals(model, keys, key_space, look)
    motion = "optical flow" if detail.vectors not in VECTOR_CHANNELS else f"own {detail.vectors} motion vectors"
    log(f"keys' brushwork finer than {sigma:g} px carried along the plate's {motion} (--detail {sigma:g}; 0 turns it off)")
    device = getattr(backend, "device", None)  # the runner's: the walk (and FlowSettings' torch DIS) runs there
    flows = neighbour_motion(plate, detail.vectors, view, device)
    return WalkedFromKeys(model.key_frames, frames,
                          lambda key, last: walk(view, flows, key, residuals[key], last, sigma, device), log)


def default_batch(width: int, height: int) -> int:
    """Frames per batch: 4 up to 2K (about 3 GB in fp16), 1 above (4K: about 3 GB)."""
    return 4 if width * height <= 2048 * 1152 else 1


def restyle_sequence(model_path: str, plate: SequencePattern, frames: list[int], out: SequencePattern,
                     runtime: RuntimeSettings = RuntimeSettings(), detail: DetailSettings = DetailSettings(), *,
                     plate_space: str | None = None, out_space: str | None = None, threads: int | None = None,
                     progress_mode: str = "text") -> list[int]:
    """Restyle ``frames`` of the ``plate`` files into ``out`` files (EXR half by default); returns frames written.

    Callable per frame range from Nuke (as a child process) or a farm task. Output channels:
    R, G, B in ``out_space`` (default: :func:`colour.output_colourspace` of the plate's, so EXR is
    scene-linear), recorded in each file, premultiplied by the plate's alpha, and that alpha (the
    network restyles the plate's unpremultiplied colour).
    ``detail.px`` > 0 adds the keyframes' brushwork finer than that many pixels, carried along the
    plate's motion (:mod:`.detail`; None: :func:`~.detail.resolve_detail`'s default, on when the keys'
    paintings are at hand); ``detail.texture`` rebuilds every frame from the keys' own patches
    (:mod:`.texture`); either needs the keys' paintings: carried in the model, else its painted
    ``detail.keys``.
    """
    progress = Progress("run", len(frames), progress_mode)
    log = progress.note
    model = checked_model(model_path)
    plate_space = colour.file_colourspace(plate.path(frames[0]), plate_space, model.meta.get("plate_colourspace"))
    out_space = colour.resolve_colourspace(out_space or colour.output_colourspace(out.printf, plate_space))
    check_frames_exist(plate, frames)
    detail = resolve_detail(model, detail, plate.path(frames[0]))
    runner = backend_for(model, runtime, log)
    log(f"model {model_path}: keys {model.key_frames}, guides {model.guides or 'none'}; backend {runner.name} {runner.dtype}")
    stamp = {"restyle:model": sha256_file(model_path)[:16]}
    tile, batch = runtime.tile, runtime.batch
    carried = carry_detail(model, runner, plate, plate_space, frames, detail, tile, log) if detail.px or detail.texture \
        else None
    pending: list[tuple[int, Image]] = []

    def flush() -> None:
        size = batch or default_batch(*pending[0][1].size)
        for (frame, image), look in zip(pending, restyle_images(model, runner, pending, plate_space, tile, size, log)):
            if carried:
                look = look + carried(frame)
            writer.write(frame, image.with_rgb(colour.convert(look, model.meta["encoding"], out_space), stamp,
                                               premultiply=True))
            progress.advance()
        pending.clear()

    try:
        with SequenceWriter(out, colourspace=out_space, threads=threads) as writer:
            for frame, image in read_sequence(plate, frames, threads=threads):
                pending.append((frame, image))
                if len(pending) >= (batch or default_batch(*image.size)):
                    flush()
            if pending:
                flush()
    finally:
        if carried:
            carried.close()
    return sorted(writer.written)

