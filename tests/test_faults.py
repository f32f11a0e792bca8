"""Faults injected for real: a render killed with SIGKILL mid-range and resumed, two renders of
the same shot into the same cache at once. Every frame on disk is complete and equals an
uninterrupted render's, and the resumed render makes only what is missing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_pipeline import _model, _plate

from inference.image import read_image
from inference.sequence import SequencePattern

FRAMES = list(range(1, 41))
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


@pytest.fixture(scope="module")
def shot(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    plate = _plate(root, FRAMES, width=256, height=144)
    return root, plate, _model(root, plate, 1)


def _render(model, plate, out: SequencePattern, *extra) -> list[str]:
    return [sys.executable, "-m", "inference.cli", "render", "--model", model, "--plate", plate.hashes,
            "--frames", "1-40", "--out", out.hashes, "--plate-colourspace", "Linear Rec.709 (sRGB)", "--device", "cpu",
            "--backend", "onnxruntime", "--deflicker", "local", "--radius", "1", "--chunk", "4", "--threads", "1",
            "--progress", "none", *extra]


def _on_disk(out: SequencePattern) -> dict[int, np.ndarray]:
    return {f: read_image(out.path(f)).as_float32() for f in out.existing_frames()}


def test_killed_render_leaves_only_complete_frames_and_resumes_the_rest(shot):
    root, plate, model = shot
    reference = SequencePattern.parse(str(root / "whole" / "r.####.exr"))
    subprocess.run(_render(model, plate, reference), check=True)
    expected = _on_disk(reference)
    assert sorted(expected) == FRAMES

    out = SequencePattern.parse(str(root / "killed" / "r.####.exr"))
    child = subprocess.Popen(_render(model, plate, out))
    deadline = time.monotonic() + 120
    while len(out.existing_frames()) < 6 and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    survivors = _on_disk(out)   # every file a reader would pick up decodes and is the right frame
    assert 6 <= len(survivors) < len(FRAMES), "the render was not killed mid-range"
    assert all(np.array_equal(survivors[f], expected[f]) for f in survivors)

    stamps = {f: os.stat(out.path(f)).st_mtime_ns for f in survivors}
    subprocess.run(_render(model, plate, out, "--skip-existing"), check=True)
    resumed = _on_disk(out)
    assert sorted(resumed) == FRAMES and all(np.array_equal(resumed[f], expected[f]) for f in FRAMES)
    assert {f: os.stat(out.path(f)).st_mtime_ns for f in survivors} == stamps   # kept, not redone


def test_two_renders_into_the_same_cache_at_once_agree(shot):
    root, plate, model = shot
    out = SequencePattern.parse(str(root / "shared" / "r.####.exr"))
    children = [subprocess.Popen(_render(model, plate, out)) for _ in range(2)]
    assert [child.wait(timeout=300) for child in children] == [0, 0]
    first = _on_disk(out)
    reference = SequencePattern.parse(str(root / "alone" / "r.####.exr"))
    subprocess.run(_render(model, plate, reference), check=True)
    alone = _on_disk(reference)
    assert sorted(first) == FRAMES and all(np.array_equal(first[f], alone[f]) for f in FRAMES)
    assert not [p for p in out.directory.iterdir() if p.name.startswith(".")]   # no temporary files left


def _limit_file_size(limit: int):
    """For the child: files may not grow beyond ``limit`` bytes (a full disk, for the writer)."""
    def apply() -> None:
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)   # writes then fail with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_full_disk_fails_clearly_and_keeps_earlier_frames(shot):
    root, plate, model = shot
    out = SequencePattern.parse(str(root / "full" / "r.####.exr"))
    subprocess.run(_render(model, plate, out), check=True)
    before = {f: open(out.path(f), "rb").read() for f in FRAMES}
    size = min(len(b) for b in before.values())
    run = subprocess.run(_render(model, plate, out, "--detail", "0"), preexec_fn=_limit_file_size(size // 2),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 73, run.stderr
    assert "cannot write" in run.stderr and "r.00" in run.stderr and "Traceback" not in run.stderr
    # the keys' detail (on by default) first writes its scratch frames: a full disk there is as clear
    run = subprocess.run(_render(model, plate, out), preexec_fn=_limit_file_size(size // 8),
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 73 and "cannot write the keys' carried detail" in run.stderr, run.stderr
    assert {f: open(out.path(f), "rb").read() for f in FRAMES} == before        # earlier frames intact
    assert sorted(p.name for p in out.directory.iterdir()) == sorted(os.path.basename(out.path(f)) for f in FRAMES)



def test_unwritable_destinations_fail_clearly_and_write_nothing(shot):
    root, plate, model = shot
    blocker = root / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    targets = [blocker / "shot" / "r.####.exr"]
    locked = root / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if not os.access(locked, os.W_OK):   # permissions bind (not running as root)
        targets.append(locked / "r.####.exr")
    try:
        for target in targets:
            run = subprocess.run(_render(model, plate, SequencePattern.parse(str(target))),
                                 capture_output=True, text=True, timeout=300)
            assert run.returncode == 73, run.stderr
            assert str(target.parent) in run.stderr and "Traceback" not in run.stderr
        assert not list(locked.iterdir()) and blocker.read_text().startswith("a file")
    finally:
        locked.chmod(0o755)


def test_killed_training_resumes_to_the_same_model(shot):
    import onnx

    root, plate, _ = shot

    def train_cmd(out, *extra):
        return [sys.executable, "-m", "inference.cli", "train", "--plate", plate.hashes, "--frames", "1",
                "--key", f"1={root / 'key.png'}", "--out", str(out), "--plate-colourspace", "Linear Rec.709 (sRGB)",
                "--steps", "90", "--checkpoint-every", "10", "--no-plateau", "--key-psnr", "0", "--device", "cpu", "--seed", "0",
                "--progress", "none", *extra]

    def weights(path):
        return {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}

    subprocess.run(train_cmd(root / "unbroken" / "look.onnx"), check=True)
    killed = root / "killed" / "look.onnx"
    child = subprocess.Popen(train_cmd(killed))
    deadline = time.monotonic() + 120
    while not killed.with_suffix(".ckpt").exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert killed.with_suffix(".ckpt").exists() and not killed.exists(), "not killed mid-training"
    subprocess.run(train_cmd(killed, "--resume"), check=True)
    expected, resumed = weights(root / "unbroken" / "look.onnx"), weights(killed)
    assert all(np.array_equal(expected[k], resumed[k]) for k in expected)
