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
