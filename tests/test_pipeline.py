"""restyle render: the streaming pipeline equals the stages run one by one, chunks equal a whole
pass, and memory does not grow with the shot's length."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from bench import bench_multigpu
from inference import cli, colour, pipeline
from inference.colourlock.settings import ColourLockSettings
from inference.demo.paint import paint
from inference.demo.plate import PLATE_COLOURSPACE, render_frame
from inference.image import Image, read_image, write_image
from inference.pipeline import render_shot
from inference.render_settings import RenderSettings
from inference.restyle.settings import DetailSettings, RuntimeSettings, TrainColourspaces
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern
from inference.temporal.settings import DeflickerSettings
from inference.tensors import DevicePlates

FRAMES = list(range(1, 15))


def _plate(root, frames, width=64, height=48) -> SequencePattern:
    plate = SequencePattern.parse(str(root / "plate" / "plate.####.exr"))
    plate.directory.mkdir(parents=True)
    for index, frame in enumerate(frames):
        write_image(plate.path(frame), render_frame(index, width, height))
    return plate


def _model(root, plate, frame: int) -> str:
    view = colour.convert(read_image(plate.path(frame)).beauty(alpha=False).as_float32(), PLATE_COLOURSPACE,
                          colour.WORKING_ENCODING)
    key = root / "key.png"
    write_image(key, Image.from_array(np.clip(paint(view), 0, 1), ("R", "G", "B")))
    settings = TrainSettings(steps=5, patch=32, batch=4, plateau=False, seed=0, device="cpu", key_psnr=0)
    return str(train(plate, {frame: str(key)}, root / "look.onnx", settings=settings,
                     spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none").model)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    plate = _plate(root, FRAMES)
    model = _model(root, plate, 1)
    reference = root / "reference.png"
    srgb = colour.convert(read_image(plate.path(1)).beauty(alpha=False).as_float32(), PLATE_COLOURSPACE, "sRGB - Texture")
    write_image(reference, Image.from_array(srgb, ("R", "G", "B")))
    # the reference's colour there; the five-step look leaves the patch ΔE00 11 off it after the lock, within
    # --max-hold (3 x a loose tolerance of 4), so the hold is made
    swatches = root / "swatches.json"
    swatches.write_text(json.dumps([{"name": "patch", "rgb": srgb[8:16, 8:18].reshape(-1, 3).mean(0).tolist(),
                                     "colourspace": "sRGB - Texture", "tolerance": 4.0, "region": [8, 8, 10, 8]}]))
    return root, plate, model, reference, swatches


def _frames(pattern: SequencePattern, frames) -> np.ndarray:
    return np.stack([read_image(pattern.path(f)).as_float32() for f in frames])


def test_the_first_chunk_is_small_so_the_first_frames_land_early():
    from inference.pipeline import plan_chunks

    frames = list(range(1001, 1100))
    parts = [c[0] for c in plan_chunks(frames, 32, lambda f: False, 0, 0, set(frames), RenderSettings().first_chunk)]
    assert RenderSettings().first_chunk < RenderSettings().chunk
    assert parts[0] == frames[:RenderSettings().first_chunk] and all(len(p) == 32 for p in parts[1:-1])
    assert sum(parts, []) == frames


def test_chunks_equal_a_whole_pass_and_the_stages_run_one_by_one(shot):
    root, plate, model, reference, swatches = shot
    stages = RenderSettings(RuntimeSettings(backend="onnxruntime", device="cpu"), DetailSettings(px=0.0),
                            DeflickerSettings("both", 1.0, 2))  # the network's look alone (--detail: test_restyle_detail)
    outs = {}
    for chunk, first in ((100, 100), (4, 2)):  # one pass; a first chunk of 2 frames, then chunks of 4
        outs[chunk] = SequencePattern.parse(str(root / f"chunk{chunk}" / "r.####.exr"))
        locked = ColourLockSettings(str(reference), str(root / f"qc{chunk}"), str(swatches))
        summary = render_shot(model, plate, FRAMES, outs[chunk],
                              replace(stages, chunk=chunk, first_chunk=first, colourlock=locked),
                              plate_space=PLATE_COLOURSPACE, progress_mode="none")
        assert summary["frames"] == FRAMES and summary["report"]["passed"]
    whole, chunked = _frames(outs[100], FRAMES), _frames(outs[4], FRAMES)
    assert np.abs(whole - chunked).max() <= 1e-3
    qc = [json.loads((root / f"qc{c}" / "report.json").read_text()) for c in (100, 4)]
    np.testing.assert_allclose(qc[0]["swatches"][0]["after"], qc[1]["swatches"][0]["after"], atol=1e-3)
    # The same stages as separate commands (EXR half between them) give the same frames.
    steps = [["run", "--model", model, "--plate", plate.hashes, "--out", str(root / "s1" / "a.####.exr"),
              "--plate-colourspace", PLATE_COLOURSPACE, "--backend", "onnxruntime", "--device", "cpu", "--detail", "0"],
             ["deflicker", "--input", str(root / "s1" / "a.####.exr"), "--guide", plate.hashes, "--radius", "2",
              "--out", str(root / "s2" / "b.####.exr"), "--device", "cpu", "--input-colourspace", PLATE_COLOURSPACE,
              "--guide-colourspace", PLATE_COLOURSPACE],
             ["colourlock", "--input", str(root / "s2" / "b.####.exr"), "--reference", str(reference),
              "--swatches", str(swatches), "--out", str(root / "s3" / "c.####.exr"), "--report", str(root / "s3qc"),
              "--input-colourspace", PLATE_COLOURSPACE]]
    for step in steps:
        assert cli.main([*step, "--frames", "1-14", "--progress", "none"]) == 0
    separate = _frames(SequencePattern.parse(str(root / "s3" / "c.####.exr")), FRAMES)
    assert np.abs(separate - whole).max() < 0.02 and np.abs(separate - whole).mean() < 2e-3
    # And the deflicker did something: without it the frames differ.
    render_shot(model, plate, FRAMES, SequencePattern.parse(str(root / "raw" / "r.####.exr")),
                replace(stages, deflicker=None), plate_space=PLATE_COLOURSPACE, progress_mode="none")
    assert np.abs(_frames(SequencePattern.parse(str(root / "raw" / "r.####.exr")), FRAMES) - whole).max() > 1e-3


def test_frames_kept_on_the_device_equal_the_host_path(shot):
    """With the torch backend the stages hand frames over as device tensors (GPU path, here CPU
    torch): chunks still equal a whole pass, and the frames and QC equal the host path's."""
    root, plate, model, reference, swatches = shot
    outs, reports = {}, {}
    for name, backend, chunk in (("host", "onnxruntime", 100), ("device", "torch", 100), ("device4", "torch", 4)):
        outs[name] = SequencePattern.parse(str(root / name / "r.####.exr"))
        settings = RenderSettings(RuntimeSettings(backend=backend, device="cpu"), DetailSettings(px=0.0),
                                  DeflickerSettings("both", 1.0, 2, "nuke"),
                                  ColourLockSettings(str(reference), str(root / f"qc_{name}"), str(swatches)), chunk=chunk)
        summary = render_shot(model, plate, FRAMES, outs[name], settings, plate_space=PLATE_COLOURSPACE,
                              progress_mode="none")
        reports[name] = summary["report"]
    host, device = _frames(outs["host"], FRAMES), _frames(outs["device"], FRAMES)
    assert np.abs(device - host).max() < 5e-3 and np.abs(device - host).mean() < 5e-4
    assert np.abs(_frames(outs["device4"], FRAMES) - device).max() <= 1e-3
    # the device hands over half frames: the patch's mean rounds to within ΔE00 0.06 of its target
    np.testing.assert_allclose(reports["device"]["swatches"][0]["after"], reports["host"]["swatches"][0]["after"],
                               atol=0.1)
    assert reports["device"]["swatches"][0]["held"] == reports["host"]["swatches"][0]["held"] == [True] * len(FRAMES)


