import json

import pytest

from inference import cli
from inference.errors import EX_USAGE, ManifestError, UsageError
from inference.jobs import manifest
from inference.jobs.commands import SUBCOMMANDS


def test_valid_manifest_resolves_paths_from_its_own_folder(tmp_path):
    (tmp_path / "jobs").mkdir()
    path = tmp_path / "jobs" / "run.json"
    path.write_text(json.dumps({"version": 1, "stage": "run", "model": "../m.onnx", "plate": "../p/p.%04d.exr",
                                "frames": "1001-1010", "out": "/abs/o.####.exr", "keys": {"1001": "k.png"}}))
    job = manifest.load(path)
    assert job["model"] == str(tmp_path / "jobs" / "../m.onnx")
    assert job["out"] == "/abs/o.####.exr"
    assert job["keys"] == {"1001": str(tmp_path / "jobs" / "k.png")}


def test_unknown_field_and_nested_field_are_named():
    with pytest.raises(ManifestError) as info:
        manifest.validate({"plate": "p.####.exr", "colorspace": "x"})
    assert info.value.field == "colorspace"
    with pytest.raises(ManifestError) as info:
        manifest.validate({"keys": {"abc": "k.png"}})
    assert info.value.field == "keys"


def test_flags_override_manifest_fields_and_missing_fields_are_listed(tmp_path):
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"stage": "run", "model": "m.onnx", "plate": "p.####.exr", "frames": "1-5"}))
    args = cli.build_parser().parse_args(["run", "--manifest", str(path), "--frames", "2-3"])
    with pytest.raises(UsageError, match="needs --out"):
        cli.job_from_args("run", args)
    args = cli.build_parser().parse_args(["run", "--manifest", str(path), "--frames", "2-3", "--out", "o.####.exr"])
    job = cli.job_from_args("run", args)
    assert job["frames"] == "2-3" and job["model"] == str(tmp_path / "m.onnx")


def test_manifest_for_another_stage_is_refused(tmp_path):
    path = tmp_path / "job.json"
    path.write_text(json.dumps({"stage": "deflicker"}))
    args = cli.build_parser().parse_args(["run", "--manifest", str(path)])
    with pytest.raises(UsageError, match="for stage 'deflicker', not 'run'"):
        cli.job_from_args("run", args)


def test_key_flags_become_the_manifest_keys_mapping():
    args = cli.build_parser().parse_args(["train", "--plate", "p.####.exr", "--frames", "1-9",
                                          "--key", "1=a.png", "--key", "9=b.png", "--out", "m.onnx"])
    assert cli.job_from_args("train", args)["keys"] == {"1": "a.png", "9": "b.png"}
    manifest.validate({"keys": {"1": "a.png", "9": "b.png"}})


def test_bad_key_flag_is_a_usage_error(capsys):
    assert cli.main(["train", "--key", "a.png"]) == EX_USAGE and "FRAME=IMAGE" in capsys.readouterr().err


def test_every_subcommand_has_full_help(capsys):
    for name, spec in SUBCOMMANDS.items():
        with pytest.raises(SystemExit) as info:
            cli.main([name, "--help"])
        assert info.value.code == 0
        text = capsys.readouterr().out
        for flags, _dest, _opts in spec["args"]:
            assert flags[0] in text, (name, flags)
        assert "--manifest" in text and "--progress" in text
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    top = capsys.readouterr().out
    assert all(name in top for name in SUBCOMMANDS) and "Exit codes" in top
