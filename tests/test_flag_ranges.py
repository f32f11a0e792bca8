"""Issue 22, item 5: numeric flags are range-checked where they are parsed, exit codes follow the
README table (argparse included), a closed pipe ends quietly, --skip-existing redoes damaged frames,
inspect reports holes, train checks --out and its keys before training, submit is quick."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from inference import cli
from inference.errors import EX_DATAERR, EX_NOINPUT, EX_USAGE, OutputError
from inference.image import read_image
from inference.jobs import manifest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("argv,flag,bounds", [
    (["render", "--threads", "-1"], "--threads", "an integer from 1 to 1024"),
    (["inspect", "--threads", "0"], "--threads", "an integer from 1 to 1024"),
    (["deflicker", "--strength", "5"], "--strength", "a number from 0 to 1"),
    (["render", "--strength", "nan"], "--strength", "a number from 0 to 1"),
    (["deflicker", "--radius", "-2"], "--radius", "an integer from 1 to 100"),
    (["deflicker", "--handles", "-4"], "--handles", "an integer from 0 to 1000"),
    (["run", "--batch", "0"], "--batch", "an integer from 1 to 256"),
    (["render", "--chunk", "0"], "--chunk", "an integer from 1 to 100000"),
    (["colourlock", "--sigma", "-1"], "--sigma", "a number above 0, up to 100"),
    (["train", "--steps", "0"], "--steps", "an integer 1 or more"),
    (["train", "--seconds", "inf"], "--seconds", "a number above 0"),
    (["train", "--lr", "2"], "--lr", "a number above 0, up to 1"),
    (["run", "--tile", "-5"], "--tile", "an integer from 64 to 65536"),
    (["run", "--detail", "-1"], "--detail", "a number from 0 to 1000"),
    (["submit", "--chunk-size", "0"], "--chunk-size", "an integer from 1 to 100000"),
    (["submit", "--priority", "101"], "--priority", "an integer from 0 to 100"),
    (["demo", "--train-seconds", "0"], "--train-seconds", "a number above 0"),
    (["run", "--batch", "two"], "--batch", "an integer from 1 to 256"),
])
def test_a_numeric_flag_out_of_range_is_64_naming_the_flag_and_range(capsys, argv, flag, bounds):
    assert cli.main(argv) == EX_USAGE
    err = capsys.readouterr().err
    assert f"argument {flag}: '{argv[-1]}' is not {bounds}" in err


@pytest.mark.parametrize("argv", [["render", "--threads", "1", "--strength", "0", "--radius", "100", "--chunk", "1"],
                                  ["run", "--tile", "64", "--batch", "256", "--detail", "0"],
                                  ["train", "--steps", "1", "--lr", "1", "--key-psnr", "0", "--checkpoint-every", "0"]])
def test_the_ends_of_each_range_are_accepted(argv):
    args = cli.build_parser().parse_args(argv)
    assert all(getattr(args, flag.lstrip("-").replace("-", "_")) == float(value)
               for flag, value in zip(argv[1::2], argv[2::2]))


def test_a_manifest_holds_the_same_ranges_as_the_flags(tmp_path, capsys):
    for field, value in (("strength", 5), ("tile", 16), ("threads", 0)):
        path = tmp_path / "job.json"
        path.write_text(json.dumps({field: value}))
        assert cli.main(["render", f"--{field}", str(value)]) == EX_USAGE
        flag_err = capsys.readouterr().err
        assert cli.main(["render", "--manifest", str(path)]) == EX_USAGE
        assert f"manifest field '{field}'" in capsys.readouterr().err
        assert manifest.range_text(manifest.SCHEMA["properties"][field]) in flag_err
    path.write_text('{"strength": NaN}')  # Python's JSON reads NaN; the schema's bounds alone let it by
    assert cli.main(["render", "--manifest", str(path)]) == EX_USAGE
    assert "manifest field 'strength': nan is not a number from 0 to 1" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["render", "--bogus"], ["deflicker", "--mode", "sideways"], ["run", "--tile"], [],
                                  ["train", "--key", "a.png"]])
def test_argparse_usage_errors_exit_64(capsys, argv):
    assert cli.main(argv) == EX_USAGE and "error:" in capsys.readouterr().err


def _engine(*argv: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen([sys.executable, "-m", "inference.cli", *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kwargs)


def test_a_closed_output_pipe_ends_quietly(write_sequence):
    """`restyle inspect ... | head`: the reader has gone before the summary is printed."""
    proc = _engine("inspect", "--plate", write_sequence(), "--progress", "none")
    proc.stdout.close()  # as head does after its lines; the engine is still starting
    err = proc.stderr.read().decode()
    assert proc.wait() == cli.EX_PIPE
    assert err == ""


def test_a_closed_pipe_in_process_is_not_an_internal_error(write_sequence, monkeypatch, capsys):
    class Closed:
        def write(self, text):
            raise BrokenPipeError(32, "Broken pipe")

        def flush(self):
            pass

    pattern = write_sequence()
    monkeypatch.setattr(sys, "stdout", Closed())
    assert cli.main(["inspect", "--plate", pattern, "--progress", "none"]) == cli.EX_PIPE
    assert capsys.readouterr().err == ""


def test_inspect_reports_holes_in_the_sequence_on_disk(write_sequence, capsys):
    pattern = write_sequence(frames=range(1001, 1007))
    Path(pattern.replace("####", "1003")).unlink()
    Path(pattern.replace("####", "1004")).unlink()
    code = cli.main(["inspect", "--plate", pattern, "--progress", "none"])
    err = capsys.readouterr().err
    assert code == EX_NOINPUT
    assert "2 of 6 frame(s) missing: 1003-1004" in err and "seq.1003.exr" in err
    assert cli.main(["inspect", "--plate", pattern, "--frames", "1001-1002,1005-1006", "--progress", "none"]) == 0


def test_train_warns_of_a_key_outside_its_frames_before_any_work(write_sequence, tmp_path, capsys):
    pattern = write_sequence(frames=range(1, 4))
    key = pattern.replace("####", "0002")
    missing_plate = pattern.replace("seq.####", "gone.####")
    code = cli.main(["train", "--plate", missing_plate, "--frames", "1-3", "--key", f"10={key}", "--key", f"2={key}",
                     "--out", str(tmp_path / "m.onnx"), "--progress", "none"])
    err = capsys.readouterr().err
    assert code == EX_NOINPUT  # the plate is not there: stopped before any training
    assert "warning: --key 10 outside --frames 1-3" in err and "--key 2" not in err


def test_a_model_that_cannot_be_written_leaves_no_temporary_file(tmp_path):
    from inference.restyle.model_file import export_onnx
    from inference.restyle.network import NetworkConfig, RestyleNet

    folder = tmp_path / "look.onnx"
    folder.mkdir()
    (folder / "keep").write_text("x")
    with pytest.raises(OutputError, match="look.onnx"):
        export_onnx(RestyleNet(NetworkConfig(in_channels=3, width=4, res_blocks=1)), {}, folder)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["look.onnx"]
    assert [p.name for p in folder.iterdir()] == ["keep"]


@pytest.mark.parametrize("farm", ["opencue", "deadline"])
def test_submit_of_a_very_long_range_takes_seconds(tmp_path, monkeypatch, capsys, farm, restyle_model):
    (tmp_path / "comp.nk").write_text("Root {}\n")
    shutil.copy(restyle_model, tmp_path / "look.onnx")
    monkeypatch.chdir(tmp_path)
    started = time.monotonic()
    code = cli.main(["submit", "--farm", farm, "--nuke-version", "15.1"][: 5 if farm == "deadline" else 3]
                    + ["--job-dir", "job", "--comp", "comp.nk", "--model", "look.onnx", "--plate", "p.####.exr",
                       "--frames", "1-900000", "--out", "o.####.exr", "--progress", "none"])
    assert code == 0, capsys.readouterr().err
    assert time.monotonic() - started < 20
    assert any((tmp_path / "job").iterdir())


def test_skip_existing_redoes_a_truncated_frame_and_a_stub(write_sequence, tmp_path, capsys):
    from inference.restyle.train import TrainSettings, train
    from inference.sequence import SequencePattern

    plate = write_sequence(frames=range(1, 4), size=(64, 48))
    settings = TrainSettings(steps=2, patch=32, batch=2, plateau=False, device="cpu", key_psnr=0, stability=0)
    model = train(SequencePattern.parse(plate), {1: plate.replace("####", "0001")}, tmp_path / "m.onnx",
                  settings=settings, progress_mode="none").model
    out = SequencePattern.parse(str(tmp_path / "out" / "o.####.exr"))
    argv = ["render", "--model", str(model), "--plate", plate, "--frames", "1-3", "--out", out.hashes, "--deflicker",
            "off", "--device", "cpu", "--backend", "onnxruntime", "--progress", "none"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    whole = {f: read_image(out.path(f)).as_float32() for f in (1, 2, 3)}
    data = Path(out.path(2)).read_bytes()
    Path(out.path(2)).write_bytes(data[: len(data) // 2])
    Path(out.path(3)).write_bytes(b"12345")
    kept = os.stat(out.path(1)).st_mtime_ns
    assert cli.main(argv + ["--skip-existing"]) == 0, capsys.readouterr().err
    for frame in (2, 3):
        np.testing.assert_array_equal(read_image(out.path(frame)).as_float32(), whole[frame])
    assert os.stat(out.path(1)).st_mtime_ns == kept


@pytest.mark.parametrize("model,problem", [(b"onnx?", "not a valid ONNX model"), (None, "does not exist")])
def test_submit_checks_the_model_before_writing_jobs(tmp_path, monkeypatch, capsys, model, problem):
    (tmp_path / "comp.nk").write_text("Root {}\n")
    if model is not None:
        (tmp_path / "look.onnx").write_bytes(model)
    monkeypatch.chdir(tmp_path)
    code = cli.main(["submit", "--farm", "opencue", "--job-dir", "job", "--comp", "comp.nk", "--model", "look.onnx",
                     "--plate", "p.####.exr", "--frames", "1-10", "--out", "o.####.exr", "--progress", "none"])
    err = capsys.readouterr().err
    assert code == (EX_NOINPUT if model is None else EX_DATAERR) and "look.onnx" in err and problem in err
    assert not (tmp_path / "job").exists()


def test_train_on_frames_of_two_sizes_names_the_frame(write_sequence, tmp_path, capsys):
    """The temporal loss's plate pairs were read without the size check: an internal error (70) from the
    optical flow (found by the fuzz)."""
    from inference.image import Image, write_image

    pattern = write_sequence(frames=range(1, 4))
    write_image(pattern.replace("####", "0003"), Image.from_array(np.zeros((8, 8, 4), np.float16)))
    code = cli.main(["train", "--plate", pattern, "--frames", "1-3", "--key", f"1={pattern.replace('####', '0001')}",
                     "--out", str(tmp_path / "m.onnx"), "--steps", "1", "--key-psnr", "0", "--device", "cpu",
                     "--progress", "none"])
    err = capsys.readouterr().err
    assert code == EX_DATAERR, err
    assert "seq.0003.exr (frame 3) is 8x8" in err


@pytest.mark.parametrize("frames,problem", [("1-2000000", "more than 1,000,000 frames"), ("1-5,9", "one range"),
                                            ("9-1", "ends before it starts")])
def test_submit_checks_the_range_before_writing_jobs(tmp_path, monkeypatch, capsys, restyle_model, frames, problem):
    (tmp_path / "comp.nk").write_text("Root {}\n")
    shutil.copy(restyle_model, tmp_path / "look.onnx")
    monkeypatch.chdir(tmp_path)
    code = cli.main(["submit", "--farm", "opencue", "--job-dir", "job", "--comp", "comp.nk", "--model", "look.onnx",
                     "--plate", "p.####.exr", "--frames", frames, "--out", "o.####.exr", "--progress", "none"])
    err = capsys.readouterr().err
    assert code == EX_USAGE and problem in err and frames in err
    assert not (tmp_path / "job").exists()
