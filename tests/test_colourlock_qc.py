"""ColourLock's QC can fail: a swatch the frames never carried (a green swatch placed on a grey
road) is not painted in and fails as repainted; a true swatch that drifted a little is held and
passes; NaN/Inf after the lock fail; the report shows the swatch before the lock, after it and
after the hold; the LUT export says it leaves the holds out; the gate trusts what is written."""
from __future__ import annotations

import contextlib
import io
import json
import shutil

import numpy as np
import pytest
import torch

from inference import cli, colour
from inference.colourlock import lock as lock_module
from inference.colourlock.apply import HoldSettings, lock_tensors
from inference.colourlock.qc import REPAINTED
from inference.colourlock.swatches import load_swatches
from inference.image import Image, read_image, write_image
from inference.sequence import SequencePattern

LIN = "Linear Rec.709 (sRGB)"
GREEN = [0.2, 0.6, 0.25]  # sRGB
SIZE = (160, 90)
ROAD = [30, 56, 24, 16]  # x, y, w, h: grey road in every frame and in the reference
PAINTED = [100, 16, 24, 16]  # where the frames and the reference really carry GREEN
FRAMES = range(1001, 1007)


def _swatch(name: str, region: list[int]) -> dict:
    return {"name": name, "rgb": GREEN, "colourspace": "sRGB - Texture", "tolerance": 1.0, "region": region}


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """A grey road with a lane marking, the green sign at PAINTED drifting a little on its own
    (+0.6 % a frame) under a growing exposure drift (+3 % a frame); the reference is the
    undrifted picture; a swatch file for the road and one for the sign."""
    root = tmp_path_factory.mktemp("qc")
    rng = np.random.default_rng(0)
    road = np.clip(0.42 + rng.normal(0, 0.03, (SIZE[1], SIZE[0], 1)), 0, 1).repeat(3, axis=2).astype(np.float32)
    road[40:44] = 0.9
    x, y, w, h = PAINTED
    seq = SequencePattern.parse(str(root / "in" / "road.####.exr"))
    seq.directory.mkdir()
    for i, frame in enumerate(FRAMES):
        srgb = road.copy()
        srgb[y:y + h, x:x + w] = np.array(GREEN) * (1 + 0.006 * i)
        linear = colour.convert(srgb, "sRGB - Texture", LIN) * np.float32(1 + 0.03 * i)
        write_image(seq.path(frame), Image.from_array(linear.astype(np.float16), ("R", "G", "B")))
    reference = road.copy()
    reference[y:y + h, x:x + w] = GREEN
    write_image(root / "ref.png", Image.from_array(reference, ("R", "G", "B")))
    for name, region in (("road", ROAD), ("sign", PAINTED)):
        (root / f"{name}.json").write_text(json.dumps([_swatch(f"brand green on the {name}", region)]))
    return root, seq


def _lock(root, seq, name, *extra):
    """restyle colourlock into root/<name> (frames and report); its exit code."""
    return cli.main(["colourlock", "--input", seq.hashes, "--input-colourspace", LIN, "--reference",
                     str(root / "ref.png"), "--frames", "1001-1006", "--report", str(root / name / "report"),
                     "--out", str(root / name / "o.####.exr"), "--progress", "none", *extra])


def _report(root, name) -> dict:
    return json.loads((root / name / "report" / "report.json").read_text())


def _region(root, name, frame, region) -> np.ndarray:
    x, y, w, h = region
    return read_image(root / name / f"o.{frame}.exr").as_float32()[y:y + h, x:x + w]


@pytest.fixture(scope="module")
def road(shot):
    """The road swatch locked (root, exit code, what it printed), and the same lock without swatches."""
    root, seq = shot
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        code = _lock(root, seq, "road", "--swatches", str(root / "road.json"))
    with contextlib.redirect_stdout(io.StringIO()):
        assert _lock(root, seq, "plain") == 0
    return root, code, printed.getvalue()


@pytest.fixture(scope="module")
def sign(shot):
    """The sign swatch locked: (root, exit code, what it printed)."""
    root, seq = shot
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        code = _lock(root, seq, "sign", "--swatches", str(root / "sign.json"))
    return root, code, printed.getvalue()


def test_a_swatch_on_a_road_that_never_had_its_colour_fails_and_is_not_painted_in(road):
    root, code, out = road
    # THEN the QC fails (exit 3), saying the region was repainted, naming the swatch and the frames
    assert code == cli.EX_QC_FAILED and "QC PASS" not in out
    assert f"swatch 'brand green on the road' frames 1001-1006: {REPAINTED}" in out and "--max-hold" in out
    report = _report(root, "road")
    (entry,) = report["swatches"]
    assert not report["passed"] and not entry["passed"] and REPAINTED in report["failures"][0]
    assert min(entry["before"]) > 25 and min(entry["after_lock"]) > 25 and not any(entry["held"])
    # AND the frames get no green rectangle: the road is as the lock alone leaves it
    for frame in FRAMES:
        np.testing.assert_array_equal(_region(root, "road", frame, ROAD), _region(root, "plain", frame, ROAD))
    grey = _region(root, "road", 1006, ROAD).reshape(-1, 3).mean(0)
    assert abs(grey[1] - grey[0]) < 0.02


