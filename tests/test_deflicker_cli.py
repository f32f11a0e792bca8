"""restyle deflicker end to end: chunks with handles equal the whole shot; vectors; Grade export."""
import numpy as np
import pytest

from inference import cli, colour, metrics
from inference.demo.plate import PLATE_COLOURSPACE, render_frame
from inference.image import read_image, write_image
from inference.sequence import SequencePattern

FRAMES = list(range(1001, 1015))


@pytest.fixture(scope="module")
def flickering(tmp_path_factory):
    """A procedural plate (with Nuke vectors) and a copy of it with strong per-frame flicker."""
    root = tmp_path_factory.mktemp("flicker")
    plate = SequencePattern.parse(str(root / "plate" / "p.####.exr"))
    source = SequencePattern.parse(str(root / "look" / "l.####.exr"))
    plate.directory.mkdir(), source.directory.mkdir()
    rng = np.random.default_rng(5)
    for index, frame in enumerate(FRAMES):
        image = render_frame(index, 128, 72)
        write_image(plate.path(frame), image)
        rgb = image.beauty(alpha=False).as_float32() * rng.uniform(0.75, 1.3, 3).astype(np.float32)
        write_image(source.path(frame), image.with_rgb(rgb))
    return root, plate, source


def _run(*args):
    return cli.main(["deflicker", *args, "--input-colourspace", PLATE_COLOURSPACE,
                     "--guide-colourspace", PLATE_COLOURSPACE, "--progress", "none"])


def _views(pattern, frames):
    return [np.clip(colour.convert(read_image(pattern.path(f)).beauty(alpha=False).as_float32(),
                                   PLATE_COLOURSPACE, "sRGB - Texture"), 0, 1) for f in frames]


@pytest.mark.parametrize("vectors", ["dis", "nuke"])
def test_flicker_is_settled_and_chunks_equal_the_whole_shot(flickering, tmp_path, vectors):
    root, plate, source = flickering
    whole = SequencePattern.parse(str(tmp_path / "whole" / "w.####.exr"))
    assert _run("--input", source.hashes, "--guide", plate.hashes, "--frames", "1001-1014",
                "--out", whole.hashes, "--vectors", vectors, "--radius", "2") == 0
    chunked = SequencePattern.parse(str(tmp_path / "chunks" / "c.####.exr"))
    for chunk in ("1001-1005", "1006-1010", "1011-1014"):  # a farm's chunks, default handles
        assert _run("--input", source.hashes, "--guide", plate.hashes, "--frames", chunk,
                    "--out", chunked.hashes, "--vectors", vectors, "--radius", "2") == 0
    for frame in FRAMES:
        a = read_image(whole.path(frame)).as_float32()
        b = read_image(chunked.path(frame)).as_float32()
        assert np.abs(a - b).max() <= 1e-3, frame
    plates = _views(plate, FRAMES)
    before = metrics.e_warp(_views(source, FRAMES), plates)["e_warp"]
    after = metrics.e_warp(_views(whole, FRAMES), plates)["e_warp"]
    assert after < before / 5
    alpha = read_image(whole.path(1003)).select(["A"]).pixels
    assert np.array_equal(alpha, read_image(source.path(1003)).select(["A"]).pixels)


def test_grade_nk_is_written_for_the_requested_frames(flickering, tmp_path):
    _, plate, source = flickering
    nk = tmp_path / "grade.nk"
    assert _run("--input", source.hashes, "--guide", plate.hashes, "--frames", "1003-1008",
                "--out", str(tmp_path / "o" / "o.####.exr"), "--mode", "global", "--grade-nk", str(nk)) == 0
    text = nk.read_text()
    assert text.startswith("Grade {") and text.count("{curve x1003 ") == 6 and "x1002" not in text


def test_bad_deflicker_options_are_usage_errors(flickering, tmp_path, capsys):
    _, plate, source = flickering
    base = ["--input", source.hashes, "--guide", plate.hashes, "--frames", "1001-1003", "--out", str(tmp_path / "o.####.exr")]
    assert _run(*base, "--strength", "1.5") == 64
    assert _run(*base, "--mode", "local", "--grade-nk", str(tmp_path / "g.nk")) == 64
    assert _run(*base, "--vectors", "blender") == 65  # the demo plate has no Blender Vector layer
    assert "Vector" in capsys.readouterr().err


@pytest.mark.parametrize("mode, vectors", [("both", "dis"), ("both", "nuke"), ("local", "nuke"), ("global", "dis")])
def test_the_device_path_gives_the_numpy_result(flickering, mode, vectors):
    """deflicker_tensors (the GPU path, here on CPU torch, uploading the plates a window of
    targets at a time) equals the numpy/OpenCV path of deflicker_frames."""
    import torch

    from inference.temporal.deflicker import deflicker_frames
    from inference.temporal.deflicker_device import deflicker_tensors
    from inference.temporal.settings import DeflickerSettings

    _, plate, source = flickering
    frames, targets = FRAMES[:9], [2, 3, 4, 6]
    plates = [read_image(plate.path(f)) for f in frames]
    linear = colour.resolve_colourspace("scene_linear")
    rgb = [colour.convert(read_image(source.path(f)).beauty(alpha=False).as_float32(), PLATE_COLOURSPACE, linear)
           for f in frames]
    settings = DeflickerSettings(mode=mode, radius=2, vectors=vectors, device="cpu")
    reference = deflicker_frames(rgb, plates, PLATE_COLOURSPACE, targets, frames, settings)
    working = torch.from_numpy(np.stack([colour.convert(x, linear, colour.WORKING_ENCODING) for x in rgb]))
    ported = deflicker_tensors(working.permute(0, 3, 1, 2), colour.WORKING_ENCODING, plates, PLATE_COLOURSPACE,
                               targets, frames, settings, window=2)
    ported = [colour.convert(x, colour.WORKING_ENCODING, linear) for x in ported.permute(0, 2, 3, 1).numpy()]
    for t, got in zip(targets, ported):
        np.testing.assert_allclose(got, reference[t], atol=2e-3, rtol=2e-3)
    assert np.abs(ported[0] - rgb[2]).max() > 0.01  # it did change the frame
