"""The Open Job Description template: openjd-model validates it, and `openjd run` renders a small
range of the shared Blender plate through its Restyle chunks and QC gate (real engine, CPU);
the chunked frames equal a whole-range render."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from inference.image import read_image
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "farm" / "openjd" / "restyle_shot.yaml"
OPENJD = str(Path(sys.executable).parent / "openjd")
LINEAR = "Linear Rec.709 (sRGB)"


def test_template_passes_openjd_check():
    run = subprocess.run([OPENJD, "check", str(TEMPLATE)], capture_output=True, text=True)
    assert run.returncode == 0 and "passes validation" in run.stdout, run.stdout + run.stderr


def test_openjd_runs_restyle_chunks_and_the_qc_gate(shared_data, tmp_path):
    plate = SequencePattern.parse(str(shared_data / "render_sceneA" / "exr" / "sceneA.####.exr"))
    reference = shared_data / "render_sceneA" / "png" / "sceneA_beauty.1001.png"
    model = train(plate, {1001: str(shared_data / "style" / "sceneA_painting.1001.png")}, tmp_path / "look.onnx",
                  settings=TrainSettings(steps=3, patch=32, batch=4, plateau=False, device="cpu"),
                  plate_space=LINEAR, progress_mode="none").model
    out = SequencePattern.parse(str(tmp_path / "cache" / "restyle.####.exr"))
    params = {"Model": model, "Plate": plate.hashes, "PlateColourspace": LINEAR, "Reference": reference,
              "Output": out.hashes, "ReportDir": tmp_path / "qc", "FrameStart": 1001, "FrameEnd": 1005,
              "ChunkSize": 2, "Device": "cpu", "EnginePython": sys.executable, "ToolsetRoot": REPO,
              "CompScript": tmp_path / "comp.nk", "NukeExecutable": "nuke"}
    run = subprocess.run([OPENJD, "run", str(TEMPLATE), "--step", "QCGate", "--run-dependencies",
                          *[a for k, v in params.items() for a in ("-p", f"{k}={v}")]],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "QC gate: 3 report(s), 0 failed" in run.stdout
    assert out.existing_frames() == [1001, 1002, 1003, 1004, 1005]
    whole = SequencePattern.parse(str(tmp_path / "whole" / "restyle.####.exr"))
    subprocess.run([sys.executable, "-m", "inference.cli", "render", "--model", str(model), "--plate", plate.hashes,
                    "--plate-colourspace", LINEAR, "--frames", "1001-1005", "--out", whole.hashes, "--reference",
                    str(reference), "--report", str(tmp_path / "wholeqc"), "--device", "cpu", "--progress", "none"],
                   check=True)
    for frame in range(1001, 1006):
        a, b = read_image(out.path(frame)).as_float32(), read_image(whole.path(frame)).as_float32()
        assert np.abs(a - b).max() <= 1e-3, frame


def test_qc_gate_fails_the_job_when_a_chunk_failed_its_colour_qc(tmp_path):
    for chunk, passed in ((1001, True), (1003, False)):
        (tmp_path / "qc" / f"chunk.{chunk}").mkdir(parents=True)
        (tmp_path / "qc" / f"chunk.{chunk}" / "report.json").write_text(f'{{"passed": {str(passed).lower()}}}')
    params = {"Model": tmp_path / "look.onnx", "Plate": "p.####.exr", "Reference": tmp_path / "r.png",
              "Output": "o.####.exr", "ReportDir": tmp_path / "qc", "FrameStart": 1001, "FrameEnd": 1004,
              "EnginePython": sys.executable, "ToolsetRoot": REPO, "CompScript": tmp_path / "comp.nk"}
    run = subprocess.run([OPENJD, "run", str(TEMPLATE), "--step", "QCGate", "--no-run-dependencies",
                          *[a for k, v in params.items() for a in ("-p", f"{k}={v}")]],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "QC gate FAILED" in run.stdout and "chunk.1003" in run.stdout, run.stdout[-2000:]
