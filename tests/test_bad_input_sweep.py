"""Property-based sweep of bad input (hypothesis): frame ranges, sequence patterns, manifests,
swatch JSON, image files and the command line. Whatever comes in, the engine answers with its
own error (a message naming what to fix, a sysexits code) or works; never another exception,
never a traceback as the only message, never a hang."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference import cli
from inference.colourlock.swatches import load_swatches
from inference.errors import RestyleError
from inference.image import read_image
from inference.jobs import manifest
from inference.sequence import SequencePattern, format_frame_range, parse_frame_range

SWEEP = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                    max_leaves=12)
RANGE_TEXT = st.one_of(st.text(max_size=30), st.from_regex(r"-?\d{1,13}(-\d{1,13}(x-?\d{1,4})?)?(,\d{1,5})?", fullmatch=True))


@SWEEP
@given(RANGE_TEXT)
def test_frame_ranges_parse_or_say_what_is_wrong(text):
    try:
        frames = parse_frame_range(text)
    except RestyleError as exc:
        assert str(exc).startswith("frame range")
        return
    assert len(frames) == len(set(frames)) and parse_frame_range(format_frame_range(sorted(frames))) == sorted(frames)


@SWEEP
@given(st.text(max_size=40))
def test_sequence_patterns_parse_or_say_what_is_wrong(text):
    try:
        pattern = SequencePattern.parse(text)
    except RestyleError as exc:
        assert str(exc)
        return
    assert SequencePattern.parse(pattern.hashes).printf == pattern.printf


FIELDS = st.sampled_from(["version", "stage", "plate", "frames", "out", "model", "keys", "radius", "strength", "mode",
                          "sigma", "swatches", "chunk", "batch", "device", "handles", "steps", "lut", "bogus"])


@SWEEP
@given(st.dictionaries(FIELDS, JSON, max_size=6) | JSON)
def test_manifests_validate_or_name_the_field(document):
    try:
        manifest.validate(document)
    except RestyleError as exc:
        assert "field" in str(exc) or "manifest" in str(exc).lower(), str(exc)


SWATCH = st.dictionaries(st.sampled_from(["name", "rgb", "colourspace", "tolerance", "region", "mask", "x"]),
                         JSON | st.lists(st.floats(-2, 2), min_size=3, max_size=3)
                         | st.lists(st.integers(-10, 400), min_size=4, max_size=4), max_size=6)


@SWEEP
@given(st.lists(SWATCH, max_size=3) | JSON)
def test_swatch_json_loads_or_names_the_field(document):
    try:
        swatches = load_swatches(document, (320, 180))
    except RestyleError as exc:
        assert "swatch" in str(exc)
        return
    assert all(s.mask.shape == (180, 320) and s.mask.any() for s in swatches)


@SWEEP
@given(st.binary(max_size=600), st.sampled_from([".exr", ".png", ".tif", ".jpg", ".dpx"]))
def test_damaged_image_files_are_reported_by_name(tmp_path, data, suffix):
    path = tmp_path / f"frame.1001{suffix}"
    path.write_bytes(data)
    try:
        image = read_image(path)
    except RestyleError as exc:
        assert str(path) in str(exc)
        return
    assert np.asarray(image.pixels).ndim in (2, 3)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["run", "deflicker", "colourlock", "render", "train", "inspect", "metrics"]),
       st.lists(st.sampled_from(["--frames", "--plate", "--out", "--model", "--input", "--guide", "--reference",
                                 "--radius", "--strength", "1-3", "x", "-5", "a.####.exr", "/nonexistent/b.%04d.exr",
                                 "--manifest", "{}", "1001-1000"]), max_size=8))
def test_command_line_answers_bad_arguments_with_an_exit_code(tmp_path, capsys, command, args):
    try:
        code = cli.main([command, *args, "--progress", "none"])
    except SystemExit as exc:   # argparse: usage message, exit 2
        code = exc.code
    out = capsys.readouterr()
    assert code in (0, 2, 3, 64, 65, 66, 73), (command, args, code, out.err)
    assert "Traceback" not in out.err
