"""The Open Job Description template: openjd-model validates it, and `openjd run` runs a whole
shot written by `restyle submit --farm openjd` on the Blender plate (tests/fixtures): the Restyle chunks
(real engine, CPU; they equal a whole-range render), the QC gate, and the Comp chunks through the
test `nuke` executable, whose gizmos load only through the template's NUKE_PATH."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

from inference.image import read_image
from inference.restyle.settings import TrainColourspaces
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "inference" / "farm" / "restyle_shot.yaml"
OPENJD = str(Path(sys.executable).parent / "openjd")
LINEAR = "Linear Rec.709 (sRGB)"


def test_template_passes_openjd_check():
    run = subprocess.run([OPENJD, "check", str(TEMPLATE)], capture_output=True, text=True)
    assert run.returncode == 0 and "passes validation" in run.stdout, run.stdout + run.stderr


def test_openjd_runs_the_whole_shot_restyle_chunks_qc_gate_and_nuke_comp(comp, nuke_exe, small_data):
    # GIVEN a look trained on the Blender plate (tests/fixtures), and a comp saved in Nuke that reads the
    # restyled frames through a (disabled) toolset gizmo into a Write
    plate = SequencePattern.parse(str(comp.scene / "exr" / "sceneA.####.exr"))
    reference = comp.scene / "png" / "sceneA_beauty.1001.png"
    model = train(plate, {1001: str(small_data / "style" / "sceneA_painting.1001.png")}, comp.dir / "look.onnx",
                  settings=TrainSettings(steps=3, patch=32, batch=4, plateau=False, device="cpu", key_psnr=0),
                  spaces=TrainColourspaces(plate=LINEAR), progress_mode="none").model
    out = SequencePattern.parse(str(comp.dir / "cache" / "restyle.####.exr"))
    nuke = comp.nuke
    restyled = nuke.nodes.Read(file=out.hashes, first=1001, last=1005)
    settle = nuke.createNode("RestyleDeflicker")
    settle.setInput(0, restyled)
    settle.setInput(1, comp.plate)
    settle["disable"].setValue(True)  # the farm's restyle step already deflickers
    nuke.nodes.Write(file=str(comp.dir / "comp" / "comp.####.exr"), channels="rgba", create_directories=True,
                     inputs=[settle])
    nuke.root()["last_frame"].setValue(1005)
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))

    # WHEN `restyle submit --farm openjd` writes the job and `openjd run` runs all of it
    submit = subprocess.run([sys.executable, "-m", "inference.cli", "submit", "--farm", "openjd", "--job-dir", "job",
                             "--comp", "comp.nk", "--model", str(model), "--plate", plate.hashes,
                             "--plate-colourspace", LINEAR, "--frames", "1001-1005", "--out", out.hashes,
                             "--reference", str(reference), "--report", "qc", "--chunk-size", "2", "--device", "cpu",
                             "--nuke", str(nuke_exe), "--name", "sceneA"],
                            cwd=comp.dir, capture_output=True, text=True)
    assert submit.returncode == 0, submit.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("NUKE_PATH", "PYTHONPATH", "RESTYLE_FARM_BATCH")}
    command = shlex.split((comp.dir / "job" / "submit.sh").read_text().splitlines()[-1])
    assert command[:3] == ["exec", "openjd", "run"]
    run = subprocess.run([OPENJD, *command[2:]], cwd=comp.dir, env=env, capture_output=True, text=True, timeout=600)

    # THEN every step ran: three render chunks, the gate on their three reports, three comp chunks
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "QC gate: 3 report(s), 0 failed" in run.stdout
    # AND the chunked restyle equals a whole-range render
    assert out.existing_frames() == [1001, 1002, 1003, 1004, 1005]
    whole = SequencePattern.parse(str(comp.dir / "whole" / "restyle.####.exr"))
    subprocess.run([sys.executable, "-m", "inference.cli", "render", "--model", str(model), "--plate", plate.hashes,
                    "--plate-colourspace", LINEAR, "--frames", "1001-1005", "--out", whole.hashes, "--reference",
                    str(reference), "--report", str(comp.dir / "wholeqc"), "--device", "cpu", "--progress", "none"],
                   check=True)
    # AND the comp (gizmo loaded through the template's NUKE_PATH) wrote every frame from the restyled ones
    for frame in range(1001, 1006):
        a, b = read_image(out.path(frame)).as_float32(), read_image(whole.path(frame)).as_float32()
        assert np.abs(a - b).max() <= 1e-3, frame
        written = read_image(comp.dir / "comp" / f"comp.{frame}.exr").beauty().as_float32()
        assert np.array_equal(written[..., :3], read_image(out.path(frame)).beauty().as_float32()[..., :3]), frame


def test_qc_gate_fails_the_job_when_a_chunk_failed_its_colour_qc(tmp_path):
    for chunk, passed in ((1001, True), (1003, False)):
        (tmp_path / "qc" / f"chunk.{chunk}").mkdir(parents=True)
        (tmp_path / "qc" / f"chunk.{chunk}" / "report.json").write_text(json.dumps(
            {"passed": passed, "frames": f"{chunk}-{chunk + 1}", "palette_delta_e_before": [2.0, 2.0],
             "palette_delta_e_after": [0.5, 0.5], "swatches": [], "failures": [] if passed else ["a fault"]}))
    params = {"Model": tmp_path / "look.onnx", "Plate": "p.####.exr", "Reference": tmp_path / "r.png",
              "Output": "o.####.exr", "ReportDir": tmp_path / "qc", "FrameStart": 1001, "FrameEnd": 1004,
              "EnginePython": sys.executable, "ToolsetRoot": REPO, "CompScript": tmp_path / "comp.nk"}
    run = subprocess.run([OPENJD, "run", str(TEMPLATE), "--step", "QCGate", "--no-run-dependencies",
                          *[a for k, v in params.items() for a in ("-p", f"{k}={v}")]],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode != 0 and "QC gate FAILED" in run.stdout and "chunk.1003" in run.stdout, run.stdout[-2000:]
