"""Restyle --detail: the keyframe's brushwork carried along the plate's motion."""
import cv2
import numpy as np
import pytest
from test_restyle import model, shot, without_paintings  # noqa: F401  (module fixtures: a small plate, keys, a model)

from inference import cli, colour
from inference.demo.plate import PLATE_COLOURSPACE
from inference.errors import UsageError
from inference.image import Image, read_image, write_image
from inference.restyle.apply import restyle_sequence
from inference.restyle.detail import WalkedFromKeys, high_pass, plate_view, walk
from inference.restyle.model_file import load_model
from inference.restyle.settings import DEFAULT_DETAIL_PX, DEFAULT_DETAIL_PX_VECTORS, DetailSettings, RuntimeSettings
from inference.sequence import SequencePattern
from inference.temporal.plate_flow import neighbour_motion

SRGB = "sRGB - Texture"


def _texture(height: int, width: int, seed: int, blur: float = 2.0) -> np.ndarray:
    """Smooth random RGB texture in [0, 1] (structure for optical flow at every pixel)."""
    noise = np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), blur)
    return (smooth - smooth.min()) / (smooth.max() - smooth.min())


def test_detail_moves_with_the_plate_both_ways_from_the_key():
    shift = 3  # the plate pans right by 3 px a frame
    world = _texture(80, 200, seed=1)
    views = {t: np.ascontiguousarray(world[:, 40 - shift * t:160 - shift * t]) for t in range(5)}
    painting = _texture(80, 120, seed=2, blur=1.0)
    carried = high_pass(painting, 4.0)
    inner = (slice(12, -12), slice(30, -30))
    flows = neighbour_motion(None, "dis", views.__getitem__)
    forward = dict(walk(views.__getitem__, flows, 0, painting, 4, 4.0))
    assert sorted(forward) == [0, 1, 2, 3, 4] and np.array_equal(forward[0], carried)
    for t in (1, 4):
        moved = np.roll(carried, shift * t, axis=1)  # where the key's brushwork is now
        assert np.abs(forward[t] - moved)[inner].mean() < 0.1 * np.abs(carried).mean()
        assert np.abs(forward[t] - carried)[inner].mean() > 0.5 * np.abs(carried).mean()  # it did move
    backward = dict(walk(views.__getitem__, flows, 4, painting, 0, 4.0))
    assert sorted(backward) == [0, 1, 2, 3, 4]
    assert np.abs(backward[0] - np.roll(carried, -shift * 4, axis=1))[inner].mean() < 0.1 * np.abs(carried).mean()


def _panning_flat_plate(folder, shift: int, frames: int) -> SequencePattern:
    """A plate of one flat grey (no structure optical flow could follow) whose Nuke
    forward/backward motion vectors say it pans ``shift`` px a frame to the right."""
    plate = SequencePattern.parse(str(folder / "p.####.exr"))
    plate.directory.mkdir()
    h, w = 40, 90
    grey, zero = np.full((h, w), 0.18, np.float32), np.zeros((h, w), np.float32)
    for frame in range(frames):
        channels = {"R": grey, "G": grey, "B": grey, "forward.u": zero + shift, "forward.v": zero,
                    "backward.u": zero - shift, "backward.v": zero}
        write_image(plate.path(frame), Image.from_array(np.stack(list(channels.values()), 2), tuple(channels)))
    return plate


def test_detail_rides_the_plates_own_vectors_where_optical_flow_sees_nothing(tmp_path):
    shift = 3
    plate = _panning_flat_plate(tmp_path / "p", shift, 4)
    view = plate_view(plate, "scene_linear")
    painting = _texture(40, 90, seed=7, blur=1.0)
    carried = high_pass(painting, 4.0)
    inner = (slice(8, -8), slice(20, -20))
    by_vectors = dict(walk(view, neighbour_motion(plate, "nuke", view), 0, painting, 3, 4.0))
    by_flow = dict(walk(view, neighbour_motion(plate, "dis", view), 0, painting, 3, 4.0))
    for t in (1, 3):
        moved = np.roll(carried, shift * t, axis=1)
        assert np.abs(by_vectors[t] - moved)[inner].mean() < 0.1 * np.abs(carried).mean()
        assert np.abs(by_flow[t] - moved)[inner].mean() > 0.5 * np.abs(carried).mean()  # flow saw no motion
    back = dict(walk(view, neighbour_motion(plate, "nuke", view), 3, painting, 0, 4.0))
    assert np.abs(back[0] - np.roll(carried, -3 * shift, axis=1))[inner].mean() < 0.1 * np.abs(carried).mean()