def test_render_cli_writes_frames_and_gates_on_colour_qc(shot, capsys):
    root, plate, model, reference, swatches = shot
    strict = root / "strict.json"
    strict.write_text(json.dumps([{"name": "red", "rgb": [0.8, 0.1, 0.1], "region": [8, 8, 10, 8]},   # one patch,
                                  {"name": "impossible", "rgb": [0.1, 0.8, 0.1], "region": [8, 8, 10, 8]}]))  # two targets
    args = ["render", "--model", model, "--plate", plate.hashes, "--frames", "3-6", "--plate-colourspace",
            PLATE_COLOURSPACE, "--out", str(root / "cli" / "o.####.exr"), "--reference", str(reference),
            "--report", str(root / "cliqc"), "--device", "cpu", "--progress", "none"]
    assert cli.main(args + ["--swatches", str(swatches), "--compression", "piz"]) == 0
    assert sorted(p.name for p in (root / "cli").iterdir()) == [f"o.{f:04d}.exr" for f in range(3, 7)]
    with OpenEXR.File(str(root / "cli" / "o.0003.exr")) as exr:
        assert exr.header()["compression"] == OpenEXR.PIZ_COMPRESSION
    printed = capsys.readouterr().out
    said = re.search(r"wrote 4 frame\(s\) to .* in ([\d.]+) s \(([\d.]+) frames/s, ([\d.]+) CPU s/frame\)", printed)
    # the render's own time, speed and host work, and where the time went, which the multi-GPU bench reads
    assert said and float(said.group(2)) > 0 and float(said.group(3)) > 0
    stages = bench_multigpu.stage_seconds(printed)
    assert {"read+restyle", "deflicker", "colourlock", "output"} <= set(stages) and stages["read+restyle"] > 0
    bad = ["--out", str(root / "badc" / "o.####.exr"), "--compression", "zap"]
    assert cli.main(args[:9] + bad + ["--device", "cpu"]) == 64
    assert "unknown EXR compression 'zap'" in capsys.readouterr().err and not (root / "badc").exists()
    png = ["--out", str(root / "badp" / "o.####.png"), "--compression", "piz"]
    assert cli.main(args[:9] + png + ["--device", "cpu"]) == 64
    assert "--compression is for EXR output" in capsys.readouterr().err and not (root / "badp").exists()
    assert cli.main(args + ["--swatches", str(strict)]) == cli.EX_QC_FAILED
    printed = capsys.readouterr().out  # neither colour is in the frames there: not painted in, and said so
    assert "QC FAIL" in printed and "swatch 'red' frames 3-6: the frames did not carry this colour here" in printed
    assert cli.main(args[:-6] + ["--reference", str(reference), "--device", "cpu"]) == 64   # no --report