def test_a_true_swatch_that_drifted_a_little_is_held_and_passes(sign):
    root, code, out = sign
    assert code == 0 and "QC PASS" in out
    (entry,) = _report(root, "sign")["swatches"]
    # the hold had work to do (beyond the tolerance after the lock), within --max-hold, and did it
    assert all(entry["held"]) and 1.0 < max(entry["after_lock"]) <= 3.0 and max(entry["after"]) <= 1.0
    # a flat painted sign: its pixels sit on the target too, and the hold leaves no visible edge
    assert max(entry["pixel_p95"]) <= 1.0 and max(abs(s) for s in entry["seam"]) < 2.0


def test_the_report_shows_before_the_lock_after_it_and_after_the_hold_per_frame(road):
    root, _, _ = road
    report = _report(root, "road")
    (entry,) = report["swatches"]
    assert all(len(entry[key]) == len(FRAMES) for key in ("before", "after_lock", "after", "held", "pixel_p95", "seam"))
    page = (root / "road" / "report" / "report.html").read_text()
    assert "<th>before lock</th><th>after lock (the hold's correction)</th><th>after hold</th>" in page
    row = f"<tr><td>1003</td><td>{entry['before'][2]:.2f}</td><td>{entry['after_lock'][2]:.2f}</td>"
    assert row in page and REPAINTED in page and "FAIL" in page


def test_max_hold_raised_holds_the_swatch_and_the_seam_shows_it(shot, road, capsys):
    root, seq = shot
    assert _lock(root, seq, "forced", "--swatches", str(root / "road.json"), "--max-hold", "40") == 0
    capsys.readouterr()
    (forced,) = _report(root, "forced")["swatches"]
    (refused,) = _report(root, "road")["swatches"]
    assert all(forced["held"]) and forced["max_hold"] == 40.0
    # the seam and the pixel spread measure what the hold does not force
    assert min(forced["seam"]) > 8 and max(abs(s) for s in refused["seam"]) < 1
    assert min(forced["pixel_p95"]) > 3 * max(forced["after"])


@pytest.mark.parametrize("value", ["0", "-1", "nan"])
def test_max_hold_must_be_a_positive_number(shot, value, capsys):
    root, seq = shot
    assert _lock(root, seq, "bad", "--swatches", str(root / "sign.json"), f"--max-hold={value}") == 64
    assert "--max-hold" in capsys.readouterr().err and not (root / "bad").exists()


def test_the_device_path_refuses_the_same_hold(shot):
    root, seq = shot
    frames = [torch.from_numpy(colour.convert(read_image(seq.path(f)).as_float32(), LIN, colour.WORKING_ENCODING))
              .permute(2, 0, 1) for f in (1001, 1002)]
    swatches = load_swatches([_swatch("road", ROAD), _swatch("sign", PAINTED)], SIZE)
    locked, holds = lock_tensors(frames, None, swatches, colour.WORKING_ENCODING, HoldSettings())
    assert holds.held.tolist() == [[False, True], [False, True]] and holds.correction[:, 0].min() > 25
    x, y, w, h = ROAD
    for before, after in zip(frames, locked):
        torch.testing.assert_close(after[:, y:y + h, x:x + w], before[:, y:y + h, x:x + w])


def test_nan_after_the_lock_fails_the_qc_naming_the_frame(shot, monkeypatch, capsys):
    root, seq = shot
    fit = lock_module.fit_transforms

    def broken(working, *args):  # a transform gone bad in one frame (NaN offset)
        transforms = fit(working, *args)
        transforms[1003].offset[:] = np.nan
        return transforms

    monkeypatch.setattr(lock_module, "fit_transforms", broken)
    assert _lock(root, seq, "nan", "--swatches", str(root / "sign.json")) == cli.EX_QC_FAILED
    out = capsys.readouterr().out
    assert "QC PASS" not in out and "frames 1003:" in out and "NaN/Inf" in out
    text = (root / "nan" / "report" / "report.json").read_text()
    report = json.loads(text, parse_constant=lambda name: pytest.fail(f"report.json holds {name}"))
    assert report["palette_delta_e_after"][2] is None and report["non_finite_after"][2] > 0 and not report["passed"]


