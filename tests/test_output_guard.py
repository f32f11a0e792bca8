"""No command writes over one of its inputs (issue 22, item 1): every output is checked against
every input before any work, through any spelling of the path (same text, absolute, `..`, a
symlinked folder, printf padding, a hard link); a refusal exits 64 naming both paths and leaves
every file as it was."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from fnmatch import fnmatch
from pathlib import Path

import pytest

from inference import cli
from inference.errors import EX_CANTCREAT, EX_NOINPUT, EX_USAGE
from inference.jobs import commands

PLATE = "plate/seq.####.exr"


def _tree(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (links followed), by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def shot(tmp_path, monkeypatch, write_sequence):
    """A 3-frame plate, a second sequence, a painting, a model, swatches and a comp script, in the
    current folder (tmp_path), as a user types relative paths."""
    write_sequence(frames=range(1, 4), name="seq")
    (tmp_path / "seq").rename(tmp_path / "plate")
    write_sequence(frames=range(1, 4), name="styled")
    (tmp_path / "look.onnx").write_bytes(b"not run: the check comes first")
    (tmp_path / "comp.nk").write_text("Root {}\n")
    (tmp_path / "swatches.json").write_text("[]")
    shutil.copy(tmp_path / "styled" / "styled.0001.exr", tmp_path / "key.exr")
    (tmp_path / "link").symlink_to(tmp_path / "plate", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


ROUTES = {
    "same": lambda root: PLATE,
    "absolute": lambda root: str(root / PLATE),
    "dotdot": lambda root: "styled/../plate/seq.####.exr",
    "symlink": lambda root: "link/seq.####.exr",
    "printf": lambda root: "plate/seq.%04d.exr",
}

# argv of each command writing a sequence, with {out} where the output goes and the plate as an input
COMMANDS = {
    "convert": ["convert", "--input", PLATE, "--frames", "1-3", "--out", "{out}"],
    "run": ["run", "--model", "look.onnx", "--plate", PLATE, "--frames", "1-3", "--out", "{out}"],
    "render": ["render", "--model", "look.onnx", "--plate", PLATE, "--frames", "1-3", "--out", "{out}"],
    "deflicker": ["deflicker", "--input", "styled/styled.####.exr", "--guide", PLATE, "--frames", "1-3",
                  "--out", "{out}"],
    "colourlock": ["colourlock", "--input", PLATE, "--reference", "key.exr", "--frames", "1-3", "--out", "{out}",
                   "--report", "qc"],
    "submit": ["submit", "--farm", "deadline", "--nuke-version", "15.1", "--job-dir", "job", "--comp", "comp.nk",
               "--model", "look.onnx", "--plate", PLATE, "--frames", "1-3", "--out", "{out}"],
}


def _refused(capsys, root: Path, argv: list[str]) -> str:
    """Run ``argv``; assert exit 64 and every file as it was; return stderr."""
    before = _tree(root)
    code = cli.main([*argv, "--progress", "none"])
    err = capsys.readouterr().err
    assert code == EX_USAGE, err
    assert _tree(root) == before
    return err


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_sequence_output_onto_the_plate_is_refused_by_every_route(shot, capsys, command, route):
    out = ROUTES[route](shot)
    err = _refused(capsys, shot, [a.format(out=out) for a in COMMANDS[command]])
    assert f"--out {out}" in err and PLATE.replace("####", "0001") in err and "write over" in err


def test_render_onto_the_multilayer_plate_keeps_its_layers(small_data, tmp_path, monkeypatch, capsys):
    """The issue's case: render --plate exr/sceneA.####.exr --out exr/sceneA.####.exr."""
    shutil.copytree(small_data / "render_sceneA" / "exr", tmp_path / "exr")
    (tmp_path / "look.onnx").write_bytes(b"model")
    monkeypatch.chdir(tmp_path)
    err = _refused(capsys, tmp_path, ["render", "--model", "look.onnx", "--plate", "exr/sceneA.####.exr",
                                      "--frames", "1001-1006", "--out", "exr/sceneA.####.exr"])
    assert "exr/sceneA.1001.exr" in err