def test_run_with_vectors_the_plate_lacks_names_the_file_and_layers(shot, model, tmp_path, capsys):  # noqa: F811
    _, plate, _ = shot
    out = tmp_path / "o" / "o.####.exr"
    code = cli.main(["run", "--model", str(model), "--plate", str(plate), "--frames", "1-3", "--vectors", "blender",
                     "--out", str(out), "--progress", "none"])
    err = capsys.readouterr().err
    assert code == 65 and "no layer matching '*Vector'" in err and "plate.0002.exr" in err  # the first frame walked from key 1
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_render_with_the_plates_vectors_walks_the_detail_along_them(shot, model, tmp_path):  # noqa: F811
    """One --vectors guides the detail walk and the deflicker: a render's detail follows the plate's
    own (Nuke) vectors, which on the demo plate differ from its optical flow."""
    _, plate, _ = shot
    outs = {}
    for vectors in ("dis", "nuke"):
        out = tmp_path / vectors / "o.####.exr"
        assert cli.main(["render", "--model", str(model), "--plate", str(plate), "--frames", "1-6",
                         "--vectors", vectors, "--detail", "4", "--deflicker", "off", "--out", str(out),
                         "--progress", "none"]) == 0
        outs[vectors] = {f: read_image(str(out).replace("####", f"{f:04d}")).as_float32() for f in (1, 6)}
    assert np.array_equal(outs["dis"][1], outs["nuke"][1])  # the key's own detail
    assert np.abs(outs["dis"][6] - outs["nuke"][6]).mean() > 1e-4


def test_auto_vectors_follow_what_the_plate_carries_and_set_the_detail_default(shot, model, tmp_path):  # noqa: F811
    from inference.restyle.detail import resolve_detail

    _, plate, _ = shot  # the demo plate carries Nuke forward/backward vectors
    loaded = load_model(model)
    assert DetailSettings().vectors == "auto"
    resolved = resolve_detail(loaded, DetailSettings(), plate.path(1))
    assert (resolved.vectors, resolved.px) == ("nuke", DEFAULT_DETAIL_PX_VECTORS)
    flat = tmp_path / "flat.0001.png"  # the same picture without its vectors
    write_image(flat, read_image(plate.path(1)).beauty(alpha=False))
    resolved = resolve_detail(loaded, DetailSettings(), str(flat))
    assert (resolved.vectors, resolved.px) == ("dis", DEFAULT_DETAIL_PX)
    assert resolve_detail(loaded, DetailSettings(px=4.0, vectors="dis"), plate.path(1)).vectors == "dis"
    with pytest.raises(UsageError, match="--vectors optical"):
        resolve_detail(loaded, DetailSettings(vectors="optical"), plate.path(1))


def test_frames_are_walked_to_only_as_far_as_asked():
    """A render asks chunk by chunk: its first frames must not wait for the walk of the whole shot."""
    reached = []

    def walker(key, last):
        step = 1 if last >= key else -1
        for frame in range(key, last + step, step):
            reached.append(frame)
            yield frame, np.full((2, 2, 3), frame, np.float32)

    carried = WalkedFromKeys([10], list(range(1, 31)), walker)
    try:
        assert sorted(reached) == [9, 10, 10, 11]  # each side's first step, at once (checks the plate)
        assert carried(13)[0, 0, 0] == 13 and max(reached) == 13  # not on to frame 30
        assert carried(8)[0, 0, 0] == 8 and min(reached) == 8  # not back to frame 1
        assert carried(30)[0, 0, 0] == 30 and carried(12)[0, 0, 0] == 12  # kept, not walked again
        assert reached.count(12) == 1
    finally:
        carried.close()


