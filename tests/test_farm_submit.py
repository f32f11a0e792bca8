"""`restyle submit`: Deadline 10 job/plugin info files, the OpenCue job spec (pyoutline), the OpenJD
template + parameter values; each farm's commands, with its frame tokens filled in, are valid
`restyle render` / `restyle gate` command lines. And `restyle gate` itself."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import xml.etree.ElementTree as Et
from pathlib import Path

import pytest

from inference import cli
from inference.jobs.argv import command_args

REPO = Path(__file__).resolve().parents[1]
OPENJD = str(Path(sys.executable).parent / "openjd")


@pytest.fixture
def shot(tmp_path, restyle_model):
    """A comp script (its contents do not matter to the submission) and a model; flags of a
    colour-locked shot with relative paths, as a TD types them in the shot's folder."""
    (tmp_path / "comp.nk").write_text("Root {}\n")
    shutil.copy(restyle_model, tmp_path / "look.onnx")
    return ["--comp", "comp.nk", "--model", "look.onnx", "--plate", "plate dir/sh010.####.exr",
            "--frames", "1001-1010", "--out", "cache/restyle.####.exr", "--reference", "ref.png",
            "--report", "qc", "--chunk-size", "4", "--device", "cuda", "--deflicker", "global", "--radius", "2"]


def submit(tmp_path, *args, env=None):
    return subprocess.run([sys.executable, "-m", "inference.cli", "submit", *args], cwd=tmp_path,
                          capture_output=True, text=True, env=env)


def parsed(command: str, argv: list[str]) -> dict:
    """The job the engine's own argparse (and manifest merge) makes of ``argv``."""
    args = cli.build_parser().parse_args([command, *argv])
    return cli.job_from_args(command, args)


def expected_render(tmp_path, first: int, last: int) -> dict:
    return {"model": str(tmp_path / "look.onnx"), "plate": str(tmp_path / "plate dir/sh010.####.exr"),
            "out": str(tmp_path / "cache/restyle.####.exr"), "reference": str(tmp_path / "ref.png"),
            "device": "cuda", "deflicker": "global", "radius": 2, "frames": f"{first}-{last}", "skip_existing": True,
            "report": str(tmp_path / "qc" / f"chunk.{first}")}


