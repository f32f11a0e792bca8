"""Restyle: training, ONNX export/load/refusal, backends, tiling, multi-key blending, determinism."""
import json

import numpy as np
import onnx
import pytest
import torch

from inference import cli, colour
from inference.demo.paint import paint
from inference.demo.plate import PLATE_COLOURSPACE, render_frame
from inference.errors import EX_DATAERR, EX_NOINPUT, ModelError, UsageError
from inference.image import Image, read_image, write_image
from inference.restyle import train as train_module
from inference.restyle.apply import infer, restyle_sequence
from inference.restyle.backends import OrtBackend, TorchBackend, select_backend
from inference.restyle.keys import key_weights
from inference.restyle.model_file import load_model, sha256_file
from inference.restyle.settings import RuntimeSettings, TrainColourspaces, TrainStart
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern

FAST = TrainSettings(steps=40, patch=32, batch=8, plateau=False, seed=3, device="cpu", key_psnr=0)


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    """A small procedural plate (8 frames) with painted keys at 1 and 8 (the second tinted blue)."""
    root = tmp_path_factory.mktemp("shot")
    plate = SequencePattern.parse(str(root / "plate" / "plate.####.exr"))
    plate.directory.mkdir()
    for index, frame in enumerate(range(1, 9)):
        write_image(plate.path(frame), render_frame(index, 96, 64))
    keys = {}
    for frame, tint in ((1, (1.0, 1.0, 1.0)), (8, (0.4, 0.6, 1.3))):
        view = colour.convert(read_image(plate.path(frame)).beauty(alpha=False).as_float32(), PLATE_COLOURSPACE,
                              colour.WORKING_ENCODING)
        keys[frame] = str(root / f"key.{frame}.png")
        write_image(keys[frame], Image.from_array(np.clip(paint(view) * tint, 0, 1), ("R", "G", "B")))
    return root, plate, keys


@pytest.fixture(scope="module")
def model(shot):
    root, plate, keys = shot
    return train(plate, {1: keys[1]}, root / "one.onnx", settings=FAST,
                 spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none").model


def without_paintings(model, tmp_path):
    """A copy of ``model`` as models were written before they carried their paintings."""
    proto = onnx.load(str(model))
    kept = [p for p in proto.metadata_props if p.key != "restyle.key_paintings"]
    assert len(kept) == len(proto.metadata_props) - 1
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    path = tmp_path / "legacy.onnx"
    onnx.save(proto, str(path))
    return path


def test_export_carries_checked_metadata(shot, model):
    _, _, keys = shot
    loaded = load_model(model)
    onnx.checker.check_model(loaded.proto)
    meta = loaded.meta
    assert meta["encoding"] == colour.WORKING_ENCODING and meta["input_channels"] == ["R", "G", "B"]
    assert meta["keyframes"] == {"1": sha256_file(keys[1])}
    assert meta["size_multiple"] == 4 and meta["training"]["steps_done"] == 40
    assert model.with_suffix(".ckpt").is_file()


def _broken_models(tmp_path, model):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x01not a model at all")
    plain = tmp_path / "plain.onnx"
    torch.onnx.export(torch.nn.Conv2d(3, 3, 1), (torch.zeros(1, 3, 8, 8),), str(plain), dynamo=False)
    future = tmp_path / "future.onnx"
    proto = onnx.load(str(model))
    for prop in proto.metadata_props:
        if prop.key == "restyle.format_version":
            prop.value = json.dumps("99")
    onnx.save(proto, str(future))
    tampered = tmp_path / "tampered.onnx"
    proto = onnx.load(str(model))
    weights = proto.graph.initializer[0]
    weights.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(weights) * 1.01, weights.name))
    onnx.save(proto, str(tampered))
    return {"tampered": (tampered, "changed after export"),"missing": (tmp_path / "nope.onnx", "not found"), "garbage": (garbage, "not a valid ONNX model"),
            "plain": (plain, "not a restyle model"), "future": (future, "format 99 is not supported")}


