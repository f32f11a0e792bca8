"""The fresh-process render bench's timing: first frame on disk, wall time, the render's own log."""
import sys

import pytest

from bench.bench_fresh_render import drop_from_page_cache, fresh_run
from inference.sequence import SequencePattern

WRITER = """
import os, sys, time
time.sleep(0.3)
open(sys.argv[1] + '.tmp', 'w').write('x'); os.replace(sys.argv[1] + '.tmp', sys.argv[1])
time.sleep(0.3)
print('wrote 2 frame(s) to out in 0.5 s (4.0 frames/s, 0.1 CPU s/frame)')
"""


def test_fresh_run_times_the_first_frame_and_reads_the_render_log(tmp_path):
    out = SequencePattern.parse(str(tmp_path / "out.####.exr"))
    figures = fresh_run([sys.executable, "-c", WRITER, out.path(1)], out, 1, 2, tmp_path / "log")
    assert 0.3 <= figures["first_frame_s"] < figures["wall_s"]
    assert figures["render_fps"] == 4.0 and figures["cpu_s_per_frame"] == 0.1
    assert figures["fps"] == pytest.approx(2 / figures["wall_s"], rel=0.02)


def test_fresh_run_reports_no_first_frame_when_none_was_written(tmp_path):
    out = SequencePattern.parse(str(tmp_path / "out.####.exr"))
    assert fresh_run([sys.executable, "-c", "pass"], out, 1, 2, tmp_path / "log")["first_frame_s"] is None


def test_a_failed_render_stops_the_bench_with_its_log(tmp_path):
    out = SequencePattern.parse(str(tmp_path / "out.####.exr"))
    with pytest.raises(SystemExit, match="exit 3"):
        fresh_run([sys.executable, "-c", "import sys; print('bad plate'); sys.exit(3)"], out, 1, 2, tmp_path / "log")


def test_dropping_from_the_page_cache_keeps_the_files(tmp_path):
    path = tmp_path / "plate.0001.exr"
    path.write_bytes(b"abc" * 1000)
    drop_from_page_cache([str(path)])
    assert path.read_bytes() == b"abc" * 1000