def test_the_lut_export_says_it_leaves_the_holds_out(sign):
    root, _, _ = sign
    report = _report(root, "sign")
    assert report["cube_holds_swatches"] is False and "not the swatch holds" in report["cube_note"]
    assert "not the swatch holds" in (root / "sign" / "report" / "report.html").read_text()
    look = (root / "sign" / "report" / "cube" / "colourlock.ocio").read_text()
    assert "# The .cube files and colourlock.ocio carry the global correction only, not the swatch holds" in look


def test_the_gate_takes_the_reports_colourlock_writes(sign, road, tmp_path, capsys):
    root, _, _ = road
    shutil.copytree(root / "sign" / "report", tmp_path / "chunk.1001")
    assert cli.main(["gate", "--report", str(tmp_path)]) == 0
    shutil.copytree(root / "road" / "report", tmp_path / "chunk.1007")
    assert cli.main(["gate", "--report", str(tmp_path)]) == cli.EX_QC_FAILED
    assert f"QC gate FAILED: {tmp_path / 'chunk.1007' / 'report.json'}" in capsys.readouterr().out


def test_on_real_footage_a_chart_green_on_the_road_fails_and_a_painted_chart_patch_passes(shared_data, tmp_path,
                                                                                        capsys):
    """The bikes plate (live action, ../shared/data) with the ColorChecker's published 'green':
    asked of the grey road it was never on, it fails as repainted; a chart patch painted into the
    frames, drifting 1 % a frame, is held and passes."""
    chart = json.loads((shared_data / "colour" / "colorchecker_reference.json").read_text())
    green = next(s for s in chart["charts"]["ColorChecker24 - After November 2014"]["swatches"] if s["name"] == "green")
    road, patch = [60, 230, 40, 20], [560, 20, 32, 24]  # flat grey road; a wall the patch is painted on
    seq = SequencePattern.parse(str(tmp_path / "in" / "bikes.####.exr"))
    seq.directory.mkdir()
    for i, frame in enumerate(FRAMES):
        srgb = read_image(shared_data / "live_bikes" / f"bikes.{frame}.png").as_float32()[..., :3]
        x, y, w, h = patch
        srgb[y:y + h, x:x + w] = np.array(green["srgb"]) * (1 + 0.01 * i)
        write_image(seq.path(frame), Image.from_array(colour.convert(srgb, "sRGB - Texture", LIN).astype(np.float16),
                                                      ("R", "G", "B")))
    reference = read_image(shared_data / "live_bikes" / "bikes.1001.png").as_float32()[..., :3]
    x, y, w, h = patch
    reference[y:y + h, x:x + w] = green["srgb"]
    write_image(tmp_path / "ref.png", Image.from_array(reference, ("R", "G", "B")))
    for name, region in (("road", road), ("sign", patch)):
        swatch = {**_swatch(f"chart green on the {name}", region), "rgb": green["srgb"]}
        (tmp_path / f"{name}.json").write_text(json.dumps([swatch]))
    assert _lock(tmp_path, seq, "road", "--swatches", str(tmp_path / "road.json")) == cli.EX_QC_FAILED
    assert f"swatch 'chart green on the road' frames 1001-1006: {REPAINTED}" in capsys.readouterr().out
    assert min(_report(tmp_path, "road")["swatches"][0]["after_lock"]) > 20
    assert _lock(tmp_path, seq, "sign", "--swatches", str(tmp_path / "sign.json")) == 0
    assert "QC PASS" in capsys.readouterr().out
    (entry,) = _report(tmp_path, "sign")["swatches"]
    assert all(entry["held"]) and 1.0 < max(entry["after_lock"]) <= 3.0 and max(entry["after"]) <= 1.0


def test_one_inf_pixel_outside_every_swatch_fails_the_qc(shot):
    """An Inf the palette's clipped mean would hide is counted, and the QC names its frame."""
    from inference.colourlock.apply import lock_frames
    from inference.colourlock.lock import LockTarget, qc_entries, qc_report

    root, seq = shot
    target = LockTarget(str(root / "ref.png"), swatches_path=str(root / "sign.json"))
    frames = [colour.convert(read_image(seq.path(f)).as_float32(), LIN, colour.WORKING_ENCODING) for f in (1001, 1002)]
    locked, holds = lock_frames(frames, None, target.swatches, colour.WORKING_ENCODING)
    locked[1][80, 5] = np.inf
    report = qc_report(seq.printf, str(root / "ref.png"), [1001, 1002], "mkl", 2.0, False, HoldSettings(),
                       [qc_entries(frames, locked, target, holds)], {"input_colourspace": LIN})
    assert all(np.isfinite(report["palette_delta_e_after"])) and report["swatches"][0]["passed"]
    assert not report["passed"] and report["failures"] == [
        "frames 1002: 1 NaN/Inf pixel(s) in the locked frames; check the input with 'restyle inspect' and the fit "
        "(--method, --lut)"]
