"""restyle colourlock end to end: drifted frames locked to the reference, swatches held, .cube, QC report."""
import json

import numpy as np
import pytest

from inference import cli, colour
from inference.colourlock.lut import apply_cube_ocio
from inference.image import Image, read_image, write_image
from inference.sequence import SequencePattern

LIN = "Linear Rec.709 (sRGB)"
FRAMES = range(1001, 1007)
PATCH = (40, 30, 24, 16)  # x, y, w, h of the brand patch


@pytest.fixture(scope="module")
def drifted(small_data, tmp_path_factory):
    """Bikes frames 1001-1006 with a growing warm exposure drift, a brand-blue patch planted in each."""
    root = tmp_path_factory.mktemp("lock")
    seq = SequencePattern.parse(str(root / "in" / "in.####.exr"))
    seq.directory.mkdir()
    x, y, w, h = PATCH
    for i, frame in enumerate(FRAMES):
        srgb = read_image(small_data / "live_bikes" / f"bikes.{frame}.png").as_float32()  # 320x136
        srgb[y:y + h, x:x + w] = (0.1, 0.3, 0.8)
        linear = colour.convert(srgb, "sRGB - Texture", LIN) * np.array([1 + 0.06 * i, 1.0, 1 - 0.05 * i], np.float32)
        write_image(seq.path(frame), Image.from_array(linear.astype(np.float16), ("R", "G", "B")))
    reference = root / "ref.png"
    ref = read_image(small_data / "live_bikes" / "bikes.1001.png").as_float32()
    ref[y:y + h, x:x + w] = (0.1, 0.3, 0.8)
    write_image(reference, Image.from_array(ref, ("R", "G", "B")))
    swatches = root / "swatches.json"
    swatches.write_text(json.dumps([{"name": "brand blue", "rgb": [0.1, 0.3, 0.8], "colourspace": "sRGB - Texture",
                                     "tolerance": 1.0, "region": list(PATCH)}]))
    return root, seq, reference, swatches


def _lock(root, seq, reference, *extra, report="report"):
    return cli.main(["colourlock", "--input", seq.hashes, "--input-colourspace", LIN, "--reference", str(reference),
                     "--frames", "1001-1006", "--report", str(root / report), "--progress", "none", *extra])


def test_drift_is_locked_swatch_held_and_report_written(drifted):
    root, seq, reference, swatches = drifted
    out = SequencePattern.parse(str(root / "out" / "out.####.exr"))
    assert _lock(root, seq, reference, "--swatches", str(swatches), "--out", out.hashes) == 0
    report = json.loads((root / "report" / "report.json").read_text())
    assert report["passed"] and max(report["swatches"][0]["after"]) <= 1.0 < max(report["swatches"][0]["before"])
    before, after = report["palette_delta_e_before"], report["palette_delta_e_after"]
    assert before[-1] > 3 and np.mean(after) < 1.5 and max(after) < 0.35 * max(before)  # smoothing leaves a little at the ends
    assert (root / "report" / "report.html").read_text().count("PASS") >= 2 and (root / "report" / "delta_e.png").is_file()
    # The .cube of a frame, applied by OCIO in the working encoding, gives the engine's frame (outside the swatch).
    frame = 1006
    source = colour.convert(read_image(seq.path(frame)).as_float32(), LIN, colour.WORKING_ENCODING)
    engine = colour.convert(read_image(out.path(frame)).as_float32(), LIN, colour.WORKING_ENCODING)
    by_cube = apply_cube_ocio(root / "report" / "cube" / f"colourlock.{frame}.cube", np.clip(source, 0, 1))
    inside = np.all((source >= 0) & (source <= 1), axis=-1)
    inside[:PATCH[1] + PATCH[3] + 20, :PATCH[0] + PATCH[2] + 20] = False  # leave out the swatch and its feather
    assert np.abs(by_cube - engine)[inside].max() < 2e-3  # half-float output
    # The OCIO Look snippet, pasted into a show config, applies the frame's cube to scene-linear frames.
    look_linear = _apply_look(root / "report" / "cube", read_image(seq.path(frame)).as_float32(), frame)
    in_linear = read_image(out.path(frame)).as_float32()
    assert np.abs(colour.convert(look_linear, LIN, colour.WORKING_ENCODING) - engine)[inside].max() < 2e-3
    assert np.abs(look_linear - in_linear)[inside].max() < 3e-3


