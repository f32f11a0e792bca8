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

POOL_PREFIX = "restyle-frames"
T = TypeVar("T")
R = TypeVar("R")


def usable_cores() -> int:
    """Cores this process may run on: the CPU affinity a farm worker was given (Deadline's CPU
    affinity, OpenCue's cores, ``taskset``), else every core; at least two."""
    try:
        return max(2, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(2, os.cpu_count() or 2)


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(usable_cores(), thread_name_prefix=POOL_PREFIX)


def map_frames(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(x) for x in items]`` computed on the frame pool (order kept, first error raised); one
    by one when called from the pool itself (a nested call could wait for threads all waiting)."""
    items = list(items)
    nested = threading.current_thread().name.startswith(POOL_PREFIX)
    return [fn(x) for x in items] if len(items) < 2 or nested else list(_pool().map(fn, items))
