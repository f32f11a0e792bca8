"""Issue 22, item 2: colour travels with the frames.

Every EXR the engine writes records its colourspace in its header (``oiio:ColorSpace``, which
OpenImageIO reads back), readers take a recorded colourspace before any default by file type, and
EXR output is scene-linear unless asked otherwise. So a PNG plate restyled by hand, step by step
(run -> deflicker -> colourlock -> metrics), gives the figures `restyle render` gives in one pass,
and the farms (Open Job Description through `openjd run`, Deadline's task command, OpenCue's)
write the pixels a local render writes.

Material: the bikes clip (tests/fixtures, sRGB PNG, 320x136, frames 1001-1006) and its Kuwahara
stylisation, which is also the painted key and the colour reference."""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import xml.etree.ElementTree as Et
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from inference import cli, colour
from inference.colour import WORKING_ENCODING, resolve_colourspace
from inference.errors import EX_DATAERR
from inference.image import read_image, write_image
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern

REPO = Path(__file__).resolve().parents[1]
OPENJD = str(Path(sys.executable).parent / "openjd")
FRAMES = "1001-1006"
NUMBERS = range(1001, 1007)
SCENE_LINEAR = resolve_colourspace("scene_linear")


def _cli(*argv: str) -> int:
    return cli.main([*argv, "--progress", "none"])


def _recorded(path: str) -> str:
    """The colourspace OpenImageIO (as Nuke's and other tools' readers) takes from a file's header."""
    image = oiio.ImageInput.open(str(path))
    try:
        return image.spec().get_string_attribute("oiio:ColorSpace")
    finally:
        image.close()


def _frames(pattern: SequencePattern) -> np.ndarray:
    return np.stack([read_image(pattern.path(f)).beauty(alpha=False).as_float32() for f in NUMBERS])


@pytest.fixture(scope="module")
def shot(small_data, tmp_path_factory):
    """A look trained on the PNG plate (no colourspace flags anywhere: every default applies), and
    `restyle render` of the shot with deflicker and colour lock, as the figures to match."""
    root = tmp_path_factory.mktemp("travels")
    plate = SequencePattern.parse(str(small_data / "live_bikes" / "bikes.####.png"))
    key = str(small_data / "style" / "bikes_kuwahara.1001.png")
    model = str(train(plate, {1001: key}, root / "look.onnx", progress_mode="none",
                      settings=TrainSettings(steps=30, patch=48, batch=4, plateau=False, device="cpu",
                                             key_psnr=0)).model)
    render = SequencePattern.parse(str(root / "render" / "r.####.exr"))
    assert _cli("render", "--model", model, "--plate", plate.hashes, "--frames", FRAMES, "--out", render.hashes,
                "--reference", key, "--report", str(root / "render_qc"), "--device", "cpu") == 0
    report = json.loads((root / "render_qc" / "report.json").read_text())
    references = str(small_data / "style" / "bikes_kuwahara.####.png")
    return {"root": root, "plate": plate, "key": key, "model": model, "render": render, "report": report,
            "references": references}


def _metrics(shot, output: SequencePattern, name: str, *flags: str) -> dict:
    path = shot["root"] / f"{name}.json"
    assert _cli("metrics", "--output", output.hashes, "--plate", shot["plate"].hashes, "--frames", FRAMES,
                "--reference", shot["references"], "--json", str(path), "--vectors", "dis", *flags) == 0
    return json.loads(path.read_text())


def test_run_deflicker_colourlock_metrics_by_hand_give_the_render_figures(shot):
    # GIVEN the shot restyled in one pass by `restyle render`
    root, plate, key = shot["root"], shot["plate"], shot["key"]
    # WHEN the same stages run one at a time, each reading the EXR frames the one before wrote
    run, settled, locked = (SequencePattern.parse(str(root / step / f"{step}.####.exr"))
                            for step in ("run", "deflicker", "lock"))
    assert _cli("run", "--model", shot["model"], "--plate", plate.hashes, "--frames", FRAMES, "--out", run.hashes,
                "--device", "cpu") == 0
    assert _cli("deflicker", "--input", run.hashes, "--guide", plate.hashes, "--frames", FRAMES,
                "--out", settled.hashes, "--device", "cpu") == 0
    assert _cli("colourlock", "--input", settled.hashes, "--reference", key, "--frames", FRAMES,
                "--out", locked.hashes, "--report", str(root / "chain_qc")) == 0
    chain = json.loads((root / "chain_qc" / "report.json").read_text())

    # THEN ColourLock's ΔE before the lock is the render's (about 0.5, not 20)
    before, expected = chain["palette_delta_e_before"], shot["report"]["palette_delta_e_before"]
    assert np.allclose(before, expected, atol=0.05), (before, expected)
    assert np.allclose(chain["palette_delta_e_after"], shot["report"]["palette_delta_e_after"], atol=0.05)
    # AND the frames are the render's (half-float storage between the steps)
    assert np.abs(_frames(locked) - _frames(shot["render"])).max() < 1e-2
    # AND metrics measures the chain's frames as the render's (PSNR, SSIM to the painted frames)
    ours, theirs = _metrics(shot, locked, "chain"), _metrics(shot, shot["render"], "render")
    assert abs(ours["psnr_db"] - theirs["psnr_db"]) < 0.05 and abs(ours["ssim"] - theirs["ssim"]) < 0.002
    assert abs(ours["e_warp"] - theirs["e_warp"]) < 1e-4
    # AND every EXR written on the way is scene-linear and says so in its header (what OIIO reads back)
    for pattern in (run, settled, locked, shot["render"]):
        assert {_recorded(pattern.path(f)) for f in NUMBERS} == {SCENE_LINEAR}