def test_two_keys_details_blend_with_the_looks_weights(tmp_path):
    plate = SequencePattern.parse(str(tmp_path / "p" / "p.####.png"))
    plate.directory.mkdir()
    still = _texture(48, 64, seed=3)
    for frame in range(1, 6):
        write_image(plate.path(frame), Image.from_array(still, ("R", "G", "B")))
    residuals = {1: _texture(48, 64, seed=4) - 0.5, 5: _texture(48, 64, seed=5) - 0.5}
    view = plate_view(plate, SRGB)
    flows = neighbour_motion(plate, "dis", view)
    carried = WalkedFromKeys([1, 5], [2, 3, 5], lambda key, last: walk(view, flows, key, residuals[key], last, 2.0))
    try:
        first, second = (high_pass(residuals[k], 2.0) for k in (1, 5))
        assert np.abs(carried(3) - (0.5 * first + 0.5 * second)).max() < 0.02
        assert np.abs(carried(2) - (0.75 * first + 0.25 * second)).max() < 0.02
        assert np.abs(carried(5) - second).max() < 1e-3  # the key's own detail (stored as half)
    finally:
        carried.close()


def test_run_adds_at_the_key_what_the_network_left_out(shot, model, tmp_path):  # noqa: F811
    _, plate, keys = shot
    working = colour.WORKING_ENCODING
    outs = {}
    for detail in (0.0, 4.0):
        out = SequencePattern.parse(str(tmp_path / f"d{detail:g}" / "o.####.exr"))
        restyle_sequence(str(model), plate, [1, 2, 3], out, detail=DetailSettings(px=detail, keys={1: keys[1]}),
                         plate_space=PLATE_COLOURSPACE, out_space=working, progress_mode="none")
        outs[detail] = {f: read_image(out.path(f)).beauty(alpha=False).as_float32() for f in (1, 2, 3)}
    painting = colour.convert(read_image(keys[1]).beauty(alpha=False).as_float32(),
                              colour.default_colourspace(keys[1]), working)
    expected = high_pass(painting - outs[0.0][1], 4.0)
    assert np.abs((outs[4.0][1] - outs[0.0][1]) - expected).max() < 5e-3
    assert all(np.abs(outs[4.0][f] - outs[0.0][f]).mean() > 1e-3 for f in (2, 3))  # carried on, not only at the key


def test_a_chunk_with_detail_equals_the_whole_range(shot, model, tmp_path):  # noqa: F811
    _, plate, keys = shot
    results = []
    for name, frames in (("whole", list(range(1, 9))), ("chunk", [5, 6, 7])):
        out = SequencePattern.parse(str(tmp_path / name / "o.####.exr"))
        restyle_sequence(str(model), plate, frames, out, detail=DetailSettings(px=4.0, keys={1: keys[1]}),
                         plate_space=PLATE_COLOURSPACE, progress_mode="none")
        results.append({f: read_image(out.path(f)).as_float32() for f in (5, 6, 7)})
    assert all(np.array_equal(results[0][f], results[1][f]) for f in (5, 6, 7))


def _run(model_path, plate, tmp_path, name, **detail):
    out = SequencePattern.parse(str(tmp_path / name / "o.####.exr"))
    restyle_sequence(str(model_path), plate, [1, 4], out, detail=DetailSettings(**detail), plate_space=PLATE_COLOURSPACE,
                     progress_mode="none")
    return {f: read_image(out.path(f)).as_float32() for f in (1, 4)}


def test_the_model_carries_its_paintings(shot, model):  # noqa: F811
    _, _, keys = shot
    painting = colour.convert(read_image(keys[1]).beauty(alpha=False).as_float32(),
                              colour.default_colourspace(keys[1]), colour.WORKING_ENCODING)
    carried = load_model(model).paintings
    assert sorted(carried) == [1] and np.abs(carried[1] - painting).max() < 1e-3


