"""Shared fixtures: the real test material in ../shared/data and small generated sequences."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real EXR/PNG material; CI always has ../shared beside the clone."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"test material missing: {SHARED_DATA} (../shared must sit beside the repo)")
    return SHARED_DATA


@pytest.fixture
def write_sequence(tmp_path):
    """Write a small RGBA half EXR sequence; returns its pattern text."""
    from inference.image import Image, write_image
    from inference.sequence import SequencePattern

    def make(frames=range(1, 5), size=(32, 16), name="seq", ext="exr", fill=None):
        pattern = SequencePattern.parse(str(tmp_path / name / f"{name}.####.{ext}"))
        pattern.directory.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        for frame in frames:
            pixels = rng.uniform(0, 1, (size[1], size[0], 4)).astype(np.float32)
            if fill is not None:
                pixels[:] = fill
            channels = ("R", "G", "B", "A")
            write_image(pattern.path(frame), Image.from_array(pixels if ext != "exr" else pixels.astype(np.float16), channels))
        return pattern.hashes

    return make


# --- the stand-in `nuke` module (tests/stubs) --------------------------------------------------

STUBS = Path(__file__).resolve().parent / "stubs"


@pytest.fixture
def nuke_standin(request, monkeypatch):
    """The stand-in `nuke` module, reset to a fresh process in `mode` ("gui" by default).

    Pick the mode with ``@pytest.mark.parametrize("nuke_standin", ["terminal"], indirect=True)``.
    sys.path and the imported nuke/nuke_plugin modules are restored afterwards.
    """
    import sys

    monkeypatch.setattr(sys, "path", [str(STUBS)] + [p for p in sys.path if p != str(STUBS)])
    before = set(sys.modules)
    import nuke

    if not str(getattr(nuke, "__file__", "")).startswith(str(STUBS)):
        pytest.fail(f"imported a `nuke` that is not the stand-in: {nuke!r}")
    nuke._standin.reset(mode=getattr(request, "param", "gui"))
    yield nuke
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("nuke", "nukescripts", "nuke_plugin"):
            del sys.modules[name]
