"""ColourLock's QC: what the lock and the swatch holds did to each swatch in each frame, what to
fix when they fell short, and the check the farm's gate makes of a written report.

A hold moves a swatch's mean onto its target, so the mean after the hold says little on its own.
Per swatch and frame the QC also measures what the hold does not force:

* ``before``: ΔE00 of the swatch's mean in the frames as they came in;
* ``after_lock``: ΔE00 of its mean after the global lock, before the hold: the correction the
  hold had to make. Beyond ``HoldSettings.max_hold`` tolerances the frames did not carry the
  colour there (the region was repainted); the hold is not made and the QC fails;
* ``after``: ΔE00 of its mean in the frames as written (after the hold);
* ``pixel_p95``: the 95th percentile of the per-pixel ΔE00 to the target inside the swatch
  (texture, grain, or part of the swatch covered by something else);
* ``seam``: the step at the hold's feathered edge: the ΔE00 between the mean colour of the
  feather band (the pixels within ``feather`` of the swatch, where the hold fades out) and that
  of a band as wide just outside it, in the frame as written less the same in the frame as it
  came in (what the picture itself does there); about 0 when the edge does not show.

``pixel_p95`` and ``seam`` are reported, not judged: grain and a textured swatch lift them with
no colour fault. Any measure that is not a finite number fails the QC, as does a locked frame
holding NaN or Inf.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import cv2
import numpy as np

from ..sequence import format_frame_range, parse_frame_range
from .apply import HoldRecord, HoldSettings, lock_frames
from .delta_e import delta_e_2000, srgb_to_lab
from .swatches import DEFAULT_COLOURSPACE, Swatch, swatch_delta_e

PIXEL_PERCENTILE = 95
REPAINTED = "the frames did not carry this colour here; the region was repainted"
SWATCH_MEASURES = ("before", "after_lock", "after", "pixel_p95", "seam")  # ΔE00 per frame
SWATCH_LISTS = SWATCH_MEASURES + ("held",)
PALETTE_MEASURES = ("palette_delta_e_before", "palette_delta_e_after")
CUBE_NOTE = ("The .cube files and colourlock.ocio carry the global correction only, not the swatch holds: a LUT "
             "maps colours, not places, so it cannot hold a region of the frame. The frames restyle writes have "
             "the holds; applied through OCIOFileTransform or OCIOLookTransform, the LUTs leave each swatch where "
             "the lock put it (its 'after lock' ΔE00).")


def _crop(frame: np.ndarray, mask: np.ndarray, margin: int) -> tuple[np.ndarray, np.ndarray]:
    """``frame``'s pixels and ``mask`` on the mask's box widened by ``margin`` pixels."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = (slice(max(0, rows[0] - margin), rows[-1] + margin + 1), slice(max(0, cols[0] - margin), cols[-1] + margin + 1))
    return np.asarray(frame[box][..., :3], np.float32), mask[box]


def pixel_p95(frame: np.ndarray, swatch: Swatch, colourspace: str) -> float:
    """The 95th percentile of the per-pixel ΔE00 to the target inside ``swatch`` in a host frame."""
    crop, inside = _crop(frame, swatch.mask_for(frame.shape[:2]), 0)
    return float(np.percentile(delta_e_2000(srgb_to_lab(crop[inside], colourspace), swatch.target_lab()),
                               PIXEL_PERCENTILE))


def edge_step(frame: np.ndarray, swatch: Swatch, colourspace: str, feather: float) -> float:
    """ΔE00 between the mean colour of ``swatch``'s feather band in a host frame (the pixels within
    ``feather`` of it) and that of a band as wide just outside (0: the swatch fills the frame)."""
    band = max(1.0, float(feather))
    crop, inside = _crop(frame, swatch.mask_for(frame.shape[:2]), int(math.ceil(2 * band)) + 1)
    dist = cv2.distanceTransform((~inside).astype(np.uint8), cv2.DIST_L2, 5)
    edge, around = (dist > 0) & (dist <= band), (dist > band) & (dist <= 2 * band)
    if not (edge.any() and around.any()):
        return 0.0
    means = [crop[where].astype(np.float64).mean(axis=0).astype(np.float32) for where in (edge, around)]
    return float(delta_e_2000(*(srgb_to_lab(m, colourspace) for m in means)))


