"""``restyle render``: one streaming pass over a shot, plate -> Restyle -> Deflicker -> ColourLock -> frames.

The engine API the Nuke plug-in and farm tasks call for a frame range. The range is processed in
chunks; each chunk reads only the frames its stages need (the deflicker's and the colour lock's
handles around it), so the frames in memory are bounded by the chunk size, not the shot length,
and a chunk's frames equal a whole-shot pass (every stage has finite temporal support). Looks
restyled for one chunk's handles are kept for the next. Frames stay in the model's working
encoding between stages and return to the output colourspace once; with the torch backend they
also stay on its device (GPU) from the plate's upload to the output's download (``DeviceFrames``),
otherwise they travel as numpy frames through OCIO's CPU processor (``HostFrames``). Every frame
is written atomically as its chunk finishes, so an interrupted render leaves only complete frames.
"""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np
import PyOpenColorIO as ocio
import torch

from . import colour, colour_torch
from .colourlock.apply import HoldRecord, lock_frames, lock_tensors
from .colourlock.delta_e import preload_colour_science
from .colourlock.fit import smoothing_radius
from .colourlock.lock import LockTarget, fit_transforms, qc_entries, qc_report, write_report
from .colourlock.settings import HoldSettings
from .devices import resolve_device
from .errors import RestyleError, UsageError
from .image import Image, exr_codec, read_frame, use_exr_coder
from .progress import Progress
from .render_settings import RenderSettings
from .restyle.apply import carry_detail, default_batch, restyle_images, restyle_tensors
from .restyle.detail import WalkedFromKeys, resolve_detail
from .restyle.model_file import RestyleModel, sha256_file
from .restyle.settings import DetailSettings, RuntimeSettings
from .restyle.warm import backend_for, checked_model
from .sequence import SequencePattern
from .sequence_io import SequenceWriter, check_frames_exist, default_threads, ensure_writable_folder, read_sequence
from .temporal.deflicker import deflicker_frames
from .temporal.deflicker_device import deflicker_tensors
from .temporal.flow import vectors_check
from .temporal.plate_flow import resolve_vectors
from .temporal.settings import DeflickerSettings
from .tensors import DevicePlates, to_device, to_host
from .workers import map_frames


def _span(first: int, last: int, handles: int, present: set[int]) -> list[int]:
    """``first..last`` widened by ``handles`` to frames that exist (the shot's ends clip it)."""
    return [f for f in range(first - handles, last + handles + 1) if first <= f <= last or f in present]


class HostFrames:
    """Stage hand-over on the host: numpy ``(H, W, 3)`` frames, OCIO's CPU processor, frames
    converted on every core (the path for onnxruntime and the CPU)."""

    def __init__(self, device: str):
        self.device = device

    def looks(self, model: RestyleModel, runner, pending: list[tuple[int, Image]], plate_space: str,
              tile: int | None, batch: int, log, detail: WalkedFromKeys | None = None) -> list[np.ndarray]:
        looks = restyle_images(model, runner, pending, plate_space, tile, batch, log)
        if detail:
            looks = [look + detail(frame) for (frame, _), look in zip(pending, looks)]
        encoding = model.meta["encoding"]
        return map_frames(lambda look: colour.convert(look, encoding, colour.WORKING_ENCODING), looks)

    def settle(self, looks: list[np.ndarray], plates: list[Image], plate_space: str, targets: list[int],
               numbers: list[int], stage: DeflickerSettings) -> list[np.ndarray]:
        linear = colour.resolve_colourspace(ocio.ROLE_SCENE_LINEAR)
        rgb = map_frames(lambda x: colour.convert(x, colour.WORKING_ENCODING, linear), looks)
        settled = deflicker_frames(rgb, plates, plate_space, targets, numbers, replace(stage, device=self.device))
        return map_frames(lambda t: colour.convert(settled[t], linear, colour.WORKING_ENCODING), targets)

    def lock(self, frames: list[np.ndarray], transforms: list, swatches, hold: HoldSettings
             ) -> tuple[list[np.ndarray], HoldRecord]:
        return lock_frames(frames, transforms, swatches, colour.WORKING_ENCODING, hold, self.device)

    def output(self, frames: list[np.ndarray], out_space: str, half: bool = False) -> list[np.ndarray]:
        dtype = np.float16 if half else np.float32
        return map_frames(lambda x: colour.convert(x, colour.WORKING_ENCODING, out_space).astype(dtype), frames)