_PEAK = """
import sys, tracemalloc
from inference.pipeline import render_shot
from inference.render_settings import RenderSettings
from inference.restyle.settings import RuntimeSettings
from inference.sequence import SequencePattern
from inference.temporal.settings import DeflickerSettings
model, plate, last, out, space = sys.argv[1:]
grown = [sys.intern(f"restyle-test-{i}") for i in range(300000)]  # see _peak_bytes
del grown
tracemalloc.start()
render_shot(model, SequencePattern.parse(plate), list(range(1, int(last) + 1)), SequencePattern.parse(out),
            RenderSettings(RuntimeSettings(backend="onnxruntime", device="cpu"), deflicker=DeflickerSettings("local", 1.0, 1),
                           chunk=8), plate_space=space, progress_mode="none", threads=1)
print(tracemalloc.get_traced_memory()[1])
"""


def _peak_bytes(root, plate, model, frames) -> int:
    """Peak traced host memory of a render of ``frames`` (1..N), in a fresh process as a farm task
    runs it, with the keys' detail on (the default). Python's table of interned strings (file names
    are interned) grows by doubling, one block of several MB whenever it fills, wherever that falls;
    it is grown first, so the measure sees the render, not that table (bench/JOURNAL.md, 2026-12-05)."""
    out = root / f"mem{len(frames)}" / "m.####.exr"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                                      os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _PEAK, model, plate.hashes, str(frames[-1]), str(out),
                           PLATE_COLOURSPACE], capture_output=True, text=True, check=True, env=env)
    return int(done.stdout.split()[-1])


def test_host_memory_does_not_grow_with_the_shot(tmp_path):
    frames = list(range(1, 2001))
    plate = _plate(tmp_path, frames, width=24, height=16)
    model = _model(tmp_path, plate, 1)
    short, long = _peak_bytes(tmp_path, plate, model, frames[:200]), _peak_bytes(tmp_path, plate, model, frames)
    # The chunk plan lists every frame (measured about 190 B a frame); keeping any frame's pixels
    # (one 24x16 half plane is 768 B) or a per-frame array would go past 400.
    assert (long - short) / (len(frames) - 200) < 400, (short, long)
    print(f"peak traced host memory: 200 frames {short} B, 2000 frames {long} B")


