import threading
import time

import numpy as np
import pytest

from inference import sequence_io
from inference.errors import ImageReadError
from inference.image import Image, read_image
from inference.sequence import SequencePattern
from inference.sequence_io import SequenceWriter, read_sequence, write_sequence


def test_parallel_read_keeps_frame_order_and_bounds_frames_in_flight(write_sequence, monkeypatch):
    pattern = SequencePattern.parse(write_sequence(frames=range(1, 21)))
    in_flight, peak, lock = [0], [0], threading.Lock()
    real = sequence_io.read_image

    def counting_read(path):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        return real(path)

    monkeypatch.setattr(sequence_io, "read_image", counting_read)
    seen = []
    for frame, image in read_sequence(pattern, list(range(1, 21)), threads=4, prefetch=3):
        seen.append(frame)
        with lock:
            in_flight[0] -= 1
        assert image.source.endswith(f"seq.{frame:04d}.exr")
        time.sleep(0.002)
    assert seen == list(range(1, 21))
    assert peak[0] <= 3 + 1


def test_write_sequence_writes_every_frame_atomically(tmp_path):
    pattern = SequencePattern.parse(str(tmp_path / "out" / "o.%04d.exr"))
    images = [(f, Image.from_array(np.full((8, 8, 3), f, np.float16), ("R", "G", "B"))) for f in range(1, 9)]
    assert write_sequence(pattern, images, threads=3) == list(range(1, 9))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"o.{f:04d}.exr" for f in range(1, 9)]
    assert read_image(pattern.path(5)).pixels[0, 0, 0] == 5


def test_writer_reraises_the_first_failure_and_keeps_finished_frames(tmp_path, monkeypatch):
    pattern = SequencePattern.parse(str(tmp_path / "o.####.exr"))
    real = sequence_io.write_image

    def failing_write(path, image, **options):
        if path.endswith("0003.exr"):
            raise ImageReadError("disk on fire")
        real(path, image, **options)

    monkeypatch.setattr(sequence_io, "write_image", failing_write)
    image = Image.from_array(np.zeros((4, 4, 3), np.float16), ("R", "G", "B"))
    with pytest.raises(ImageReadError, match="disk on fire"):
        with SequenceWriter(pattern, threads=1) as writer:
            for frame in range(1, 3 + 1):
                writer.write(frame, image)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.0001.exr", "o.0002.exr"]


def test_a_failed_write_cancels_the_queue_quietly(tmp_path, monkeypatch, caplog):
    from inference.errors import OutputError

    def write_image(path, image, **options):
        if path.endswith("0001.exr"):
            raise OutputError(f"{path}: cannot write (File too large)")
        time.sleep(0.05)

    monkeypatch.setattr(sequence_io, "write_image", write_image)
    image = Image.from_array(np.zeros((4, 4, 3), np.float32), ("R", "G", "B"))
    writer = sequence_io.SequenceWriter(SequencePattern.parse(str(tmp_path / "o.####.exr")), threads=1, max_pending=8)
    with pytest.raises(OutputError, match="0001.exr: cannot write"):
        with writer:
            for frame in range(1, 9):
                writer.write(frame, image)
            writer.close()
    assert writer.written == [] or 1 not in writer.written
    assert not [r for r in caplog.records if r.name == "concurrent.futures"]   # no "exception calling callback"


def test_io_threads_follow_the_cpu_affinity_a_farm_gives(monkeypatch):
    """A farm worker pinned to 3 cores reads and writes with 3 threads, not one per core of the host."""
    import os

    from inference import sequence_io

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 5, 7}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    assert sequence_io.default_threads() == 3