def test_deadline_job_and_plugin_info_files(tmp_path, shot, deadline_info):
    done = submit(tmp_path, "--farm", "deadline", "--job-dir", "jobs", *shot, "--nuke-version", "15.1",
                  "--gpu-group", "gpu", "--pool", "restyle", "--priority", "70", "--name", "sh010",
                  "--node", "Restyle1", "--nuke", "/opt/nuke/Nuke15.1")
    assert done.returncode == 0, done.stderr
    jobs = tmp_path / "jobs"
    # THEN the prep: `nuke -t farm_prep.py` per chunk on the CommandLine plug-in, the toolset and engine in its env
    prep, prep_plugin = deadline_info(jobs / "prep_job_info.job"), deadline_info(jobs / "prep_plugin_info.job")
    assert {k: prep[k] for k in ("Plugin", "Frames", "ChunkSize", "Pool", "Priority", "BatchName")} == {
        "Plugin": "CommandLine", "Frames": "1001-1010", "ChunkSize": "4", "Pool": "restyle", "Priority": "70",
        "BatchName": "sh010"}
    assert sorted(v for k, v in prep.items() if k.startswith("EnvironmentKeyValue")) == [
        f"NUKE_PATH={REPO}", f"RESTYLE_PYTHON={sys.executable}"]
    assert prep_plugin["Executable"] == "/opt/nuke/Nuke15.1"
    assert shlex.split(prep_plugin["Arguments"].replace("<STARTFRAME>", "1005").replace("<ENDFRAME>", "1008")) == [
        "-t", str(REPO / "nuke_plugin" / "farm_prep.py"), str(tmp_path / "comp.nk"), "1005-1008", "Restyle1"]
    render, render_plugin = deadline_info(jobs / "render_job_info.job"), deadline_info(jobs / "render_plugin_info.job")
    gate, gate_plugin = deadline_info(jobs / "qc_gate_job_info.job"), deadline_info(jobs / "qc_gate_plugin_info.job")
    comp, comp_plugin = deadline_info(jobs / "comp_job_info.job"), deadline_info(jobs / "comp_plugin_info.job")
    # THEN the render: CommandLine, chunks of 4 over the shot, GPU group, output named the Deadline way
    assert {k: render[k] for k in ("Plugin", "Frames", "ChunkSize", "Group", "Pool", "Priority", "BatchName")} == {
        "Plugin": "CommandLine", "Frames": "1001-1010", "ChunkSize": "4", "Group": "gpu", "Pool": "restyle",
        "Priority": "70", "BatchName": "sh010"}
    assert (render["OutputDirectory0"], render["OutputFilename0"]) == (str(tmp_path / "cache"), "restyle.####.exr")
    assert render_plugin["Executable"] == sys.executable and render_plugin["StartupDirectory"] == str(REPO)
    # AND its arguments, with a task's tokens filled in, are a valid `restyle render` of that chunk
    arguments = render_plugin["Arguments"].replace("<STARTFRAME>", "1005").replace("<ENDFRAME>", "1008")
    assert shlex.split(arguments)[:3] == ["-m", "inference.cli", "render"]
    assert parsed("render", shlex.split(arguments)[3:]) == expected_render(tmp_path, 1005, 1008)
    # AND the gate is one task running `restyle gate` on the chunks' reports
    assert (gate["Plugin"], gate["Frames"], gate["ChunkSize"]) == ("CommandLine", "1001", "1")
    gate_args = shlex.split(gate_plugin["Arguments"])
    assert gate_args[:3] == ["-m", "inference.cli", "gate"] and parsed("gate", gate_args[3:]) == {
        "report": str(tmp_path / "qc")}
    # AND the comp runs on Deadline's Nuke plug-in, chunked, gizmos from NUKE_PATH
    assert (comp["Plugin"], comp["Frames"], comp["ChunkSize"]) == ("Nuke", "1001-1010", "4")
    env = sorted(v for k, v in comp.items() if k.startswith("EnvironmentKeyValue"))
    assert env == [f"NUKE_PATH={REPO}", "RESTYLE_FARM_BATCH=4"]
    assert {k: comp_plugin[k] for k in ("SceneFile", "Version", "BatchMode", "NukeX")} == {
        "SceneFile": str(tmp_path / "comp.nk"), "Version": "15.1", "BatchMode": "True", "NukeX": "False"}
    # AND one deadlinecommand call submits the four, each depending on the one before
    script = (jobs / "submit.sh").read_text().splitlines()[-1]
    assert shlex.split(script) == ["exec", "deadlinecommand", "-SubmitMultipleJobs", "-dependent",
                                   *[a for stem in ("prep", "render", "qc_gate", "comp") for a in (
                                       "-job", str(jobs / f"{stem}_job_info.job"), str(jobs / f"{stem}_plugin_info.job"))]]
    assert "to submit it: " + str(jobs / "submit.sh") in done.stdout


def test_without_a_colour_reference_there_is_no_gate_and_without_a_node_no_prep(tmp_path, shot, deadline_info):
    flags = shot[:shot.index("--reference")] + shot[shot.index("--chunk-size"):]
    done = submit(tmp_path, "--farm", "deadline", "--job-dir", "jobs", *flags, "--nuke-version", "15.1")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "jobs").glob("*_job_info.job")) == ["comp_job_info.job",
                                                                                  "render_job_info.job"]
    arguments = deadline_info(tmp_path / "jobs" / "render_plugin_info.job")["Arguments"]
    assert "--report" not in arguments and "--reference" not in arguments


def test_submit_runs_deadlinecommand_and_reports_the_job_ids(tmp_path, shot):
    bin_dir = tmp_path / "deadline_bin"
    bin_dir.mkdir()
    fake = bin_dir / "deadlinecommand"
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path}/argv.txt\n"
                    "for j in 1 2 3; do echo Result=Success; echo JobID=job$j; done\n")
    fake.chmod(0o755)
    env = dict(os.environ, DEADLINE_PATH=str(bin_dir))
    done = submit(tmp_path, "--farm", "deadline", "--job-dir", "jobs", *shot, "--nuke-version", "15.1", "--submit",
                  env=env)
    assert done.returncode == 0, done.stderr
    assert "submitted to Deadline: job1, job2, job3" in done.stdout
    argv = (tmp_path / "argv.txt").read_text().split("\n")[:-1]
    assert argv[:2] == ["-SubmitMultipleJobs", "-dependent"] and argv.count("-job") == 3
    assert all(Path(a).is_file() for a in argv if a.endswith(".job"))


