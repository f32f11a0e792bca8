"""EbSynth peer driver (bench.ebsynth_peer): positional-guide advection and guide files.

None of these tests needs the EbSynth binary: the sequence test uses a stand-in script
that records its arguments and copies the style image to the output.
"""
from __future__ import annotations

import json
import stat
import sys

import cv2
import numpy as np
import pytest

from bench import ebsynth_peer as E


def test_coordinate_image_is_x_over_w_and_y_over_h():
    img = E.coordinate_image(4, 8)
    assert img.shape == (4, 8, 3) and img.dtype == np.float32
    np.testing.assert_allclose(img[2, 5], [5 / 8, 2 / 4, 0.0])
    np.testing.assert_allclose(img[0, 0], [0.0, 0.0, 0.0])


def test_chained_zero_flow_keeps_the_identity_coordinate_image():
    h, w = 12, 20
    chain = E.chain_positional(h, w, [np.zeros((h, w, 2), np.float32)] * 5)
    assert len(chain) == 6
    for img in chain:
        np.testing.assert_array_equal(img, E.coordinate_image(h, w))


def test_constant_shift_moves_the_coordinate_image_by_the_accumulated_displacement():
    # content moves 3 px right per frame: the point at x in the previous frame is at x + 3
    # in the current one, so the flow current -> previous is (-3, 0) everywhere.
    h, w, dx, steps = 16, 40, 3.0, 4
    flow = np.zeros((h, w, 2), np.float32)
    flow[:, :, 0] = -dx
    chain = E.chain_positional(h, w, [flow] * steps)
    ident = E.coordinate_image(h, w)
    last = chain[-1]
    shift = int(dx * steps)
    # interior pixels read the key coordinate 12 px to their left
    np.testing.assert_allclose(last[:, shift:, 0], ident[:, :-shift, 0], atol=1e-6)
    np.testing.assert_allclose(last[:, :, 1], ident[:, :, 1], atol=1e-6)
    # pixels entering from the left edge keep the border (replicated) coordinate
    np.testing.assert_allclose(last[:, :shift, 0], 0.0, atol=1e-6)


def test_vertical_subpixel_shift_is_interpolated():
    h, w = 20, 10
    flow = np.zeros((h, w, 2), np.float32)
    flow[:, :, 1] = 0.5  # current pixel came from half a row below
    out = E.advect(E.coordinate_image(h, w), flow)
    np.testing.assert_allclose(out[5:-5, :, 1], np.broadcast_to((np.arange(5, h - 5)[:, None] + 0.5) / h, (h - 10, w)), atol=1e-6)


def test_write_guide_is_8bit_rgb_png_without_alpha(tmp_path):
    img = E.coordinate_image(6, 10)
    path = E.write_guide(tmp_path / "pos.png", img)
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint8 and raw.shape == (6, 10, 3)
    rgb = cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(rgb[..., 0], np.floor(img[..., 0] * 255 + 0.5).astype(np.uint8))
    np.testing.assert_array_equal(rgb[..., 1], np.floor(img[..., 1] * 255 + 0.5).astype(np.uint8))
    assert (rgb[..., 2] == 0).all()
    np.testing.assert_allclose(E.read_rgb(path), img, atol=0.5 / 255 + 1e-6)


def test_grey_png_is_read_and_written_as_rgb(tmp_path):
    grey = (np.arange(30, dtype=np.uint8).reshape(5, 6) * 8)
    cv2.imwrite(str(tmp_path / "pencil.png"), grey)
    assert cv2.imread(str(tmp_path / "pencil.png"), cv2.IMREAD_UNCHANGED).ndim == 2
    rgb = E.read_rgb(tmp_path / "pencil.png")
    assert rgb.shape == (5, 6, 3)
    for c in range(3):
        np.testing.assert_allclose(rgb[..., c], grey / 255.0)
    out = cv2.imread(str(E.write_guide(tmp_path / "out.png", rgb[..., 0])), cv2.IMREAD_UNCHANGED)
    assert out.shape == (5, 6, 3)


FAKE_EBSYNTH = """\
import json, shutil, sys
args = sys.argv[1:]
with open({log!r}, "a") as fh:
    fh.write(json.dumps(args) + "\\n")
shutil.copyfile(args[args.index("-style") + 1], args[args.index("-output") + 1])
"""


def test_sequence_propagates_outward_with_three_guides(tmp_path):
    h, w = 24, 32
    rng = np.random.default_rng(0)
    base = cv2.GaussianBlur(rng.random((h, w + 10, 3)).astype(np.float32), (0, 0), 1.5)
    plates = {}
    for i, frame in enumerate(range(1, 6)):
        path = tmp_path / f"plate.{frame:04d}.png"
        E.write_guide(path, base[:, i:i + w])
        plates[frame] = path
    painting = tmp_path / "paint.png"
    cv2.imwrite(str(painting), (rng.random((h, w)) * 255).astype(np.uint8))  # grey painting
    log = tmp_path / "calls.jsonl"
    fake = tmp_path / "fake_ebsynth"
    fake.write_text(f"#!{sys.executable}\n" + FAKE_EBSYNTH.format(log=str(log)))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)

    zero_flow = lambda a, b: np.zeros(a.shape[:2] + (2,), np.float32)  # noqa: E731
    out = E.ebsynth_sequence(fake, plates, 3, painting, [1, 2, 3, 4, 5], tmp_path / "shot",
                             flow_fn=zero_flow, guide_dir=tmp_path / "guides", log=lambda s: None)
    assert sorted(out) == [1, 2, 3, 4, 5]
    for frame, path in out.items():
        assert path == tmp_path / "shot" / f"shot.{frame:04d}.png"
        img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert img.shape == (h, w, 3)
        np.testing.assert_allclose(E.read_rgb(path), E.read_rgb(painting))

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    targets = [int(c[c.index("-output") + 1][-8:-4]) for c in calls]
    assert targets == [4, 5, 2, 1]  # forward from the key, then backward, frame by frame
    for call, frame in zip(calls, targets):
        guides = [(call[i + 1], call[i + 2], float(call[i + 4]))
                  for i, a in enumerate(call) if a == "-guide"]
        assert [g[2] for g in guides] == [E.COLOUR_WEIGHT, E.POSITIONAL_WEIGHT, E.TEMPORAL_WEIGHT]
        style = call[call.index("-style") + 1]
        assert guides[2][0] == style  # temporal guide's source is the key's painting
        np.testing.assert_allclose(E.read_rgb(guides[0][0]), E.read_rgb(plates[3]), atol=1e-6)
        np.testing.assert_allclose(E.read_rgb(guides[0][1]), E.read_rgb(plates[frame]), atol=1e-6)
        # zero flow: the advected coordinate image is the key's identity image
        np.testing.assert_array_equal(cv2.imread(guides[1][1]), cv2.imread(guides[1][0]))
        assert call[call.index("-uniformity") + 1] == f"{E.UNIFORMITY:g}"
    timing = json.loads((tmp_path / "shot" / "ebsynth_timing.json").read_text())
    assert sorted(timing["seconds_per_frame"]) == ["1", "2", "4", "5"]


def test_key_outside_range_is_refused(tmp_path):
    with pytest.raises(ValueError, match="key frame"):
        E.ebsynth_sequence("x", {1: "a", 2: "b"}, 7, "p", [1, 2], tmp_path)
