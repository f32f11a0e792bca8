"""A command ends cleanly: nothing on stderr after its work (no nanobind leak report at exit)."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from inference.image import Image, write_image

REPO = Path(__file__).resolve().parents[1]


def test_colourlock_exits_without_nanobind_leak_lines(tmp_path):
    # colourlock loads torch, colour-science (which holds OpenImageIO objects) and OpenImageIO:
    # the mix that printed "nanobind: leaked N instances/types/functions!" at exit.
    pixels = np.random.default_rng(0).uniform(0.1, 0.9, (16, 24, 3)).astype(np.float32)
    for frame in (1, 2):
        write_image(tmp_path / f"in.{frame:04d}.exr", Image.from_array(pixels.astype(np.float16), ("R", "G", "B")))
    write_image(tmp_path / "ref.png", Image.from_array(pixels, ("R", "G", "B")))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "inference.cli", "colourlock", "--input", str(tmp_path / "in.####.exr"),
                           "--reference", str(tmp_path / "ref.png"), "--frames", "1-2", "--check-only",
                           "--report", str(tmp_path / "report"), "--device", "cpu", "--progress", "none"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "report" / "report.json").is_file()
    assert "leaked" not in proc.stderr, proc.stderr
