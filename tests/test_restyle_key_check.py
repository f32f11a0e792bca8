"""Training hands over only looks that give back their own painted keys (issue 23).

Divergence is rolled back or refused, the stopping rule waits for the keys, the key check is
recorded in the model and run/render refuse a model that failed it, and grey paintings train.
"""
import json

import cv2
import numpy as np
import onnx
import pytest
import torch

from inference import cli, colour
from inference.demo.paint import paint
from inference.demo.plate import PLATE_COLOURSPACE, render_frame
from inference.errors import EX_DATAERR, KeyCheckError, UsageError
from inference.image import Image, read_image, write_image
from inference.restyle import train as train_module
from inference.restyle.key_check import FarTexture, Guard, KeyScore, Learnt, far_frame, held_back_tiles
from inference.restyle.model_file import load_model, require_key_check
from inference.restyle.settings import TrainColourspaces
from inference.restyle.temporal_loss import Stability, TemporalSampler
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern

QUICK = TrainSettings(steps=60, patch=32, batch=8, plateau=False, seed=3, device="cpu", key_psnr=0)


@pytest.fixture(scope="module")
def demo_shot(tmp_path_factory):
    """A procedural plate (6 frames, 160x96 EXR) and a painted key at frame 1."""
    root = tmp_path_factory.mktemp("keycheck")
    plate = SequencePattern.parse(str(root / "plate" / "plate.####.exr"))
    plate.directory.mkdir()
    for index, frame in enumerate(range(1, 7)):
        write_image(plate.path(frame), render_frame(index, 160, 96))
    view = colour.convert(read_image(plate.path(1)).beauty(alpha=False).as_float32(), PLATE_COLOURSPACE,
                          colour.WORKING_ENCODING)
    key = root / "key.1.png"
    write_image(key, Image.from_array(np.clip(paint(view), 0, 1), ("R", "G", "B")))
    return root, plate, str(key)


def _settings(**changes) -> TrainSettings:
    return TrainSettings(**{**QUICK.to_dict(), **changes})


def _train(demo_shot, out, settings, key=None, frames=None):
    root, plate, painted = demo_shot
    return train(plate, {1: key or painted}, root / out, settings=settings,
                 spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), frames=frames, progress_mode="none")


def test_a_diverging_training_is_refused_with_what_to_do_and_writes_no_model(demo_shot):
    root, _, _ = demo_shot
    with pytest.raises(UsageError, match=r"training diverged .*no model written.*--stability 0.*--lr"):
        _train(demo_shot, "wild.onnx", _settings(lr=0.5))
    assert not (root / "wild.onnx").exists()


def test_a_divergence_rolls_back_to_the_best_weights_with_a_smaller_step(demo_shot, monkeypatch):
    """One divergence (reported at step 30) is cured by the roll-back; the model is written and says so."""
    watch = Guard.watch
    calls = {"n": 0}

    def diverge_once(self, fit, total):
        calls["n"] += 1
        return "forced for the test" if calls["n"] == 30 else watch(self, fit, total)

    monkeypatch.setattr(Guard, "watch", diverge_once)
    result = _train(demo_shot, "recovered.onnx", _settings(), frames=list(range(1, 7)))
    training = load_model(result.model).meta["training"]
    assert training["recoveries"] == ["step 30: forced for the test"]
    assert training["key_check"]["passed"] and np.isfinite(training["key_check"]["psnr_db"])


def test_the_temporal_weight_cannot_grow_while_the_keys_fail():
    """A flicker target the look cannot reach must not take the temporal weight up past the keys."""
    still = np.random.default_rng(1).random((64, 96, 3)).astype(np.float32)
    sampler = TemporalSampler([((still, still), (still, still))], 32, np.random.default_rng(0), torch.device("cpu"))
    stability = Stability(sampler, target=1.2, seed=0, weight=1.0)
    stability.plate_change = 1e-4  # the plate barely changes; an output of pure noise does

    def flickering(x):
        return torch.rand_like(x[:, :3])

    stability.check(flickering, keys_ok=False)
    assert stability.weight == pytest.approx(1.0 / 1.5) and stability.ratio > 100
    stability.check(flickering, keys_ok=True)
    assert stability.weight == pytest.approx(1.0)
    stability.ceiling = 1.2  # lowered after a divergence
    stability.check(flickering, keys_ok=True)
    assert stability.weight == pytest.approx(1.2)


def _score(psnr: float, held: float | None = None) -> KeyScore:
    return KeyScore([psnr], held)


