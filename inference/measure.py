"""``restyle metrics``: temporal stability and style fidelity of an output sequence.

Everything is measured on the sRGB view of the frames (display-encoded, 0-1), as in the
literature: E_warp of the output next to the plate's own E_warp (both with the plate's
flow, by two algorithms by default, or the plate's own vectors), and, with per-frame style references, PSNR, SSIM and the texture distance (SWD).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import colour, metrics
from .errors import UsageError
from .progress import Progress
from .sequence import SequencePattern, format_frame_range
from .sequence_io import read_sequence
from .temporal.deflicker import vector_flows
from .temporal.flow import vectors_check

VIEW = colour.SRGB_VIEW
DEFAULT_VECTORS = "dis,farneback"


def srgb_views(pattern: SequencePattern, frames: list[int], space: str | None,
               threads: int | None = None) -> list[np.ndarray]:
    """The frames' colour as sRGB-encoded 0-1 RGB (clipped), in frame order."""
    space = colour.file_colourspace(pattern.path(frames[0]), space)
    return [np.clip(colour.convert(image.beauty(alpha=False).as_float32(), space, VIEW), 0, 1)
            for _, image in read_sequence(pattern, frames, threads=threads)]


FLOW_NAMES = {"dis": "OpenCV DIS (medium) on the plate", "farneback": "OpenCV Farneback on the plate",
              "blender": "the plate's Blender Vector pass", "nuke": "the plate's Nuke forward/backward vectors"}


def flows_of(method: str, plate: SequencePattern, frames: list[int], views: list[np.ndarray],
             threads: int | None) -> list[metrics.FlowPair]:
    """The plate's (t -> t-1, t-1 -> t) flows by ``method`` (an optical flow, or its own vectors)."""
    if method in ("blender", "nuke"):
        plates = read_sequence(plate, frames, check=vectors_check(method), threads=threads)
        pairs = vector_flows([image for _, image in plates], method)
        return [(backward, forward) for forward, backward in pairs]  # metrics wants (t -> t-1, t-1 -> t)
    return metrics.plate_flows(views, method)


def parse_vectors(text: str) -> list[str]:
    """A comma list of plate-motion sources (see FLOW_NAMES), checked."""
    methods = [m.strip() for m in text.split(",") if m.strip()]
    unknown = [m for m in methods if m not in FLOW_NAMES]
    if not methods or unknown:
        raise UsageError(f"--vectors {text!r}: give a comma list of {', '.join(FLOW_NAMES)}")
    return methods


def flicker_per_frame(frames: list[int], ours: list[float], own: list[float]) -> dict[str, list]:
    """E_warp of each frame against the one before (frames[1:]), the plate's, and their ratio: where
    the output pops more than the plate moves."""
    return {"frames": frames[1:], "e_warp": ours, "plate_e_warp": own,
            "ratio_to_plate": [a / max(b, 1e-12) for a, b in zip(ours, own)]}


def write_flicker_curve(path: str, figures: dict[str, Any]) -> None:
    """A small PNG graph of the per-frame flicker ratio to the plate, by each flow measured."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 2.5))
    for method, entry in figures["e_warp_by_flow"].items():
        axes.plot(entry["per_frame"]["frames"], entry["per_frame"]["ratio_to_plate"], ".-", label=method)
    axes.axhline(1.0, color="grey", lw=0.8)
    axes.set_xlabel("frame (against the one before)"), axes.set_ylabel("E_warp / plate's")
    axes.set_title("flicker of the result, per frame", fontsize=9)
    axes.legend(fontsize=7), axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def measure_sequence(output: SequencePattern, plate: SequencePattern, frames: list[int], *,
            reference: SequencePattern | None = None, output_space: str | None = None,
            plate_space: str | None = None, reference_space: str | None = None, vectors: str = DEFAULT_VECTORS,
            threads: int | None = None, progress_mode: str = "text") -> dict[str, Any]:
    """Figures for ``output`` over ``frames`` (see module docstring).

    ``vectors``: comma list of the plate-motion sources E_warp is measured with, each reported
    under ``e_warp_by_flow``; the first also as ``e_warp``. ``dis`` / ``farneback``: optical flow
    of the plate; ``blender`` / ``nuke``: the plate's own motion vectors (Vector pass /
    forward-backward layers). A method that moves pixels along one flow is judged with another.
    """
    methods = parse_vectors(vectors)
    progress = Progress("metrics", len(methods) + (2 if reference else 1), progress_mode)
    plate_views = srgb_views(plate, frames, plate_space, threads)
    output_views = srgb_views(output, frames, output_space, threads)
    progress.advance(message="read")
    by_flow = {}
    for method in methods:
        flows = flows_of(method, plate, frames, plate_views, threads)
        ours, own = (metrics.e_warp(views, plate_views, flows) for views in (output_views, plate_views))
        by_flow[method] = {"flow": FLOW_NAMES[method], "e_warp": ours["e_warp"], "plate_e_warp": own["e_warp"],
                           "e_warp_ratio_to_plate": ours["e_warp"] / max(own["e_warp"], 1e-12),
                           "per_frame": flicker_per_frame(frames, ours["per_frame"], own["per_frame"])}
        progress.advance(message=f"E_warp ({method})")
    first = by_flow[methods[0]]
    result: dict[str, Any] = {
        "output": output.printf, "plate": plate.printf, "frames": format_frame_range(frames),
        "measured_on": "sRGB view, 0-1", "flow": first["flow"], "e_warp": first["e_warp"],
        "plate_e_warp": first["plate_e_warp"], "e_warp_ratio_to_plate": first["e_warp_ratio_to_plate"],
        "e_warp_by_flow": by_flow,
    }
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