def test_bad_models_are_refused_with_a_reason(tmp_path, model, shot, capsys):
    _, plate, _ = shot
    for name, (path, reason) in _broken_models(tmp_path, model).items():
        with pytest.raises(ModelError, match=reason):
            load_model(path)
        code = cli.main(["run", "--model", str(path), "--plate", plate.hashes, "--frames", "1-2",
                         "--out", str(tmp_path / "o" / "o.####.exr"), "--progress", "none"])
        assert code == (EX_NOINPUT if name == "missing" else EX_DATAERR), name  # a missing file is 66 everywhere
        assert str(path) in capsys.readouterr().err
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_onnxruntime_on_cpu_matches_torch(model):
    loaded = load_model(model)
    x = np.random.default_rng(0).uniform(0, 1, (2, 3, 40, 52)).astype(np.float32)
    ort_out = OrtBackend(loaded, log=lambda m: None, providers=("CPUExecutionProvider",)).run(x)
    torch_out = TorchBackend(loaded, "cpu").run(x)
    assert ort_out.shape == (2, 3, 40, 52)
    assert np.abs(ort_out - torch_out).max() < 1e-4


def test_without_a_gpu_runtime_it_falls_back_to_cpu_and_says_why(model):
    """The machine stood in for (no CUDA for torch, a CPU-only onnxruntime): the same on any host."""
    messages = []
    backend = select_backend(load_model(model), "auto", log=messages.append,
                             available=["CPUExecutionProvider"], torch_cuda=False)
    assert backend.name == "onnxruntime:CPUExecutionProvider" and not backend.keeps_frames_on_device
    text = "\n".join(messages)
    assert "TensorrtExecutionProvider not available" in text and "CUDAExecutionProvider not available" in text
    assert "--backend auto: onnxruntime (no GPU runtime" in text


def test_tiled_equals_untiled(model):
    loaded = load_model(model)
    backend = TorchBackend(loaded, "cpu")
    x = np.random.default_rng(1).uniform(0, 1, (3, 101, 150)).astype(np.float32)
    whole = infer(backend, [x], 4, loaded.meta["receptive_margin"])[0]
    tiled = infer(backend, [x], 4, loaded.meta["receptive_margin"], tile=32)[0]
    assert whole.shape == (3, 101, 150)
    assert np.abs(whole - tiled).max() < 1e-3


def test_key_weights_crossfade_between_keys():
    keys = [10, 20, 40]
    assert key_weights(5, keys) == [(0, 1.0)] and key_weights(50, keys) == [(2, 1.0)]
    assert key_weights(20, keys) == [(1, 1.0)]
    assert key_weights(15, keys) == [(0, 0.5), (1, 0.5)]
    (a, wa), (b, wb) = key_weights(35, keys)
    assert (a, b) == (1, 2) and wa == pytest.approx(0.25) and wa + wb == pytest.approx(1)