def test_the_stopping_rule_waits_for_the_keys_then_stops_when_they_and_the_held_back_tiles_stop_improving():
    rule = Learnt(threshold_db=20.0, window=100, tolerance_db=0.1)
    flat_but_unlearnt = [rule.update(step, _score(14.0, 13.0)) for step in range(50, 1001, 50)]
    assert not any(flat_but_unlearnt)
    rule = Learnt(threshold_db=20.0, window=100, tolerance_db=0.1)
    stops = [step for step in range(50, 1001, 50)  # held-back tiles gain until 400, the keys until 600
             if rule.update(step, _score(21.0 + min(step, 600) / 100, 15.0 + min(step, 400) / 100))]
    assert stops and stops[0] == 700  # 100 steps after the last gain of either


def test_the_stopping_rule_waits_while_the_far_frame_still_gains_texture():
    def stops(textures: dict[int, float]) -> list[int]:
        rule = Learnt(threshold_db=20.0, window=100, tolerance_db=0.1)
        out = []
        for step in range(50, 1001, 50):  # keys and held-back tiles flat from the start
            if step in textures:
                rule.texture(step, textures[step])
            if rule.update(step, _score(25.0, 24.0)):
                out.append(step)
        return out

    still_sharpening = {s: 100.0 - 0.1 * s for s in range(100, 1001, 100)}  # falls 10 % and more per window
    assert not stops(still_sharpening)
    settles = {s: 100.0 - 0.1 * min(s, 600) for s in range(100, 1001, 100)}
    assert stops(settles)[0] == 700  # one window after its last real gain
    assert stops({})[0] == 200  # no far frame measured: the keys alone decide


def test_the_far_frame_is_the_one_farthest_from_every_key():
    assert far_frame(list(range(1, 25)), [12]) == 24
    assert far_frame(list(range(1, 25)), [1, 13]) == 24
    assert far_frame(list(range(1, 8)), [4]) == 1  # a tie goes to the earliest
    assert far_frame([5], [5]) is None


def test_the_far_frame_texture_scores_a_smooth_look_worse_than_the_painting_s_own_brushwork(demo_shot):
    _, _, key = demo_shot
    painting = read_image(key).beauty(alpha=False).as_float32()
    check = FarTexture(6, np.zeros((96, 160, 3), np.float32), painting, torch.device("cpu"))

    class Paints(torch.nn.Module):
        def __init__(self, image):
            super().__init__()
            self.image = torch.from_numpy(image.transpose(2, 0, 1).copy())[None]

        def forward(self, x):
            return self.image

    shifted = np.roll(painting, 7, axis=1)  # the same brushwork elsewhere in the frame
    smooth = cv2.GaussianBlur(shifted, (0, 0), 3)
    assert check.measure(Paints(shifted)) < 0.5 * check.measure(Paints(smooth))


def test_training_measures_the_far_frame_texture_and_records_it(demo_shot, monkeypatch):
    root, _, _ = demo_shot
    monkeypatch.setattr(train_module, "TEXTURE_CHECK_EVERY", 50)
    result = _train(demo_shot, "far.onnx", _settings(plateau=True, learnt_window=50, steps=150, key_psnr=0,
                                                     stability=0), frames=list(range(1, 7)))
    far = load_model(result.model).meta["training"]["far_texture"]
    assert far["frame"] == 6  # the key is frame 1 of 1-6
    assert [s for s, _ in far["swd"]] == [50, 100, 150][:len(far["swd"])] and far["swd"]
    assert all(d > 0 for _, d in far["swd"])


def test_the_stopping_rule_does_not_stop_a_training_before_its_keys_are_learnt(demo_shot):
    root, _, _ = demo_shot
    settings = _settings(plateau=True, learnt_window=20, steps=120, key_psnr=60)
    with pytest.raises(KeyCheckError, match=r"below the 60 dB key check.*--resume"):
        _train(demo_shot, "unlearnt.onnx", settings)
    training = load_model(root / "unlearnt.onnx").meta["training"]
    assert training["steps_done"] == 120  # ran to its cap: the keys never passed
    assert training["key_check"]["passed"] is False and training["key_check"]["threshold_db"] == 60
    learnt = _train(demo_shot, "learnt.onnx", _settings(plateau=True, learnt_window=20, learnt_tolerance=50.0,
                                                        steps=500, key_psnr=0))
    assert learnt.steps < 500  # with the keys passing and nothing left to gain it stops early