def swatch_report(before: Sequence[np.ndarray], after: Sequence[np.ndarray], swatches: Sequence[Swatch],
                  frame_colourspace: str, holds: HoldRecord, hold: HoldSettings) -> list[dict]:
    """Per swatch, the measures of the module's docstring per frame (``before``: the frames as
    they came in; ``after``: as written; ``holds``: what the holds did between), with pass/fail:
    every frame held, its mean after the hold within tolerance and every measure a finite number."""
    report = []
    for s, swatch in enumerate(swatches):
        entry = {"name": swatch.name, "tolerance": swatch.tolerance, "max_hold": hold.limit(swatch),
                 "before": [swatch_delta_e(f, swatch, frame_colourspace) for f in before],
                 "after_lock": [float(c) for c in holds.correction[:, s]],
                 "after": [swatch_delta_e(f, swatch, frame_colourspace) for f in after],
                 "held": [bool(h) for h in holds.held[:, s]],
                 "pixel_p95": [pixel_p95(f, swatch, frame_colourspace) for f in after],
                 "seam": [edge_step(a, swatch, frame_colourspace, hold.feather)
                          - edge_step(b, swatch, frame_colourspace, hold.feather) for b, a in zip(before, after)]}
        report.append(_judged(entry))
    return report


def _judged(entry: dict) -> dict:
    """``entry`` with ``max_after`` and ``passed`` from its per-frame lists."""
    finite = all(math.isfinite(v) for key in SWATCH_MEASURES for v in entry[key])
    return {**entry, "max_after": max(entry["after"], default=0.0),
            "passed": finite and all(entry["held"]) and all(a <= entry["tolerance"] for a in entry["after"])}


def merge_swatches(parts: Sequence[list[dict]]) -> list[dict]:
    """Swatch entries of consecutive chunks as one shot's."""
    return [_judged({**entries[0], **{key: [v for e in entries for v in e[key]] for key in SWATCH_LISTS}})
            for entries in zip(*parts)]


def protect_swatches(frames: Sequence[np.ndarray], swatches: Sequence[Swatch],
                     frame_colourspace: str = DEFAULT_COLOURSPACE, hold: HoldSettings = HoldSettings(),
                     device: str = "cpu") -> tuple[list[np.ndarray], list[dict]]:
    """Hold every swatch on its target in every frame (no global lock); returns the frames and
    the per-swatch report of :func:`swatch_report`."""
    out, holds = lock_frames(frames, None, swatches, frame_colourspace, hold, device)
    return out, swatch_report(frames, out, swatches, frame_colourspace, holds, hold)


def _frames_where(frames: Sequence[int], flags: Sequence[bool]) -> str:
    return format_frame_range([f for f, flag in zip(frames, flags) if flag])


def failures(report: dict[str, Any], frames: Sequence[int]) -> list[str]:
    """One line per fault of a merged QC report, naming the frames and swatch and what to fix."""
    lines = []
    bad = report["non_finite_after"]
    if any(bad):
        lines.append(f"frames {_frames_where(frames, bad)}: {sum(bad)} NaN/Inf pixel(s) in the locked frames; check "
                     f"the input with 'restyle inspect' and the fit (--method, --lut)")
    for key in PALETTE_MEASURES:
        if not all(math.isfinite(v) for v in report[key]):
            lines.append(f"frames {_frames_where(frames, [not math.isfinite(v) for v in report[key]])}: {key} is not a "
                         f"finite number (NaN/Inf); the lock could not be measured there")
    for e in report["swatches"]:
        name = f"swatch '{e['name']}'"
        unmeasured = [not all(math.isfinite(e[key][i]) for key in SWATCH_MEASURES) for i in range(len(frames))]
        if any(unmeasured):
            lines.append(f"{name} frames {_frames_where(frames, unmeasured)}: ΔE00 is not a finite number (NaN/Inf) "
                         f"in the swatch; check these frames for NaN/Inf pixels in its region")
        repainted = [not held and not gone for held, gone in zip(e["held"], unmeasured)]
        if any(repainted):
            worst = max(c for c, r in zip(e["after_lock"], repainted) if r)
            lines.append(f"{name} frames {_frames_where(frames, repainted)}: {REPAINTED} (the hold would have to move "
                         f"it up to ΔE00 {worst:.1f}, more than --max-hold {e['max_hold'] / e['tolerance']:g} x its "
                         f"tolerance {e['tolerance']:g}), so it was not held there. Check that the swatch's region "
                         f"covers it in these frames; if this is drift the hold should correct, raise --max-hold")
        off = [held and not gone and a > e["tolerance"] for held, gone, a in zip(e["held"], unmeasured, e["after"])]
        if any(off):
            lines.append(f"{name} frames {_frames_where(frames, off)}: ΔE00 up to "
                         f"{max(a for a, o in zip(e['after'], off) if o):.2f} after the hold, above its tolerance "
                         f"{e['tolerance']:g}; another swatch's hold overlaps it: separate their regions")
    return lines