def test_a_recorded_colourspace_wins_over_the_default_by_file_type(shot, tmp_path):
    # GIVEN the render's frames converted to an EXR that holds sRGB-encoded values, as asked
    srgb = SequencePattern.parse(str(tmp_path / "srgb" / "s.####.exr"))
    assert _cli("convert", "--input", shot["render"].hashes, "--frames", FRAMES, "--out", srgb.hashes,
                "--out-colourspace", WORKING_ENCODING, "--dtype", "float") == 0
    assert _recorded(srgb.path(1001)) == WORKING_ENCODING
    linear, encoded = _frames(shot["render"]), _frames(srgb)
    assert np.abs(linear - encoded).max() > 0.1  # the values really differ
    # WHEN metrics reads it with no colourspace flag THEN it takes the header's, not EXR's scene_linear
    assert _metrics(shot, srgb, "srgb")["psnr_db"] == pytest.approx(_metrics(shot, shot["render"], "lin")["psnr_db"],
                                                                    abs=0.01)
    # AND inspect names the colourspace the frames will be read in
    assert _cli("inspect", "--plate", srgb.hashes, "--frames", FRAMES, "--json", str(tmp_path / "i.json")) == 0
    assert json.loads((tmp_path / "i.json").read_text())["colourspace"] == WORKING_ENCODING
    # AND a flag still wins over the header
    flagged = _metrics(shot, srgb, "flagged", "--output-colourspace", SCENE_LINEAR)
    assert abs(flagged["psnr_db"] - _metrics(shot, shot["render"], "lin2")["psnr_db"]) > 1


def test_a_colourspace_the_config_does_not_know_is_refused_naming_the_file(shot, tmp_path, capsys):
    # GIVEN an EXR whose header names a colourspace that is not in the OCIO config
    folder = tmp_path / "odd"
    folder.mkdir()
    for frame in NUMBERS:
        write_image(folder / f"odd.{frame}.exr", read_image(shot["render"].path(frame)), colourspace="Studio Log v9")
    # WHEN deflicker reads it THEN it stops with exit 65 naming the file and the name, writing nothing
    code = _cli("deflicker", "--input", str(folder / "odd.####.exr"), "--guide", shot["plate"].hashes,
                "--frames", FRAMES, "--out", str(tmp_path / "out" / "d.####.exr"), "--device", "cpu")
    err = capsys.readouterr().err
    assert code == EX_DATAERR and "odd.1001.exr" in err and "'Studio Log v9'" in err, err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


# --- the farms write the pixels a local render writes ---------------------------------------------

# Every colourspace flag `restyle render` takes (bar the keys'), each away from its default.
COLOUR_FLAGS = ["--plate-colourspace", "Gamma 2.2 Encoded Rec.709", "--out-colourspace", "ACES2065-1",
                "--reference-colourspace", "Gamma 2.4 Encoded Rec.709"]
