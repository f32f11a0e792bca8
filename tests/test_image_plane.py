"""The image plane as compositors have it, on the engine: overscan and a bbox that changes per
frame, premultiplied alpha (the plate's and the paintings'), paintings of another size."""
import numpy as np
import pytest

from inference import colour
from inference.demo.paint import paint
from inference.demo.plate import PLATE_COLOURSPACE, render_frame
from inference.frame_hash import hash_frames
from inference.image import Image, Window, read_frame, read_image, write_image
from inference.pipeline import render_shot
from inference.render_settings import RenderSettings
from inference.restyle.apply import restyle_sequence
from inference.restyle.model_file import load_model
from inference.restyle.paintings import Painting, teaching
from inference.restyle.settings import DetailSettings, RuntimeSettings, TrainColourspaces
from inference.restyle.train import TrainSettings, restyle_loss, train
from inference.sequence import SequencePattern
from inference.sequence_io import read_sequence

FAST = TrainSettings(steps=40, patch=32, batch=8, plateau=False, seed=3, device="cpu", key_psnr=0, stability=0)
W, H = 96, 64


def _plate(root, frames=range(1, 5)):
    plate = SequencePattern.parse(str(root / "plate" / "plate.####.exr"))
    plate.directory.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        write_image(plate.path(frame), render_frame(index, W, H))
    return plate


def _painting(plate, frame):
    view = colour.convert(read_image(plate.path(frame)).beauty(alpha=False).as_float32(), PLATE_COLOURSPACE,
                          colour.WORKING_ENCODING)
    return np.clip(paint(view), 0, 1).astype(np.float32)


def _overscanned(image, pad, shift=0):
    """``image`` with ``pad`` pixels of overscan each side (data window beyond the format), the
    overscan holding a bright colour, the format's pixels shifted by ``shift`` in the file."""
    pixels = image.as_float32()
    big = np.pad(pixels, ((pad, pad), (pad + shift, pad - shift), (0, 0)), constant_values=5.0)
    return Image(big.astype(np.float32), image.channels, Window(-pad - shift, -pad, W + 2 * pad, H + 2 * pad),
                 Window(0, 0, W, H), dict(image.attributes))


def test_on_format_cuts_overscan_and_pads_a_small_bbox():
    pixels = np.arange(W * H * 3, dtype=np.float32).reshape(H, W, 3)
    image = Image.from_array(pixels, ("R", "G", "B"))
    assert np.array_equal(_overscanned(image, 7).on_format().as_float32(), pixels)
    small = Image(pixels[10:20, 30:50].copy(), ("R", "G", "B"), Window(30, 10, 20, 10), Window(0, 0, W, H))
    formatted = small.on_format()
    assert formatted.size == (W, H) and formatted.data_window == Window(0, 0, W, H)
    assert np.array_equal(formatted.as_float32()[10:20, 30:50], pixels[10:20, 30:50])
    assert formatted.as_float32()[:10].max() == 0 and formatted.as_float32()[:, :30].max() == 0


def test_animated_bbox_and_overscan_read_and_hash_on_the_format(tmp_path):
    """A plate whose bbox changes every frame (overscan on some, a tight bbox on others) reads as
    one size, and its hashes are those of the same pixels on the format."""
    plate = SequencePattern.parse(str(tmp_path / "bbox" / "p.####.exr"))
    plain = SequencePattern.parse(str(tmp_path / "plain" / "p.####.exr"))
    for d in (plate.directory, plain.directory):
        d.mkdir()
    for frame in range(1, 4):
        image = render_frame(frame, W, H)
        write_image(plain.path(frame), image)
        write_image(plate.path(frame), _overscanned(image, 4 * frame))
    assert {im.size for _, im in read_sequence(plate, [1, 2, 3])} == {(W, H)}
    assert dict(hash_frames(plate, [1, 2, 3], progress_mode="none")) == \
        dict(hash_frames(plain, [1, 2, 3], progress_mode="none"))


