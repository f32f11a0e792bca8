"""The frame pool (inference/workers.py): order kept, and a call from inside the pool runs in place."""
import threading

from inference.workers import POOL_PREFIX, map_frames


def test_map_frames_keeps_order_and_a_nested_call_runs_on_its_own_thread():
    def inner(x):
        # called from a pool thread: computed right there, not queued behind threads that wait for it
        return [(y, threading.current_thread().name) for y in map_frames(lambda v: v * 10, [x, x + 1])]

    outer = map_frames(inner, list(range(40)))
    assert [[y for y, _ in row] for row in outer] == [[10 * x, 10 * x + 10] for x in range(40)]
    assert all(name.startswith(POOL_PREFIX) for row in outer for _, name in row)
