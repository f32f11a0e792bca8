"""The runners: each ``restyle`` command's job (its fields, :mod:`.job`) handed to the engine.

Engine modules are imported inside each runner, so a command loads only what it runs (``restyle
gate`` on a farm node without torch's start-up cost).
"""
from __future__ import annotations

import json
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, TypeVar

from ..errors import EX_QC_FAILED, UsageError
from ..sequence import SequencePattern, parse_frame_range

T = TypeVar("T")


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
    from ..restyle.settings import TrainColourspaces, TrainSettings, TrainStart
    from ..restyle.train import train

    settings = _settings(TrainSettings, job, "steps", "seconds", "plateau", "seed", "device", "checkpoint_every",
                         "stability", "key_psnr", "lr", "onnx_dtype", "unpainted_weight")
    keys, frames = _keys(job), parse_frame_range(job["frames"])
    outside = sorted(set(keys) - set(frames))
    if outside:
        print(f"restyle train: warning: --key {', '.join(map(str, outside))} outside --frames {job['frames']}: "
              "the key is learnt from its plate frame, but check the numbers (a typo trains the wrong frame)",
              file=sys.stderr)
    train(SequencePattern.parse(job["plate"]), keys, job["out"], settings=settings,
          start=_settings(TrainStart, job, "resume", "init", "repass"), guides=job.get("guides"),
          spaces=_settings(TrainColourspaces, job, plate="plate_colourspace", key="key_colourspace",
                           working="working_colourspace"), frames=frames, progress_mode=progress)
    return 0


def _keys(job: dict[str, Any]) -> dict[int, str]:
    """The job's painted keyframes, frame -> image (none when it has no ``keys`` field)."""
    return {int(frame): path for frame, path in job.get("keys", {}).items()}


def _settings(cls: type[T], job: dict[str, Any], *same: str, **renamed: str) -> T:
    """A settings dataclass from the job: each setting in ``same`` from the job field of its name, each
    in ``renamed`` from the field named there; the dataclass's own default for any the job leaves out."""
    names = {**{name: name for name in same}, **renamed}
    return cls(**{setting: job[field] for setting, field in names.items() if field in job})


def _runtime(job: dict[str, Any]):
    from ..restyle.settings import RuntimeSettings

    return _settings(RuntimeSettings, job, "backend", "device", "dtype", "tile", "batch")


def _detail(job: dict[str, Any]):
    from ..restyle.settings import DetailSettings

    return replace(_settings(DetailSettings, job, "texture", "vectors", px="detail", key_space="key_colourspace"), keys=_keys(job))


def _colourlock(job: dict[str, Any]):
    """The job's colour lock (HoldSettings' and ColourLockSettings' defaults for the fields it leaves out)."""
    from ..colourlock.settings import ColourLockSettings, HoldSettings

    return replace(_settings(ColourLockSettings, job, "reference", "report", "swatches", "reference_colourspace",
                             "method", "sigma", "lut", "device"), hold=_settings(HoldSettings, job, "max_hold"))


def run_restyle(job: dict[str, Any], progress: str) -> int:
    from ..restyle.apply import restyle_sequence

    written = restyle_sequence(
        job["model"], SequencePattern.parse(job["plate"]), parse_frame_range(job["frames"]),
        SequencePattern.parse(job["out"]), _runtime(job), _detail(job), plate_space=job.get("plate_colourspace"),
        out_space=job.get("out_colourspace"), threads=job.get("threads"), progress_mode=progress)
    print(f"wrote {len(written)} frame(s) to {SequencePattern.parse(job['out'])}")
    return 0


def _render_settings(job: dict[str, Any]):
    """The render's settings: its deflicker (mode from ``deflicker``; off: none) and, with a
    reference, its colour lock."""
    from ..render_settings import RenderSettings
    from ..temporal.settings import DeflickerSettings

    deflicker = _settings(DeflickerSettings, job, "strength", "radius", "vectors", mode="deflicker")
    if "reference" in job and "report" not in job:
        raise UsageError("restyle render --reference needs --report DIR for the ColourLock QC report")
    return replace(_settings(RenderSettings, job, "chunk", "compression", "skip_existing"), runtime=_runtime(job),
                   detail=_detail(job), deflicker=None if deflicker.mode == "off" else deflicker,
                   colourlock=_colourlock(job) if "reference" in job else None)


def run_render(job: dict[str, Any], progress: str) -> int:
    from ..colourlock.qc import verdict
    from ..pipeline import render_shot

    settings = _render_settings(job)
    summary = render_shot(
        job["model"], SequencePattern.parse(job["plate"]), parse_frame_range(job["frames"]),
        SequencePattern.parse(job["out"]), settings, plate_space=job.get("plate_colourspace"),
        out_space=job.get("out_colourspace"), threads=job.get("threads"), progress_mode=progress)
    written, seconds = len(summary["frames"]), summary["seconds"]
    print(f"wrote {written} frame(s) to {SequencePattern.parse(job['out'])} in {seconds:.1f} s "
          f"({written / max(seconds, 1e-9):.2f} frames/s, {summary['cpu_seconds'] / max(written, 1):.3f} CPU s/frame)")
    print("time per stage: " + ", ".join(f"{stage} {s:.2f} s" for stage, s in summary["stages"].items()))
    if "stage_peak_gpu_gb" in summary:
        print(_gpu_peak_line(summary["stage_peak_gpu_gb"]))
    if settings.colourlock and "report" in summary:
        print(verdict(summary["report"], job["report"]))
        return 0 if summary["report"]["passed"] else EX_QC_FAILED
    return 0