def test_two_keys_blend_without_a_pop(shot, tmp_path):
    _, plate, keys = shot
    settings = TrainSettings(steps=150, patch=32, batch=8, plateau=False, seed=3, device="cpu", key_psnr=0)
    two = train(plate, keys, tmp_path / "two.onnx", settings=settings,
                spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none").model
    out = SequencePattern.parse(str(tmp_path / "o" / "o.####.exr"))
    restyle_sequence(str(two), plate, list(range(1, 9)), out, progress_mode="none")
    blue = [float(np.mean(read_image(out.path(f)).pixels[..., 2] - read_image(out.path(f)).pixels[..., 0]))
            for f in range(1, 9)]
    assert blue[-1] - blue[0] > 0.05  # the second key's tint is learnt
    steps = np.diff(blue)
    assert (steps > -0.01).all()  # moves one way from the first look to the second
    assert steps.max() < 3 * (blue[-1] - blue[0]) / 7  # no single-frame jump (a pop)


def test_same_inputs_and_seed_give_identical_models(shot, tmp_path):
    _, plate, keys = shot
    first = train(plate, {1: keys[1]}, tmp_path / "a.onnx", settings=FAST,
                  spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none").model
    second = train(plate, {1: keys[1]}, tmp_path / "b.onnx", settings=FAST,
                   spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none").model
    weights = [{t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(p)).graph.initializer} for p in (first, second)]
    assert all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_training_is_deterministic_inside_and_gives_torchs_flags_back_after(shot, tmp_path, monkeypatch):
    """A render later in the same process must not inherit deterministic mode (it NaN-fills
    every new tensor), nor subnormal floats flushed to zero: the flags come back whether
    training finishes or fails."""
    _, plate, keys = shot
    torch.use_deterministic_algorithms(False)
    torch.set_flush_denormal(False)
    train(plate, {1: keys[1]}, tmp_path / "a.onnx", settings=FAST, spaces=TrainColourspaces(plate=PLATE_COLOURSPACE),
          progress_mode="none")
    assert not torch.are_deterministic_algorithms_enabled()
    assert np.nextafter(0.0, 1.0) * np.float64(1.0) > 0.0  # numpy's subnormals survive: flush-to-zero is off again
    seen = []

    def fail(*args, **kwargs):
        seen.append(torch.are_deterministic_algorithms_enabled())
        raise RuntimeError("stop")

    monkeypatch.setattr(train_module, "load_training_pairs", fail)
    with pytest.raises(RuntimeError, match="stop"):
        train(plate, {1: keys[1]}, tmp_path / "b.onnx", settings=FAST,
              spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none")
    assert seen == [True] and not torch.are_deterministic_algorithms_enabled()


def test_resume_continues_from_the_checkpoint(shot, tmp_path):
    _, plate, keys = shot
    path = tmp_path / "r.onnx"
    train(plate, {1: keys[1]}, path, settings=FAST, spaces=TrainColourspaces(plate=PLATE_COLOURSPACE),
          progress_mode="none")
    again = TrainSettings(**{**FAST.to_dict(), "steps": 60})
    result = train(plate, {1: keys[1]}, path, settings=again, start=TrainStart(resume=True),
                   spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none")
    assert result.steps == 60 and load_model(path).meta["training"]["steps_done"] == 60


def test_cli_train_and_run_on_the_blender_plate(small_data, tmp_path):
    plate = str(small_data / "render_sceneA" / "exr" / "sceneA.####.exr")
    key = str(small_data / "style" / "sceneA_painting.1001.png")
    model = tmp_path / "look.onnx"
    assert cli.main(["train", "--plate", plate, "--frames", "1001-1006", "--key", f"1001={key}",
                     "--plate-colourspace", "lin_rec709", "--guides", "normals,depth", "--steps", "20", "--key-psnr", "0",
                     "--device", "cpu", "--out", str(model), "--progress", "none"]) == 0
    assert load_model(model).meta["input_channels"] == ["R", "G", "B", "N.x", "N.y", "N.z", "depth"]
    out = tmp_path / "out" / "look.####.exr"
    assert cli.main(["run", "--model", str(model), "--plate", plate, "--frames", "1001-1002",
                     "--out", str(out), "--progress", "none"]) == 0
    result = read_image(tmp_path / "out" / "look.1002.exr")
    plate_frame = read_image(small_data / "render_sceneA" / "exr" / "sceneA.1002.exr")
    assert result.channels == ("R", "G", "B", "A") and result.file_format == "half"
    assert result.size == plate_frame.size and np.isfinite(result.as_float32()).all()
    assert np.array_equal(result.pixels[..., 3], plate_frame.beauty().pixels[..., 3])
    assert result.attributes["Frame"] == "1002"  # plate metadata carried through


def test_batched_frames_equal_one_at_a_time(shot, model, tmp_path):
    _, plate, _ = shot
    results = []
    for batch in (1, 3):
        out = SequencePattern.parse(str(tmp_path / f"b{batch}" / "o.####.exr"))
        restyle_sequence(str(model), plate, list(range(1, 8)), out, runtime=RuntimeSettings(batch=batch),
                         progress_mode="none")
        results.append([read_image(out.path(f)).as_float32() for f in range(1, 8)])
    assert all(np.abs(a - b).max() < 1e-3 for a, b in zip(*results))


def test_init_starts_from_an_earlier_model_and_refuses_a_mismatched_one(shot, model, tmp_path):
    root, plate, keys = shot
    warmer = tmp_path / "warm.png"
    key = read_image(keys[1])
    write_image(warmer, key.with_rgb(np.clip(key.as_float32() * np.array([1.1, 1.0, 0.9], np.float32), 0, 1)))
    settings = TrainSettings(**{**FAST.to_dict(), "steps": 1})
    tuned = train(plate, {1: str(warmer)}, tmp_path / "tuned.onnx", settings=settings,
                  start=TrainStart(init=str(model), repass="full"), spaces=TrainColourspaces(plate=PLATE_COLOURSPACE),
                  progress_mode="none").model
    start = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(model)).graph.initializer}
    after = {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(tuned)).graph.initializer}
    assert max(np.abs(after[k] - start[k]).max() for k in start) < 0.01  # one step away, not a fresh start
    assert load_model(tuned).meta["training"]["init"] == str(model)
    assert load_model(tuned).meta["training"]["repass"] == "full"
    two_key = train(plate, keys, tmp_path / "two.onnx", settings=settings,
                    spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none").model
    with pytest.raises(UsageError, match="--init .*two.onnx.*differs"):
        train(plate, {1: keys[1]}, tmp_path / "x.onnx", settings=settings, start=TrainStart(init=str(two_key)),
              spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none")


def test_colour_edit_of_the_key_keeps_the_brushwork_and_a_repaint_retrains(shot, model, tmp_path):
    root, plate, keys = shot
    key = read_image(keys[1]).as_float32()
    warmer, repainted = tmp_path / "warm.png", tmp_path / "repainted.png"
    write_image(warmer, Image.from_array(np.clip(key * np.array([1.1, 1.0, 0.85], np.float32) + 0.02, 0, 1), ("R", "G", "B")))
    write_image(repainted, Image.from_array(np.ascontiguousarray(key[::-1, ::-1]), ("R", "G", "B")))   # other strokes
    approved = load_model(model).torch_module()
    frame = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    runs = {}
    for name, path in (("warm", warmer), ("repaint", repainted)):
        out = train(plate, {1: str(path)}, tmp_path / f"{name}.onnx", settings=FAST, start=TrainStart(init=str(model)),
                    spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none").model
        runs[name] = (load_model(out).meta["training"], load_model(out).torch_module())
    meta, warm = runs["warm"]
    assert meta["repass"] == "colour" and meta["steps_done"] == 0
    same = train(plate, {1: keys[1]}, tmp_path / "same.onnx", settings=FAST, start=TrainStart(init=str(model)),
                 spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none").model
    with torch.no_grad():   # the approved keyframe again: the approved frames again
        np.testing.assert_allclose(load_model(same).torch_module()(frame).numpy(), approved(frame).numpy(), atol=1e-5)
    with torch.no_grad():
        np.testing.assert_array_equal(warm.look(frame).numpy(), approved.look(frame).numpy())   # same brushwork
        grade = warm.grade.weight[:, :, 0, 0].numpy()
        assert abs(grade[0, 0] - 1.1) < 0.03 and abs(grade[2, 2] - 0.85) < 0.03      # the edit, recovered
        assert np.abs(warm(frame) - approved(frame)).mean() > 0.01
    meta, repaint = runs["repaint"]
    assert meta["repass"] == "full" and meta["steps_done"] == FAST.steps
    with torch.no_grad():
        assert np.abs(repaint.look(frame).numpy() - approved.look(frame).numpy()).max() > 1e-3


def test_patch_discriminator_shapes_training_and_stays_deterministic(shot, tmp_path, monkeypatch):
    import inference.restyle.train as train_mod

    root, plate, keys = shot
    monkeypatch.setattr(train_mod, "ADVERSARIAL_WARMUP", 10)
    weights = {}
    for name, adversarial in (("plain", 0.0), ("adv1", 0.5), ("adv2", 0.5)):
        settings = TrainSettings(**{**FAST.to_dict(), "steps": 20, "adversarial": adversarial})
        model = train(plate, {1: keys[1]}, tmp_path / f"{name}.onnx", settings=settings,
                      spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none").model
        weights[name] = load_model(model).torch_module().state_dict()
        assert ("LSGAN" in load_model(model).meta["training"]["loss"]) == (adversarial > 0)
    assert all(torch.equal(weights["adv1"][k], weights["adv2"][k]) for k in weights["adv1"])
    assert max(float((weights["adv1"][k] - weights["plain"][k]).abs().max()) for k in weights["plain"]) > 1e-4


class _SmallGpu:
    """A backend that runs out of memory above ``limit`` pixels per call, as a GPU would."""

    name, dtype = "small-gpu", "fp32"

    def __init__(self, backend, limit: int):
        self.backend, self.limit, self.calls = backend, limit, []

    def run(self, batch):
        self.calls.append(batch.shape)
        if batch.shape[0] * batch.shape[2] * batch.shape[3] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.backend.run(batch)


def test_out_of_memory_falls_back_to_smaller_batches_then_tiles(model):
    from inference.errors import GpuMemoryError
    from inference.restyle.apply import MIN_TILE, infer, infer_within_memory

    loaded = load_model(model)
    backend = OrtBackend(loaded, log=lambda _: None)
    margin = loaded.meta["receptive_margin"]
    frames = [np.random.default_rng(i).random((3, 256, 384), dtype=np.float32) for i in range(4)]
    expected = infer(backend, frames, 4, margin, batch=4)
    notes = []
    small = _SmallGpu(backend, limit=300 * 300)      # not even one whole frame fits
    got = infer_within_memory(small, frames, 4, margin, None, 4, notes.append)
    assert all(np.abs(a - b).max() < 1e-3 for a, b in zip(got, expected))
    assert [n.split(": ")[1] for n in notes] == ["retrying with batch 2, tile off", "retrying with batch 1, tile off",
                                                 "retrying with batch 1, tile 192"]
    assert max(s[0] * s[2] * s[3] for s in small.calls[-6:]) <= 300 * 300
    with pytest.raises(GpuMemoryError, match="GPU out of memory even for one"):
        infer_within_memory(_SmallGpu(backend, limit=(MIN_TILE // 2) ** 2), frames[:1], 4, margin, None, 1, notes.append)
    # Other errors are not mistaken for memory: they surface as they are.
    broken = _SmallGpu(backend, limit=0)
    broken.run = lambda batch: (_ for _ in ()).throw(ValueError("bad input shape"))
    with pytest.raises(ValueError, match="bad input shape"):
        infer_within_memory(broken, frames[:1], 4, margin, None, 1, notes.append)


def test_device_path_equals_the_host_path_with_guides_and_two_keys(shot, tmp_path):
    """restyle_tensors (the GPU path: colour conversion, smoothing, guides, padding and key
    blending on the device; here CPU torch) gives restyle_images' looks."""
    from inference.restyle.apply import restyle_images, restyle_tensors
    from inference.restyle.backends import TorchBackend

    _, plate, keys = shot
    settings = TrainSettings(steps=3, patch=32, batch=4, plateau=False, seed=3, device="cpu", key_psnr=0)
    two = load_model(train(plate, keys, tmp_path / "g.onnx", settings=settings,
                           spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), guides=["depth", "position"],
                           progress_mode="none").model)
    assert two.meta["input_smoothing"] > 0 and len(two.key_frames) == 2
    frames = [(f, read_image(plate.path(f))) for f in (1, 4, 8)]
    runner = TorchBackend(two, "cpu")
    host = restyle_images(two, runner, frames, PLATE_COLOURSPACE, None, 3)
    device = restyle_tensors(two, runner, frames, PLATE_COLOURSPACE).permute(0, 2, 3, 1).numpy()
    for a, b in zip(host, device):
        np.testing.assert_allclose(b, a, atol=2e-4)
    assert np.abs(device[1] - device[0]).max() > 0.01
