"""``restyle colourlock``: lock a sequence's colour to a reference and brand swatches.

Frames are fitted toward the reference in the working encoding (sRGB-encoded Rec.709):
one affine colour transform per frame (MKL distribution transfer by default), smoothed over
time so the correction cannot flicker; brand swatches are then held on their targets. The
per-frame global transform is also written as a ``.cube`` per frame (for Nuke's
OCIOFileTransform; it applies in the working encoding) with ``colourlock.ocio``, an OCIO
Look that wraps them in that encoding (for OCIOLookTransform on scene-linear frames); a LUT
cannot hold a region, so these leave the holds out, and the report says so. A QC report (JSON +
HTML with a plot) gives ΔE2000 per swatch and frame before the lock, after it and after the hold,
what the hold did not force (:mod:`.qc`), and pass/fail. Check-only mode writes the report and
no frames.
"""
from __future__ import annotations

import html
import json
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import colour
from ..devices import resolve_device
from ..errors import UsageError
from ..image import read_frame
from ..progress import Progress
from ..sequence import SequencePattern, format_frame_range
from ..sequence_io import SequenceWriter, check_frames_exist, ensure_writable_folder, read_sequence
from ..workers import map_frames
from . import qc
from .apply import HoldRecord, lock_frames
from .delta_e import LINEAR_REC709, delta_e_2000, srgb_to_lab
from .fit import (
    MKL_EPS,
    fit_mkl_sequence,
    fit_sequence,
    fit_sequence_luts,
    fit_stride,
    pixel_gaussian,
    smoothing_radius,
)
from .lut import FRAME_VARIABLE, Lut3D, ocio_look_snippet, sample_transform, write_cube
from .settings import ColourLockSettings, HoldSettings
from .swatches import Swatch, load_swatches

WORKING = colour.WORKING_ENCODING


def mean_rgb(frame) -> np.ndarray:
    """Mean colour of a numpy ``(H, W, 3)`` frame (a matrix product: 10x faster than numpy's row
    reduction)."""
    rows = np.ascontiguousarray(frame[..., :3], dtype=np.float32).reshape(-1, 3)
    return (np.ones(len(rows), np.float32) @ rows).astype(np.float64) / len(rows)


def mean_rgbs(frames: list) -> list[np.ndarray]:
    """Mean colours of numpy ``(H, W, 3)`` frames (on the frame pool) or ``(3, H, W)`` tensors
    (computed where they are, one download for all)."""
    if not frames or isinstance(frames[0], np.ndarray):
        return map_frames(mean_rgb, frames)
    return list(torch.stack([torch.mean(f[:3].reshape(3, -1), 1, dtype=torch.float64) for f in frames]).cpu().numpy())


def palette_delta_e(mean: np.ndarray, reference_mean: np.ndarray) -> float:
    """ΔE2000 between two mean colours (a frame's and the reference's: overall palette drift)."""
    labs = [srgb_to_lab(np.clip(m, 0, 1).astype(np.float32)[None, None], WORKING)[0, 0] for m in (mean, reference_mean)]
    return float(delta_e_2000(labs[0], labs[1]))


class LockTarget:
    """What frames are locked to: the reference (in the working encoding) and its swatches."""

    def __init__(self, reference_path: str, reference_space: str | None = None, swatches_path: str | None = None):
        self.space = space = colour.file_colourspace(reference_path, reference_space)
        image = read_frame(reference_path)
        self.path, self.size = str(reference_path), image.size
        self.rgb = colour.convert(image.beauty(alpha=False).as_float32(), space, WORKING)
        self.mean = mean_rgb(self.rgb)
        self.gaussian = pixel_gaussian(self.rgb, seed=1)  # what an MKL fit maps each frame's onto
        self.swatches: list[Swatch] = load_swatches(swatches_path, image.size) if swatches_path else []

    def check_size(self, size: tuple[int, int], where: str) -> None:
        if size != self.size:
            raise UsageError(f"reference {self.path} is {self.size[0]}x{self.size[1]} but {where} is "
                             f"{size[0]}x{size[1]}; lock to a frame of this shot's size")


