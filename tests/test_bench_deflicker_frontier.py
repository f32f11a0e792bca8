"""The deflicker frontier bench's own measures on generated frames."""
import numpy as np

from bench.bench_deflicker_frontier import carried_key, consecutive_likeness
from inference import metrics
from inference.temporal import local_deflicker


def _moving_texture(count: int, noise: float, seed: int = 0) -> list[np.ndarray]:
    """A smooth texture sliding 2 px right per frame, plus per-frame noise (a paint-over's flicker)."""
    rng = np.random.default_rng(seed)
    base = np.repeat(np.sin(np.arange(96, dtype=np.float32) / 5.0)[None, :, None] * 0.3 + 0.5, 64, 0)
    base = np.repeat(base, 3, 2) * np.linspace(0.7, 1.0, 64, dtype=np.float32)[:, None, None]
    frames = [np.roll(base, 2 * t, axis=1) for t in range(count)]
    return [np.clip(f + rng.normal(0, noise, f.shape).astype(np.float32), 0, 1) for f in frames]


def test_consecutive_likeness_falls_with_per_frame_flicker():
    plate = _moving_texture(5, 0.0)
    judge = metrics.plate_flows(plate)
    steady, flickering = consecutive_likeness(plate, judge), consecutive_likeness(_moving_texture(5, 0.1), judge)
    assert steady > 0.95 and flickering < steady - 0.2


def test_carried_key_is_steady_along_the_flow_it_was_carried_on():
    plate, style = _moving_texture(7, 0.0), _moving_texture(7, 0.1, seed=1)
    flows = local_deflicker.neighbour_flows(plate)
    carried = carried_key(style, flows)
    assert np.array_equal(carried[3], style[3])
    judge = metrics.plate_flows(plate)
    assert metrics.e_warp(carried, plate, judge)["e_warp"] < 0.2 * metrics.e_warp(style, plate, judge)["e_warp"]