def test_submit_without_deadlinecommand_fails_clearly_and_keeps_the_files(tmp_path, shot):
    env = {k: v for k, v in os.environ.items() if k != "DEADLINE_PATH"}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + "/usr/bin:/bin"
    done = submit(tmp_path, "--farm", "deadline", "--job-dir", "jobs", *shot, "--nuke-version", "15.1", "--submit",
                  env=env)
    assert done.returncode == 69, done.stderr
    assert "deadlinecommand not found" in done.stderr and "DEADLINE_PATH" in done.stderr
    assert str(tmp_path / "jobs" / "submit.sh") in done.stderr
    assert (tmp_path / "jobs" / "comp_plugin_info.job").is_file()


def test_opencue_job_spec_from_pyoutline(tmp_path, shot):
    done = submit(tmp_path, "--farm", "opencue", "--job-dir", "jobs", *shot, "--gpu-group", "gpu", "--priority", "70",
                  "--show", "restyle", "--name", "sh010", "--node", "Group1.Restyle1")
    assert done.returncode == 0, done.stderr
    spec = Et.parse(tmp_path / "jobs" / "opencue_job.xml").getroot()
    assert (spec.findtext("show"), spec.findtext("shot")) == ("restyle", "sh010")
    job = spec.find("job")
    assert job.get("name") == "sh010" and job.findtext("priority") == "70"
    layers = {layer.get("name"): layer for layer in job.find("layers")}
    assert list(layers) == ["prep", "restyle", "qc_gate", "comp"]
    prep, render, gate, comp = layers.values()
    # THEN the prep layer: the shot's range in chunks, `nuke -t farm_prep.py` for the node, on any host
    assert (prep.findtext("range"), prep.findtext("chunk"), prep.findtext("tags")) == ("1001-1010", "4", None)
    assert shlex.split(prep.findtext("cmd").replace("#FRAME_START#", "1001").replace("#FRAME_END#", "1004")) == [
        "nuke", "-t", str(REPO / "nuke_plugin" / "farm_prep.py"), str(tmp_path / "comp.nk"), "1001-1004",
        "Group1.Restyle1"]
    assert {k.get("name"): k.text for k in prep.find("env")} == {"NUKE_PATH": str(REPO), "RESTYLE_PYTHON": sys.executable}
    # THEN the render layer: the shot's range in chunks, on GPU hosts, a valid `restyle render` per chunk
    assert (render.findtext("range"), render.findtext("chunk"), render.findtext("tags"), render.findtext("gpus")) == (
        "1001-1010", "4", "gpu", "1")
    cmd = shlex.split(render.findtext("cmd").replace("#FRAME_START#", "1009").replace("#FRAME_END#", "1010"))
    assert cmd[:4] == [sys.executable, "-m", "inference.cli", "render"]
    assert parsed("render", cmd[4:]) == expected_render(tmp_path, 1009, 1010)
    # AND the gate is one frame; the comp is chunked with NUKE_PATH in its environment
    gate_cmd = shlex.split(gate.findtext("cmd"))
    assert gate.findtext("range") == "1001" and parsed("gate", gate_cmd[4:]) == {"report": str(tmp_path / "qc")}
    assert shlex.split(comp.findtext("cmd").replace("#FRAME_START#", "1001").replace("#FRAME_END#", "1004")) == [
        "nuke", "-x", "-F", "1001-1004", str(tmp_path / "comp.nk")]
    assert (comp.findtext("range"), comp.findtext("chunk")) == ("1001-1010", "4")
    assert {k.get("name"): k.text for k in comp.find("env")} == {"NUKE_PATH": str(REPO), "RESTYLE_FARM_BATCH": "4"}
    # AND each layer waits for the whole layer before it
    depends = [(d.findtext("deplayer"), d.findtext("onlayer"), d.get("type")) for d in spec.find("depends")]
    assert depends == [("restyle", "prep", "LAYER_ON_LAYER"), ("qc_gate", "restyle", "LAYER_ON_LAYER"),
                       ("comp", "qc_gate", "LAYER_ON_LAYER")]