def test_held_back_tiles_are_a_tenth_of_the_key_and_never_trained_on():
    mask = held_back_tiles(360, 640, 32, seed=0)
    assert 0.08 < mask.mean() < 0.12
    assert not held_back_tiles(64, 96, 32, seed=0).any()  # too few tiles to spare any


def test_a_model_whose_key_check_failed_is_refused_by_run_and_render(demo_shot, tmp_path, capsys):
    root, plate, _ = demo_shot
    with pytest.raises(KeyCheckError):
        _train(demo_shot, "failed.onnx", _settings(key_psnr=60, steps=5))
    failed = root / "failed.onnx"
    for command in ("run", "render"):
        code = cli.main([command, "--model", str(failed), "--plate", plate.hashes, "--frames", "1-2",
                         "--out", str(tmp_path / command / "o.####.exr"), "--progress", "none"])
        err = capsys.readouterr().err
        assert code == EX_DATAERR and str(failed) in err and "does not reproduce its painted keys" in err
        assert "--resume" in err and not (tmp_path / command).exists()
    older = tmp_path / "older.onnx"  # a model from before the key check: no such field, still used
    proto = onnx.load(str(failed))
    for prop in proto.metadata_props:
        if prop.key == "restyle.training":
            training = json.loads(prop.value)
            del training["key_check"]
            prop.value = json.dumps(training)
    onnx.save(proto, str(older))
    assert require_key_check(load_model(older)).path == str(older)


def test_a_grey_single_channel_painting_trains_as_grey(demo_shot):
    root, plate, painted = demo_shot
    colour_key = read_image(painted).as_float32()
    grey = root / "pencil.1.png"
    write_image(grey, Image.from_array(colour_key.mean(axis=2, keepdims=True), ("Y",)))
    assert read_image(grey).channels == ("Y",)
    result = _train(demo_shot, "pencil.onnx", _settings(), key=str(grey))
    assert result.key_check["passed"]
    out = SequencePattern.parse(str(root / "pencil_out" / "o.####.exr"))
    from inference.restyle.apply import restyle_sequence

    restyle_sequence(str(result.model), plate, [1], out, progress_mode="none")
    look = read_image(out.path(1)).beauty(alpha=False).as_float32()
    plate_rgb = read_image(plate.path(1)).beauty(alpha=False).as_float32()

    def spread(rgb):  # how far the channels are apart: 0 for grey
        return float(np.abs(rgb - rgb.mean(axis=2, keepdims=True)).mean())

    assert np.isfinite(look).all() and spread(look) < 0.5 * spread(plate_rgb)


@pytest.mark.shared_data
def test_shot2_painting_trains_without_diverging_and_gives_its_key_back(shared_data, tmp_path, monkeypatch):
    """The shared live-action shot whose default training diverged (issue 23), downscaled to a
    quarter: a short training with the temporal loss on keeps its key above the key check. Its
    flicker target (1.2x the plate) is out of reach for this high-contrast painting; with checks
    every 25 steps the temporal weight used to climb to its maximum within 250 steps and wreck
    the look (key PSNR 12.5 -> 6.2 dB on the full frame)."""
    import inference.restyle.train as train_mod

    monkeypatch.setattr(train_mod, "CHECK_EVERY", 25)
    monkeypatch.setattr(train_mod, "KEY_CHECK_EVERY", 25)  # as by default, keys checked at least as often
    plate = SequencePattern.parse(str(tmp_path / "plate" / "p.####.png"))
    plate.directory.mkdir()
    for frame in range(1009, 1016):
        small = cv2.resize(cv2.imread(str(shared_data / "live_bikes_shot2" / f"bikes_shot2.{frame}.png")), (160, 68),
                           interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(plate.path(frame)), small)
    key = tmp_path / "key.1012.png"
    painting = cv2.imread(str(shared_data / "style" / "bikes_shot2_painting.1012.png"))
    cv2.imwrite(str(key), cv2.resize(painting, (160, 68), interpolation=cv2.INTER_AREA))
    settings = TrainSettings(steps=400, patch=32, batch=8, seed=0, device="cpu", seconds=None)
    result = train(plate, {1012: str(key)}, tmp_path / "shot2.onnx", settings=settings,
                   frames=list(range(1009, 1016)), progress_mode="none")
    training = load_model(result.model).meta["training"]
    assert training["recoveries"] == [] and training["temporal"]["final_weight"] < 8
    assert result.key_check["passed"] and result.key_check["psnr_db"] >= settings.key_psnr