def test_a_hard_link_of_a_plate_frame_is_caught(shot, capsys):
    (shot / "out").mkdir()
    os.link(shot / "plate" / "seq.0002.exr", shot / "out" / "o.0002.exr")
    err = _refused(capsys, shot, [a.format(out="out/o.####.exr") for a in COMMANDS["convert"]])
    assert "plate/seq.0002.exr" in err and "out/o.####.exr" in err


def test_deflicker_onto_its_guide_and_grade_onto_an_input_are_refused(shot, capsys):
    argv = [a.format(out="out/o.####.exr") for a in COMMANDS["deflicker"]]
    err = _refused(capsys, shot, argv[:-1] + ["styled/styled.%04d.exr"])
    assert "--input styled/styled.0001.exr" in err
    err = _refused(capsys, shot, argv + ["--grade-nk", "plate/seq.0003.exr"])
    assert "--grade-nk plate/seq.0003.exr" in err and "--guide plate/seq.0003.exr" in err


@pytest.mark.parametrize("command,argv", [
    ("inspect", ["inspect", "--plate", PLATE, "--json"]),
    ("hash", ["hash", "--plate", PLATE, "--frames", "1-3", "--json"]),
    ("metrics", ["metrics", "--output", "styled/styled.####.exr", "--plate", PLATE, "--frames", "1-3", "--json"]),
])
def test_a_json_report_onto_a_plate_frame_is_refused(shot, capsys, command, argv):
    err = _refused(capsys, shot, argv + ["link/../plate/seq.0001.exr"])
    assert "--json link/../plate/seq.0001.exr" in err and "plate/seq.0001.exr" in err


def test_metrics_json_onto_a_reference_frame_is_refused(shot, capsys):
    err = _refused(capsys, shot, ["metrics", "--output", "styled/styled.####.exr", "--plate", PLATE, "--frames", "1-3",
                                  "--reference", "styled/styled.%04d.exr",
                                  "--json", str(shot / "styled/styled.0002.exr")])
    assert "--reference styled/styled.0002.exr" in err


def test_a_model_onto_the_painting_or_its_earlier_model_is_refused(shot, capsys):
    train = ["train", "--plate", PLATE, "--frames", "1-3", "--key", "1=key.exr"]
    err = _refused(capsys, shot, train + ["--out", "./key.exr"])
    assert "--out ./key.exr" in err and "--key key.exr" in err
    err = _refused(capsys, shot, train + ["--init", "look.onnx", "--out", str(shot / "look.onnx")])
    assert "--init look.onnx" in err
    err = _refused(capsys, shot, ["torchscript", "--model", "look.onnx", "--out", "link/../look.onnx"])
    assert "--model look.onnx" in err


def test_an_output_onto_the_manifest_is_refused(shot, capsys):
    (shot / "job.json").write_text('{"plate": "plate/seq.####.exr", "frames": "1-3"}')
    err = _refused(capsys, shot, ["hash", "--manifest", "job.json", "--json", "job.json"])
    assert "--manifest job.json" in err


SUBMIT = ["submit", "--farm", "deadline", "--nuke-version", "15.1", "--comp", "comp.nk", "--model", "look.onnx",
          "--plate", PLATE, "--frames", "1-3", "--out", "out/o.####.exr"]


