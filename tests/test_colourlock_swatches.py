"""Brand swatch protection and swatch-JSON validation."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from inference.colour import convert
from inference.colourlock.apply import HoldSettings
from inference.colourlock.fit import fit_sequence
from inference.colourlock.qc import protect_swatches
from inference.colourlock.swatches import SwatchError, load_swatches, swatch_delta_e

SRGB, LINEAR = "sRGB Encoded Rec.709 (sRGB)", "Linear Rec.709 (sRGB)"
BRAND = [0.80, 0.12, 0.15]
REGION = [60, 40, 40, 24]
SIZE = (320, 136)


@pytest.fixture(scope="module")
def reference(small_data):
    img = cv2.imread(str(small_data / "live_bikes" / "bikes.1001.png"), cv2.IMREAD_COLOR)
    img = cv2.resize(img[:, :, ::-1], SIZE, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    x, y, w, h = REGION
    noise = np.random.default_rng(0).normal(0, 0.01, (h, w, 3))
    img[y:y + h, x:x + w] = np.clip(np.array(BRAND) + noise, 0, 1)   # a printed logo patch
    return img


def test_swatch_drift_brought_within_tolerance(reference):
    swatches = load_swatches([{"name": "logo red", "rgb": BRAND, "colourspace": "sRGB - Texture",
                               "tolerance": 1.0, "region": REGION}], SIZE)
    ref_lin = convert(reference, SRGB, LINEAR)
    frames_lin = []
    for k in range(8):
        m = np.eye(3) * (1 + 0.03 * k)
        m[0, 1] = m[1, 0] = 0.02 * k
        frames_lin.append((ref_lin @ m.T).astype(np.float32))
        # The logo drifts on its own (a restyle shifted it) beyond what the global fit fixes.
        x, y, w, h = REGION
        frames_lin[-1][y:y + h, x:x + w] *= np.array([1 - 0.03 * k, 1 + 0.05 * k, 1.0], np.float32)
    fitted = fit_sequence(frames_lin, ref_lin, "mkl", sigma=1.0)
    frames = [convert(np.clip(a.apply(f), 0, None), LINEAR, SRGB) for a, f in zip(fitted, frames_lin)]
    # a drift of up to ΔE00 6: more than the default --max-hold (3 tolerances) lets a hold correct
    out, report = protect_swatches(frames, swatches, SRGB, HoldSettings(feather=6, max_hold=8))
    (rep,) = report
    assert max(rep["before"]) > 3.0                       # the drift broke the tolerance
    assert rep["passed"] and rep["max_after"] <= 1.0 and all(rep["held"])
    assert all(swatch_delta_e(f, swatches[0], SRGB) <= 1.0 for f in out)
    # Pixels far from the swatch are untouched.
    np.testing.assert_array_equal(out[-1][:, 200:], frames[-1][:, 200:])
    assert len(rep["before"]) == len(rep["after"]) == 8


def test_valid_swatch_file_and_mask(tmp_path):
    mask = np.zeros((SIZE[1], SIZE[0]), np.float32)
    mask[10:20, 30:50] = 1
    path = tmp_path / "swatches.json"
    path.write_text(json.dumps([{"name": "a", "rgb": [0.1, 0.2, 0.3], "region": [0, 0, 10, 10]},
                                {"name": "b", "rgb": [0.5, 0.5, 0.5], "tolerance": 2.0, "mask": mask.tolist()}]))
    a, b = load_swatches(path, SIZE)
    assert a.tolerance == 1.0 and a.region == (0, 0, 10, 10) and a.mask.sum() == 100
    assert b.mask.sum() == 200 and b.region is None


GOOD = {"name": "logo", "rgb": [0.5, 0.2, 0.1], "colourspace": "sRGB - Texture",
        "tolerance": 1.0, "region": [10, 10, 20, 20]}


@pytest.mark.parametrize("change,field,words", [
    ({"name": None}, "swatches[0].name", "missing"),
    ({"rgb": None}, ".rgb", "missing"),
    ({"rgb": [0.1, 0.2]}, ".rgb", "three finite floats"),
    ({"rgb": [0.1, "x", 0.2]}, ".rgb", "three finite floats"),
    ({"rgb": [1.2, 0.1, 0.1]}, ".rgb", "out of gamut"),
    ({"rgb": [-0.01, 0.1, 0.1]}, ".rgb", "out of gamut"),
    ({"tolerance": 0}, ".tolerance", "greater than 0"),
    ({"tolerance": -1.0}, ".tolerance", "greater than 0"),
    ({"region": [300, 10, 40, 20]}, ".region", "outside"),
    ({"region": [10, 10, 0, 20]}, ".region", "empty"),
    ({"region": [10, 10, 20]}, ".region", "four integers"),
    ({"region": None}, ".region", "exactly one"),
    ({"colourspace": "sRGB - Textur"}, ".colourspace", "did you mean"),
    ({"mask": np.zeros((SIZE[1], SIZE[0])).tolist(), "region": None}, ".mask", "empty"),
    ({"mask": np.ones((10, 10)).tolist(), "region": None}, ".mask", "reference is"),
])
def test_bad_swatch_fields_name_the_field(change, field, words):
    item = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    with pytest.raises(SwatchError) as info:
        load_swatches([item], SIZE)
    assert field in info.value.field and words in str(info.value)
    assert info.value.field in str(info.value)


def test_bad_swatch_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SwatchError, match="not valid JSON"):
        load_swatches(bad, SIZE)
    with pytest.raises(SwatchError, match="does not exist"):
        load_swatches(tmp_path / "missing.json", SIZE)
    with pytest.raises(SwatchError, match="list of swatch objects"):
        load_swatches({"name": "x"}, SIZE)
    with pytest.raises(SwatchError, match="duplicate"):
        load_swatches([GOOD, GOOD], SIZE)
    with pytest.raises(SwatchError, match="does not exist"):
        load_swatches([{**{k: v for k, v in GOOD.items() if k != "region"}, "mask": "nope.png"}], SIZE)


def test_batched_torch_apply_matches_each_frames_affine_and_lands_swatches(reference):
    import torch

    from inference.colourlock.apply import ColourLockApply
    from inference.colourlock.fit import Affine

    rng = np.random.default_rng(3)
    affines = [Affine(np.eye(3) + rng.normal(0, 0.05, (3, 3)), rng.normal(0, 0.02, 3)) for _ in range(3)]
    frames = np.stack([reference * s for s in (0.9, 1.0, 1.1)]).astype(np.float32)
    params = torch.from_numpy(np.stack([a.params() for a in affines]))
    plain = ColourLockApply([], SIZE[::-1], SRGB)(torch.from_numpy(frames), params).numpy()
    for out, frame, affine in zip(plain, frames, affines):
        np.testing.assert_allclose(out, affine.apply(frame), atol=1e-5)
    swatch = load_swatches([{"name": "logo", "rgb": BRAND, "colourspace": "sRGB - Texture", "region": REGION}], SIZE)
    held = ColourLockApply(swatch, SIZE[::-1], SRGB, HoldSettings(iterations=1))(torch.from_numpy(frames), params).numpy()
    x, y, w, h = REGION
    target = swatch[0].target_in(SRGB)
    for out, before in zip(held, plain):
        np.testing.assert_allclose(out[y:y + h, x:x + w].reshape(-1, 3).mean(0), target, atol=1e-5)
        assert np.abs(before[y:y + h, x:x + w].reshape(-1, 3).mean(0) - target).max() > 0.01
