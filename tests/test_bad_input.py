"""Every bad input from the foundation issue: clear error naming the culprit, non-zero exit, nothing partial left."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from inference import cli
from inference.errors import EX_CANTCREAT, EX_DATAERR, EX_NOINPUT, EX_USAGE
from inference.image import Image, write_image


def _run(capsys, *argv):
    code = cli.main([*argv, "--progress", "none"])
    return code, capsys.readouterr().err


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _copy_plate(small_data, tmp_path, frames=range(1001, 1005)):
    folder = tmp_path / "plate"
    folder.mkdir()
    for f in frames:
        shutil.copy(small_data / "render_sceneA" / "exr" / f"sceneA.{f}.exr", folder / f"sceneA.{f}.exr")
    return str(folder / "sceneA.####.exr")


def test_missing_frame_in_range_is_named_and_nothing_is_written(small_data, tmp_path, capsys):
    plate = _copy_plate(small_data, tmp_path)
    (tmp_path / "plate" / "sceneA.1003.exr").unlink()
    code, err = _run(capsys, "convert", "--input", plate, "--frames", "1001-1004", "--out", str(tmp_path / "out" / "o.####.exr"))
    assert code == EX_NOINPUT
    assert "1003" in err and "sceneA.1003.exr" in err
    assert _files(tmp_path / "out") == []


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_exr_is_named_and_no_partial_frame_is_left(small_data, tmp_path, capsys, damage):
    plate = _copy_plate(small_data, tmp_path)
    bad = tmp_path / "plate" / "sceneA.1003.exr"
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2] if damage == "truncate" else data[:8] + b"\x17" * (len(data) - 8))
    out = tmp_path / "out"
    code, err = _run(capsys, "convert", "--input", plate, "--frames", "1001-1004", "--out", str(out / "o.####.exr"))
    assert code == EX_DATAERR
    assert "sceneA.1003.exr" in err
    written = _files(out)
    assert "o.1003.exr" not in written and "o.1004.exr" not in written
    assert all(not name.startswith(".") for name in written), written
    for name in written:  # what is there is whole
        assert np.isfinite(cli_read(out / name)).all()


def cli_read(path):
    from inference.image import read_image
    return read_image(path).beauty().as_float32()


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nan_or_inf_in_colour_is_named_with_channel_and_pixel(write_sequence, tmp_path, capsys, value):
    pattern = write_sequence(frames=range(1, 4))
    from inference.image import read_image
    path = Path(pattern.replace("####", "0002"))
    image = read_image(path)
    image.pixels[3, 5, 1] = value
    write_image(path, image)
    code, err = _run(capsys, "inspect", "--plate", pattern, "--frames", "1-3")
    assert code == EX_DATAERR
    assert "seq.0002.exr" in err and "channel G" in err and "x=5 y=3" in err


def test_inf_depth_alone_is_accepted(small_data, tmp_path, capsys):
    plate = _copy_plate(small_data, tmp_path, frames=[1001])
    code, _ = _run(capsys, "inspect", "--plate", plate, "--frames", "1001")
    assert code == 0


def test_missing_channels_are_named(tmp_path, capsys):
    pattern = tmp_path / "z.####.exr"
    for frame in (1, 2):
        write_image(str(pattern).replace("####", f"{frame:04d}"),
                    Image.from_array(np.zeros((4, 4, 1), np.float16), ("depth.Z",)))
    code, err = _run(capsys, "inspect", "--plate", str(pattern), "--frames", "1-2")
    assert code == EX_DATAERR
    assert "z.0001.exr" in err and "no colour channels" in err and "depth.Z" in err


def test_mismatched_resolution_names_both_frames(write_sequence, tmp_path, capsys):
    pattern = write_sequence(frames=range(1, 4))
    write_image(pattern.replace("####", "0003"), Image.from_array(np.zeros((8, 8, 4), np.float16)))
    out = tmp_path / "out"
    code, err = _run(capsys, "convert", "--input", pattern, "--frames", "1-3", "--out", str(out / "o.####.exr"))
    assert code == EX_DATAERR
    assert "seq.0003.exr (frame 3) is 8x8" in err and "frame 1 is 32x16" in err
    assert "o.0003.exr" not in _files(out)


def test_unwritable_output_folder_fails_before_any_work(write_sequence, tmp_path, capsys):
    pattern = write_sequence(frames=range(1, 3))
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    code, err = _run(capsys, "convert", "--input", pattern, "--frames", "1-2", "--out", str(blocker / "sub" / "o.####.exr"))
    assert code == EX_CANTCREAT
    assert "output folder" in err and "blocker" in err


@pytest.mark.parametrize("flag,value,needle", [
    ("--out", "out/o.exr", "no frame token"),
    ("--input", "in/a.##.##.exr", "2 frame tokens"),
    ("--frames", "20-10", "ends before it starts"),
])
def test_bad_pattern_or_range_is_a_usage_error(write_sequence, tmp_path, capsys, flag, value, needle):
    args = {"--input": write_sequence(), "--frames": "1-2", "--out": str(tmp_path / "o.####.exr")}
    args[flag] = value
    code, err = _run(capsys, "convert", *[x for kv in args.items() for x in kv])
    assert code == EX_USAGE and needle in err


@pytest.mark.parametrize("manifest,field", [
    ({"frames": "1-2", "plate": "p.####.exr", "bogus": 1}, "bogus"),
    ({"frames": [1, 2], "plate": "p.####.exr"}, "frames"),
    ({"frames": "1-", "plate": "p.####.exr"}, "frames"),
    ({"frames": "1-2", "plate": "p.exr"}, "plate"),
    ({"frames": "1-2", "plate": "p.####.exr", "handles": -1}, "handles"),
    ({"frames": "1-2", "plate": "p.####.exr", "keys": {"1001": 5}}, "keys.1001"),
    ({"frames": "1-2", "plate": "p.####.exr", "version": 2}, "version"),
])
def test_bad_manifest_field_is_named(tmp_path, capsys, manifest, field):
    path = tmp_path / "job.json"
    path.write_text(json.dumps(manifest))
    code, err = _run(capsys, "inspect", "--manifest", str(path))
    assert code == EX_USAGE
    assert f"manifest field '{field}'" in err


def test_manifest_that_is_not_json_is_named(tmp_path, capsys):
    path = tmp_path / "job.json"
    path.write_text("{frames: 1")
    code, err = _run(capsys, "inspect", "--manifest", str(path))
    assert code == EX_USAGE and "job.json is not valid JSON" in err