@pytest.mark.parametrize("argv,needle", [
    (["colourlock", "--input", PLATE, "--reference", "key.exr", "--swatches", "qc/report.json", "--frames", "1-3",
      "--check-only", "--report", "qc"], "--swatches qc/report.json"),
    (["colourlock", "--input", "qc/cube/c.####.exr", "--reference", "key.exr", "--frames", "1-3", "--out",
      "out/o.####.exr", "--report", "link/../qc"], "--input qc/cube/c.0001.exr"),
    (["render", "--model", "look.onnx", "--plate", PLATE, "--frames", "1-3", "--out", "out/o.####.exr",
      "--reference", "qc/delta_e.png", "--report", "qc"], "--reference qc/delta_e.png"),
    (SUBMIT + ["--comp", "job/shot.job", "--job-dir", "job"], "--comp job/shot.job"),
    (SUBMIT + ["--job-dir", "job", "--reference", "qc/chunk.1/key.exr", "--report", "./qc"],
     "--reference qc/chunk.1/key.exr"),
    (["demo", "--manifest", "job/demo.json", "--out", "job"], "--manifest job/demo.json"),
])
def test_an_output_folder_holding_an_input_where_it_writes_is_refused(shot, capsys, argv, needle):
    for folder in ("job", "qc/cube", "qc/chunk.1"):
        (shot / folder).mkdir(parents=True)
    (shot / "job" / "demo.json").write_text("{}")
    (shot / "job" / "shot.job").write_text("Root {}\n")
    (shot / "qc" / "report.json").write_text("[]")
    for name in ("qc/delta_e.png", "qc/chunk.1/key.exr"):
        shutil.copy(shot / "key.exr", shot / name)
    for frame in (1, 2, 3):
        shutil.copy(shot / "plate" / f"seq.000{frame}.exr", shot / "qc" / "cube" / f"c.000{frame}.exr")
    err = _refused(capsys, shot, argv)
    assert needle in err and "holds the input" in err


def test_an_output_folder_may_hold_inputs_under_other_names(shot, capsys, restyle_model):
    """A job folder holding the job's manifest (as the Nuke node writes it), a QC folder beside the plate."""
    shutil.copy(restyle_model, shot / "look.onnx")
    (shot / "job").mkdir()
    (shot / "job" / "job.json").write_text(json.dumps({"comp": "../comp.nk", "model": "../look.onnx"}))
    code = cli.main(SUBMIT[:5] + SUBMIT[9:] + ["--job-dir", "job", "--manifest", "job/job.json", "--progress", "none"])
    assert code == 0, capsys.readouterr().err
    code = cli.main(["colourlock", "--input", PLATE, "--reference", "key.exr", "--frames", "1-3", "--check-only",
                     "--report", "plate", "--progress", "none"])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("farm", ["deadline", "opencue", "openjd"])
def test_what_submit_writes_in_its_job_folder_is_what_the_check_knows(shot, capsys, restyle_model, farm):
    shutil.copy(restyle_model, shot / "look.onnx")
    argv = ["submit", "--farm", farm, "--comp", "comp.nk", "--model", "look.onnx", "--plate", PLATE, "--frames", "1-3",
            "--out", "out/o.####.exr", "--reference", "key.exr", "--report", "qc", "--job-dir", "job"]
    assert cli.main(argv + (["--nuke-version", "15.1"] if farm == "deadline" else []) + ["--progress", "none"]) == 0
    written = [p.name for p in (shot / "job").iterdir()]
    assert written and all(any(fnmatch(n, g) for g in commands.JOB_FILES.names) for n in written), written


def test_what_a_qc_report_holds_is_what_the_check_knows(shot, capsys):
    (shot / "swatches.json").write_text(json.dumps([{"name": "a", "rgb": [0.5, 0.5, 0.5], "region": [2, 2, 6, 6]}]))
    code = cli.main(["colourlock", "--input", PLATE, "--reference", "key.exr", "--swatches", "swatches.json",
                     "--frames", "1-3", "--out", "out/o.####.exr", "--report", "qc", "--lut", "--progress", "none"])
    assert code in (0, 3), capsys.readouterr().err
    written = [p.name for p in (shot / "qc").iterdir()]
    assert "cube" in written and all(any(fnmatch(n, g) for g in commands.QC_REPORT.names) for n in written), written