def test_restyle_of_an_overscanned_plate_is_the_format_restyled(tmp_path):
    """Train and render on a plate with overscan (a data window that differs per frame): the look
    is made on the format and equals the look of the same plate without overscan."""
    plain = _plate(tmp_path / "plain")
    over = SequencePattern.parse(str(tmp_path / "over" / "p.####.exr"))
    over.directory.mkdir()
    for frame in range(1, 5):
        write_image(over.path(frame), _overscanned(read_image(plain.path(frame)), 3 + frame, shift=frame % 2))
    key = str(tmp_path / "key.png")
    write_image(key, Image.from_array(_painting(plain, 1), ("R", "G", "B")))
    spaces = TrainColourspaces(plate=PLATE_COLOURSPACE)
    looks = []
    for name, plate in (("plain", plain), ("over", over)):
        model = train(plate, {1: key}, tmp_path / f"{name}.onnx", settings=FAST, spaces=spaces,
                      progress_mode="none").model
        out = SequencePattern.parse(str(tmp_path / f"out_{name}" / "o.####.exr"))
        restyle_sequence(str(model), plate, [1, 2, 3, 4], out, plate_space=PLATE_COLOURSPACE, progress_mode="none")
        looks.append([read_image(out.path(f)) for f in (1, 4)])
    for frame, plain_look, over_look in zip((1, 4), *looks):
        # the overscan passes through untouched: the plate's bbox and its pixels outside the format
        as_read = read_image(over.path(frame))
        assert over_look.data_window == as_read.data_window != Window(0, 0, W, H)
        assert np.allclose(over_look.on_format().as_float32(), plain_look.as_float32(), atol=2e-3)
        outside = np.ones(as_read.size[::-1], bool)
        d = as_read.data_window
        outside[-d.y:-d.y + H, -d.x:-d.x + W] = False
        assert np.array_equal(over_look.as_float32()[outside], as_read.beauty().as_float32()[outside])


def test_a_painting_of_another_size_is_resized_with_a_warning(tmp_path, capsys):
    plate = _plate(tmp_path)
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    painting = np.stack([xs / W, ys / H, 0.5 + 0 * xs], -1)  # smooth: enlarging it back is near exact
    half = tmp_path / "half.png"
    write_image(half, Image.from_array(painting[::2, ::2].copy(), ("R", "G", "B")))
    model = train(plate, {1: str(half)}, tmp_path / "m.onnx", settings=FAST,
                  spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="text").model
    assert "half.png is 48x32 but the plate's format is 96x64: resized" in capsys.readouterr().err
    carried = load_model(model).paintings[1]
    assert carried.shape == (H, W, 3)
    # the painting the look learnt is the painting itself, enlarged (8-bit file, half the pixels)
    assert np.abs(carried - painting).mean() < 0.01


def _rgba(rgb, alpha):
    return Image.from_array(np.concatenate([rgb * alpha[..., None], alpha[..., None]], -1).astype(np.float32))