class DeviceFrames:
    """Stage hand-over on the torch backend's device: ``(3, H, W)`` tensors (half between
    stages) stay there from the plate's upload to the output's download; plates already copied
    there (``uploaded``) are used as they are."""

    def __init__(self, device, uploaded: DevicePlates | None = None):
        self.device, self.uploaded = device, uploaded

    def looks(self, model: RestyleModel, runner, pending: list[tuple[int, Image]], plate_space: str,
              tile: int | None, batch: int, log, detail: WalkedFromKeys | None = None) -> list:
        looks = restyle_tensors(model, runner, pending, plate_space, log, self.uploaded)
        if detail:
            looks += to_device([detail(frame) for frame, _ in pending], looks.device)
        return list(colour_torch.convert(looks, model.meta["encoding"], colour.WORKING_ENCODING).half())

    def settle(self, looks: list, plates: list[Image], plate_space: str, targets: list[int], numbers: list[int],
               stage: DeflickerSettings) -> list:
        settled = deflicker_tensors(looks, colour.WORKING_ENCODING, plates, plate_space, targets, numbers, stage,
                                    uploaded=self.uploaded)
        return list(settled)

    def lock(self, frames: list, transforms: list, swatches, hold: HoldSettings) -> tuple[list, HoldRecord]:
        """The locked frames, half (float32 working memory for one frame, not for the chunk)."""
        return lock_tensors(frames, transforms, swatches, colour.WORKING_ENCODING, hold, dtype=torch.float16)

    def output(self, frames: list, out_space: str, half: bool = False) -> list[np.ndarray]:
        """The frames in ``out_space`` on the host, float32 or, for a half EXR, half (converted
        on the device: half the bytes to download) and planar (the EXR writer's layout), a few
        at a time."""
        step, dtype = _frames_per_batch(frames[0]), torch.float16 if half else torch.float32
        return [x for i in range(0, len(frames), step) for x in to_host(
            colour_torch.convert(torch.stack(frames[i:i + step]), colour.WORKING_ENCODING, out_space), dtype,
            planar=half)]


def frames_stay_on_device(runner, tile: int | None) -> bool:
    """Whether a render hands its frames between stages on the backend's device
    (:class:`DeviceFrames`: untiled torch, or onnxruntime on a GPU) or as numpy frames on the host
    (:class:`HostFrames`): the one place this is decided."""
    return getattr(runner, "keeps_frames_on_device", False) and not tile