def test_restyle_bench_measures_each_stage_and_the_render(tmp_path, capsys):
    out = tmp_path / "pipeline.json"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    args = ["bench", "--frames", "4", "--chunk", "2", "--device", "cpu", "--out", str(out), "--label", "ci",
            "--compression", "zip,none", "--plate-compression", "piz", "--scratch", str(scratch)]
    assert cli.main([*args, "--sizes", "96x64", "--progress", "none"]) == 0
    run = json.loads(out.read_text())["runs"]["ci"]
    size = run["sizes"]["96x64"]
    assert set(size["stages_alone"]) >= {"read", "restyle", "deflicker", "colourlock", "write"}
    assert size["stages_alone"]["hand_over"] == "HostFrames"  # onnxruntime on the CPU
    full = size["end_to_end"]["restyle_deflicker_colourlock"]
    assert full["frames"] == 4 and full["fps"] > 0 and {"read+restyle", "deflicker", "colourlock"} <= set(full["stage_seconds"])
    assert full["cpu_s_per_frame"] > 0 and size["stages_alone"]["write_none"]["fps"] > 0
    uncompressed = size["end_to_end"]["restyle_deflicker_colourlock_none"]  # the render again, output not compressed
    assert uncompressed["frames"] == 4 and "restyle_none" in size["end_to_end"]
    assert run["device"] == "cpu" and run["machine"]["cpu_cores"] >= 1
    assert {"git_commit", "git_dirty", "command"} <= set(run)  # what makes the record again
    assert run["scratch"] == str(scratch) and size["input"].startswith("half EXR (PIZ)")
    assert not list(scratch.iterdir())  # the bench's plates and renders are gone with it
    profile = full["torch_profile"]  # the full chain again under torch's profiler: its stages and busiest ops
    assert profile["stages_gpu_ms"] == {} and profile["top_self_gpu"] == []  # the CPU: no GPU time to report
    assert len(profile["top_self_cpu"]) > 3 and all("self CPU" in line for line in profile["top_self_cpu"])
    assert cli.main([*args, "--sizes", "2048by1080"]) == 64
    assert "not WIDTHxHEIGHT" in capsys.readouterr().err
    assert cli.main([*args, "--sizes", "96x64", "--plate-compression", "zap"]) == 64
    assert "--plate-compression: unknown EXR compression 'zap'" in capsys.readouterr().err
    assert cli.main([*args, "--sizes", "96x64", "--scratch", str(tmp_path / "absent")]) == 64
    assert "is not a folder" in capsys.readouterr().err


def test_plates_go_to_the_device_on_the_reading_threads_once_and_leave_behind_the_chunks(shot, monkeypatch):
    """With frames on the device, each plate is copied there as it is read; the restyle and the
    deflicker both use that copy (no upload of their own), and copies are dropped once the chunks
    have passed them, so at most a chunk's span plus the frames read ahead are held."""
    root, plate, model, *_ = shot
    used, held = [], []
    get, add = DevicePlates.get, DevicePlates.add
    monkeypatch.setattr(DevicePlates, "get", lambda self, image: used.append(get(self, image)) or used[-1])
    monkeypatch.setattr(DevicePlates, "add", lambda self, image: add(self, image) or held.append(len(self)))
    out = SequencePattern.parse(str(root / "copied" / "r.####.exr"))
    render_shot(model, plate, FRAMES, out, RenderSettings(RuntimeSettings(backend="torch", device="cpu"),
                deflicker=DeflickerSettings("both", 1.0, 1, "nuke"), chunk=2), plate_space=PLATE_COLOURSPACE, threads=1,
                progress_mode="none")
    assert len(held) == len(FRAMES) and all(copy is not None for copy in used)
    assert len(used) >= 2 * len(FRAMES)  # restyle and deflicker
    assert max(held) <= 2 + 2 * 2 + 2  # chunk + deflicker handles each side + 2 read ahead (2 x threads)
    reference = SequencePattern.parse(str(root / "uncopied" / "r.####.exr"))
    monkeypatch.setattr(DevicePlates, "add", lambda self, image: None)
    render_shot(model, plate, FRAMES, reference, RenderSettings(RuntimeSettings(backend="torch", device="cpu"),
                deflicker=DeflickerSettings("both", 1.0, 1, "nuke"), chunk=2), plate_space=PLATE_COLOURSPACE, threads=1,
                progress_mode="none")
    np.testing.assert_array_equal(_frames(out, FRAMES), _frames(reference, FRAMES))


