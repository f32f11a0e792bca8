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
import pytest
import yaml

from inference import cli
from inference.farm.openjd import RENDER_PARAMS
from inference.farm.settings import DEFAULT_CHUNK_SIZE
from inference.image import read_image
from inference.jobs.commands import SUBCOMMANDS
from inference.sequence import SequencePattern

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "inference" / "farm" / "restyle_shot.yaml"
OPENJD = str(Path(sys.executable).parent / "openjd")


def test_template_passes_openjd_check():
    run = subprocess.run([OPENJD, "check", str(TEMPLATE)], capture_output=True, text=True)
    assert run.returncode == 0 and "passes validation" in run.stdout, run.stdout + run.stderr


def test_template_has_a_parameter_for_every_render_setting_left_to_the_engines_default():
    params = {p["name"]: p for p in yaml.safe_load(TEMPLATE.read_text())["parameterDefinitions"]}
    render_args = {dest: options for _flags, dest, options in SUBCOMMANDS["render"]["args"]}
    # every `restyle render` field but those each chunk sets (frames, report, skip_existing) has a parameter
    assert set(RENDER_PARAMS.values()) == set(render_args) - {"frames", "report", "skip_existing"}
    for param, field in RENDER_PARAMS.items():
        if field in ("model", "plate", "out"):
            assert "default" not in params[param], param
            continue
        # empty leaves the flag out: the engine's settings hold the only copy of the default
        assert params[param]["default"] == "", param
        # a choice takes the engine's choices (--vectors: inference/temporal/settings.py VECTORS) or empty;
        # a switch is on with 'true'
        choices = ["true"] if render_args[field].get("action") == "store_const" else render_args[field].get("choices")
        assert params[param].get("allowedValues") == (["", *choices] if choices else None), param
    assert params["ChunkSize"]["default"] == DEFAULT_CHUNK_SIZE


@pytest.mark.parametrize("colour_lock", [True, False])
def test_every_render_setting_reaches_each_render_task(tmp_path, restyle_model, recording_python, colour_lock):
    # GIVEN a shot with every render setting off its default, paintings for the detail, and with or
    # without a colour reference
    (tmp_path / "comp.nk").write_text("Root {}\n")
    settings = ["--plate-colourspace", "ACEScg", "--out-colourspace", "ACEScg", "--ocio-config",
                "ocio://studio-config-latest", "--device", "cpu", "--backend", "onnxruntime", "--dtype", "fp32",
                "--tile", "256", "--batch", "2", "--detail", "4", "--key", "1001=paint/key 1.png", "--key",
                "1009=paint/key.1009.png", "--key-colourspace", "sRGB", "--vectors", "blender", "--deflicker", "local",
                "--strength", "0.5", "--radius", "3", "--chunk", "8", "--compression", "piz"]
    lock = ["--reference", "ref.png", "--report", "qc", "--reference-colourspace", "sRGB", "--swatches", "sw.json",
            "--method", "lstsq", "--sigma", "2.5", "--lut", "--max-hold", "3"]
    done = subprocess.run([sys.executable, "-m", "inference.cli", "submit", "--farm", "openjd", "--job-dir", "job",
                           "--comp", "comp.nk", "--model", str(restyle_model), "--plate", "plate/p.####.exr",
                           "--frames", "1001-1006", "--out", "out/o.####.exr", "--chunk-size", "4", *settings,
                           *(lock if colour_lock else [])], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    # WHEN OpenJD runs the Restyle step's tasks with an engine that records its command line
    run = subprocess.run([OPENJD, "run", str(tmp_path / "job" / TEMPLATE.name), "--job-param",
                          f"file://{tmp_path / 'job' / 'parameter_values.json'}", "--step", "Restyle",
                          "--no-run-dependencies", "-p", f"EnginePython={recording_python[0]}"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]

    # THEN each chunk's command is `restyle render` of its frames with every setting of the shot, and the
    # colour lock (its report where the gate reads it) only with a reference
    tasks = recording_python[1]()
    expected = cli.job_from_args("render", cli.build_parser().parse_args(
        ["render", "--model", "m", "--plate", "p.####.exr", "--frames", "1", "--out", "o.####.exr", *settings,
         *(lock if colour_lock else [])]))
    for argv, (first, last) in zip(tasks, [(1001, 1004), (1005, 1006)], strict=True):
        assert argv[:3] == ["-m", "inference.cli", "render"]
        job = cli.job_from_args("render", cli.build_parser().parse_args(argv[2:]))
        chunk = {"model": str(restyle_model), "plate": str(tmp_path / "plate/p.####.exr"), "frames": f"{first}-{last}",
                 "out": str(tmp_path / "out/o.####.exr"), "skip_existing": True,
                 "keys": {"1001": str(tmp_path / "paint/key 1.png"), "1009": str(tmp_path / "paint/key.1009.png")}}
        if colour_lock:
            chunk.update(reference=str(tmp_path / "ref.png"), report=str(tmp_path / "qc" / f"chunk.{first}"),
                         swatches=str(tmp_path / "sw.json"))
        assert job == {**expected, **chunk}


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

    # WHEN `restyle submit --farm openjd --node` writes the job with the approved version's deflicker
    # (off: not the render's default) and `openjd run` runs all of it
    assert approved["job"]["deflicker"] == "off"
    submit = subprocess.run([sys.executable, "-m", "inference.cli", "submit", "--farm", "openjd", "--job-dir", "job",
                             "--comp", "comp.nk", "--node", look.fullName(), "--model", jobs.model_path(look, approved["job"]["model"]),
                             "--plate", plate.hashes, "--frames", "1001-1003", "--out", out.hashes,
                             "--reference", str(reference), "--report", "qc", "--chunk-size", "2", "--device", "cpu",
                             "--nuke", str(nuke_exe), "--name", "sceneA", "--deflicker", approved["job"]["deflicker"]],
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
    # AND each render task's command (logged by the step) carries the approved deflicker setting
    renders = [line for line in run.stdout.splitlines() if "inference.cli render" in line]
    assert len(renders) == 2 and all("--deflicker off" in line for line in renders), renders
    # AND the chunked restyle equals a whole-range render
    assert out.existing_frames() == [1001, 1002, 1003]
    whole = SequencePattern.parse(str(comp.dir / "whole" / "restyle.####.exr"))
    subprocess.run([sys.executable, "-m", "inference.cli", "render", "--model", jobs.model_path(look, approved["job"]["model"]),
                    "--plate", plate.hashes, "--frames", "1001-1003", "--out", whole.hashes, "--reference",
                    str(reference), "--report", str(comp.dir / "wholeqc"), "--device", "cpu", "--deflicker", "off",
                    "--progress", "none"],
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
