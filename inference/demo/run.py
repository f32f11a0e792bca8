"""``restyle demo``: generate material, run every stage this build has, show the result.

Writes to ``out``::

    plate/plate.####.exr   procedural plate: RGBA, depth.Z, forward/backward vectors (half)
    keys/key.####.png      the painted keyframe (sRGB), at the first frame
    jobs/*.json            job manifests for each stage, runnable with --manifest
    contact_sheet.png      plate, motion, keyframe and every stage's output side by side
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .. import colour
from ..errors import UsageError
from ..image import Image, write_image
from ..inspection import inspect_sequence
from ..jobs import manifest
from ..jobs.runners import RUNNERS
from ..progress import Progress
from ..sequence import SequencePattern, format_frame_range
from ..sequence_io import SequenceWriter, read_sequence
from .contact_sheet import contact_sheet, motion_to_rgb
from .paint import paint
from .plate import PLATE_COLOURSPACE, render_frame
from .settings import DemoSettings

FIRST_FRAME = 1001
STAGE_ORDER = ("train", "run", "deflicker", "colourlock", "metrics")
SEQUENCE_STAGES = ("run", "deflicker", "colourlock")  # stages whose output joins the contact sheet


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise UsageError(f"--size '{text}': use WIDTHxHEIGHT, e.g. 640x360") from None
    if not (16 <= width <= 8192 and 16 <= height <= 8192):
        raise UsageError(f"--size '{text}': width and height must be 16-8192")
    return width, height


def run_demo(out: Path, frames: int = DemoSettings.frames, size: str = DemoSettings.size, seed: int = DemoSettings.seed,
             train_seconds: float = DemoSettings.train_seconds, progress_mode: str = "text") -> dict:
    """Generate the demo shot under ``out`` and run the available stages; returns a summary."""
    if not 2 <= int(frames) <= 1000:
        raise UsageError(f"--frames {frames}: the demo needs 2-1000 frames")
    width, height = parse_size(size)
    started = time.monotonic()
    frame_list = list(range(FIRST_FRAME, FIRST_FRAME + int(frames)))
    plate = SequencePattern.parse(str(out / "plate" / "plate.####.exr"))
    key_path = out / "keys" / f"key.{FIRST_FRAME}.png"

    progress = Progress("demo plate", len(frame_list), progress_mode)
    with SequenceWriter(plate, colourspace=PLATE_COLOURSPACE) as writer:
        for index, frame in enumerate(frame_list):
            writer.write(frame, render_frame(index, width, height, seed))
            progress.advance()

    progress = Progress("demo", len(frame_list), progress_mode)
    progress.note(f"painting keyframe {FIRST_FRAME} -> {key_path}")
    plate_views, motions = _read_views(plate, frame_list)
    key_path.parent.mkdir(parents=True, exist_ok=True)
    painted = paint(plate_views[FIRST_FRAME], seed)
    write_image(key_path, Image.from_array(painted, ("R", "G", "B")), colourspace=colour.WORKING_ENCODING)

    summary = inspect_sequence(plate, frame_list, progress_mode="none")
    jobs = _write_jobs(out, plate, frame_list, key_path, train_seconds)
    stages = {}
    for stage in STAGE_ORDER:
        stages[stage] = _run_stage(stage, jobs[stage], progress)

    sample = frame_list[:: max(1, len(frame_list) // 5)][:6]
    rows = [
        ("plate", [(str(f), plate_views[f]) for f in sample]),
        ("motion", [(str(f), motion_to_rgb(motions[f])) for f in sample]),
        ("key", [(f"plate {FIRST_FRAME}", plate_views[FIRST_FRAME]), (f"painted {FIRST_FRAME}", painted)]),
    ]
    for stage in SEQUENCE_STAGES:
        if stages[stage].startswith("done"):
            output = SequencePattern.parse(str(out / stage / f"{stage}.####.exr"))
            views, _ = _read_views(output, sample)
            rows.append((stage, [(str(f), views[f]) for f in sample]))
    sheet = contact_sheet(rows, out / "contact_sheet.png")
    result = {"out": str(out), "plate": plate.printf, "frames": format_frame_range(frame_list),
              "size": [width, height], "channels": summary["channels"], "keyframe": str(key_path),
              "stages": stages, "contact_sheet": str(sheet),
              "metrics": _read_json(out / "report" / "metrics.json"),
              "seconds": round(time.monotonic() - started, 2)}
    (out / "demo_summary.json").write_text(json.dumps(result, indent=2) + "\n")
    progress.note(f"done in {result['seconds']} s; contact sheet: {sheet}")
    return result


def _read_views(sequence: SequencePattern, frames: list[int]) -> tuple[dict, dict]:
    """sRGB views of the beauty (and forward motion, where present) of frames read back from disk."""
    views, motions = {}, {}
    for frame, image in read_sequence(sequence, frames):
        rgb = image.beauty(alpha=False).as_float32()
        views[frame] = np.clip(colour.convert(rgb, PLATE_COLOURSPACE, colour.WORKING_ENCODING), 0, 1)
        if "forward.u" in image.channels:
            motions[frame] = image.select(["forward.u", "forward.v"]).as_float32() * np.array([1, -1], np.float32)
    return views, motions


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _write_jobs(out: Path, plate: SequencePattern, frames: list[int], key: Path,
               train_seconds: float) -> dict[str, Path]:
    """One manifest per stage, paths relative to the jobs folder."""
    rng = format_frame_range(frames)
    measured = SEQUENCE_STAGES[-1]
    plate_rel, key_rel = f"../plate/{Path(plate.printf).name}", f"../keys/{key.name}"
    common = {"version": 1, "frames": rng, "plate_colourspace": PLATE_COLOURSPACE}
    jobs = {
        "train": {"plate": plate_rel, "keys": {str(frames[0]): key_rel}, "out": "../model/look.onnx",
                  "seconds": train_seconds, "seed": 0,
                  "key_psnr": 0},  # a showcase of a fixed, short training: key check recorded, not enforced
        "run": {"plate": plate_rel, "model": "../model/look.onnx", "out": "../run/run.%04d.exr"},
        # (the model carries its painting: the key's brushwork is carried by default)
        "deflicker": {"input": "../run/run.%04d.exr", "guide": plate_rel, "vectors": "nuke",
                      "input_colourspace": PLATE_COLOURSPACE, "guide_colourspace": PLATE_COLOURSPACE,
                      "out": "../deflicker/deflicker.%04d.exr", "grade_nk": "../deflicker/deflicker_grade.nk"},
        "colourlock": {"input": "../deflicker/deflicker.%04d.exr", "reference": key_rel,
                       "input_colourspace": PLATE_COLOURSPACE,
                       "out": "../colourlock/colourlock.%04d.exr", "report": "../report"},
        "metrics": {"output": f"../{measured}/{measured}.%04d.exr", "plate": plate_rel,
                    "output_colourspace": PLATE_COLOURSPACE, "json": "../report/metrics.json"},
    }
    folder = out / "jobs"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for stage, fields in jobs.items():
        manifest = {"stage": stage, **common, **fields}
        if stage in ("deflicker", "colourlock"):
            manifest.pop("plate_colourspace")
        paths[stage] = folder / f"{stage}.json"
        paths[stage].write_text(json.dumps(manifest, indent=2) + "\n")
    return paths


def _run_stage(stage: str, job_path: Path, progress: Progress) -> str:
    """Run one stage's job manifest through its command's runner; returns its QC outcome."""
    progress.note(f"{stage}: {job_path}")
    code = RUNNERS[stage](manifest.load(job_path), progress.mode)
    return "done" if code == 0 else f"done, exit code {code}"