def _frames_per_batch(frame) -> int:
    """Frames converted together on the device: 8 at 2048x1080, 2 at 3840x2160."""
    return max(1, 8 * 2048 * 1080 // (frame.shape[-2] * frame.shape[-1]))


class _RestyledPlates:
    """The render's plates read ahead and restyled: each look (working encoding) with its plate
    image, kept while later chunks need them.

    One reader decodes every frame the render needs, in order, ahead of the restyle, so the next
    chunk's plates are being read while this chunk's later stages run (``close`` stops it). With
    the frames on a device, the reading threads also copy each plate there (``DevicePlates``),
    kept until its chunks are done, for ``held`` frames (a chunk with its handles) at most.
    """

    def __init__(self, model: RestyleModel, plate: SequencePattern, needed: list[int], plate_space: str,
                 runtime: RuntimeSettings, threads: int | None, held: int, vectors: str, log):
        self.model = model
        self.runner = backend_for(self.model, runtime, log)
        self.plate_space, self.batch, self.tile, self.log = plate_space, runtime.batch, runtime.tile, log
        threads = threads or default_threads()
        self.vectors_check = vectors_check(vectors)
        check: Callable[[Image], None] | None = self.vectors_check
        if frames_stay_on_device(self.runner, self.tile):
            coder = use_exr_coder(device=str(self.runner.device))
            if torch.device(self.runner.device).type == "cuda":
                log(f"EXR ZIP coder: {coder}")
            self.uploaded = DevicePlates(self.runner.device, held + 2 * threads)  # + the frames read ahead
            self.hand_over: HostFrames | DeviceFrames = DeviceFrames(self.runner.device, self.uploaded)
            check = self._check_and_upload
        else:
            self.uploaded, self.hand_over = None, HostFrames(resolve_device(runtime.device))
        self.reader = read_sequence(plate, needed, check=check, threads=threads, prefetch=2 * threads)
        self.frames: dict[int, tuple[Image, Any]] = {}
        self.detail: WalkedFromKeys | None = None

    def carry_detail(self, plate: SequencePattern, needed: list[int], detail: DetailSettings) -> None:
        """Add the keys' brushwork (:mod:`.restyle.detail` or, with ``texture``,
        :mod:`.restyle.texture`) to every look from now on."""
        self.detail = carry_detail(self.model, self.runner, plate, self.plate_space, needed, detail, self.tile, self.log)

    def get(self, frames: list[int]) -> dict[int, tuple[Image, Any]]:
        for frame in [f for f in self.frames if f < frames[0]]:
            if self.uploaded is not None:
                self.uploaded.drop(self.frames[frame][0])
            del self.frames[frame]
        wanted = {f for f in frames if f not in self.frames}
        pending: list[tuple[int, Image]] = []
        while wanted:
            frame, image = next(self.reader)
            pending.append((frame, image))
            wanted.discard(frame)
            size = self.batch or default_batch(*image.size)
            if len(pending) >= size or not wanted:
                looks = self.hand_over.looks(self.model, self.runner, pending, self.plate_space, self.tile, size,
                                             self.log, self.detail)
                for (done, plate), look in zip(pending, looks):
                    self.frames[done] = (plate, look)
                pending = []
        return {f: self.frames[f] for f in frames}

    def _check_and_upload(self, image: Image) -> None:
        """On a reading thread: the plate's motion vectors, when they guide the deflicker, must be
        finite (its colour is checked as it is read); then its copy goes to the device."""
        if self.vectors_check:
            self.vectors_check(image)
        self.uploaded.add(image)

    def close(self) -> None:
        self.reader.close()
        if self.detail:
            self.detail.close()


def _settle(looks: dict[int, tuple[Image, Any]], keep: list[int], stage: DeflickerSettings, plate_space: str,
            hand_over) -> dict[int, Any]:
    """The deflicker for the frames in ``keep`` (sorted), over them and their handles in ``looks``."""
    if not keep:
        return {}
    frames = [f for f in sorted(looks) if keep[0] - stage.context <= f <= keep[-1] + stage.context]
    settled = hand_over.settle([looks[f][1] for f in frames], [looks[f][0] for f in frames], plate_space,
                               [frames.index(f) for f in keep], frames, stage)
    return dict(zip(keep, settled))


class StageClock:
    """Wall seconds spent in each stage of a render (the profile ``restyle bench`` reports) and,
    on a CUDA device, the peak device memory allocated during each (torch's peak counter is reset
    as each stage starts; :meth:`peak_gb` adds the render's overall peak)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.peaks: dict[str, int] = defaultdict(int)
        self.cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
        self.peak = torch.cuda.max_memory_allocated() if self.cuda else 0

    @contextmanager
    def __call__(self, stage: str):
        start = time.perf_counter()
        self.cuda = self.cuda or (torch.cuda.is_available() and torch.cuda.is_initialized())
        if self.cuda:
            self.peak = max(self.peak, torch.cuda.max_memory_allocated())
            torch.cuda.reset_peak_memory_stats()
        try:
            with torch.profiler.record_function(f"stage:{stage}"):  # the stage's range in a torch profile
                yield
        finally:
            self.seconds[stage] += time.perf_counter() - start
            if self.cuda:
                self.peaks[stage] = max(self.peaks[stage], torch.cuda.max_memory_allocated())

    def summary(self) -> dict[str, float]:
        return {stage: round(seconds, 3) for stage, seconds in self.seconds.items()}

    def peak_gb(self) -> dict[str, float]:
        """Per stage and ``overall``, the peak device memory in GB (empty off CUDA)."""
        if not self.cuda:
            return {}
        overall = max([self.peak, torch.cuda.max_memory_allocated(), *self.peaks.values()])
        peaks = {**self.peaks, "overall": overall}
        return {stage: round(peak / 1e9, 3) for stage, peak in peaks.items()}


def kept_frame(path: str, size: tuple[int, int]) -> bool:
    """Whether a frame already in the output can be kept on resume: it decodes and has the plate's
    size (a truncated file, a stub or a frame of another render is redone)."""
    if not Path(path).is_file():
        return False
    try:
        return read_frame(path).size == size
    except RestyleError:
        return False


class Chunk(NamedTuple):
    """One chunk of a render: its frames, those to write, the frames the colour lock fits over
    (with its handles) and the frames to restyle (with the deflicker's handles too)."""

    frames: list[int]
    todo: list[int]
    locked: list[int]
    restyled: list[int]


def plan_chunks(frames: list[int], chunk: int, done: Callable[[int], bool], lock_handles: int, settle_handles: int,
                present: set[int], first: int | None = None) -> list[Chunk]:
    """``frames`` in chunks of ``chunk``, the first one of ``first`` (default: ``chunk``) frames;
    frames ``done`` are not written again (a chunk with all its frames done restyles nothing)."""
    plan = []
    head = min(first or chunk, chunk)
    for start in [0, *range(head, len(frames), chunk)] if frames else []:
        part = frames[start:start + (head if start == 0 else chunk)]
        todo = [f for f in part if not done(f)]
        locked = _span(part[0], part[-1], lock_handles, present) if todo else []
        plan.append(Chunk(part, todo, locked, _span(locked[0], locked[-1], settle_handles, present) if todo else []))
    return plan


def render_shot(model_path: str, plate: SequencePattern, frames: list[int], out: SequencePattern,
                settings: RenderSettings = RenderSettings(), *, plate_space: str | None = None,
                out_space: str | None = None, threads: int | None = None, progress_mode: str = "text") -> dict[str, Any]:
    """Restyle ``frames`` of ``plate``, then deflicker and colour-lock them if ``settings`` ask, into ``out``.

    ``settings.skip_existing`` keeps frames already in ``out`` that decode at the plate's size (resuming a
    killed render: writes are atomic, but a frame copied in by hand or cut short elsewhere is redone)
    and computes only chunks with missing or bad frames; a
    chunk's frames do not depend on which of them are missing, so a resumed shot equals an
    uninterrupted one. ``settings.detail``: the keyframes' brushwork, as ``restyle run --detail``/``--texture``
    (:func:`~.restyle.detail.resolve_detail`). Returns a summary: frames
    written, wall seconds of the whole render (``seconds``, from loading the model to the last
    write), the CPU seconds this process spent on every core meanwhile (``cpu_seconds``: how much
    host work the render is, next to the wall time) and per stage (``stages``:
    read + restyle, deflicker, colour lock, output conversion, waiting for writes), on CUDA the
    peak device memory per stage and overall (``stage_peak_gpu_gb``) and, with
    ``colourlock``, its QC report (also written as JSON/HTML into ``colourlock.report``; it
    covers the chunks computed).
    """
    started, cpu_started = time.perf_counter(), time.process_time()
    frames = sorted(set(frames))
    deflicker, colourlock, compression = settings.deflicker, settings.colourlock, settings.compression
    if compression and out.extension != "exr":
        raise UsageError(f"--compression is for EXR output; {out} is .{out.extension}")
    exr_codec(compression or "zip", "--compression")
    progress = Progress("render", len(frames), progress_mode)
    check_frames_exist(plate, frames)
    model = checked_model(model_path)
    detail = resolve_detail(model, settings.detail, plate.path(frames[0]))
    if deflicker:
        deflicker = replace(deflicker, vectors=resolve_vectors(deflicker.vectors, plate.path(frames[0])))
    plate_space = colour.file_colourspace(plate.path(frames[0]), plate_space, model.meta.get("plate_colourspace"))
    out_space = colour.resolve_colourspace(out_space or colour.output_colourspace(out.printf, plate_space))
    target = LockTarget(colourlock.reference, colourlock.reference_colourspace, colourlock.swatches) if colourlock else None
    if colourlock:
        ensure_writable_folder(Path(colourlock.report))
        preload_colour_science()  # its QC's first use, otherwise about a second inside the first chunk
    lock_handles = smoothing_radius(colourlock.sigma) if colourlock else 0
    size = read_frame(plate.path(frames[0])).size if settings.skip_existing else None
    chunks = plan_chunks(frames, max(1, settings.chunk), lambda f: size is not None and kept_frame(out.path(f), size),
                   lock_handles, deflicker.context if deflicker else 0, set(plate.existing_frames()),
                   max(1, settings.first_chunk))
    needed = sorted({f for chunk in chunks for f in chunk.restyled})
    looks = _RestyledPlates(model, plate, needed, plate_space, settings.runtime, threads,
                   max((len(chunk.restyled) for chunk in chunks), default=0),
                   deflicker.vectors if deflicker else DeflickerSettings.vectors, progress.note)
    stamp = {"restyle:model": sha256_file(model_path)[:16]}
    qc, checked = [], []
    carried: dict[int, Any] = {}  # deflickered frames a chunk computed for its handles, which the next one uses
    clock = StageClock()
    try:
        if (detail.px or detail.texture) and needed:
            looks.carry_detail(plate, needed, detail)
        with SequenceWriter(out, compression=compression, colourspace=out_space, threads=threads) as writer:
            for part, todo, locked_span, span in chunks:
                if not todo:
                    progress.advance(len(part), message="already rendered")
                    continue
                with clock("read+restyle"):
                    chunk_looks = looks.get(span)
                if target:
                    target.check_size(chunk_looks[part[0]][0].size, plate.path(part[0]))
                with clock("deflicker"):
                    working = {f: x for f, x in carried.items() if f in locked_span}
                    fresh = [f for f in locked_span if f not in working]
                    working.update(_settle(chunk_looks, fresh, deflicker, plate_space, looks.hand_over) if deflicker
                                   else {f: chunk_looks[f][1] for f in fresh})
                result = [working[f] for f in part]
                if colourlock:
                    with clock("colourlock"):
                        with torch.profiler.record_function("stage:colourlock/fit"):
                            transforms = fit_transforms(working, target, colourlock)
                        result, holds = looks.hand_over.lock(result, [transforms[f] for f in part], target.swatches,
                                                             colourlock.hold)
                        qc.append(qc_entries([working[f] for f in part], result, target, holds, colourlock.hold))
                    checked.extend(part)
                with clock("output"):
                    rgb = looks.hand_over.output([x for f, x in zip(part, result) if f in todo], out_space,
                                                 half=out.extension == "exr")
                    finished = map_frames(lambda item: chunk_looks[item[0]][0].with_rgb(item[1], stamp, True),
                                          zip(todo, rgb))
                    for frame, image in zip(todo, finished):
                        writer.write(frame, image)
                carried = {f: x for f, x in working.items() if f > part[-1] - lock_handles}  # next chunk's handles
                del working, result  # before the next chunk's are made
                progress.advance(len(part))
            with clock("write (wait)"):
                writer.close()
    finally:
        looks.close()
    summary: dict[str, Any] = {"frames": sorted(writer.written), "seconds": round(time.perf_counter() - started, 3),
                               "cpu_seconds": round(time.process_time() - cpu_started, 3), "stages": clock.summary()}
    if clock.cuda:
        summary["stage_peak_gpu_gb"] = clock.peak_gb()
    if colourlock and qc and target:
        summary["report"] = qc_report(plate.printf, colourlock.reference, checked, colourlock.method, colourlock.sigma,
                                      colourlock.lut, colourlock.hold, qc,
                                      {"plate_colourspace": plate_space, "reference_colourspace": target.space,
                                       "out_colourspace": out_space}, check_only=False)
        write_report(Path(colourlock.report), summary["report"], checked)
    return summary
