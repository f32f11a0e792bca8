"""Global deflicker: smoothing of per-frame statistics, and its native Nuke Grade form."""
import re

import numpy as np
import pytest

from inference.temporal import global_deflicker as gd


def _flickering(count=12, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(0.05, 0.8, (16, 24, 3)).astype(np.float32)
    gains = rng.uniform(0.8, 1.25, (count, 3)).astype(np.float32)
    return base, gains, [base * g for g in gains]


def test_gain_flicker_is_removed():
    base, gains, frames = _flickering()
    out, correction = gd.correct_frames(frames, list(range(1001, 1013)), radius=6)
    before = np.std([f.mean(axis=(0, 1)) for f in frames], axis=0)
    after = np.std([f.mean(axis=(0, 1)) for f in out], axis=0)
    assert (after < before / 2).all()
    assert correction.multiply.shape == (12, 3) and not correction.add.any()


def test_steady_sequence_is_left_alone_and_strength_zero_is_identity():
    base, _, frames = _flickering()
    steady = [base.copy() for _ in range(8)]
    out, _ = gd.correct_frames(steady, list(range(8)))
    assert all(np.allclose(o, base, atol=1e-6) for o in out)
    out, _ = gd.correct_frames(frames, list(range(12)), strength=0.0)
    assert all(np.array_equal(o, f) for o, f in zip(out, frames))


def test_chunk_with_handles_equals_whole_shot():
    _, _, frames = _flickering(30)
    numbers = list(range(1001, 1031))
    whole, _ = gd.correct_frames(frames, numbers, radius=4)
    chunk = slice(10 - 4, 19 + 4 + 1)  # frames 1011-1020 plus 4 handles each side
    part, _ = gd.correct_frames(frames[chunk], numbers[chunk], radius=4)
    for i in range(10, 20):
        assert np.abs(part[i - chunk.start] - whole[i]).max() < 1e-5


def _parse_curves(knob_text):
    curves = re.findall(r"\{curve ([^}]*)\}", knob_text)
    values = []
    for curve in curves:
        frame, keys = None, {}
        for token in curve.split():
            if token.startswith("x"):
                frame = int(token[1:])
            else:
                keys[frame] = float(token)
                frame += 1
        values.append(keys)
    return values


@pytest.mark.parametrize("mode", ["gain", "gain_offset"])
def test_grade_nk_reproduces_the_engine_correction(mode):
    base, _, frames = _flickering()
    numbers = list(range(1001, 1013))
    out, correction = gd.correct_frames(frames, numbers, radius=5, mode=mode)
    text = gd.grade_nk(correction, keep=numbers[2:10])
    assert text.startswith("Grade {") and "name RestyleDeflickerGrade" in text
    multiply = _parse_curves(re.search(r" multiply \{(.*)\}\n add", text).group(1))
    add = _parse_curves(re.search(r" add \{(.*)\}\n label", text).group(1))
    assert len(multiply) == 3 and sorted(multiply[0]) == numbers[2:10]
    for i, frame in enumerate(numbers):
        if frame not in multiply[0]:
            continue
        grade = frames[i] * np.array([m[frame] for m in multiply]) + np.array([a[frame] for a in add])
        assert np.abs(grade - out[i]).max() < 1e-4  # Grade: out = multiply * in + add
