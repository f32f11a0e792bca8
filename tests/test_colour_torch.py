"""OCIO conversions on torch tensors (inference.colour_torch) equal OCIO's CPU processor."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inference import colour, colour_torch

PAIRS = [("ACEScg", colour.WORKING_ENCODING), (colour.WORKING_ENCODING, "ACEScg"),
         ("Linear Rec.709 (sRGB)", colour.WORKING_ENCODING), ("ACEScct", "ACEScg"), ("ACEScg", "ACEScct"),
         ("ARRI LogC3 (EI800)", "ACEScg"), ("ACES2065-1", "sRGB - Texture"), ("Gamma 2.2 Rec.709 - Texture", "ACEScg"),
         ("ACEScg", "Gamma 2.2 Rec.709 - Texture"), ("ACEScg", "ACEScg")]


def _pixels() -> np.ndarray:
    """Values across the range plates hold: negatives (out of gamut), toe, mid, highlights above 1."""
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(-0.2, 0.05, 300), rng.uniform(0, 1.2, 600), rng.uniform(1, 40, 100)])
    return rng.permutation(np.resize(values, 32 * 48 * 3)).reshape(32, 48, 3).astype(np.float32)


@pytest.mark.parametrize("src, dst", PAIRS)
def test_torch_ops_match_ocio_cpu(src, dst):
    assert colour_torch.supported(src, dst), f"{src} -> {dst} fell back to the CPU"
    pixels = _pixels()
    want = colour.convert(pixels, src, dst)
    got = colour_torch.convert(torch.from_numpy(pixels).permute(2, 0, 1)[None], src, dst)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-5)


def test_unsupported_ops_fall_back_to_ocio_and_match_exactly():
    """A space whose conversion holds ops not evaluated in torch (e.g. a LUT or an ACES output
    transform) goes through OCIO's CPU processor, so the result is OCIO's bit for bit."""
    names = [cs.getName() for cs in colour.load_config().getColorSpaces()]
    unsupported = [n for n in names if not colour_torch.supported("ACEScg", n)]
    assert unsupported, "every space of the built-in config is supported: pick a config with a LUT"
    pixels = _pixels()
    want = colour.convert(pixels, "ACEScg", unsupported[0])
    got = colour_torch.convert(torch.from_numpy(pixels).permute(2, 0, 1), "ACEScg", unsupported[0])
    np.testing.assert_array_equal(got.permute(1, 2, 0).numpy(), want)
