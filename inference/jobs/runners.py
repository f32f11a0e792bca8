"""The runners: each ``restyle`` command's job (its fields, :mod:`.job`) handed to the engine.

Engine modules are imported inside each runner, so a command loads only what it runs (``restyle
gate`` on a farm node without torch's start-up cost).
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

from ..errors import EX_QC_FAILED, UsageError
from ..sequence import SequencePattern, parse_frame_range


def run_inspect(job: dict[str, Any], progress: str) -> int:
    from ..inspection import inspect_sequence

    pattern = SequencePattern.parse(job["plate"])
    on_disk = pattern.existing_frames()
    if "frames" not in job and not on_disk:
        raise UsageError(f"{pattern}: no frames on disk and no --frames given")
    # without --frames, every frame from the first to the last on disk: a hole is reported (exit 66)
    frames = parse_frame_range(job["frames"]) if "frames" in job else list(range(on_disk[0], on_disk[-1] + 1))
    summary = inspect_sequence(pattern, frames, threads=job.get("threads"), progress_mode=progress)
    print(json.dumps(summary, indent=2))
    if "json" in job:
        Path(job["json"]).write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def run_convert(job: dict[str, Any], progress: str) -> int:
    from ..convert import convert_sequence

    written = convert_sequence(
        SequencePattern.parse(job["input"]), parse_frame_range(job["frames"]), SequencePattern.parse(job["out"]),
        src_space=job.get("input_colourspace"), dst_space=job.get("out_colourspace"),
        dtype=job.get("dtype"), compression=job.get("compression"), threads=job.get("threads"),
        progress_mode=progress)
    print(f"wrote {len(written)} frame(s) to {SequencePattern.parse(job['out'])}")
    return 0


def run_train(job: dict[str, Any], progress: str) -> int:
    from ..colour import WORKING_ENCODING
    from ..restyle.train import TrainSettings, train

    defaults = TrainSettings()
    settings = TrainSettings(**{k: job.get(k, getattr(defaults, k)) for k in
                                ("steps", "seconds", "plateau", "seed", "device", "checkpoint_every", "stability",
                                 "key_psnr", "lr")})
    keys, frames = _keys(job), parse_frame_range(job["frames"])
    outside = sorted(set(keys) - set(frames))
    if outside:
        print(f"restyle train: warning: --key {', '.join(map(str, outside))} outside --frames {job['frames']}: "
              "the key is learnt from its plate frame, but check the numbers (a typo trains the wrong frame)",
              file=sys.stderr)
    train(SequencePattern.parse(job["plate"]), keys, job["out"], settings=settings, guides=job.get("guides"),
          frames=frames,
          plate_space=job.get("plate_colourspace"), key_space=job.get("key_colourspace"),
          working=job.get("working_colourspace", WORKING_ENCODING), resume=job.get("resume", False), init=job.get("init"),
          repass=job.get("repass", "auto"), progress_mode=progress)
    return 0


def _keys(job: dict[str, Any]) -> dict[int, str]:
    """The job's painted keyframes, frame -> image (none when it has no ``keys`` field)."""
    return {int(frame): path for frame, path in job.get("keys", {}).items()}


def run_run(job: dict[str, Any], progress: str) -> int:
    from ..restyle.apply import restyle_frames

    written = restyle_frames(
        job["model"], SequencePattern.parse(job["plate"]), parse_frame_range(job["frames"]),
        SequencePattern.parse(job["out"]), plate_space=job.get("plate_colourspace"),
        out_space=job.get("out_colourspace"), backend=job.get("backend", "auto"), device=job.get("device", "auto"),
        dtype=job.get("dtype", "auto"), tile=job.get("tile"), batch=job.get("batch"), threads=job.get("threads"),
        progress_mode=progress, detail=job.get("detail"), texture=job.get("texture", False),
        keys=_keys(job), key_space=job.get("key_colourspace"))
    print(f"wrote {len(written)} frame(s) to {SequencePattern.parse(job['out'])}")
    return 0


def _hold(job: dict[str, Any]):
    """The job's swatch-hold settings (HoldSettings' defaults for the fields it leaves out)."""
    from ..colourlock.apply import HoldSettings

    return HoldSettings(**{field: job[field] for field in ("max_hold",) if field in job})