def test_detail_is_on_by_default_from_the_carried_paintings(shot, model, tmp_path):  # noqa: F811
    _, plate, keys = shot
    default = _run(model, plate, tmp_path, "default")
    # the demo plate carries Nuke vectors: the brushwork rides them, at their default size
    asked = _run(model, plate, tmp_path, "asked", px=DEFAULT_DETAIL_PX_VECTORS, vectors="nuke", keys={1: keys[1]})
    off = _run(model, plate, tmp_path, "off", px=0.0)
    assert all(np.array_equal(default[f], asked[f]) for f in (1, 4))
    assert all(np.abs(default[f] - off[f]).mean() > 1e-3 for f in (1, 4))


def test_a_model_without_paintings_needs_keys_and_defaults_to_no_detail(shot, model, tmp_path):  # noqa: F811
    _, plate, keys = shot
    legacy = without_paintings(model, tmp_path)
    assert not load_model(legacy).carries_paintings
    default, off = _run(legacy, plate, tmp_path, "default"), _run(legacy, plate, tmp_path, "off", px=0.0)
    assert all(np.array_equal(default[f], off[f]) for f in (1, 4))
    with_keys = _run(legacy, plate, tmp_path, "keys", keys={1: keys[1]})
    assert all(np.abs(with_keys[f] - off[f]).mean() > 1e-3 for f in (1, 4))


def test_detail_refuses_missing_or_other_keys_before_any_work(shot, model, tmp_path):  # noqa: F811
    _, plate, keys = shot
    legacy = without_paintings(model, tmp_path)
    out = SequencePattern.parse(str(tmp_path / "o" / "o.####.exr"))
    with pytest.raises(UsageError, match=r"need the model's keyframes \[1\] as --key"):
        restyle_sequence(str(legacy), plate, [1, 2], out, detail=DetailSettings(px=4.0), progress_mode="none")
    for checked in (legacy, model):  # keys given are checked, also against a model that carries its paintings
        with pytest.raises(UsageError, match="is not the painting the model was trained on for frame 1"):
            restyle_sequence(str(checked), plate, [1, 2], out, detail=DetailSettings(px=4.0, keys={1: keys[8]}),
                             progress_mode="none")
    assert not out.directory.exists() or not any(out.directory.iterdir())


def test_cli_run_detail_without_keys_exits_64_naming_the_flag(shot, model, tmp_path, capsys):  # noqa: F811
    _, plate, _ = shot
    model = without_paintings(model, tmp_path)
    code = cli.main(["run", "--model", str(model), "--plate", str(plate), "--frames", "1-2", "--detail", "4",
                     "--out", str(tmp_path / "o.####.exr"), "--progress", "none"])
    assert code == 64 and "--key FRAME=IMAGE" in capsys.readouterr().err
    code = cli.main(["run", "--model", str(model), "--plate", str(plate), "--frames", "1-2", "--detail", "-1",
                     "--out", str(tmp_path / "o.####.exr"), "--progress", "none"])
    assert code == 64 and "--detail" in capsys.readouterr().err


@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])  # frames on the host / on the torch device
def test_render_in_chunks_carries_the_same_detail_as_run(shot, model, tmp_path, backend):  # noqa: F811
    from inference.pipeline import render_shot
    from inference.render_settings import RenderSettings

    _, plate, keys = shot
    frames = list(range(1, 9))
    ran = SequencePattern.parse(str(tmp_path / "run" / "o.####.exr"))
    restyle_sequence(str(model), plate, frames, ran, detail=DetailSettings(px=4.0, keys={1: keys[1]}),
                     plate_space=PLATE_COLOURSPACE, progress_mode="none")
    rendered = SequencePattern.parse(str(tmp_path / "render" / "o.####.exr"))
    render_shot(str(model), plate, frames, rendered,
                RenderSettings(runtime=RuntimeSettings(backend=backend), detail=DetailSettings(px=4.0, keys={1: keys[1]}), chunk=3),
                plate_space=PLATE_COLOURSPACE, progress_mode="none")
    plain = SequencePattern.parse(str(tmp_path / "plain" / "o.####.exr"))
    render_shot(str(model), plate, frames, plain,
                RenderSettings(runtime=RuntimeSettings(backend=backend), detail=DetailSettings(px=0.0), chunk=3),
                plate_space=PLATE_COLOURSPACE, progress_mode="none")
    for frame in frames:
        with_detail = read_image(rendered.path(frame)).as_float32()
        assert np.abs(with_detail - read_image(ran.path(frame)).as_float32()).max() < 2e-3
        assert np.abs(with_detail - read_image(plain.path(frame)).as_float32()).mean() > 1e-3