def fit_transforms(working: dict[int, np.ndarray], target: LockTarget, settings: ColourLockSettings) -> dict[int, Any]:
    """Per frame of ``working`` (the frames and their smoothing handles), the smoothed affine,
    or with ``settings.lut`` the smoothed 3D LUT on top of it. Device frames fitted by MKL alone have
    their colour statistics computed where they are (:func:`device_gaussians`)."""
    method, sigma, lut = settings.method, settings.sigma, settings.lut
    context = sorted(working)
    if method == "mkl" and not lut and context and not isinstance(working[context[0]], np.ndarray):
        gaussians = device_gaussians([working[f] for f in context])
        return dict(zip(context, fit_mkl_sequence(gaussians, target.gaussian, sigma, context)))
    frames = fit_views([working[f] for f in context])
    affines = fit_sequence(frames, target.rgb, method, sigma, context)
    if lut:
        return dict(zip(context, fit_sequence_luts(frames, target.rgb, affines, sigma, context, settings.lut_size)))
    return dict(zip(context, affines))


def fit_views(frames: list) -> list[np.ndarray]:
    """The pixels a fit sees: every k-th row and column (:func:`fit_stride`) of numpy
    ``(H, W, 3)`` frames or of ``(3, H, W)`` tensors on a device (downloaded together as
    ``(h, w, 3)``)."""
    if not frames or isinstance(frames[0], np.ndarray):
        return [f[::k, ::k] for f, k in ((f, fit_stride(*f.shape[:2])) for f in frames)]
    k = fit_stride(*frames[0].shape[-2:])
    return list(torch.stack([f[:, ::k, ::k] for f in frames]).permute(0, 2, 3, 1).float().cpu().numpy())


def device_gaussians(frames: list) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`fit.pixel_gaussian` of the fit views of ``(3, H, W)`` device frames, computed
    there in float64 (non-finite pixels left out, as on the host); one download for all."""
    k = fit_stride(*frames[0].shape[-2:])
    px = torch.stack([f[:3, ::k, ::k].reshape(3, -1) for f in frames]).double()  # (N, 3, P)
    finite = torch.isfinite(px).all(1, keepdim=True)
    px = torch.where(finite, px, 0.0)
    count = finite.sum(2, dtype=torch.float64)  # (N, 1)
    mean = px.sum(2) / count
    centred = (px - mean[..., None]) * finite
    cov = centred @ centred.transpose(1, 2) / (count[..., None] - 1).clamp(min=1)
    means, covs, counts = mean.cpu().numpy(), cov.cpu().numpy(), count.cpu().numpy()[:, 0]
    if counts.min() < 4:
        raise ValueError("need at least 4 valid pixels to fit a colour transform")
    return [(m, c + MKL_EPS * np.eye(3)) for m, c in zip(means, covs)]


def qc_entries(before: list, after: list, target: LockTarget, holds: HoldRecord,
               hold: HoldSettings = HoldSettings()) -> dict[str, Any]:
    """Per-frame palette ΔE00 to the reference before and after the lock, the NaN/Inf pixels
    in each locked frame, and the swatches' measures (:func:`qc.swatch_report`).

    Frames are numpy ``(H, W, 3)`` or device ``(3, H, W)`` tensors (downloaded only when there
    are swatches to measure)."""
    def palette(frames: list) -> list[float]:
        return [palette_delta_e(m, target.mean) for m in mean_rgbs(frames)]

    def host(frames: list) -> list[np.ndarray]:
        return [f if isinstance(f, np.ndarray) else f.permute(1, 2, 0).float().cpu().numpy() for f in frames]

    def non_finite(frames: list) -> list[int]:
        """Pixels with a NaN or Inf channel, per frame."""
        if not frames or isinstance(frames[0], np.ndarray):
            return [int(np.count_nonzero(~np.isfinite(f).all(axis=-1))) for f in frames]
        return torch.stack([(~torch.isfinite(f).all(dim=0)).sum() for f in frames]).cpu().tolist()

    swatches = (qc.swatch_report(host(before), host(after), target.swatches, WORKING, holds, hold)
                if target.swatches else [])
    return {"palette_delta_e_before": palette(before), "palette_delta_e_after": palette(after),
            "non_finite_after": non_finite(after), "swatches": swatches}


def merge_qc(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """QC entries of consecutive chunks as one shot's."""
    merged: dict[str, Any] = {key: [v for part in parts for v in part[key]]
                              for key in (*qc.PALETTE_MEASURES, "non_finite_after")}
    merged["swatches"] = qc.merge_swatches([part["swatches"] for part in parts])
    return merged


DELTA_E_SPACE = f"CIE Lab (D65) of the frames converted to {LINEAR_REC709} with the OCIO config"


