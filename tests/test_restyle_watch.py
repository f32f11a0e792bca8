"""Training you can watch (inference/restyle/watch.py): with $RESTYLE_TRAIN_WATCH set, training's
monitor writes a contact strip (plate above the look, keys and a far frame), an L1 curve at the keys
and watch.json, each complete (atomic)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import torch

from inference.restyle import watch
from inference.restyle.network import NetworkConfig, RestyleNet


def test_watch_writes_the_strip_curve_and_record(tmp_path):
    rng = np.random.default_rng(0)
    inputs = [rng.uniform(0, 1, (30, 40, 3)).astype(np.float32) for _ in range(2)]  # key 1001, far frame 1009
    target = rng.uniform(0, 1, (30, 40, 3)).astype(np.float32)
    ratios = iter([float("nan"), 3.0, 1.5])  # training measures flicker from its first check on
    monitor = watch.TrainWatch(tmp_path / "watch", [1001, 1009], inputs, {1001: target}, torch.device("cpu"),
                               lambda: next(ratios))
    net = RestyleNet(NetworkConfig(in_channels=3, width=4, res_blocks=1)).eval()
    monitor(100, 4.0, net)
    monitor(200, 8.0, net)
    monitor(300, 12.0, net)
    record = json.loads((tmp_path / "watch" / "watch.json").read_text())
    assert (record["step"], record["steps_per_s"], record["frames"]) == (300, 25.0, [1001, 1009])
    assert [s for s, _v in record["l1"]] == [100, 200, 300] and all(v > 0 for _s, v in record["l1"])
    assert record["flicker"] == [[200, 3.0], [300, 1.5]]
    strip = cv2.imread(record["strip"])
    # two frames side by side with a 4 px gap; plate row, 4 px gap, look row, 4 px gap, the curve
    assert strip.shape == (30 + 4 + 30 + 4 + watch.CURVE_ROW, 40 + 4 + 40, 3)
    curve_row = strip[30 + 4 + 30 + 4:, :, ::-1].astype(np.float32) / 255
    assert (curve_row[..., 0] > 0.8).any() and (curve_row[..., 2] > 0.8).any()  # both curves drawn there
    # curve.png (the same curves, no text): steps 0..300 across, L1 from step 100, the flicker from step 200
    curve = cv2.imread(record["curve"])[..., ::-1].astype(np.float32) / 255
    width = watch.CURVE_SIZE[0]
    x = [8 + step * (width - 16) // 300 for step in (100, 200, 300)]
    l1_line = (curve[..., 0] > 0.8) & (curve[..., 2] < 0.5)  # yellow
    flicker_line = (curve[..., 2] > 0.8) & (curve[..., 0] < 0.5)  # blue
    assert l1_line[:, x[0] + 2:x[2] - 2].any(axis=0).all() and not l1_line[:, :x[0] - 2].any()
    assert flicker_line[:, x[1] + 2:x[2] - 2].any(axis=0).all() and not flicker_line[:, :x[1] - 2].any()
    assert cv2.imread(record["curve"]).shape == (watch.CURVE_SIZE[1], watch.CURVE_SIZE[0], 3)
    assert sorted(p.name for p in (tmp_path / "watch").iterdir()) == ["curve.png", "strip.png", "watch.json"]


def test_watch_is_off_without_the_environment_variable(monkeypatch):
    monkeypatch.delenv(watch.ENV_WATCH, raising=False)
    assert watch.from_environment(None, {1001: "k.png"}, [], [], None, torch.device("cpu")) is None
