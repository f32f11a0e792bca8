"""Restyle --texture: every frame rebuilt from the keyframe's own patches (guided patch synthesis)."""
import cv2
import numpy as np
import pytest
import torch
from test_restyle import model, shot, without_paintings  # noqa: F401  (module fixtures: a small plate, keys, a model)

from inference import cli, colour
from inference.demo.plate import PLATE_COLOURSPACE
from inference.errors import UsageError
from inference.image import read_image
from inference.restyle.apply import restyle_sequence
from inference.restyle.patch_synthesis import Guides, SynthesisSettings, identity_nnf, synthesize
from inference.restyle.settings import DetailSettings
from inference.restyle.texture import TextureSettings, walk_texture
from inference.sequence import SequencePattern

CPU = torch.device("cpu")


def _texture(height: int, width: int, seed: int, blur: float = 1.5) -> np.ndarray:
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur)
    return (smooth - smooth.min()) / (smooth.max() - smooth.min())


def _planar(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def _painted(guide: np.ndarray, seed: int) -> np.ndarray:
    """A "painting" of ``guide``: posterised into flat patches with hard edges, plus fine grain."""
    return (np.floor(guide * 4) / 4 + 0.05 * _texture(*guide.shape[:2], seed=seed, blur=0.5)).astype(np.float32)


def test_a_target_that_is_the_source_gets_the_style_back_patch_for_patch():
    guide = _texture(48, 64, seed=1)
    style = _painted(guide, seed=2)
    output, nnf = synthesize(Guides(_planar(guide), _planar(style)), Guides(_planar(guide)), 0.5, SynthesisSettings())
    assert (nnf == identity_nnf(48, 64, CPU)).float().mean() > 0.95
    assert np.abs(output.numpy().transpose(1, 2, 0) - style).mean() < 0.005


@pytest.mark.parametrize("style_weight", [0.0, TextureSettings.style_weight])
def test_a_shifted_target_gets_the_style_shifted_with_its_crispness(style_weight):
    # the target's guide is the source's moved 5 px right: its patches come from 5 px to the left,
    # so the output is the painting moved with it, as sharp as the painting (no blur from voting)
    world_guide = _texture(48, 100, seed=3)
    world_style = _painted(world_guide, seed=4)
    source = Guides(_planar(world_guide[:, 20:84]), _planar(world_style[:, 20:84]))
    output, nnf = synthesize(source, Guides(_planar(world_guide[:, 15:79])), style_weight, SynthesisSettings())
    inner = (slice(8, -8), slice(12, -12))
    assert ((nnf[1] - torch.arange(64)[None])[inner] == -5).float().mean() > 0.95
    assert np.abs(output.numpy().transpose(1, 2, 0)[inner] - world_style[:, 15:79][inner]).mean() < 0.005


def test_the_texture_walk_keeps_the_key_and_moves_its_patches_with_the_plate():
    shift = 2  # the plate pans right by 2 px a frame
    world = _texture(48, 120, seed=5)
    views = {t: np.ascontiguousarray(world[:, 30 - shift * t:94 - shift * t]) for t in range(4)}
    painting_world = _painted(world, seed=6)
    painting = np.ascontiguousarray(painting_world[:, 30:94])
    looks = {t: cv2.GaussianBlur(np.ascontiguousarray(painting_world[:, 30 - shift * t:94 - shift * t]), (0, 0), 2.0)
             for t in range(4)}
    walked = dict(walk_texture(views.__getitem__, looks.__getitem__, 0, painting, 3, TextureSettings(), CPU))
    assert sorted(walked) == [0, 1, 2, 3]
    assert np.array_equal(walked[0], painting - looks[0])  # the key comes back as painted
    for t in (1, 3):
        rebuilt = (looks[t] + walked[t])[6:-6, 6 + shift * t:-6]  # leave out what entered at the left edge
        expected = painting_world[:, 30 - shift * t:94 - shift * t][6:-6, 6 + shift * t:-6]
        assert np.abs(rebuilt - expected).mean() < 0.03
        assert np.abs(looks[t][6:-6, 6 + shift * t:-6] - expected).mean() > 0.05  # the look alone is soft


def test_run_with_texture_gives_the_painting_at_the_key_and_changes_other_frames(shot, model, tmp_path):  # noqa: F811
    _, plate, keys = shot
    working = colour.WORKING_ENCODING
    outs = {}
    for texture in (False, True):
        out = SequencePattern.parse(str(tmp_path / f"t{texture}" / "o.####.exr"))
        restyle_sequence(str(model), plate, [1, 2, 3], out,
                         detail=DetailSettings(px=None if texture else 0.0, texture=texture,
                                               keys={1: keys[1]} if texture else None),
                         plate_space=PLATE_COLOURSPACE, out_space=working, progress_mode="none")
        outs[texture] = {f: read_image(out.path(f)).beauty(alpha=False).as_float32() for f in (1, 2, 3)}
    painting = colour.convert(read_image(keys[1]).beauty(alpha=False).as_float32(),
                              colour.default_colourspace(keys[1]), working)
    assert np.abs(outs[True][1] - painting).max() < 5e-3  # half-float output
    assert all(np.abs(outs[True][f] - outs[False][f]).mean() > 1e-3 for f in (2, 3))


def test_texture_refuses_detail_beside_it_and_missing_keys(shot, model, tmp_path, capsys):  # noqa: F811
    _, plate, keys = shot
    out = SequencePattern.parse(str(tmp_path / "o" / "o.####.exr"))
    with pytest.raises(UsageError, match="choose one"):
        restyle_sequence(str(model), plate, [1, 2], out,
                         detail=DetailSettings(px=4.0, texture=True, keys={1: keys[1]}), progress_mode="none")
    legacy = without_paintings(model, tmp_path)  # a model that does not carry its paintings needs the keys
    code = cli.main(["run", "--model", str(legacy), "--plate", str(plate), "--frames", "1-2", "--texture",
                     "--out", str(out), "--progress", "none"])
    assert code == 64 and "--key FRAME=IMAGE" in capsys.readouterr().err
    assert not out.directory.exists() or not any(out.directory.iterdir())


def test_texture_from_the_paintings_the_model_carries(shot, model, tmp_path):  # noqa: F811
    _, plate, keys = shot
    outs = []
    for name, given in (("carried", None), ("given", {1: keys[1]})):
        out = SequencePattern.parse(str(tmp_path / name / "o.####.exr"))
        restyle_sequence(str(model), plate, [1, 2], out, detail=DetailSettings(texture=True, keys=given),
                         plate_space=PLATE_COLOURSPACE, progress_mode="none")
        outs.append([read_image(out.path(f)).as_float32() for f in (1, 2)])
    assert all(np.array_equal(a, b) for a, b in zip(*outs))