def run_render(job: dict[str, Any], progress: str) -> int:
    from ..colourlock.qc import verdict
    from ..pipeline import ColourLockStage, DeflickerStage, render_shot

    mode = job.get("deflicker", "both")
    deflicker = None if mode == "off" else DeflickerStage(mode, job.get("strength", 1.0), job.get("radius", 4),
                                                          job.get("vectors", "dis"))
    colourlock = None
    if "reference" in job:
        if "report" not in job:
            raise UsageError("restyle render --reference needs --report DIR for the ColourLock QC report")
        colourlock = ColourLockStage(job["reference"], job["report"], job.get("swatches"), job.get("reference_colourspace"),
                                     job.get("method", "mkl"), job.get("sigma", 2.0), job.get("lut", False), _hold(job))
    summary = render_shot(
        job["model"], SequencePattern.parse(job["plate"]), parse_frame_range(job["frames"]),
        SequencePattern.parse(job["out"]), deflicker=deflicker, colourlock=colourlock,
        plate_space=job.get("plate_colourspace"), out_space=job.get("out_colourspace"),
        backend=job.get("backend", "auto"), device=job.get("device", "auto"), dtype=job.get("dtype", "auto"),
        batch=job.get("batch"), tile=job.get("tile"), chunk=job.get("chunk", 32),
        compression=job.get("compression"), skip_existing=job.get("skip_existing", False), threads=job.get("threads"),
        progress_mode=progress, detail=job.get("detail"), texture=job.get("texture", False),
        keys=_keys(job), key_space=job.get("key_colourspace"))
    written, seconds = len(summary["frames"]), summary["seconds"]
    print(f"wrote {written} frame(s) to {SequencePattern.parse(job['out'])} in {seconds:.1f} s "
          f"({written / max(seconds, 1e-9):.2f} frames/s, {summary['cpu_seconds'] / max(written, 1):.3f} CPU s/frame)")
    print("time per stage: " + ", ".join(f"{stage} {s:.2f} s" for stage, s in summary["stages"].items()))
    if "stage_peak_gpu_gb" in summary:
        print(_gpu_peak_line(summary["stage_peak_gpu_gb"]))
    if colourlock and "report" in summary:
        print(verdict(summary["report"], job["report"]))
        return 0 if summary["report"]["passed"] else EX_QC_FAILED
    return 0


def _gpu_peak_line(peaks: dict[str, float]) -> str:
    """The render's peak GPU memory and, per stage, its own peak (GB)."""
    stages = {stage: gb for stage, gb in peaks.items() if stage != "overall"}
    line = f"peak GPU memory {peaks['overall']:.1f} GB"
    if stages:
        line += (f" (largest in {max(stages, key=stages.get)}: "
                 + ", ".join(f"{stage} {gb:.1f}" for stage, gb in stages.items()) + ")")
    return line


def run_metrics(job: dict[str, Any], progress: str) -> int:
    from ..measure import DEFAULT_VECTORS, measure

    reference = SequencePattern.parse(job["reference"]) if "reference" in job else None
    figures = measure(SequencePattern.parse(job["output"]), SequencePattern.parse(job["plate"]),
                      parse_frame_range(job["frames"]), reference=reference,
                      output_space=job.get("output_colourspace"), plate_space=job.get("plate_colourspace"),
                      reference_space=job.get("reference_colourspace"), vectors=job.get("vectors", DEFAULT_VECTORS),
                      threads=job.get("threads"),
                      progress_mode=progress)
    text = json.dumps(figures, indent=2)
    print(text)
    Path(job["json"]).parent.mkdir(parents=True, exist_ok=True)
    Path(job["json"]).write_text(text + "\n")
    return 0


def run_deflicker(job: dict[str, Any], progress: str) -> int:
    from ..temporal.deflicker import deflicker_sequence

    written = deflicker_sequence(
        SequencePattern.parse(job["input"]), SequencePattern.parse(job["guide"]), parse_frame_range(job["frames"]),
        SequencePattern.parse(job["out"]), mode=job.get("mode", "both"), strength=job.get("strength", 1.0),
        radius=job.get("radius", 4), handles=job.get("handles"), vectors=job.get("vectors", "dis"),
        source_space=job.get("input_colourspace"), guide_space=job.get("guide_colourspace"),
        grade_nk=job.get("grade_nk"), device=job.get("device", "auto"), threads=job.get("threads"),
        progress_mode=progress)
    print(f"wrote {len(written)} frame(s) to {SequencePattern.parse(job['out'])}")
    return 0


