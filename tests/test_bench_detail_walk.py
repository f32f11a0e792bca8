"""The detail-walk benchmark drives the walk as the render does (it broke once unseen when the walk's
signature changed)."""
import pytest

from bench.bench_detail_walk import timed_walk
from inference.restyle.settings import DEFAULT_DETAIL_PX, DEFAULT_DETAIL_PX_VECTORS


@pytest.mark.parametrize("motion, px", [("supplied", DEFAULT_DETAIL_PX_VECTORS), ("dis", DEFAULT_DETAIL_PX)])
def test_walk_timing_runs_each_motion_at_its_default_detail(motion, px):
    run = timed_walk(96, 48, 3, motion, "cpu")
    assert run["motion"] == motion and run["detail_px"] == px
    assert run["frames_walked"] == [1, 2, 3] and run["key_s"] >= 0 and run["seconds_per_frame"] >= 0