def qc_report(source: str, reference: str, frames: list[int], method: str, sigma: float, lut: bool,
              hold: HoldSettings, parts: list[dict[str, Any]], spaces: dict[str, str], **extra: Any) -> dict[str, Any]:
    """The QC report of a lock: what was locked to what, how, in which colour (``colour``: the OCIO
    config, ``spaces`` {role: colourspace} of the files, the working encoding and the space ΔE is
    measured in), the merged ΔE entries, the faults found (``failures``, naming frames and
    swatches) and ``passed`` (none found)."""
    report = {"source": source, "reference": str(reference), "frames": format_frame_range(frames),
              "method": method + ("+lut" if lut else ""), "temporal_sigma_frames": sigma, "encoding": WORKING,
              "colour": colour.describe(**spaces, working_encoding=WORKING, delta_e_space=DELTA_E_SPACE),
              "max_hold_tolerances": hold.max_hold, "feather_pixels": hold.feather, **extra, **merge_qc(parts)}
    report["failures"] = qc.failures(report, frames)
    report["passed"] = not report["failures"]
    return report


def colourlock_sequence(source: SequencePattern, frames: list[int], out: SequencePattern | None,
                        settings: ColourLockSettings, *, source_space: str | None = None, threads: int | None = None,
                        progress_mode: str = "text") -> dict[str, Any]:
    """Lock ``frames`` of ``source`` (``out`` None = check only) to ``settings.reference``; returns
    the QC report dict, also written into ``settings.report``.

    ``settings.lut`` adds a 3D LUT fit per frame on top of the affine (non-linear palette shifts;
    working values beyond [0, 2] clamp). ``settings.hold``: how swatches are held, and how far at
    most. ``settings.device`` runs the per-pixel lock with torch on ``cpu``, ``cuda`` or ``auto``.
    """
    device = resolve_device(settings.device)
    reference_path, hold = settings.reference, settings.hold
    source_space = colour.file_colourspace(source.path(frames[0]), source_space)
    out_space = colour.output_colourspace(out.printf, source_space) if out is not None else None
    target = LockTarget(reference_path, settings.reference_colourspace, settings.swatches)
    check_frames_exist(source, frames)
    report_folder = Path(settings.report)
    ensure_writable_folder(report_folder)
    handles = smoothing_radius(settings.sigma)
    present = set(source.existing_frames())
    context = [f for f in range(min(frames) - handles, max(frames) + handles + 1)
               if f in present or min(frames) <= f <= max(frames)]
    progress = Progress("colourlock", len(frames) + 2, progress_mode)
    images = dict(read_sequence(source, context, threads=threads))
    target.check_size(images[frames[0]].size, source.path(frames[0]))
    working = {f: colour.convert(images[f].beauty(alpha=False).as_float32(), source_space, WORKING) for f in context}
    start = time.perf_counter()
    transforms = fit_transforms(working, target, settings)
    fit_seconds = time.perf_counter() - start
    progress.advance(message="fitted")
    locked, holds = lock_frames([working[f] for f in frames], [transforms[f] for f in frames], target.swatches,
                                WORKING, hold, device)
    report = qc_report(source.printf, reference_path, frames, settings.method, settings.sigma, settings.lut, hold,
                       [qc_entries([working[f] for f in frames], locked, target, holds, hold)],
                       {"input_colourspace": source_space, "reference_colourspace": target.space,
                        "out_colourspace": out_space}, check_only=out is None,
                       fit_seconds=round(fit_seconds, 3), device=device)
    if out is not None:
        cube_folder = report_folder / "cube"
        ensure_writable_folder(cube_folder)
        with SequenceWriter(out, colourspace=out_space, threads=threads) as writer:
            for frame, rgb in zip(frames, locked):
                writer.write(frame, images[frame].with_rgb(colour.convert(rgb, WORKING, out_space)))
                transform = transforms[frame]
                cube = transform if isinstance(transform, Lut3D) else sample_transform(transform.apply, settings.lut_size)
                write_cube(cube_folder / f"colourlock.{frame:04d}.cube", cube, title=f"ColourLock frame {frame}")
                progress.advance()
        report["cube"] = str(cube_folder / "colourlock.%04d.cube")
        report["ocio_look"] = str(_write_look(cube_folder))
        report["cube_holds_swatches"] = False
        report["cube_note"] = qc.CUBE_NOTE
    write_report(report_folder, report, frames)
    progress.advance(message="report written")
    return report


def _write_look(cube_folder: Path) -> Path:
    """``colourlock.ocio``: the per-frame cubes as an OCIO Look, ready to paste into a show config."""
    path = cube_folder / "colourlock.ocio"
    path.write_text(f"# Paste under the show config's 'looks:' and add {cube_folder} to its search_path.\n"
                    f"# Apply with OCIOLookTransform; context variable {FRAME_VARIABLE} = [format %04d [frame]].\n"
                    + "".join(f"# {line}\n" for line in textwrap.wrap(qc.CUBE_NOTE, 96))
                    + ocio_look_snippet(f"colourlock.${FRAME_VARIABLE}.cube", WORKING))
    return path