# This checkout's engine, in every process a test starts (`restyle submit` makes the farm's commands
# run the engine of the checkout it ran from).
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def _submit(shot, folder: Path, farm: str, flags: list[str], *extra: str) -> Path:
    """`restyle submit` of the render's shot, with ``flags``, into ``folder``/job."""
    folder.mkdir()
    (folder / "comp.nk").write_text("Root {}\n")
    done = subprocess.run([sys.executable, "-m", "inference.cli", "submit", "--farm", farm, "--job-dir", "job",
                           "--comp", "comp.nk", "--model", shot["model"], "--plate", shot["plate"].hashes,
                           "--frames", FRAMES, "--out", "cache/r.####.exr", "--reference", shot["key"],
                           "--report", "qc", "--chunk-size", "6", "--device", "cpu", *flags, *extra],
                          cwd=folder, env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return folder / "job"


def _local_render(shot, flags: list[str], folder: Path) -> SequencePattern:
    if not flags:
        return shot["render"]
    out = SequencePattern.parse(str(folder / "local" / "r.####.exr"))
    assert _cli("render", "--model", shot["model"], "--plate", shot["plate"].hashes, "--frames", FRAMES,
                "--out", out.hashes, "--reference", shot["key"], "--report", str(folder / "local_qc"),
                "--device", "cpu", *flags) == 0
    return out


def _equals_the_local_render(shot, folder: Path, flags: list[str]) -> None:
    out = SequencePattern.parse(str(folder / "cache" / "r.####.exr"))
    assert out.existing_frames() == list(NUMBERS)
    local = _local_render(shot, flags, folder)
    assert {_recorded(out.path(f)) for f in NUMBERS} == {_recorded(local.path(1001))} == {
        "ACES2065-1" if flags else SCENE_LINEAR}
    assert np.abs(_frames(out) - _frames(local)).max() <= 1e-3


WITH_FLAGS = pytest.mark.parametrize("flags", [[], COLOUR_FLAGS], ids=["defaults", "colour-flags"])


@WITH_FLAGS
def test_openjd_run_writes_the_local_render(shot, tmp_path, flags):
    job = _submit(shot, tmp_path / "openjd", "openjd", flags)
    values = json.loads((job / "parameter_values.json").read_text())
    assert flags or "PlateColourspace" not in values  # the template's default: as the engine decides locally
    env = {k: v for k, v in ENV.items() if k != "PYTHONPATH"}  # the template runs the engine in ToolsetRoot
    run = subprocess.run([OPENJD, "run", str(job / "restyle_shot.yaml"), "--job-param",
                          f"file://{job / 'parameter_values.json'}", "--step", "Restyle"],
                         cwd=tmp_path / "openjd", env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    _equals_the_local_render(shot, tmp_path / "openjd", flags)


@WITH_FLAGS
def test_deadline_render_task_writes_the_local_render(shot, tmp_path, flags):
    job = _submit(shot, tmp_path / "deadline", "deadline", flags, "--nuke-version", "15.1")
    info = dict(line.split("=", 1) for line in (job / "render_plugin_info.job").read_text().splitlines())
    arguments = info["Arguments"].replace("<STARTFRAME>", "1001").replace("<ENDFRAME>", "1006")
    task = subprocess.run([info["Executable"], *shlex.split(arguments)], cwd=info["StartupDirectory"], env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert task.returncode == 0, task.stderr[-2000:]
    _equals_the_local_render(shot, tmp_path / "deadline", flags)


@WITH_FLAGS
def test_opencue_render_layer_writes_the_local_render(shot, tmp_path, flags):
    job = _submit(shot, tmp_path / "opencue", "opencue", flags)
    layers = {layer.get("name"): layer for layer in Et.parse(job / "opencue_job.xml").getroot().find("job/layers")}
    command = layers["restyle"].findtext("cmd").replace("#FRAME_START#", "1001").replace("#FRAME_END#", "1006")
    task = subprocess.run(shlex.split(command), cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=600)
    assert task.returncode == 0, task.stderr[-2000:]
    _equals_the_local_render(shot, tmp_path / "opencue", flags)


def test_frames_recording_different_colourspaces_are_refused_naming_the_frame(shot, tmp_path, capsys):
    # GIVEN the render's frames with frame 1004 redone in sRGB-encoded values (a resume with another
    # --out-colourspace would leave this)
    mixed = SequencePattern.parse(str(tmp_path / "mixed" / "m.####.exr"))
    assert _cli("convert", "--input", shot["render"].hashes, "--frames", FRAMES, "--out", mixed.hashes) == 0
    odd = read_image(mixed.path(1004))
    write_image(mixed.path(1004), odd.with_rgb(colour.convert(odd.beauty(alpha=False).as_float32(), SCENE_LINEAR,
                                                              WORKING_ENCODING)), colourspace=WORKING_ENCODING)
    # WHEN metrics reads the sequence THEN it stops with exit 65 naming the frame and both colourspaces
    code = _cli("metrics", "--output", mixed.hashes, "--plate", shot["plate"].hashes, "--frames", FRAMES,
                "--json", str(tmp_path / "m.json"), "--vectors", "dis")
    err = capsys.readouterr().err
    assert code == EX_DATAERR and "m.1004.exr (frame 1004)" in err, err
    assert f"'{WORKING_ENCODING}'" in err and f"'{SCENE_LINEAR}'" in err, err
    assert not (tmp_path / "m.json").exists()