def _apply_look(cube_folder, linear, frame):
    import copy

    import PyOpenColorIO as ocio

    text = ocio.Config.CreateFromFile("ocio://studio-config-latest").serialize()
    snippet = "".join(line + "\n" for line in (cube_folder / "colourlock.ocio").read_text().splitlines()
                      if not line.startswith("#"))
    config = ocio.Config.CreateFromStream(text.replace("\nlooks:\n", "\nlooks:\n" + snippet, 1))
    context = copy.deepcopy(config.getCurrentContext())
    context.setSearchPath(str(cube_folder))
    context.setStringVar("COLOURLOCK_FRAME", f"{frame:04d}")
    look = ocio.LookTransform(src=LIN, dst=LIN, looks="ColourLock")
    pixels = np.ascontiguousarray(linear[..., :3], np.float32).copy()
    config.getProcessor(context, look, ocio.TRANSFORM_DIR_FORWARD).getDefaultCPUProcessor().applyRGB(pixels)
    return pixels


def test_lut_mode_locks_and_its_cubes_match_the_engine_through_ocio(drifted):
    root, seq, reference, _ = drifted
    out = SequencePattern.parse(str(root / "lut_out" / "out.####.exr"))
    assert _lock(root, seq, reference, "--lut", "--out", out.hashes, report="lut_report") == 0
    report = json.loads((root / "lut_report" / "report.json").read_text())
    assert report["method"] == "mkl+lut" and np.mean(report["palette_delta_e_after"]) < 1.5
    frame = 1005
    source = colour.convert(read_image(seq.path(frame)).as_float32(), LIN, colour.WORKING_ENCODING)
    engine = colour.convert(read_image(out.path(frame)).as_float32(), LIN, colour.WORKING_ENCODING)
    by_cube = apply_cube_ocio(root / "lut_report" / "cube" / f"colourlock.{frame}.cube", np.clip(source, 0, 2), "trilinear")
    assert np.abs(by_cube - engine).max() < 2e-3
    # The fitted table over [0, 2], not the affine sampled over [0, 1]: the cube really is the LUT.
    assert "DOMAIN_MAX 2 2 2" in (root / "lut_report" / "cube" / f"colourlock.{frame}.cube").read_text()


def test_check_only_writes_the_report_and_no_frames(drifted):
    root, seq, reference, swatches = drifted
    before = sorted(p.name for p in root.rglob("*.exr"))
    assert _lock(root, seq, reference, "--swatches", str(swatches), "--check-only", report="check") == 0
    report = json.loads((root / "check" / "report.json").read_text())
    assert report["check_only"] and not (root / "check" / "cube").exists()
    assert sorted(p.name for p in root.rglob("*.exr")) == before


def test_bad_reference_and_swatches_are_named_and_nothing_is_written(drifted, tmp_path, capsys):
    root, seq, _, _ = drifted
    small = tmp_path / "small.png"
    write_image(small, Image.from_array(np.zeros((8, 8, 3), np.float32), ("R", "G", "B")))
    out = tmp_path / "out" / "o.####.exr"
    assert _lock(tmp_path, seq, small, "--out", str(out)) == 64
    assert "small.png is 8x8" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"name": "logo", "rgb": [0.1, 0.2], "tolerance": 1.0, "region": [0, 0, 4, 4]}]))
    assert _lock(tmp_path, seq, root / "ref.png", "--swatches", str(bad), "--out", str(out)) == 64
    assert "rgb" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
