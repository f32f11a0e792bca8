"""The demo generates a plate whose motion vectors are exact, a painted key, and a contact sheet."""
import json

import cv2
import numpy as np
import pytest

from inference import cli
from inference.image import read_image


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert cli.main(["demo", "--out", str(out), "--frames", "6", "--size", "256x144", "--train-seconds", "4",
                     "--progress", "none"]) == 0
    return out


def test_demo_writes_plate_key_jobs_and_contact_sheet(demo_out):
    summary = json.loads((demo_out / "demo_summary.json").read_text())
    assert sorted(p.name for p in (demo_out / "plate").iterdir()) == [f"plate.{f}.exr" for f in range(1001, 1007)]
    plate = read_image(demo_out / "plate" / "plate.1003.exr")
    assert plate.channels[:4] == ("R", "G", "B", "A")  # EXR keeps the other layers in name order
    assert set(plate.channels[4:]) == {"depth.Z", "forward.u", "forward.v", "backward.u", "backward.v"}
    assert plate.size == (256, 144) and plate.file_format == "half"
    key = read_image(demo_out / "keys" / "key.1001.png")
    assert key.size == (256, 144) and key.file_format == "uint8"
    sheet = read_image(demo_out / "contact_sheet.png")
    assert sheet.size[0] > 3 * 240
    for stage in ("train", "run", "deflicker", "colourlock", "metrics"):
        assert (demo_out / "jobs" / f"{stage}.json").is_file()
        assert summary["stages"][stage] == "done"


def _warp_previous(previous_rgb, vectors_to_previous):
    """Sample the previous frame where each pixel came from (Nuke vectors: v points up)."""
    h, w = vectors_to_previous.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    map_x = xs + vectors_to_previous[..., 0]
    map_y = ys - vectors_to_previous[..., 1]
    return cv2.remap(previous_rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def test_backward_vectors_bring_the_previous_frame_onto_this_one(demo_out):
    prev = read_image(demo_out / "plate" / "plate.1003.exr")
    this = read_image(demo_out / "plate" / "plate.1004.exr")
    prev_rgb = prev.beauty(alpha=False).as_float32()
    this_rgb = this.beauty(alpha=False).as_float32()
    backward = this.select(["backward.u", "backward.v"]).as_float32()
    forward_prev = prev.select(["forward.u", "forward.v"]).as_float32()
    warped = _warp_previous(prev_rgb, backward)
    # Visible in both frames: same layer (depth) at both ends, away from layer edges.
    depth_prev_warped = _warp_previous(prev.select(["depth.Z"]).as_float32(), backward)
    same_layer = np.abs(depth_prev_warped - this.select(["depth.Z"]).as_float32()[..., 0]) < 1e-3
    edges = cv2.dilate(cv2.Canny((this.select(["depth.Z"]).as_float32()[..., 0] * 4).astype(np.uint8), 1, 1), np.ones((7, 7)))
    valid = same_layer & (edges == 0)
    valid[:4], valid[-4:], valid[:, :30], valid[:, -30:] = False, False, False, False
    assert valid.mean() > 0.5
    error = np.abs(warped - this_rgb)[valid].mean()
    unwarped = np.abs(prev_rgb - this_rgb)[valid].mean()
    assert error < 0.01 and unwarped > 10 * error
    assert np.allclose(forward_prev.reshape(-1, 2).min(0), -backward.reshape(-1, 2).max(0), atol=1e-2)
