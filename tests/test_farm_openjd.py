"""The Open Job Description template: openjd-model validates it, and `openjd run` runs a whole
shot written by `restyle submit --farm openjd --node` on the Blender plate (tests/fixtures): the
Nuke prep chunks (`nuke -t`), the Restyle chunks (real engine, CPU; they equal a whole-range render),
the QC gate, and the Comp chunks, both Nuke steps through the test `nuke` executable (which refuses
nested execution as Nuke does), whose gizmos load only through the template's NUKE_PATH."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np

from inference.image import read_image
from inference.sequence import SequencePattern

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "inference" / "farm" / "restyle_shot.yaml"
OPENJD = str(Path(sys.executable).parent / "openjd")


def test_template_passes_openjd_check():
    run = subprocess.run([OPENJD, "check", str(TEMPLATE)], capture_output=True, text=True)
    assert run.returncode == 0 and "passes validation" in run.stdout, run.stdout + run.stderr


def test_openjd_runs_the_whole_shot_prep_restyle_chunks_qc_gate_and_nuke_comp(comp, restyle_look, nuke_exe, press):
    from nuke_plugin import jobs

    # GIVEN a look in a comp saved in Nuke, on a plate Nuke must render (a Text2 over the Read), signed
    # off, trained and approved (not rendered), feeding a Write; the plate frames the GUI rendered are gone
    nuke = comp.nuke
    look = restyle_look()
    look.setInput(0, nuke.nodes.Text2(message="slate", inputs=[comp.plate]))
    press(look, "sign_off", "train", "approve")
    approved = jobs.approved(look)
    nuke.nodes.Write(file=str(comp.dir / "comp" / "comp.####.exr"), channels="rgba", create_directories=True,
                     inputs=[look])
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    plate = SequencePattern.parse(str(comp.dir / "restyle_cache" / "inputs" / look.fullName() / "plate" /
                                      "plate.####.exr"))
    for frame in plate.existing_frames():
        Path(plate.path(frame)).unlink()
    out = SequencePattern.parse(approved["pattern"])
    reference = comp.scene / "png" / "sceneA_beauty.1001.png"

    # WHEN `restyle submit --farm openjd --node` writes the job and `openjd run` runs all of it
    submit = subprocess.run([sys.executable, "-m", "inference.cli", "submit", "--farm", "openjd", "--job-dir", "job",
                             "--comp", "comp.nk", "--node", look.fullName(), "--model", jobs.model_path(look, approved["job"]["model"]),
                             "--plate", plate.hashes, "--frames", "1001-1003", "--out", out.hashes,
                             "--reference", str(reference), "--report", "qc", "--chunk-size", "2", "--device", "cpu",
                             "--nuke", str(nuke_exe), "--name", "sceneA"],
                            cwd=comp.dir, capture_output=True, text=True)
    assert submit.returncode == 0, submit.stderr
    assert json.loads((comp.dir / "job" / "parameter_values.json").read_text())["NukeNode"] == look.fullName()
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUKE_PATH", "PYTHONPATH", "RESTYLE_FARM_BATCH", "RESTYLE_PYTHON")}
    command = shlex.split((comp.dir / "job" / "submit.sh").read_text().splitlines()[-1])
    assert command[:3] == ["exec", "openjd", "run"]
    run = subprocess.run([OPENJD, *command[2:]], cwd=comp.dir, env=env, capture_output=True, text=True, timeout=600)

    # THEN every step ran, in order: the Nuke prep made the plate, two render chunks, the gate on their
    # two reports, two comp chunks
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    steps = [line.split("'")[1] for line in run.stdout.splitlines() if "Running step '" in line]
    assert steps == ["Prep", "Restyle", "QCGate", "Comp"], run.stdout[-3000:]
    assert plate.existing_frames() == [1001, 1002, 1003]
    assert "QC gate: 2 report(s), 0 failed" in run.stdout
    # AND the chunked restyle equals a whole-range render
    assert out.existing_frames() == [1001, 1002, 1003]
    whole = SequencePattern.parse(str(comp.dir / "whole" / "restyle.####.exr"))
    subprocess.run([sys.executable, "-m", "inference.cli", "render", "--model", jobs.model_path(look, approved["job"]["model"]),
                    "--plate", plate.hashes, "--frames", "1001-1003", "--out", whole.hashes, "--reference",
                    str(reference), "--report", str(comp.dir / "wholeqc"), "--device", "cpu", "--progress", "none"],
                   check=True)
    # AND the comp (gizmo loaded through the template's NUKE_PATH) wrote every frame from the approved ones
    for frame in range(1001, 1004):
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
