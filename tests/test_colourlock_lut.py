"""The engine's own LUT application matches OpenColorIO applying the written .cube."""
from __future__ import annotations

import numpy as np
import pytest

from inference.colourlock.fit import Affine
from inference.colourlock.lut import Lut3D, apply_cube_ocio, read_cube, sample_transform, write_cube


def _curvy(x):
    return np.stack([x[:, 0] ** 2 + 0.1 * x[:, 2], np.sin(3 * x[:, 1]) * 0.5 + x[:, 0] * x[:, 2],
                     np.sqrt(np.abs(x[:, 2])) - 0.2 * x[:, 1]], axis=-1)


@pytest.mark.parametrize("size,lo,hi", [(17, 0.0, 1.0), (33, 0.0, 1.0), (9, -0.25, 2.0)])
def test_engine_lut_matches_ocio_cube(tmp_path, size, lo, hi):
    lut = sample_transform(_curvy, size, lo, hi)
    path = write_cube(tmp_path / f"curvy_{size}.cube", lut)
    rng = np.random.default_rng(size)
    x = rng.uniform(lo, hi, (20000, 3)).astype(np.float32)
    ours = lut.apply(x, "tetrahedral")
    theirs = apply_cube_ocio(path, x, "tetrahedral")
    assert np.abs(ours - theirs).max() < 1e-3
    # Trilinear too, and the two interpolations really differ (the comparison has teeth).
    assert np.abs(lut.apply(x, "trilinear") - apply_cube_ocio(path, x, "trilinear")).max() < 1e-3
    assert np.abs(lut.apply(x, "trilinear") - ours).max() > 1e-4


def test_cube_layout_red_fastest(tmp_path):
    lut = sample_transform(lambda x: x, 2)
    text = write_cube(tmp_path / "id.cube", lut).read_text().splitlines()
    assert "LUT_3D_SIZE 2" in text and "DOMAIN_MIN 0 0 0" in text and "DOMAIN_MAX 1 1 1" in text
    rows = [line for line in text if line[0].isdigit()]
    assert rows[1].split() == ["1.00000000", "0.00000000", "0.00000000"]   # red moves first
    assert rows[2].split() == ["0.00000000", "1.00000000", "0.00000000"]
    np.testing.assert_allclose(read_cube(tmp_path / "id.cube").table, lut.table)


def test_affine_baked_into_cube_is_exact_through_ocio(tmp_path):
    aff = Affine([[1.1, 0.05, -0.02], [0.03, 0.9, 0.04], [-0.01, 0.02, 1.05]], [0.01, -0.02, 0.03])
    lut = sample_transform(aff.apply, 17)
    path = write_cube(tmp_path / "affine.cube", lut)
    x = np.random.default_rng(1).random((64, 48, 3)).astype(np.float32)
    np.testing.assert_allclose(apply_cube_ocio(path, x), aff.apply(x), atol=1e-5)


def test_bad_lut_shapes():
    with pytest.raises(ValueError):
        Lut3D(np.zeros((4, 4, 3, 3)))
    with pytest.raises(ValueError):
        sample_transform(lambda x: x, 5).apply(np.zeros((2, 3)), "cubic")
