"""``restyle deflicker``: settle the flicker of a restyled sequence, guided by the plate.

Modes: ``global`` (per-frame colour statistics smoothed over time, in the OCIO config's
scene_linear space, also exportable as a native Nuke Grade), ``local`` (motion-compensated,
gradient-domain consistency along the plate's motion, on the sRGB view) or ``both``
(global, then local). Each pass uses only frames within ``radius``, so a chunk rendered with handles of
``radius`` (one pass) or ``2 * radius`` (``both``; the defaults) equals a whole-shot render.
Motion comes from the plate by optical flow (OpenCV DIS), or from the plate's own motion
vectors: Blender's Vector pass or Nuke's forward/backward layers.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import numpy as np
import PyOpenColorIO as ocio

from .. import colour
from ..devices import resolve_device
from ..errors import UsageError
from ..image import Image
from ..progress import Progress
from ..sequence import SequencePattern
from ..sequence_io import SequenceWriter, check_frames_exist, read_sequence
from ..workers import map_frames
from . import global_deflicker, local_deflicker
from .deflicker_device import VIEW
from .flow import image_vectors, vectors_check
from .plate_flow import resolve_vectors
from .settings import DeflickerSettings


def context_frames(frames: list[int], handles: int, *patterns: SequencePattern) -> list[int]:
    """``frames`` widened by ``handles`` each side, limited to frames present in every pattern.

    Frames past the shot's ends simply do not exist; a frame missing inside the requested
    range is still an error (raised by the reader).
    """
    wanted = range(min(frames) - handles, max(frames) + handles + 1)
    present = set(wanted)
    for pattern in patterns:
        present &= set(pattern.existing_frames())
    return [f for f in wanted if f in present or min(frames) <= f <= max(frames)]


def vector_flows(images: Sequence[Image], kind: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Consecutive (t -> t+1, t+1 -> t) flows from the plate's own motion vectors."""
    forward, backward = zip(*(image_vectors(image, kind) for image in images))
    return local_deflicker.neighbour_flows_from_vectors(forward, backward)


def deflicker_frames(rgb: list[np.ndarray], plates: Sequence[Image], guide_space: str,
                     targets: list[int], frame_numbers: list[int], settings: DeflickerSettings, *,
                     grade_nk: str | None = None, progress: Progress | None = None) -> dict[int, np.ndarray]:
    """Deflicker in memory: scene-linear frames ``rgb`` (the targets and their handles) guided by
    the ``plates`` (in ``guide_space``; their motion vectors too); returns {target index:
    scene-linear frame}. ``frame_numbers`` name the frames (grade curves)."""
    linear = colour.resolve_colourspace(ocio.ROLE_SCENE_LINEAR)
    mode, strength, radius, vectors = settings.mode, settings.strength, settings.radius, settings.vectors
    if resolve_device(settings.device) == "cuda":
        from ..tensors import to_device, to_host
        from .deflicker_device import deflicker_tensors

        settled = deflicker_tensors(to_device(rgb, "cuda"), linear, plates, guide_space, targets, frame_numbers,
                                    settings, grade_nk=grade_nk)
        if progress:
            progress.advance(len(targets))
        return dict(zip(targets, to_host(settled)))
    if mode in ("global", "both"):
        rgb, correction = global_deflicker.correct_frames(rgb, frame_numbers, radius=radius, strength=strength)
        if grade_nk:
            global_deflicker.write_grade_nk(grade_nk, correction, keep=[frame_numbers[t] for t in targets])
    if mode not in ("local", "both"):
        return {t: rgb[t] for t in targets}
    step = (lambda _: progress.advance()) if progress else None
    views = map_frames(lambda x: np.clip(colour.convert(x, linear, VIEW), 0, 1), rgb)
    plate_views = map_frames(lambda p: np.clip(colour.convert(p.beauty(alpha=False).as_float32(), guide_space, VIEW),
                                               0, 1), plates)
    flows = vector_flows(plates, vectors) if vectors != "dis" else None
    views = local_deflicker.deflicker_local(views, plate_views, flows=flows, radius=radius, strength=strength,
                                            targets=targets, progress=step)
    return dict(zip(targets, map_frames(lambda v: colour.convert(v, VIEW, linear), views)))


def deflicker_sequence(source: SequencePattern, guide: SequencePattern, frames: list[int], out: SequencePattern,
                       settings: DeflickerSettings = DeflickerSettings(), *, source_space: str | None = None,
                       guide_space: str | None = None, grade_nk: str | None = None, threads: int | None = None,
                       progress_mode: str = "text") -> list[int]:
    """Deflicker ``frames`` of ``source`` into ``out``; returns the frames written.

    Colourspaces: the input's and the guide's are the flags', else what their frames record, else
    the default by file type; the output's is :func:`colour.output_colourspace` of the input's,
    recorded in each file. ``settings.device``: ``cpu`` runs the numpy/OpenCV path, ``cuda`` the torch port on the GPU (same
    results to ~1e-7), ``auto`` the GPU when torch sees one.
    """
    settings.check()
    if grade_nk and settings.mode == "local":
        raise UsageError("--grade-nk exports the global correction; use --mode global or both")
    linear = colour.resolve_colourspace(ocio.ROLE_SCENE_LINEAR)
    source_space = colour.file_colourspace(source.path(frames[0]), source_space)
    guide_space = colour.file_colourspace(guide.path(frames[0]), guide_space)
    out_space = colour.output_colourspace(out.printf, source_space)
    check_frames_exist(source, frames)
    check_frames_exist(guide, frames)
    settings = replace(settings, vectors=resolve_vectors(settings.vectors, guide.path(frames[0])))
    context = context_frames(frames, settings.context, source, guide)
    progress = Progress("deflicker", (2 if settings.mode != "global" else 1) * len(frames) + 1, progress_mode)
    images = [image for _, image in read_sequence(source, context, threads=threads)]
    plates = [image for _, image in read_sequence(guide, context, check=vectors_check(settings.vectors), threads=threads)]
    progress.advance(message=f"read {len(context)} frames ({len(context) - len(frames)} handles)")
    rgb = [colour.convert(im.beauty(alpha=False).as_float32(), source_space, linear) for im in images]
    targets = [context.index(f) for f in frames]
    rgb = deflicker_frames(rgb, plates, guide_space, targets, context, settings, grade_nk=grade_nk, progress=progress)
    with SequenceWriter(out, colourspace=out_space, threads=threads) as writer:
        for frame in frames:
            index = context.index(frame)
            result = colour.convert(rgb[index], linear, out_space)
            writer.write(frame, images[index].with_rgb(result))
            progress.advance()
    return sorted(writer.written)

