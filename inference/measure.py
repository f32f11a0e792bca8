"""``restyle metrics``: temporal stability and style fidelity of an output sequence.

Everything is measured on the sRGB view of the frames (display-encoded, 0-1), as in the
literature: E_warp of the output next to the plate's own E_warp (both with the plate's
flow), and, with per-frame style references, PSNR, SSIM and the texture distance (SWD).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import colour, metrics
from .progress import Progress
from .sequence import SequencePattern, format_frame_range
from .sequence_io import read_sequence
from .temporal.deflicker import vector_flows

VIEW = "sRGB - Texture"


def srgb_views(pattern: SequencePattern, frames: list[int], space: str | None,
               threads: int | None = None) -> list[np.ndarray]:
    """The frames' colour as sRGB-encoded 0-1 RGB (clipped), in frame order."""
    space = colour.resolve_colourspace(space or colour.default_colourspace(pattern.printf))
    return [np.clip(colour.convert(image.beauty(alpha=False).as_float32(), space, VIEW), 0, 1)
            for _, image in read_sequence(pattern, frames, threads=threads)]


def measure(output: SequencePattern, plate: SequencePattern, frames: list[int], *,
            reference: SequencePattern | None = None, output_space: str | None = None,
            plate_space: str | None = None, reference_space: str | None = None, vectors: str = "dis",
            threads: int | None = None, progress_mode: str = "text") -> dict[str, Any]:
    """Figures for ``output`` over ``frames`` (see module docstring).

    ``vectors``: ``dis`` measures the plate's motion by optical flow; ``blender`` / ``nuke``
    take it from the plate's own motion vectors (Vector pass / forward-backward layers).
    """
    progress = Progress("metrics", 3 if reference else 2, progress_mode)
    plate_views = srgb_views(plate, frames, plate_space, threads)
    output_views = srgb_views(output, frames, output_space, threads)
    if vectors == "dis":
        flows = metrics.plate_flows(plate_views)
    else:
        pairs = vector_flows([image for _, image in read_sequence(plate, frames, threads=threads)], vectors)
        flows = [(backward, forward) for forward, backward in pairs]  # metrics wants (t -> t-1, t-1 -> t)
    progress.advance(message="plate flow")
    result: dict[str, Any] = {
        "output": output.printf, "plate": plate.printf, "frames": format_frame_range(frames),
        "measured_on": "sRGB view, 0-1",
        "flow": "OpenCV DIS (medium) on the plate" if vectors == "dis" else f"the plate's {vectors} motion vectors",
        "e_warp": metrics.e_warp(output_views, plate_views, flows)["e_warp"],
        "plate_e_warp": metrics.e_warp(plate_views, plate_views, flows)["e_warp"],
    }
    result["e_warp_ratio_to_plate"] = result["e_warp"] / max(result["plate_e_warp"], 1e-12)
    progress.advance(message="E_warp")
    if reference:
        refs = srgb_views(reference, frames, reference_space, threads)
        result.update({
            "reference": reference.printf,
            "psnr_db": float(np.mean([metrics.psnr(o, r) for o, r in zip(output_views, refs)])),
            "ssim": float(np.mean([metrics.ssim(o, r) for o, r in zip(output_views, refs)])),
            "swd": metrics.sliced_wasserstein(output_views, refs),
        })
        progress.advance(message="fidelity")
    return result
