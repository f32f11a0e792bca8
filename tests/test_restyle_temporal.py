"""Training's temporal loss: the plate's own motion teaches the network not to flicker."""
import numpy as np
import pytest
import torch

from inference import colour
from inference.demo.plate import PLATE_COLOURSPACE, render_frame
from inference.errors import UsageError
from inference.image import Image, read_image, write_image
from inference.restyle.model_file import load_model
from inference.restyle.settings import TrainColourspaces, TrainStart
from inference.restyle.temporal_loss import MARGIN, Stability, TemporalSampler, pair_frames, temporal_loss
from inference.restyle.train import TrainSettings, network_input, train
from inference.sequence import SequencePattern


def test_pairs_are_consecutive_frames_spread_over_the_shot():
    assert pair_frames([1, 2, 3, 5, 6]) == [(1, 2), (2, 3), (5, 6)]
    spread = pair_frames(list(range(1001, 1201)), count=4)
    assert spread == [(1001, 1002), (1067, 1068), (1133, 1134), (1199, 1200)]
    assert pair_frames([1, 3, 5]) == []


def _texture(height: int, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.random((height // 8, width // 8, 3)).astype(np.float32)
    return np.kron(coarse, np.ones((8, 8, 1), np.float32))[:height, :width]


class _Identity(torch.nn.Module):
    def forward(self, x):
        return x[:, :3]


@pytest.mark.parametrize("change, expected", [("moves 3 px", 0.0), ("brightens", 0.2)])
def test_loss_follows_the_plates_motion_and_catches_what_does_not_move(change, expected):
    prev = _texture(96, 128, seed=1)
    moved = np.roll(prev, 3, axis=1)  # the plate moves 3 px in both cases; the input also brightens in one
    cur = moved if change == "moves 3 px" else moved + 0.2
    views = [prev, moved]
    sampler = TemporalSampler([((prev, views[0]), (cur, views[1]))], 48, np.random.default_rng(0), torch.device("cpu"))
    prev_b, cur_b, grid, mask = sampler.batch(8)
    assert mask.shape == (8, 1, 48, 48) and float(mask.mean()) > 0.3
    assert float(mask[..., :MARGIN, :].max()) == 0.0  # the patch border is left out
    loss = float(temporal_loss(_Identity(), prev_b, cur_b, grid, mask))
    assert loss == pytest.approx(expected, abs=0.02)


def test_stability_raises_the_weight_while_the_output_flickers_and_lowers_it_when_steady():
    still = _texture(96, 128, seed=1)
    sampler = TemporalSampler([((still, still), (still, still))], 32, np.random.default_rng(0), torch.device("cpu"))
    noisy = Stability(sampler, target=1.2, seed=0)
    noisy.plate_change = 1e-4  # the plate barely changes; an output of pure noise does
    flickering = lambda x: torch.rand_like(x[:, :3])  # noqa: E731
    weights = [noisy.weight]
    for _ in range(4):
        noisy.check(flickering)
        weights.append(noisy.weight)
    assert weights == [0.0, 0.25, 0.375, 0.5625, 0.84375] and noisy.ratio > 100
    steady = Stability(sampler, target=1.2, seed=0, weight=0.5)
    steady.plate_change = 1.0
    for expected in (0.5 / 1.5, 0.0, 0.0):
        steady.check(_Identity())
        assert steady.weight == pytest.approx(expected) and steady.ratio < 0.6


@pytest.fixture
def noisy_still_shot(tmp_path, monkeypatch):
    """A still plate (8 frames) whose only change between frames is render noise, a painted key at
    frame 1, and flicker checks every 10 steps (so a short training adapts its weight)."""
    import inference.restyle.train as train_mod

    monkeypatch.setattr(train_mod, "CHECK_EVERY", 10)
    still = render_frame(0, 96, 64).beauty(alpha=False).as_float32()
    plate = SequencePattern.parse(str(tmp_path / "plate" / "p.####.exr"))
    plate.directory.mkdir()
    for frame in range(1, 9):
        noisy = still * (1 + np.random.default_rng(frame).normal(0, 0.15, still.shape).astype(np.float32))
        write_image(plate.path(frame), Image.from_array(np.maximum(noisy, 0), ("R", "G", "B")))
    key = tmp_path / "key.png"
    write_image(key, Image.from_array(np.clip(_texture(64, 96, seed=5) * 0.5 + 0.25, 0, 1), ("R", "G", "B")))
    return plate, str(key)


def test_temporal_loss_trains_the_network_to_ignore_render_noise(tmp_path, noisy_still_shot):
    """With a flicker target the output changes less from frame to frame than without, deterministically."""
    plate, key = noisy_still_shot

    def flicker(target: float, name: str) -> tuple[float, dict]:
        settings = TrainSettings(steps=300, patch=32, batch=8, plateau=False, seed=3, device="cpu", key_psnr=0,
                                 input_smoothing=0.0, stability=target)
        model = train(plate, {1: key}, tmp_path / f"{name}.onnx", settings=settings,
                      spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), frames=list(range(1, 9)), progress_mode="none").model
        net = load_model(model).torch_module()
        inputs = [network_input(read_image(plate.path(f)), f, [1], PLATE_COLOURSPACE, colour.WORKING_ENCODING, [],
                                1.0, 0.0) for f in (3, 4)]
        with torch.no_grad():
            out = [net(torch.from_numpy(x.transpose(2, 0, 1)[None].copy())) for x in inputs]
        return float((out[0] - out[1]).abs().mean()), net.state_dict()

    plain, _ = flicker(0.0, "plain")
    stable, weights = flicker(0.05, "stable")
    again, weights_again = flicker(0.05, "again")
    assert stable < 0.6 * plain
    assert all(torch.equal(weights[k], weights_again[k]) for k in weights)
    assert "temporal" in load_model(tmp_path / "stable.onnx").meta["training"]["loss"]
    assert "temporal" not in load_model(tmp_path / "plain.onnx").meta["training"]["loss"]
    report = load_model(tmp_path / "stable.onnx").meta["training"]["temporal"]
    assert report["pairs"] == 7 and report["target"] == 0.05 and report["final_weight"] > 1.0


def test_resumed_training_keeps_the_temporal_weight_and_equals_an_unbroken_one(tmp_path, noisy_still_shot):
    plate, key = noisy_still_shot
    settings = TrainSettings(steps=40, patch=32, batch=8, plateau=False, seed=3, device="cpu", stability=0.05,
                             key_psnr=0)

    def run(out: str, steps: int, resume: bool = False) -> dict:
        model = train(plate, {1: key}, tmp_path / out,
                      settings=TrainSettings(**{**settings.to_dict(), "steps": steps}),
                      start=TrainStart(resume=resume), spaces=TrainColourspaces(plate=PLATE_COLOURSPACE),
                      frames=list(range(1, 9)), progress_mode="none").model
        return load_model(model)

    whole = run("whole.onnx", 40)
    halfway = run("part.onnx", 20).meta["training"]["temporal"]["final_weight"]
    resumed = run("part.onnx", 40, resume=True)
    assert 0 < halfway < whole.meta["training"]["temporal"]["final_weight"]
    weights, again = whole.torch_module().state_dict(), resumed.torch_module().state_dict()
    assert all(torch.equal(weights[k], again[k]) for k in weights)


def test_a_negative_flicker_target_is_refused_by_name(tmp_path, noisy_still_shot):
    plate, key = noisy_still_shot
    with pytest.raises(UsageError, match="--stability -1"):
        train(plate, {1: key}, tmp_path / "m.onnx", settings=TrainSettings(steps=1, device="cpu", stability=-1),
              spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), frames=[1, 2], progress_mode="none")