def test_stage_clock_reports_each_stages_own_peak_and_the_overall_one(monkeypatch):
    """On CUDA the clock resets torch's peak counter as each stage starts (simulated here: a
    counter that only grows until reset), so each stage reports its own peak and the overall
    peak survives the resets."""
    import torch

    from inference.pipeline import StageClock

    memory = {"now": 2e9, "peak": 5e9}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda *a: memory["peak"])
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", lambda *a: memory.update(peak=memory["now"]))

    def allocate(gb: float) -> None:
        memory["now"] += gb * 1e9
        memory["peak"] = max(memory["peak"], memory["now"])

    clock = StageClock()
    for stage, grow, free in (("read+restyle", 1, 0), ("deflicker", 6, 6), ("output", 0.5, 0.5), ("deflicker", 2, 2)):
        with clock(stage):
            allocate(grow)
            allocate(-free)
    peaks = clock.peak_gb()
    assert peaks == {"read+restyle": 3.0, "deflicker": 9.0, "output": 3.5, "overall": 9.0}
    assert set(clock.summary()) == {"read+restyle", "deflicker", "output"}


def test_frames_deflickered_for_a_chunks_handles_are_not_deflickered_again(shot, monkeypatch):
    """The colour lock fits over its handles, so a chunk deflickers frames of its neighbours;
    the next chunk takes those over instead of computing them again: every frame once."""
    from inference.pipeline import DeviceFrames

    root, plate, model, reference, swatches = shot
    counted = []
    settle = DeviceFrames.settle

    def counting(self, looks, plates, space, targets, numbers, stage):
        counted.extend(numbers[t] for t in targets)
        return settle(self, looks, plates, space, targets, numbers, stage)

    monkeypatch.setattr(DeviceFrames, "settle", counting)
    out = SequencePattern.parse(str(root / "carried" / "r.####.exr"))
    render_shot(model, plate, FRAMES, out, RenderSettings(
        RuntimeSettings(backend="torch", device="cpu"), deflicker=DeflickerSettings("both", 1.0, 1, "nuke"),
        colourlock=ColourLockSettings(str(reference), str(root / "qc_carried"), sigma=1.0), chunk=3),
        plate_space=PLATE_COLOURSPACE, progress_mode="none")
    assert sorted(counted) == FRAMES


def test_render_cli_names_the_stage_with_the_peak_gpu_memory(shot, monkeypatch, capsys):
    """On CUDA the render's summary has each stage's peak device memory; the CLI prints the
    overall peak and where it was, so a TD sees which stage to size a card for."""
    from inference import pipeline

    root, plate, model, *_ = shot
    monkeypatch.setattr(pipeline, "render_shot", lambda *a, **k: {
        "frames": [1, 2], "seconds": 2.0, "cpu_seconds": 1.0, "stages": {},
        "stage_peak_gpu_gb": {"read+restyle": 6.4, "deflicker": 19.36, "output": 6.7, "overall": 19.36}})
    args = ["render", "--model", model, "--plate", plate.hashes, "--frames", "1-2", "--out",
            str(root / "peak" / "o.####.exr"), "--progress", "none"]
    assert cli.main(args) == 0
    said = capsys.readouterr().out
    assert "peak GPU memory 19.4 GB (largest in deflicker: read+restyle 6.4, deflicker 19.4, output 6.7)" in said


def test_a_colour_locking_render_imports_colour_science_from_its_start(shot, monkeypatch):
    """The colour lock's QC is colour-science's first use; a fresh farm task imports it on a
    background thread as the render begins, not inside the first chunk's colour lock."""
    root, plate, model, reference, _ = shot
    started = []
    real = pipeline.preload_colour_science
    monkeypatch.setattr(pipeline, "preload_colour_science", lambda: started.append(real()))
    out = SequencePattern.parse(str(root / "pre" / "p.####.exr"))
    cpu = RenderSettings(RuntimeSettings(device="cpu"))
    render_shot(model, plate, FRAMES[:2], out, cpu, plate_space=PLATE_COLOURSPACE, progress_mode="none")
    assert started == []  # no colour lock, no import
    locked = replace(cpu, colourlock=ColourLockSettings(str(reference), str(root / "preqc")))
    render_shot(model, plate, FRAMES[:2], out, locked, plate_space=PLATE_COLOURSPACE, progress_mode="none")
    assert len(started) == 1 and started[0].name == "import colour-science"
    started[0].join(60)
    assert not started[0].is_alive() and hasattr(sys.modules["colour"], "difference")