def test_reseed_only_where_the_plate_agrees_with_the_key():
    from inference.restyle.detail import plate_agrees

    key_view = _texture(40, 60, seed=6)
    key_view[:, 30:] = (0.9, 0.1, 0.1)  # a red object on the key's right half
    now = np.ascontiguousarray(np.roll(key_view, 5, axis=1))  # everything moved 5 px right
    follows = np.zeros((40, 60, 2), np.float32)
    follows[..., 0] = -5.0  # flow that finds each pixel where it was
    key_view = cv2.GaussianBlur(key_view, (0, 0), 2.0)  # (as the walk passes it: blurred once)
    assert plate_agrees(now, key_view, follows)[:, 15:-8].min() > 0.99  # (the first 5 columns wrapped round)
    wrong = np.zeros((40, 60, 2), np.float32)
    wrong[..., 0] = 20.0  # lands 20 px off: left-half texture on the red object
    assert plate_agrees(now, key_view, wrong)[5:-5, 15:25].max() < 0.01


def test_a_plate_frame_of_another_size_is_named_not_an_internal_error(shot, model, tmp_path, capsys):  # noqa: F811
    _, plate, _ = shot
    odd = SequencePattern.parse(str(tmp_path / "plate" / "p.####.exr"))
    odd.directory.mkdir()
    for frame in (1, 2, 3):
        image = read_image(plate.path(frame))
        write_image(odd.path(frame), image if frame != 3 else Image.from_array(
            image.as_float32()[:32, :48], image.channels))
    code = cli.main(["run", "--model", str(model), "--plate", odd.hashes, "--frames", "1-3",
                     "--out", str(tmp_path / "o" / "o.####.exr"), "--progress", "none"])
    assert code == 65 and "(frame 3) is 48x32 but frame 1 is 96x64" in capsys.readouterr().err


def test_detail_flows_are_measured_on_the_restyle_backends_device(shot, model, monkeypatch):  # noqa: F811
    """The walk's flows are asked with the device the look is made on (where FlowSettings' torch
    DIS would run), here the CPU."""
    from inference.restyle.apply import carry_detail
    from inference.restyle.backends import TorchBackend
    from inference.temporal import plate_flow

    _, plate, keys = shot
    seen, real = [], plate_flow.flow_pairs

    def recording(firsts, seconds, device=None, settings=plate_flow.FlowSettings()):
        seen.append(device)
        return real(firsts, seconds, device, settings)

    monkeypatch.setattr(plate_flow, "flow_pairs", recording)
    loaded = load_model(model)
    runner = TorchBackend(loaded, "cpu")
    carried = carry_detail(loaded, runner, plate, PLATE_COLOURSPACE, [1, 2], DetailSettings(px=4.0, keys={1: keys[1]}))
    try:
        assert seen and all(str(device) == "cpu" for device in seen)
        assert carried(2).shape[2] == 3
    finally:
        carried.close()