def test_colour_is_restyled_unpremultiplied_and_premultiplied_again(tmp_path):
    """A plate with soft alpha gives the look of its straight colour times its alpha: the same
    look as the opaque plate, premultiplied; its alpha passes through."""
    opaque = _plate(tmp_path / "opaque", [1, 2])
    soft = SequencePattern.parse(str(tmp_path / "soft" / "p.####.exr"))
    soft.directory.mkdir()
    ys, xs = np.mgrid[0:H, 0:W]
    alpha = np.clip(xs / (W - 1) * 1.5 - 0.2, 0, 1).astype(np.float32)  # 0 on the left, 1 on the right
    for frame in (1, 2):
        rgb = read_image(opaque.path(frame)).beauty(alpha=False).as_float32()
        write_image(soft.path(frame), _rgba(rgb, alpha), dtype="float")
    assert np.allclose(read_image(soft.path(1)).straight_rgb()[:, -1],
                       read_image(opaque.path(1)).beauty(alpha=False).as_float32()[:, -1], atol=1e-5)
    key = str(tmp_path / "key.png")
    write_image(key, Image.from_array(_painting(opaque, 1), ("R", "G", "B")))
    model = train(opaque, {1: key}, tmp_path / "m.onnx", settings=FAST,
                  spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none").model
    outs = {}
    for name, plate in (("opaque", opaque), ("soft", soft)):
        outs[name] = SequencePattern.parse(str(tmp_path / f"out_{name}" / "o.####.exr"))
        # (the keys' detail along optical flow for both: the opaque plate also carries motion vectors)
        restyle_sequence(str(model), plate, [1, 2], outs[name], detail=DetailSettings(vectors="dis"),
                         plate_space=PLATE_COLOURSPACE, progress_mode="none")
    straight = read_image(outs["opaque"].path(2)).beauty(alpha=False).as_float32()
    got = read_image(outs["soft"].path(2))
    assert got.channels == ("R", "G", "B", "A")
    assert np.allclose(got.pixels[..., 3], alpha, atol=1e-3)
    inside = alpha > 0.05  # where the straight colour is defined (half output rounds the rest)
    assert np.allclose(got.as_float32()[..., :3][inside], (straight * alpha[..., None])[inside], atol=2e-2)
    assert np.abs(got.as_float32()[..., :3][alpha == 0]).max() == 0
    # restyle render, host (onnxruntime) and device (torch) hand-over: the same, on a plate with overscan too
    for frame in (1, 2):
        write_image(soft.path(frame), _overscanned(read_image(soft.path(frame)), 2 + frame), dtype="float")
    for backend in ("onnxruntime", "torch"):
        rendered = SequencePattern.parse(str(tmp_path / f"render_{backend}" / "o.####.exr"))
        render_shot(str(model), soft, [1, 2], rendered, RenderSettings(RuntimeSettings(backend=backend, device="cpu")),
                    plate_space=PLATE_COLOURSPACE, progress_mode="none")
        frame = read_image(rendered.path(2))
        assert frame.data_window == read_image(soft.path(2)).data_window != Window(0, 0, W, H)
        assert np.allclose(frame.on_format().as_float32(), got.as_float32(), atol=5e-3), backend


def test_an_alpha_of_zeros_is_taken_as_opaque():
    rgb = np.full((4, 4, 3), 0.5, np.float32)
    image = Image.from_array(np.concatenate([rgb, np.zeros((4, 4, 1), np.float32)], -1))
    assert image.alpha_plane() is None and np.array_equal(image.straight_rgb(), rgb)
    assert np.array_equal(image.with_rgb(rgb, premultiply=True).as_float32()[..., :3], rgb)
    opaque = Image.from_array(np.concatenate([rgb, np.ones((4, 4, 1), np.float32)], -1))
    assert opaque.alpha_plane() is None  # nothing to divide or multiply: the frame is left as it is
    half = Image.from_array(np.concatenate([rgb, np.full((4, 4, 1), 0.5, np.float32)], -1))
    assert np.allclose(half.straight_rgb(), 1.0) and np.allclose(half.with_rgb(rgb, premultiply=True).as_float32()[..., :3], 0.25)


def test_teaching_leans_to_the_plate_outside_the_paintings_alpha():
    paint_rgb, plate_rgb = np.full((2, 2, 3), 0.8, np.float32), np.full((2, 2, 3), 0.2, np.float32)
    alpha = np.array([[1, 0], [0.5, 0]], np.float32)
    target, weight = teaching(Painting(paint_rgb, alpha), plate_rgb, 0.25)
    assert np.allclose(target[0, 0], 0.8) and np.allclose(target[0, 1], 0.2)
    assert np.allclose(target[1, 0], (0.5 * 0.8 + 0.5 * 0.25 * 0.2) / 0.625)
    assert np.allclose(weight, [[1, 0.25], [0.625, 0.25]])
    nothing, zero = teaching(Painting(paint_rgb, alpha), plate_rgb, 0.0)
    assert zero[0, 1] == 0 and np.isfinite(nothing).all()
    assert teaching(Painting(paint_rgb, None), plate_rgb, 0.25)[1] is None


def test_weighted_loss_ignores_pixels_of_weight_zero():
    import torch

    out, target = torch.zeros(1, 3, 8, 8), torch.zeros(1, 4, 8, 8)
    target[:, 3, :, :4] = 1  # left half weighted
    target[:, :3, :, 4:] = 9.0  # wrong colour only where nothing is taught
    assert float(restyle_loss(out, target)) == 0
    target[:, 0, 0, 0] = 1.0
    assert float(restyle_loss(out, target)) > 0


def test_a_painting_of_only_the_hero_teaches_the_rest_as_the_plate(tmp_path):
    """Paint only the left half (alpha 0 on the right, colour there a garish red): the look keeps
    the painting on the left and follows the plate on the right, where it would otherwise learn red."""
    plate = _plate(tmp_path, [1, 2])
    painting = _painting(plate, 1)
    alpha = np.zeros((H, W), np.float32)
    alpha[:, :W // 2] = 1
    garish = painting.copy()
    garish[:, W // 2:] = (1.0, 0.0, 0.0)
    key = tmp_path / "hero.exr"  # straight colour premultiplied, as Nuke writes it
    linear = colour.convert(garish, colour.WORKING_ENCODING, PLATE_COLOURSPACE)
    write_image(key, _rgba(linear, alpha), dtype="float", colourspace=PLATE_COLOURSPACE)
    settings = TrainSettings(**{**FAST.to_dict(), "steps": 150})
    model = train(plate, {1: str(key)}, tmp_path / "m.onnx", settings=settings,
                  spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none").model
    out = SequencePattern.parse(str(tmp_path / "out" / "o.####.exr"))
    restyle_sequence(str(model), plate, [1], out, plate_space=PLATE_COLOURSPACE, out_space=colour.WORKING_ENCODING,
                     progress_mode="none")
    look = read_image(out.path(1)).beauty(alpha=False).as_float32()
    view = colour.convert(read_image(plate.path(1)).beauty(alpha=False).as_float32(), PLATE_COLOURSPACE,
                          colour.WORKING_ENCODING)
    right = slice(W // 2 + 8, None)
    # the unpainted side: near the plate, far from the red it was painted with under alpha 0
    assert np.abs(look[:, right] - view[:, right]).mean() < np.abs(look[:, right] - garish[:, right]).mean() / 3
    assert look[:, right, 0].mean() - look[:, right, 1].mean() < 0.3
    # the painted side learnt the painting (closer to it than to the plate)
    left = slice(8, W // 2 - 8)
    assert np.abs(look[:, left] - painting[:, left]).mean() < np.abs(view[:, left] - painting[:, left]).mean()


def test_read_frame_is_the_format(tmp_path):
    path = tmp_path / "o.exr"
    write_image(path, _overscanned(render_frame(0, W, H), 5))
    assert read_image(path).size == (W + 10, H + 10) and read_frame(path).size == (W, H)


@pytest.mark.parametrize("first", [1, 86400])
def test_frame_ranges_that_do_not_start_at_1001(tmp_path, first):
    plate = _plate(tmp_path, range(first, first + 3))
    key = str(tmp_path / "key.png")
    write_image(key, Image.from_array(_painting(plate, first + 1), ("R", "G", "B")))
    model = train(plate, {first + 1: key}, tmp_path / "m.onnx", settings=FAST,
                  spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), frames=list(range(first, first + 3)),
                  progress_mode="none").model
    out = SequencePattern.parse(str(tmp_path / "out" / "o.####.exr"))
    frames = list(range(first, first + 3))
    assert restyle_sequence(str(model), plate, frames, out, plate_space=PLATE_COLOURSPACE,
                            progress_mode="none") == frames


def test_cli_unpainted_weight_reaches_training_and_is_bounded(tmp_path, capsys):
    from inference import cli

    plate = _plate(tmp_path, [1, 2])
    key = str(tmp_path / "key.png")
    write_image(key, Image.from_array(_painting(plate, 1), ("R", "G", "B")))
    common = ["train", "--plate", plate.printf, "--frames", "1-2", "--key", f"1={key}", "--plate-colourspace",
              PLATE_COLOURSPACE, "--steps", "2", "--key-psnr", "0", "--device", "cpu", "--progress", "none"]
    assert cli.main(common + ["--unpainted-weight", "2", "--out", str(tmp_path / "bad.onnx")]) != 0
    assert "--unpainted-weight" in capsys.readouterr().err
    assert cli.main(common + ["--unpainted-weight", "0", "--out", str(tmp_path / "m.onnx")]) == 0
    assert load_model(tmp_path / "m.onnx").meta["training"]["unpainted_weight"] == 0
