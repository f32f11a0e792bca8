"""Issue 22, item 4: a NaN or Inf pixel in any frame a command reads stops it with exit 65, naming the
file, the channel and the pixel; never a NaN output with exit 0. Commands that read their whole range
first (deflicker, colourlock, metrics, inspect, hash, train) write nothing; those that stream frame by
frame (convert, run, render) keep the frames before the bad one, each complete and finite (README:
frames already written are complete), and write none from it on.

Every command reads its frames through one reader (``image.read_image``, under ``read_sequence``), so
the same refusal covers deflicker's --input and --guide, colourlock's input and reference, metrics'
inputs, and the plate's motion vectors where they guide a pass."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from inference import cli
from inference.errors import EX_DATAERR
from inference.image import read_image, write_image
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern

FRAMES = range(1001, 1005)
BAD_FRAME = 1003
BEAUTY_G = "ViewLayer.Combined.G"
VECTOR_X = "ViewLayer.Vector.X"
PIXEL = (3, 5)  # y, x


@pytest.fixture(scope="module")
def material(small_data, tmp_path_factory):
    """The Blender plate (frames 1001-1004, with its Vector pass), its painted key, a trained look."""
    root = tmp_path_factory.mktemp("nonfinite")
    good = root / "good"
    good.mkdir()
    for frame in FRAMES:
        shutil.copy(small_data / "render_sceneA" / "exr" / f"sceneA.{frame}.exr", good / f"sceneA.{frame}.exr")
    plate = SequencePattern.parse(str(good / "sceneA.####.exr"))
    key = str(small_data / "style" / "sceneA_painting.1001.png")
    model = train(plate, {1001: key}, root / "look.onnx", progress_mode="none",
                  settings=TrainSettings(steps=2, patch=32, batch=2, plateau=False, device="cpu", key_psnr=0)).model
    return plate, key, str(model)


def _damaged(plate: SequencePattern, folder: Path, channel: str, value: float) -> SequencePattern:
    """A copy of ``plate`` whose frame BAD_FRAME holds ``value`` in ``channel`` at PIXEL."""
    folder.mkdir()
    for frame in FRAMES:
        shutil.copy(plate.path(frame), folder / Path(plate.path(frame)).name)
    copy = SequencePattern.parse(str(folder / Path(plate.hashes).name))
    image = read_image(copy.path(BAD_FRAME))
    image.pixels[PIXEL[0], PIXEL[1], image.channels.index(channel)] = value
    write_image(copy.path(BAD_FRAME), image)
    return copy


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


STREAMING = {"convert", "run", "render", "render vectors"}


# command -> (which input is damaged, damaged channel, argv); {bad} is the damaged sequence (or its
# BAD_FRAME file where the command takes one image), {good} the plate, {out} the output folder.
CASES = {
    "inspect": (BEAUTY_G, ["inspect", "--plate", "{bad}", "--frames", "1001-1004", "--json", "{out}/i.json"]),
    "convert": (BEAUTY_G, ["convert", "--input", "{bad}", "--frames", "1001-1004", "--out", "{out}/c.####.exr"]),
    "hash": (BEAUTY_G, ["hash", "--plate", "{bad}", "--frames", "1001-1004", "--json", "{out}/h.json"]),
    "train": (BEAUTY_G, ["train", "--plate", "{bad}", "--frames", "1003", "--key", "1003={key}",
                         "--out", "{out}/m.onnx", "--steps", "1", "--device", "cpu"]),
    "run": (BEAUTY_G, ["run", "--model", "{model}", "--plate", "{bad}", "--frames", "1001-1004",
                       "--out", "{out}/r.####.exr", "--device", "cpu"]),
    "render": (BEAUTY_G, ["render", "--model", "{model}", "--plate", "{bad}", "--frames", "1001-1004",
                          "--out", "{out}/r.####.exr", "--device", "cpu"]),
    "render vectors": (VECTOR_X, ["render", "--model", "{model}", "--plate", "{bad}", "--frames", "1001-1004",
                                  "--out", "{out}/r.####.exr", "--device", "cpu", "--vectors", "blender"]),
    "deflicker input": (BEAUTY_G, ["deflicker", "--input", "{bad}", "--guide", "{good}", "--frames", "1001-1004",
                                   "--out", "{out}/d.####.exr", "--device", "cpu", "--radius", "1"]),
    "deflicker guide": (BEAUTY_G, ["deflicker", "--input", "{good}", "--guide", "{bad}", "--frames", "1001-1004",
                                   "--out", "{out}/d.####.exr", "--device", "cpu", "--radius", "1"]),
    "deflicker vectors": (VECTOR_X, ["deflicker", "--input", "{good}", "--guide", "{bad}", "--frames", "1001-1004",
                                     "--out", "{out}/d.####.exr", "--device", "cpu", "--radius", "1",
                                     "--vectors", "blender"]),
    "colourlock input": (BEAUTY_G, ["colourlock", "--input", "{bad}", "--reference", "{good_file}",
                                    "--frames", "1001-1004", "--out", "{out}/l.####.exr", "--report", "{out}/qc"]),
    "colourlock reference": (BEAUTY_G, ["colourlock", "--input", "{good}", "--reference", "{bad_file}",
                                        "--frames", "1001-1004", "--out", "{out}/l.####.exr", "--report", "{out}/qc"]),
    "metrics output": (BEAUTY_G, ["metrics", "--output", "{bad}", "--plate", "{good}", "--frames", "1001-1004",
                                  "--json", "{out}/m.json", "--vectors", "dis"]),
    "metrics plate": (BEAUTY_G, ["metrics", "--output", "{good}", "--plate", "{bad}", "--frames", "1001-1004",
                                 "--json", "{out}/m.json", "--vectors", "dis"]),
    "metrics reference": (BEAUTY_G, ["metrics", "--output", "{good}", "--plate", "{good}", "--frames", "1001-1004",
                                     "--reference", "{bad}", "--json", "{out}/m.json", "--vectors", "dis"]),
    "metrics vectors": (VECTOR_X, ["metrics", "--output", "{good}", "--plate", "{bad}", "--frames", "1001-1004",
                                   "--json", "{out}/m.json", "--vectors", "blender"]),
}


@pytest.mark.parametrize("value", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_nonfinite_pixel_is_refused_naming_file_channel_and_pixel(material, tmp_path, capsys, case, value):
    # GIVEN the plate with one NaN/Inf pixel in one channel of frame 1003 (colour, or the Vector pass)
    plate, key, model = material
    channel, argv = CASES[case]
    bad = _damaged(plate, tmp_path / "bad", channel, value)
    out = tmp_path / "out"
    fields = {"bad": bad.hashes, "bad_file": bad.path(BAD_FRAME), "good": plate.hashes,
              "good_file": plate.path(1001), "key": key, "model": model, "out": str(out)}

    # WHEN the command reads it
    code = cli.main([a.format(**fields) for a in argv] + ["--progress", "none"])
    err = capsys.readouterr().err

    # THEN it stops with exit 65, naming the file, the channel and the pixel, and writes no output
    assert code == EX_DATAERR, err
    assert f"sceneA.{BAD_FRAME}.exr" in err and f"channel {channel}" in err and "x=5 y=3" in err, err
    written = _files(out)
    if case in STREAMING:
        assert [p.name.split(".")[1] for p in written] == ["1001", "1002"][:len(written)], written
        assert all(np.isfinite(read_image(p).beauty().as_float32()).all() for p in written)
    else:
        assert written == []


def test_inf_depth_stays_accepted_where_the_vectors_guide(material, tmp_path):
    # GIVEN the Blender plate, whose sky has Depth.Z = +inf, and its finite Vector pass
    plate, _, _ = material
    assert not np.isfinite(read_image(plate.path(1001)).select(["ViewLayer.Depth.Z"]).as_float32()).all()
    out = SequencePattern.parse(str(tmp_path / "d" / "d.####.exr"))

    # WHEN it guides a deflicker by its vectors THEN the run succeeds with finite frames
    assert cli.main(["deflicker", "--input", plate.hashes, "--guide", plate.hashes, "--frames", "1001-1004",
                     "--out", out.hashes, "--device", "cpu", "--radius", "1", "--vectors", "blender",
                     "--progress", "none"]) == 0
    assert all(np.isfinite(read_image(out.path(f)).beauty().as_float32()).all() for f in FRAMES)