@pytest.mark.parametrize("sigma", [4.0, 12.0])  # (12: a blur OpenCV computes in full, so must the GPU)
def test_the_walk_on_a_gpu_gives_the_cpu_walks_detail(monkeypatch, sigma):
    """The torch operations a GPU walks with (run here on the CPU) carry the same detail as the
    OpenCV ones, away from the border (the blurs' border rules differ by a pixel; OpenCV's warps
    round positions to 1/32 pixel)."""
    from inference.restyle import detail

    world = _texture(80, 200, seed=3)
    views = {t: np.ascontiguousarray(world[:, 40 - 2 * t:160 - 2 * t]) for t in range(4)}
    views[3] = views[3].copy()
    views[3][20:50, 50:80] = (0.9, 0.2, 0.1)  # something the key's plate does not show: no reseed there
    painting = _texture(80, 120, seed=4, blur=1.0)
    flows = neighbour_motion(None, "dis", views.__getitem__)
    on_host = dict(walk(views.__getitem__, flows, 0, painting, 3, sigma))
    monkeypatch.setattr(detail, "walk_ops", lambda device: detail.DEVICE_OPS)
    on_device = dict(walk(views.__getitem__, flows, 0, painting, 3, sigma))
    inner = (slice(10, -10), slice(10, -10))
    for frame in range(4):
        assert on_device[frame].shape == on_host[frame].shape == painting.shape
        difference = np.abs(on_device[frame] - on_host[frame])[inner]
        assert difference.max() < 0.01 and difference.mean() < 5e-4, frame
    assert np.abs(on_host[3]).mean() > 0.1 * np.abs(on_host[0]).mean()  # (detail was carried, not lost)


def test_a_paused_walk_leaves_autograd_on_in_its_callers_thread():
    """A render walks lazily (the walk waits at a frame while the caller trains or renders): the
    walk must not leave the caller's thread in a no-grad mode."""
    import torch

    views = {t: _texture(24, 40, seed=t) for t in range(3)}
    steps = walk(views.__getitem__, neighbour_motion(None, "dis", views.__getitem__), 0, views[0], 2, 2.0)
    next(steps), next(steps)
    assert torch.is_grad_enabled()
    steps.close()


def test_detail_walked_many_frames_stays_sharper_than_bilinear_carrying(monkeypatch):
    """Half a pixel a frame is where bilinear warping softens most; the walk's warps, part way to
    bicubic, keep more of the key's fine detail over eight frames, without overshooting it."""
    from inference.restyle import detail

    world = _texture(60, 140, seed=7)
    shifts = {t: 0.5 * t for t in range(9)}
    views = {t: cv2.warpAffine(world, np.float32([[1, 0, -shifts[t]], [0, 1, 0]]), (120, 60),
                               borderMode=cv2.BORDER_REFLECT) for t in range(9)}
    pan = np.zeros((60, 120, 2), np.float32)

    def flows(frame, other):  # (frame -> other, other -> frame): the plate moves 0.5 px right a frame
        pan[..., 0] = 0.5 * (frame - other)
        return -pan.copy(), pan.copy()

    painting = np.random.default_rng(8).random((60, 120, 3)).astype(np.float32)

    def fine_energy(sharpness: float) -> float:
        monkeypatch.setattr(detail, "CARRY_SHARPNESS", sharpness)
        carried = dict(walk(views.__getitem__, flows, 0, painting, 8, 2.0))[8][10:-10, 20:-20]
        return float(np.abs(carried - cv2.GaussianBlur(carried, (0, 0), 1.0)).mean())

    key = high_pass(painting, 2.0)[10:-10, 20:-20]
    key_energy = float(np.abs(key - cv2.GaussianBlur(key, (0, 0), 1.0)).mean())
    default_sharpness = detail.CARRY_SHARPNESS
    bilinear, default = fine_energy(0.0), fine_energy(default_sharpness)
    assert default > 1.1 * bilinear and default < 1.05 * key_energy


def test_a_plate_frame_rewritten_on_disk_is_read_again(tmp_path):
    """The walk keeps the last frames it read (a frame's view and its vectors come from one read);
    a frame written again (a re-rendered plate in a warm engine) is read afresh."""
    from inference.temporal.plate_flow import plate_frame

    path = str(tmp_path / "p.1001.exr")
    write_image(path, Image.from_array(np.full((8, 12, 3), 0.25, np.float32), ("R", "G", "B")))
    assert plate_frame(path) is plate_frame(path)  # (kept: one read)
    write_image(path, Image.from_array(np.full((10, 12, 3), 0.5, np.float32), ("R", "G", "B")))
    again = plate_frame(path)
    assert again.size == (12, 10) and float(again.as_float32().mean()) == 0.5
