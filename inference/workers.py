"""A process-wide pool of threads for per-frame CPU work (colour conversions, input building).

OpenColorIO, OpenCV and numpy release the GIL on whole frames, so converting a chunk's frames
on every core runs them side by side; the GPU stages between them take whole batches.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Callable, Iterable, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def usable_cores() -> int:
    """Cores this process may run on: the CPU affinity a farm worker was given (Deadline's CPU
    affinity, OpenCue's cores, ``taskset``), else every core; at least two."""
    try:
        return max(2, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(2, os.cpu_count() or 2)


BACKGROUND_NICENESS = 10  # added to the file I/O threads' nice value (Linux: each thread has its own)


def background_thread() -> None:
    """Thread-pool initializer for file reading and writing: lower the calling thread's
    scheduling priority (Linux nice +``BACKGROUND_NICENESS``; elsewhere nothing).

    A render's own thread runs the GPU stages one after another; when the reading and writing
    threads fill every core (one worker per GPU on its share of a farm host), it would wait for a
    core behind them, and the whole render with it. The I/O threads keep every idle cycle.
    """
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICENESS)
    except (AttributeError, OSError):  # no per-thread nice value here: keep the default
        pass


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(usable_cores(), thread_name_prefix="restyle-frames")


def map_frames(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(x) for x in items]`` computed on the frame pool (order kept, first error raised)."""
    items = list(items)
    return [fn(x) for x in items] if len(items) < 2 else list(_pool().map(fn, items))