def write_report(folder: Path, report: dict[str, Any], frames: list[int]) -> None:
    """report.json (NaN/Inf written as null), report.html (the faults, then per swatch and frame
    ΔE00 before the lock, after it and after the hold) and the ΔE plot delta_e.png in ``folder``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 3.5))
    axes.plot(frames, report["palette_delta_e_before"], "--", label="palette before")
    axes.plot(frames, report["palette_delta_e_after"], label="palette after")
    for entry in report["swatches"]:
        axes.plot(frames, entry["before"], "--", label=f"{entry['name']} before")
        axes.plot(frames, entry["after_lock"], ":", label=f"{entry['name']} after lock")
        axes.plot(frames, entry["after"], label=f"{entry['name']} after hold (tol {entry['tolerance']:g})")
    axes.set_xlabel("frame"), axes.set_ylabel("ΔE2000"), axes.legend(fontsize=7), axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(folder / "delta_e.png", dpi=100)
    plt.close(figure)
    (folder / "report.json").write_text(json.dumps(qc.json_safe(report), indent=2, allow_nan=False) + "\n")
    (folder / "report.html").write_text(_report_html(report, frames))


def _worst(values: list[float]) -> float:
    """The largest value, or NaN when any is not finite (``max`` would hide it)."""
    return max(values, default=0.0) if all(np.isfinite(values)) else float("nan")


def _report_html(report: dict[str, Any], frames: list[int]) -> str:
    cell = "".join
    faults = cell(f"<li>{html.escape(line)}</li>" for line in report["failures"])
    summary = cell(
        f"<tr><td>{html.escape(e['name'])}</td><td>{e['tolerance']:g}</td><td>{e['max_hold']:g}</td>"
        + cell(f"<td>{_worst(e[key]):.2f}</td>" for key in ("before", "after_lock", "after", "pixel_p95", "seam"))
        + f"<td>{len(frames) - sum(e['held'])}</td><td>{'PASS' if e['passed'] else 'FAIL'}</td></tr>"
        for e in report["swatches"])
    per_frame = cell(
        f"<h2>{html.escape(e['name'])}: ΔE00 per frame</h2><table border=1><tr><th>frame</th><th>before lock</th>"
        "<th>after lock (the hold's correction)</th><th>after hold</th><th>held</th>"
        f"<th>pixel p{qc.PIXEL_PERCENTILE}</th><th>seam</th></tr>"
        + cell(f"<tr><td>{frame}</td><td>{e['before'][i]:.2f}</td><td>{e['after_lock'][i]:.2f}</td>"
               f"<td>{e['after'][i]:.2f}</td><td>{'yes' if e['held'][i] else 'NO'}</td>"
               f"<td>{e['pixel_p95'][i]:.2f}</td><td>{e['seam'][i]:.2f}</td></tr>" for i, frame in enumerate(frames))
        + "</table>" for e in report["swatches"])
    return ("<!doctype html><meta charset=utf-8><title>ColourLock QC</title>"
            f"<h1>ColourLock QC: {'PASS' if report['passed'] else 'FAIL'}</h1>"
            + (f"<ul>{faults}</ul>" if faults else "")
            + f"<p>Colour: {html.escape(colour.summary_line(report['colour']))}</p>"
            + f"<p>{html.escape(report['source'])} frames {report['frames']}, reference "
            f"{html.escape(report['reference'])}; a hold may move a swatch up to {report['max_hold_tolerances']:g} "
            "x its tolerance (--max-hold)</p>"
            + (f"<p><b>LUTs:</b> {html.escape(report['cube_note'])}</p>" if "cube_note" in report else "")
            + "<table border=1><tr><th>swatch</th><th>tolerance ΔE00</th><th>max hold ΔE00</th><th>max before lock</th>"
            "<th>max after lock</th><th>max after hold</th>"
            f"<th>max pixel p{qc.PIXEL_PERCENTILE}</th><th>max seam</th><th>frames not held</th><th></th></tr>"
            f"{summary}</table>{per_frame}<p><img src=delta_e.png alt='ΔE2000 per frame'></p>"
            f"<p>pixel p{qc.PIXEL_PERCENTILE}: the {qc.PIXEL_PERCENTILE}th percentile of the per-pixel ΔE00 to the "
            "target inside the swatch; seam: how much more the colour steps (ΔE00 between neighbouring pixels) "
            "across the hold's feathered edge than around it. Both are for review; they do not fail the QC.</p>")