def test_openjd_template_and_parameter_values_pass_openjd(tmp_path, shot):
    done = submit(tmp_path, "--farm", "openjd", "--job-dir", "jobs", *shot, "--nuke", "/opt/nuke/Nuke15.1",
                  "--compression", "piz", "--node", "Restyle1", "--ocio-config", "ocio://studio-config-latest",
                  "--vectors", "nuke", "--strength", "0.5")
    assert done.returncode == 0, done.stderr
    template, values = tmp_path / "jobs" / "restyle_shot.yaml", tmp_path / "jobs" / "parameter_values.json"
    assert template.read_text() == (REPO / "inference" / "farm" / "restyle_shot.yaml").read_text()
    params = json.loads(values.read_text())
    # THEN the farm's values and every render setting the shot sets are there (as the template's strings);
    # what it leaves out (e.g. the backend) is not, so the engine's default holds
    assert {k: v for k, v in params.items() if k not in ("ShotName", "Model", "Output", "Reference",
                                                         "EnginePython", "CompScript")} == {
        "OcioConfig": "ocio://studio-config-latest", "FrameStart": 1001, "FrameEnd": 1010, "ChunkSize": 4,
        "Device": "cuda", "Compression": "piz", "NukeNode": "Restyle1", "Deflicker": "global", "Radius": "2",
        "Vectors": "nuke", "Strength": "0.5", "NukeExecutable": "/opt/nuke/Nuke15.1",
        "ToolsetRoot": str(REPO), "ReportDir": str(tmp_path / "qc"), "Plate": str(tmp_path / "plate dir/sh010.####.exr")}
    summary = subprocess.run([OPENJD, "summary", str(template), "--job-param", f"file://{values}"],
                             capture_output=True, text=True)
    assert summary.returncode == 0 and "Restyle comp" in summary.stdout, summary.stdout + summary.stderr
    assert re.findall(r"^\d+\. '(\w+)'", summary.stdout, re.MULTILINE) == ["Prep", "Restyle", "QCGate", "Comp"], \
        summary.stdout


@pytest.mark.parametrize("farm, extra, code, message", [
    ("openjd", ["--out", "o'brien/restyle.####.exr"], 64, "cannot carry Output"),
    ("opencue", ["--pool", "gpu"], 64, "--pool is for --farm deadline, not opencue"),
    ("deadline", [], 64, "needs --nuke-version"),
    ("deadline", ["--nuke-version", "15.1", "--frames", "1001,1005"], 64, "one range FIRST-LAST"),
    ("deadline", ["--nuke-version", "15.1", "--name", "sh 010"], 64, "manifest field 'name'"),
    ("deadline", ["--nuke-version", "15.1", "--comp", "missing.nk"], 66, "--comp"),
    ("opencue", ["--toolset", "."], 64, "has no init.py"),
    ("opencue", ["--node", "Restyle 1"], 64, "manifest field 'node'"),
])
def test_what_a_farm_cannot_do_is_refused_naming_the_flag(tmp_path, shot, farm, extra, code, message):
    done = submit(tmp_path, "--farm", farm, "--job-dir", "jobs", *shot, *extra)
    assert done.returncode == code and message in done.stderr, done.stderr
    assert not (tmp_path / "jobs").exists()


def test_command_args_give_the_job_back_for_every_flag_shape():
    job = {"plate": "p.####.exr", "frames": "1-9", "keys": {"1": "a.png", "9": "b.png"}, "out": "m.onnx",
           "guides": ["normals", "depth"], "plateau": False, "steps": 5, "threads": 2}
    assert parsed("train", command_args("train", job)) == job
    with pytest.raises(ValueError, match="no flag for field 'farm'"):
        command_args("render", {"farm": "deadline"})


def _report(passed: bool) -> str:
    """A chunk's QC report, as few fields as the gate needs (tests/test_farm_gate.py has the rest)."""
    return json.dumps({"passed": passed, "frames": "1001-1004", "palette_delta_e_before": [2.0] * 4,
                       "palette_delta_e_after": [0.5] * 4, "swatches": [], "failures": [] if passed else ["a fault"]})


