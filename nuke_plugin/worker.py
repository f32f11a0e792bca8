"""Jobs off Nuke's main thread: a small per-session queue of worker threads, and the only ways
worker code talks to Nuke.

Foundry's Python dev guide ("Threading"): run long work on a ``threading.Thread`` so Nuke never
hangs; a worker thread reaches the session only through ``nuke.executeInMainThread`` (returns at
once) and ``nuke.executeInMainThreadWithResult`` (waits), and those must never be called from the
main thread itself (Nuke hangs). So:

* :func:`submit` queues a job for a node; up to :data:`MAX_RUNNING` jobs run at once, each on its
  own thread; a node has at most one job (a second press is refused, :func:`busy`).
* Worker code reads and changes nodes only through :func:`on_main` / :func:`post`, or through
  :class:`OnMain`, a proxy of a node whose every method call and knob access runs on the main
  thread. Whether code runs on one of our workers is known from a thread-local flag set by the
  workers themselves (no guess about Nuke's own threads).
* :func:`cancel` asks a running job to stop (its ``cancelled()`` turns true) or drops a queued one.

Stdlib + nuke only.
"""
from __future__ import annotations

import collections
import threading
from typing import Any, Callable, Deque, Dict, Optional

import nuke

MAX_RUNNING = 2  # jobs at once: engine processes share the GPU and CPU cores

_local = threading.local()
_lock = threading.Lock()
_queue: Deque["Job"] = collections.deque()
_jobs: Dict[str, "Job"] = {}  # node full name -> its queued or running job
_running = [0]


class Job(object):
    """One node's job: ``work(job)`` runs on a worker thread."""

    def __init__(self, node_name: str, title: str, work: Callable[["Job"], None]) -> None:
        self.node_name = node_name
        self.title = title
        self.work = work
        self.state = "queued"  # -> running -> done
        self._cancel = threading.Event()
        self.finished = threading.Event()
        self.wanted: Deque[int] = collections.deque()  # frames asked for first (the playhead), newest last

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()


def in_worker() -> bool:
    """True on one of this module's worker threads."""
    return bool(getattr(_local, "worker", False))


def submit(node_name: str, title: str, work: Callable[[Job], None]) -> Optional[Job]:
    """Queue ``work`` for the node; None when the node already has a job (queued or running)."""
    with _lock:
        if node_name in _jobs:
            return None
        job = Job(node_name, title, work)
        _jobs[node_name] = job
        _queue.append(job)
    _start_workers()
    return job


def busy(node_name: str) -> Optional[Job]:
    """The node's queued or running job, or None."""
    with _lock:
        return _jobs.get(node_name)


def idle() -> bool:
    """No job queued or running in this session."""
    with _lock:
        return not _jobs


def cancel(node_name: str) -> bool:
    """Stop the node's job: a queued one is dropped, a running one told to stop. False if none."""
    with _lock:
        job = _jobs.get(node_name)
        if job is None:
            return False
        job.cancel()
        if job.state == "queued":
            _queue.remove(job)
            del _jobs[node_name]
            job.state = "done"
            job.finished.set()
    return True


def _start_workers() -> None:
    with _lock:
        start = min(MAX_RUNNING - _running[0], len(_queue))
        _running[0] += max(0, start)
    for _ in range(max(0, start)):
        threading.Thread(target=_work, name="restyle-worker", daemon=True).start()


def _work() -> None:
    _local.worker = True
    while True:
        with _lock:
            if not _queue:
                _running[0] -= 1
                return
            job = _queue.popleft()
            job.state = "running"
        try:
            job.work(job)
        except BaseException:  # noqa: BLE001 - a job reports its own errors; never kill the worker
            import traceback
            traceback.print_exc()
        finally:
            with _lock:
                job.state = "done"
                _jobs.pop(job.node_name, None)
            job.finished.set()


# --- talking to Nuke from a worker ----------------------------------------------------------------

def on_main(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)`` on Nuke's main thread, waiting for the result; its exception is
    raised here (executeInMainThreadWithResult itself only prints it and gives None). Called
    directly when not on a worker (button callbacks, farm renders)."""
    if not in_worker():
        return call(*args, **kwargs)
    box: Dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed to the worker
            box["error"] = exc

    nuke.executeInMainThreadWithResult(run)
    if "error" in box:
        raise box["error"]
    return box.get("result")


def post(call: Callable[..., Any], *args: Any) -> None:
    """``call(*args)`` on the main thread without waiting (status lines); direct off a worker."""
    if in_worker():
        nuke.executeInMainThread(call, args)
    else:
        call(*args)


def unwrap(thing: Any) -> Any:
    """The Nuke object behind an :class:`OnMain` proxy (only for use on the main thread)."""
    return thing._target if isinstance(thing, OnMain) else thing


class OnMain(object):
    """A node or knob whose method calls (and ``node[knob]``) run on the main thread."""

    def __init__(self, target: Any) -> None:
        object.__setattr__(self, "_target", target)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._target, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            return _wrap(on_main(method, *[unwrap(a) for a in args], **kwargs))
        return call

    def __getitem__(self, key: str) -> Any:
        return _wrap(on_main(self._target.__getitem__, key))

    def __eq__(self, other: Any) -> bool:
        return unwrap(other) is self._target

    def __hash__(self) -> int:
        return id(self._target)

    def __repr__(self) -> str:
        return "OnMain({!r})".format(self._target)


def _wrap(value: Any) -> Any:
    if isinstance(value, (nuke.Node, nuke.Knob)):
        return OnMain(value)
    return value