def test_an_output_beside_the_plate_is_not_refused(shot, capsys):
    before = _tree(shot / "plate")
    code = cli.main(["convert", "--input", PLATE, "--frames", "1-3", "--out", "link/converted.####.exr",
                     "--progress", "none"])
    assert code == 0, capsys.readouterr().err
    assert {k: v for k, v in _tree(shot / "plate").items() if k.startswith("seq.")} == before
    assert sorted(p.name for p in (shot / "plate").glob("converted.*")) == [f"converted.000{f}.exr" for f in (1, 2, 3)]


def test_submit_does_not_need_what_only_the_farm_reads(shot, capsys, restyle_model):
    """submit's --reference is read by the farm's workers: not required on this machine."""
    shutil.copy(restyle_model, shot / "look.onnx")
    code = cli.main(SUBMIT + ["--job-dir", "job", "--reference", "nowhere.png", "--report", "qc", "--progress", "none"])
    assert code == 0, capsys.readouterr().err


@pytest.mark.parametrize("argv,flag", [
    (["run", "--model", "gone.onnx", "--plate", PLATE, "--frames", "1-3", "--out", "o/o.####.exr"],
     "--model gone.onnx"),
    (["train", "--plate", PLATE, "--frames", "1-3", "--key", "1=gone.png", "--out", "m.onnx"], "--key gone.png"),
    (["colourlock", "--input", PLATE, "--reference", "gone.png", "--frames", "1", "--report", "qc", "--check-only"],
     "--reference gone.png"),
    (["colourlock", "--input", PLATE, "--reference", "key.exr", "--swatches", "gone.json", "--frames", "1",
      "--report", "qc", "--check-only"], "--swatches gone.json"),
    (["torchscript", "--model", "gone.onnx", "--out", "m.pt"], "--model gone.onnx"),
    (["inspect", "--manifest", "gone.json"], "--manifest gone.json"),
    (["inspect", "--plate", "gone/g.####.exr", "--frames", "1-2"], "gone/g.0001.exr"),
])
def test_a_missing_input_file_is_66_from_every_command(shot, capsys, argv, flag):
    code = cli.main([*argv, "--progress", "none"])
    err = capsys.readouterr().err
    assert code == EX_NOINPUT, err
    assert flag in err


@pytest.mark.parametrize("argv", [
    ["train", "--plate", PLATE, "--frames", "1-3", "--key", "1=key.exr", "--out", "plate"],
    ["hash", "--plate", PLATE, "--frames", "1-3", "--json", "link"],
    ["colourlock", "--input", PLATE, "--reference", "key.exr", "--frames", "1", "--report", "key.exr", "--check-only"],
])
def test_a_file_output_naming_a_folder_or_the_reverse_is_73_before_any_work(shot, capsys, argv):
    before = _tree(shot)
    code = cli.main([*argv, "--progress", "none"])
    err = capsys.readouterr().err
    assert code == EX_CANTCREAT, err
    assert argv[-2] in err or argv[-1] in err
    assert _tree(shot) == before


@pytest.mark.parametrize("argv", [
    ["metrics", "--output", "styled/styled.####.exr", "--plate", PLATE, "--frames", "1-3", "--json", "comp.nk/m.json"],
    ["convert", "--input", PLATE, "--frames", "1-3", "--out", "comp.nk/sub/o.####.exr"],
    ["train", "--plate", PLATE, "--frames", "1-3", "--key", "1=key.exr", "--out", "comp.nk/look.onnx"],
    ["colourlock", "--input", PLATE, "--reference", "key.exr", "--frames", "1", "--report", "comp.nk/qc",
     "--check-only"],
])
def test_an_output_under_a_file_is_73_naming_it_before_any_work(shot, capsys, argv):
    """metrics --json under a file was an internal error (70) after measuring (found by the fuzz)."""
    before = _tree(shot)
    code = cli.main([*argv, "--progress", "none"])
    err = capsys.readouterr().err
    assert code == EX_CANTCREAT, err
    assert "comp.nk' is a file" in err and "output folder" in err
    assert _tree(shot) == before