def verdict(report: dict[str, Any], folder: str) -> str:
    """What the CLI prints: QC PASS or QC FAIL with the report's failure lines."""
    if report["passed"]:
        return f"QC PASS; report in {folder}"
    return "\n".join([f"QC FAIL; report in {folder}"] + [f"  {line}" for line in report["failures"]])


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float as None (JSON has no NaN)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _number_problems(where: str, values: Any, count: int, missing_ok: bool) -> list[str]:
    if not isinstance(values, list) or len(values) != count:
        return [f"field '{where}' must be a list of {count} ΔE00 value(s), one per frame"]
    for i, v in enumerate(values):
        if v is None and missing_ok:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return [f"field '{where}[{i}]' is {v!r}, not a finite number"]
    return []


def validate_report(data: Any) -> list[str]:
    """What makes ``data`` (a parsed report.json) not a well-formed QC report: each problem names
    the field. ``passed`` must be a real boolean; with ``passed`` true every measure must be a
    finite number, every swatch passed and no failure listed (null stands for a measure that was
    not finite, in failed reports only)."""
    if not isinstance(data, dict):
        return [f"the report is a JSON {type(data).__name__}, not an object"]
    problems = []
    passed = data.get("passed")
    if not isinstance(passed, bool):
        problems.append("field 'passed' is missing" if "passed" not in data
                        else f"field 'passed' is {passed!r} ({type(passed).__name__}), not true or false")
    try:
        count = len(parse_frame_range(str(data["frames"])))
    except Exception:  # noqa: BLE001 - missing or unparsable: named below
        return problems + [f"field 'frames' is {data.get('frames')!r}, not a frame range"]
    lenient = passed is False
    for key in PALETTE_MEASURES:
        problems += _number_problems(key, data.get(key), count, lenient)
    failures_listed = data.get("failures")
    if not (isinstance(failures_listed, list) and all(isinstance(line, str) for line in failures_listed)):
        problems.append("field 'failures' must be a list of lines")
    elif passed is True and failures_listed:
        problems.append(f"field 'passed' is true but 'failures' lists {len(failures_listed)} fault(s)")
    swatches = data.get("swatches")
    if not isinstance(swatches, list):
        return problems + ["field 'swatches' must be a list"]
    for i, e in enumerate(swatches):
        where = f"swatches[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("name"), str):
            problems.append(f"field '{where}' must be an object with a 'name'")
            continue
        where = f"swatches[{i}] ({e['name']})"
        for key in SWATCH_MEASURES:
            problems += _number_problems(f"{where}.{key}", e.get(key), count, lenient)
        held = e.get("held")
        if not (isinstance(held, list) and len(held) == count and all(isinstance(h, bool) for h in held)):
            problems.append(f"field '{where}.held' must be a list of {count} true/false values")
        tolerance = e.get("tolerance")
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not tolerance > 0:
            problems.append(f"field '{where}.tolerance' is {tolerance!r}, not a ΔE00 above 0")
        if not isinstance(e.get("passed"), bool):
            problems.append(f"field '{where}.passed' is {e.get('passed')!r}, not true or false")
        elif passed is True and not e["passed"]:
            problems.append(f"field 'passed' is true but '{where}.passed' is false")
    return problems
