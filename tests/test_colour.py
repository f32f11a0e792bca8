"""Colour management checked against OpenColorIO itself and published reference values."""
import numpy as np
import PyOpenColorIO as ocio
import pytest

from inference import colour
from inference.errors import UsageError

LIN709 = "Linear Rec.709 (sRGB)"
SRGB = "sRGB Encoded Rec.709 (sRGB)"


def _srgb_oetf(x):
    """IEC 61966-2-1 encoding, for reference values."""
    x = np.asarray(x, np.float64)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0), 1 / 2.4) - 0.055)


def test_working_encoding_of_linear_709_matches_the_srgb_standard():
    x = np.array([[[0.0, 0.0031308, 0.18], [0.5, 1.0, 0.02]]], np.float32)
    assert np.allclose(colour.to_working(x, LIN709), _srgb_oetf(x), atol=2e-5)
    assert colour.to_working(np.full((1, 1, 3), 0.18, np.float32), LIN709)[0, 0, 0] == pytest.approx(0.46135, abs=1e-4)


def test_acescg_primaries_to_linear_709_match_the_published_matrix():
    # AP1 -> Rec.709 (D60 -> D65 Bradford), rows of the matrix ACES publishes.
    expected = np.array([[1.70505, -0.62179, -0.08326], [-0.13026, 1.14080, -0.01055], [-0.02400, -0.12897, 1.15297]])
    out = colour.convert(np.eye(3, dtype=np.float32)[None], "ACEScg", LIN709)[0]
    assert np.allclose(out.T, expected, atol=2e-4)


def test_convert_equals_ocio_processor_on_random_pixels_and_keeps_alpha():
    rng = np.random.default_rng(1)
    rgba = rng.uniform(-0.1, 4.0, (8, 16, 4)).astype(np.float32)
    config = ocio.Config.CreateFromFile(colour.BUILTIN_CONFIG)
    expected = rgba[..., :3].reshape(-1, 3).copy()
    config.getProcessor("ACEScg", "ACEScct").getDefaultCPUProcessor().applyRGB(expected)
    out = colour.convert(rgba, "ACEScg", "ACEScct")
    assert np.allclose(out[..., :3].reshape(-1, 3), expected, atol=1e-6)
    assert np.array_equal(out[..., 3], rgba[..., 3])


def test_plate_and_keyframe_round_trip_through_the_working_encoding():
    rng = np.random.default_rng(2)
    plate = rng.uniform(0, 8, (4, 4, 3)).astype(np.float32)  # scene-linear, above 1 too
    back = colour.from_working(colour.to_working(plate, "ACEScg"), "ACEScg")
    assert np.allclose(back, plate, rtol=1e-4, atol=1e-5)
    key = rng.uniform(0, 1, (4, 4, 3)).astype(np.float32)  # display-referred paint
    assert np.allclose(colour.to_working(key, SRGB), key)


@pytest.mark.parametrize("name,expected", [("a.exr", "ACEScg"), ("a.0001.png", SRGB), ("a.jpg", SRGB),
                                           ("a.dpx", "ACEScct"), (".exr", "ACEScg")])
def test_default_colourspace_follows_file_type(monkeypatch, name, expected):
    monkeypatch.delenv("OCIO", raising=False)
    assert colour.default_colourspace(name) == expected


def test_aliases_and_roles_resolve_and_unknown_names_suggest_fixes(monkeypatch):
    monkeypatch.delenv("OCIO", raising=False)
    assert colour.resolve_colourspace("lin_rec709") == LIN709
    assert colour.resolve_colourspace("scene_linear") == "ACEScg"
    with pytest.raises(UsageError, match="'ACEScgg' is not in the OCIO config.*'ACEScg'"):
        colour.resolve_colourspace("ACEScgg")


SHOW_CONFIG = """ocio_profile_version: 2
roles:
  scene_linear: show_linear
  texture_paint: show_gamma
  compositing_log: show_linear
  default: show_linear
displays:
  sRGB:
    - !<View> {name: Raw, colorspace: show_linear}
colorspaces:
  - !<ColorSpace>
    name: show_linear
  - !<ColorSpace>
    name: show_gamma
    to_scene_reference: !<ExponentTransform> {value: [2.0, 2.0, 2.0, 1.0]}
"""


def test_the_shows_OCIO_config_is_used_when_set(monkeypatch, tmp_path):
    path = tmp_path / "show.ocio"
    path.write_text(SHOW_CONFIG)
    monkeypatch.setenv("OCIO", str(path))
    assert colour.config_source() == str(path)
    assert colour.default_colourspace("plate.exr") == "show_linear"
    assert colour.default_colourspace("key.png") == "show_gamma"
    out = colour.convert(np.full((1, 1, 3), 0.5, np.float32), "show_gamma", "show_linear")
    assert out[0, 0, 0] == pytest.approx(0.25, abs=2e-5)
    with pytest.raises(UsageError, match="not_a_space.*show.ocio"):
        colour.resolve_colourspace("not_a_space")
    # the engine's own (built-in) names stay reachable under a show's config (tests/test_colour_job_config.py)
    assert colour.resolve_colourspace("ACEScg") == "ACEScg"


def test_a_broken_OCIO_path_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv("OCIO", str(tmp_path / "missing.ocio"))
    with pytest.raises(UsageError, match="missing.ocio.*cannot be loaded"):
        colour.load_config()