def _gpu_peak_line(peaks: dict[str, float]) -> str:
    """The render's peak GPU memory and, per stage, its own peak (GB)."""
    stages = {stage: gb for stage, gb in peaks.items() if stage != "overall"}
    line = f"peak GPU memory {peaks['overall']:.1f} GB"
    if stages:
        line += (f" (largest in {max(stages, key=lambda stage: stages[stage])}: "
                 + ", ".join(f"{stage} {gb:.1f}" for stage, gb in stages.items()) + ")")
    return line


def run_metrics(job: dict[str, Any], progress: str) -> int:
    from ..measure import DEFAULT_VECTORS, measure_sequence, write_flicker_curve

    reference = SequencePattern.parse(job["reference"]) if "reference" in job else None
    figures = measure_sequence(SequencePattern.parse(job["output"]), SequencePattern.parse(job["plate"]),
                               parse_frame_range(job["frames"]), reference=reference,
                               output_space=job.get("output_colourspace"), plate_space=job.get("plate_colourspace"),
                               reference_space=job.get("reference_colourspace"), vectors=job.get("vectors", DEFAULT_VECTORS),
                               threads=job.get("threads"),
                               progress_mode=progress)
    text = json.dumps(figures, indent=2)
    print(text)
    Path(job["json"]).parent.mkdir(parents=True, exist_ok=True)
    Path(job["json"]).write_text(text + "\n")
    if "curve" in job:
        write_flicker_curve(job["curve"], figures)
    return 0


def run_deflicker(job: dict[str, Any], progress: str) -> int:
    from ..temporal.deflicker import deflicker_sequence
    from ..temporal.settings import DeflickerSettings

    settings = _settings(DeflickerSettings, job, "mode", "strength", "radius", "vectors", "handles", "device")
    written = deflicker_sequence(
        SequencePattern.parse(job["input"]), SequencePattern.parse(job["guide"]), parse_frame_range(job["frames"]),
        SequencePattern.parse(job["out"]), settings, source_space=job.get("input_colourspace"),
        guide_space=job.get("guide_colourspace"), grade_nk=job.get("grade_nk"), threads=job.get("threads"),
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
        SequencePattern.parse(job["input"]), parse_frame_range(job["frames"]),
        None if check_only else SequencePattern.parse(job["out"]), _colourlock(job),
        source_space=job.get("input_colourspace"), threads=job.get("threads"), progress_mode=progress)
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

    written = export_torchscript(job["model"], job["out"], job.get("nuke_colourspace", "scene_linear"),
                                 job.get("nuke_version"))
    print(f"wrote {written}")
    return 0


def _bench_harness():
    """The pipeline bench's harness (``bench/bench_pipeline.py``) and its results folder: a source
    checkout's, which the installed engine does not carry."""
    try:
        from bench.bench_pipeline import RESULTS, run_bench
    except ImportError as exc:
        raise UsageError(f"restyle bench runs from a source checkout, with its bench/ folder importable ({exc})") from None
    return run_bench, RESULTS


def run_bench(job: dict[str, Any], progress: str) -> int:
    from ..render_settings import RenderBenchSettings, RenderSettings

    default = RenderBenchSettings()
    sizes = job.get("sizes", default.sizes).split(",")
    for size in sizes:
        width, sep, height = size.lower().partition("x")
        if not (sep and width.isdigit() and height.isdigit() and int(width) >= 64 and int(height) >= 64):
            raise UsageError(f"--sizes: '{size}' is not WIDTHxHEIGHT of at least 64x64 (e.g. 2048x1080)")
    if job.get("frames", default.frames) < 2:
        raise UsageError("--frames must be at least 2")
    if job.get("scratch") and not Path(job["scratch"]).is_dir():
        raise UsageError(f"--scratch: '{job['scratch']}' is not a folder")
    bench, results = _bench_harness()
    bench(sizes, job.get("frames", default.frames), job.get("chunk", RenderSettings.chunk), job.get("device", "auto"),
          job.get("label"), Path(job.get("out", results / "pipeline.json")),
          job.get("compression", default.compression).split(","),
          job.get("plate_compression", default.plate_compression), job.get("scratch"))
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
    "train": run_train, "run": run_restyle, "deflicker": run_deflicker, "colourlock": run_colourlock, "metrics": run_metrics,
    "hash": run_hash, "torchscript": run_torchscript, "render": run_render, "bench": run_bench, "gate": run_gate,
    "submit": run_submit,
}