def test_gate_passes_fails_and_wants_reports(tmp_path, capsys):
    for chunk, passed in ((1001, True), (1005, True)):
        (tmp_path / f"chunk.{chunk}").mkdir()
        (tmp_path / f"chunk.{chunk}" / "report.json").write_text(_report(passed))
    assert cli.main(["gate", "--report", str(tmp_path)]) == 0
    assert "QC gate: 2 report(s), 0 failed" in capsys.readouterr().out
    (tmp_path / "chunk.1005" / "report.json").write_text(_report(False))
    assert cli.main(["gate", "--report", str(tmp_path)]) == 3
    assert f"QC gate FAILED: {tmp_path / 'chunk.1005' / 'report.json'}" in capsys.readouterr().out
    assert cli.main(["gate", "--report", str(tmp_path / "nothing")]) == 66
    assert "no ColourLock report under" in capsys.readouterr().err
    (tmp_path / "chunk.1001" / "report.json").write_text("{")
    assert cli.main(["gate", "--report", str(tmp_path)]) == 65
    assert "is not a QC report" in capsys.readouterr().err


def test_keyframe_detail_reaches_every_render_task_with_absolute_paintings(tmp_path, shot, deadline_info):
    done = submit(tmp_path, "--farm", "deadline", "--job-dir", "jobs", *shot, "--nuke-version", "15.1",
                  "--detail", "8", "--key", "1001=paint/key.1001.png")
    assert done.returncode == 0, done.stderr
    arguments = deadline_info(tmp_path / "jobs" / "render_plugin_info.job")["Arguments"]
    task = parsed("render", shlex.split(arguments.replace("<STARTFRAME>", "1005").replace("<ENDFRAME>", "1008"))[3:])
    assert task == {**expected_render(tmp_path, 1005, 1008), "detail": 8.0,
                    "keys": {"1001": str(tmp_path / "paint" / "key.1001.png")}}


def test_a_comp_of_several_views_renders_each_chunk_once_per_view(tmp_path, shot, deadline_info):
    # GIVEN a shot whose plate and output name each view's files with Nuke's %V
    flags = [{"plate dir/sh010.####.exr": "plate dir/sh010.%V.####.exr",
              "cache/restyle.####.exr": "cache/restyle.%V.####.exr"}.get(f, f) for f in shot]
    done = submit(tmp_path, "--farm", "deadline", "--job-dir", "dl", *flags, "--nuke-version", "15.1",
                  "--views", "left,right")
    assert done.returncode == 0, done.stderr
    # THEN Deadline has a render job per view, one after the other, each a valid `restyle render` of
    # that view's files with that view's QC report
    script = shlex.split((tmp_path / "dl" / "submit.sh").read_text().splitlines()[-1])
    assert [Path(a).name for a in script if a.endswith("_job_info.job")] == [
        "render_left_job_info.job", "render_right_job_info.job", "qc_gate_job_info.job", "comp_job_info.job"]
    for view in ("left", "right"):
        job = deadline_info(tmp_path / "dl" / f"render_{view}_job_info.job")
        assert job["OutputFilename0"] == f"restyle.{view}.####.exr" and job["Name"].endswith(f"restyle {view}")
        arguments = deadline_info(tmp_path / "dl" / f"render_{view}_plugin_info.job")["Arguments"]
        task = parsed("render", shlex.split(arguments.replace("<STARTFRAME>", "1005").replace("<ENDFRAME>", "1008"))[3:])
        assert task == {**expected_render(tmp_path, 1005, 1008), "plate": str(tmp_path / f"plate dir/sh010.{view}.####.exr"),
                        "out": str(tmp_path / f"cache/restyle.{view}.####.exr"),
                        "report": str(tmp_path / "qc" / f"chunk.1005.{view}")}
    # AND OpenCue has a restyle layer per view, each waiting for the one before
    done = submit(tmp_path, "--farm", "opencue", "--job-dir", "cue", *flags, "--views", "left,right")
    assert done.returncode == 0, done.stderr
    spec = Et.parse(tmp_path / "cue" / "opencue_job.xml").getroot()
    layers = {layer.get("name"): layer for layer in spec.find("job").find("layers")}
    assert list(layers) == ["restyle_left", "restyle_right", "qc_gate", "comp"]
    cmd = shlex.split(layers["restyle_right"].findtext("cmd").replace("#FRAME_START#", "1001").replace("#FRAME_END#", "1004"))
    assert parsed("render", cmd[4:])["out"] == str(tmp_path / "cache/restyle.right.####.exr")
    # AND views whose output has no %V are refused: they would write over each other
    done = submit(tmp_path, "--farm", "opencue", "--job-dir", "bad", *shot, "--views", "left,right")
    assert done.returncode == 64 and "needs Nuke's %V" in done.stderr, done.stderr
    assert not (tmp_path / "bad").exists()
