"""``restyle serve``: a warm engine. One process keeps torch, CUDA and the looks it has loaded
(:mod:`..restyle.warm`) and runs the jobs sent to it one at a time, so a frame comes back without
paying for a process start and a model load each time. The Nuke plug-in keeps one per session.

The protocol is JSON lines. On stdin:

* ``{"job": ID, "command": "render", "manifest": "/path/job.json"}`` runs that command's job exactly
  as ``restyle COMMAND --manifest JOB.json --progress json`` would, in the manifest's folder;
* ``{"cancel": ID}`` stops that job if it is the one running, as Ctrl-C stops a command (after the
  frames in flight; every frame written is complete). A cancel for any other job is ignored.

On stdout: ``{"event": "ready", "pid": N}`` once the engine has loaded; during a job, the lines the
command writes on stderr (progress and note events, the error line); then ``{"event": "exit",
"job": ID, "code": N}`` with the command's exit code. A request the engine cannot read gets an
``exit`` with code 64 and an ``error``. What a command prints on stdout goes to stderr.

The engine exits 0 at the end of stdin (its host went away) or after ``--idle-minutes`` without a
job; a Ctrl-C while idle stops it (130).
"""
from __future__ import annotations

import _thread
import importlib
import json
import os
import queue
import signal
import sys
import threading
from typing import IO, Any, Callable

from ..errors import EX_USAGE

EX_CANCELLED = 130
# Imported before the "ready" line, so the first job does not pay for them.
WARM_MODULES = ("torch", "inference.pipeline", "inference.restyle.apply", "inference.restyle.warm",
                "inference.temporal.deflicker", "inference.colourlock.lock", "inference.frame_hash")
NOT_SERVED = ("serve", "demo", "bench")  # commands the engine does not run for a host


class Server:
    """Reads requests on a thread, runs jobs on the main thread (where Ctrl-C lands)."""

    def __init__(self, run_command: Callable[[list[str]], int], requests: IO[str], replies: IO[str],
                 idle_s: float | None) -> None:
        self.run_command, self.replies, self.idle_s = run_command, replies, idle_s
        self.jobs: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.lock = threading.Lock()
        self.running: Any = None  # the id of the job running now
        self.cancelling: Any = None  # the id a cancel was sent to
        threading.Thread(target=self._read, args=(requests,), name="restyle-serve-requests", daemon=True).start()

    def _read(self, requests: IO[str]) -> None:
        for line in requests:
            if not line.strip():
                continue
            try:
                request = json.loads(line)
            except ValueError:
                request = {"bad": line.strip()}
            if isinstance(request, dict) and "cancel" in request:
                self._cancel(request["cancel"])
            else:
                self.jobs.put(request if isinstance(request, dict) else {"bad": line.strip()})
        self.jobs.put(None)

    def _cancel(self, job: Any) -> None:
        with self.lock:
            if job is not None and job == self.running and self.cancelling != job:
                self.cancelling = job
                _thread.interrupt_main()

    def _on_interrupt(self, _signum: int, _frame: Any) -> None:
        """Ctrl-C (or a cancel): stops the running job; while idle it stops serving, unless it is a
        cancel that came as its job ended."""
        if self.running is None and self.cancelling is not None:
            return
        raise KeyboardInterrupt

    def reply(self, record: dict[str, Any]) -> None:
        self.replies.write(json.dumps(record) + "\n")
        self.replies.flush()

    def serve(self) -> int:
        previous = signal.signal(signal.SIGINT, self._on_interrupt)
        try:
            self.reply({"event": "ready", "pid": os.getpid()})
            while True:
                try:
                    request = self.jobs.get(timeout=self.idle_s)
                except queue.Empty:
                    return 0
                if request is None:
                    return 0
                self.reply(self._run(request))
        except KeyboardInterrupt:
            return EX_CANCELLED
        finally:
            signal.signal(signal.SIGINT, previous)

    def _run(self, request: dict[str, Any]) -> dict[str, Any]:
        """One job; returns its ``exit`` record."""
        job, command, manifest = request.get("job"), request.get("command"), request.get("manifest")
        if not isinstance(command, str) or command in NOT_SERVED or not isinstance(manifest, str):
            return {"event": "exit", "job": job, "code": EX_USAGE,
                    "error": f"restyle serve: not a job request (needs a command other than {', '.join(NOT_SERVED)} "
                             f"and a manifest path): {request.get('bad', request)}"}
        with self.lock:
            self.running, self.cancelling = job, None
        try:
            code = self._in_folder(os.path.dirname(os.path.abspath(manifest)),
                                   [command, "--manifest", manifest, "--progress", "json"])
        except KeyboardInterrupt:  # a cancel between the command's own handling and here
            code = EX_CANCELLED
        finally:
            with self.lock:
                self.running = None
        return {"event": "exit", "job": job, "code": code}

    def _in_folder(self, folder: str, argv: list[str]) -> int:
        """The command, run in ``folder``, its stderr to the replies and its stdout to stderr."""
        here, out, err = os.getcwd(), sys.stdout, sys.stderr
        os.chdir(folder)
        sys.stdout, sys.stderr = err, self.replies
        try:
            return self.run_command(argv)
        finally:
            sys.stdout, sys.stderr = out, err
            os.chdir(here)


def warm_up() -> None:
    """Load what every job uses, and start CUDA when there is a GPU."""
    for name in WARM_MODULES:
        importlib.import_module(name)
    import torch

    if torch.cuda.is_available():
        torch.zeros(1, device="cuda")


def serve(run_command: Callable[[list[str]], int], job: dict[str, Any]) -> int:
    """``restyle serve``: answer job requests on stdin until it ends (or ``idle_minutes`` pass)."""
    replies = sys.stdout
    sys.stdout = sys.stderr  # only the protocol on the replies stream
    try:
        warm_up()
        idle = job.get("idle_minutes")
        return Server(run_command, sys.stdin, replies, 60.0 * idle if idle else None).serve()
    finally:
        sys.stdout = replies