def run_colourlock(job: dict[str, Any], progress: str) -> int:
    from ..colourlock.lock import colourlock_sequence
    from ..colourlock.qc import verdict

    check_only = job.get("check_only", False)
    if not check_only and "out" not in job:
        raise UsageError("restyle colourlock needs --out (or --check-only)")
    report = colourlock_sequence(
        SequencePattern.parse(job["input"]), job["reference"], parse_frame_range(job["frames"]),
        None if check_only else SequencePattern.parse(job["out"]), job["report"], swatches_path=job.get("swatches"),
        source_space=job.get("input_colourspace"), reference_space=job.get("reference_colourspace"),
        method=job.get("method", "mkl"), sigma=job.get("sigma", 2.0), lut=job.get("lut", False), hold=_hold(job),
        device=job.get("device", "cpu"),
        threads=job.get("threads"), progress_mode=progress)
    print(verdict(report, job["report"]))
    return 0 if report["passed"] else EX_QC_FAILED


def run_hash(job: dict[str, Any], progress: str) -> int:
    from ..frame_hash import hash_frames

    hashes = dict(hash_frames(SequencePattern.parse(job["plate"]), parse_frame_range(job["frames"]),
                              threads=job.get("threads"), progress_mode=progress))
    text = json.dumps({"frames": {str(f): h for f, h in hashes.items()}}, indent=1)
    if "json" in job:
        Path(job["json"]).write_text(text + "\n")
    else:
        print(text)
    return 0


def run_torchscript(job: dict[str, Any], progress: str) -> int:
    from ..restyle.torchscript import export_torchscript

    written = export_torchscript(job["model"], job["out"], job.get("nuke_colourspace", "scene_linear"))
    print(f"wrote {written}")
    return 0


def run_bench(job: dict[str, Any], progress: str) -> int:
    from ..pipeline_bench import DEFAULT_CHUNK, run_bench as bench

    sizes = job.get("sizes", "2048x1080,3840x2160").split(",")
    for size in sizes:
        width, sep, height = size.lower().partition("x")
        if not (sep and width.isdigit() and height.isdigit() and int(width) >= 64 and int(height) >= 64):
            raise UsageError(f"--sizes: '{size}' is not WIDTHxHEIGHT of at least 64x64 (e.g. 2048x1080)")
    if job.get("frames", 64) < 2:
        raise UsageError("--frames must be at least 2")
    if job.get("scratch") and not Path(job["scratch"]).is_dir():
        raise UsageError(f"--scratch: '{job['scratch']}' is not a folder")
    bench(sizes, job.get("frames", 64), job.get("chunk", DEFAULT_CHUNK), job.get("device", "auto"), job.get("label"),
          Path(job.get("out", "bench/results/pipeline.json")), job.get("compression", "zip").split(","),
          job.get("plate_compression", "zip"), job.get("scratch"))
    return 0


def run_gate(job: dict[str, Any], progress: str) -> int:
    from ..farm.gate import check_reports

    reports, failed = check_reports(Path(job["report"]))
    print(f"QC gate: {len(reports)} report(s), {len(failed)} failed")
    if failed:
        print(f"QC gate FAILED: {', '.join(str(r) for r in failed)}")
        return EX_QC_FAILED
    return 0


def run_submit(job: dict[str, Any], progress: str) -> int:
    from ..farm.files import write_submission
    from ..farm.shot import shot_from_job

    written = write_submission(job["farm"], shot_from_job(job), Path(job["job_dir"]))
    print(f"wrote {len(written.files)} file(s) to {job['job_dir']}")
    if job.get("submit"):
        from ..farm.deadline import submit

        print(f"submitted to Deadline: {', '.join(submit(written))}")
    else:
        print(f"to {'run' if job['farm'] == 'openjd' else 'submit'} it: {written.script} ({shlex.join(written.command)})")
    return 0


RUNNERS: dict[str, Callable[[dict[str, Any], str], int]] = {
    "inspect": run_inspect, "convert": run_convert,
    "train": run_train, "run": run_run, "deflicker": run_deflicker, "colourlock": run_colourlock, "metrics": run_metrics,
    "hash": run_hash, "torchscript": run_torchscript, "render": run_render, "bench": run_bench, "gate": run_gate,
    "submit": run_submit,
}

