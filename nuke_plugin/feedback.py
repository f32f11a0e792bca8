"""Progress, cancel and errors the Nuke way: a ProgressTask (made and updated on the job's worker
thread, as in Foundry's threading examples) and the node's status line in the GUI; plain lines on
the terminal in ``nuke -t``/``-x`` (no GUI calls there, and everything runs on the main thread)."""
from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import nuke

from . import worker

STATUS_EVERY_S = 0.5  # the node's status line follows engine progress at most this often


class Feedback(object):
    """Reports one job of one node; ``with Feedback(node, title, job) as fb:``."""

    def __init__(self, node: Any, title: str, job: Optional["worker.Job"] = None) -> None:
        self.node = node
        self.node_name = node.fullName()
        self.title = title
        self.job = job
        self._task = None  # type: Any
        self._last_line = ""
        self._last_status = 0.0
        self.suffix = ""  # appended to every status line (e.g. what the node shows meanwhile)
        self._rate_from: Dict[str, Any] = {}  # stage -> (time, done) of its first progress event
        self.warnings: List[str] = []  # the engine's WARNING notes, for the job's last status line

    def __enter__(self) -> "Feedback":
        if nuke.GUI:
            self._task = nuke.ProgressTask(self.title)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._task = None  # deleting the task closes Nuke's progress bar

    def status(self, text: str) -> None:
        """The node's status line (through the main thread when on a worker)."""
        from . import node_io
        worker.post(node_io.set_status, worker.unwrap(self.node), "{}: {}{}".format(self.title, text, self.suffix))

    def step(self, message: str) -> None:
        """A new step of the job (render inputs, hash, run the engine...)."""
        if self._task is not None:
            self._task.setMessage(message)
            self._task.setProgress(0)
            self.status(message)
        else:
            nuke.tprint("[{}] {}".format(self.node_name, message))

    def event(self, event: Dict[str, Any]) -> None:
        """One engine progress event (see inference/progress.py)."""
        text = "{} {}".format(event.get("stage", ""), event.get("message", "")).strip()
        if str(event.get("message", "")).startswith("WARNING"):
            self.warnings.append(str(event["message"]))
        if event.get("event") == "progress" and event.get("total"):
            percent = int(100 * event["done"] // event["total"])
            text = " ".join(part for part in (event.get("stage", ""), "{}/{}".format(event["done"], event["total"]),
                                              event.get("message") or "", self._rate(event)) if part)
            if self._task is not None:
                self._task.setProgress(percent)
        if self._task is not None:
            self._task.setMessage(text)
            now = time.monotonic()
            if now - self._last_status >= STATUS_EVERY_S or event.get("done") == event.get("total"):
                self._last_status = now
                self.status(text)
        elif text != self._last_line:
            nuke.tprint("[{}] {}".format(self.node_name, text))
        self._last_line = text

    def _rate(self, event: Dict[str, Any]) -> str:
        """' (2.5/s, ETA 0:42)': the stage's rate since its first event, and the time left at that rate."""
        now = time.monotonic()
        start = self._rate_from.setdefault(str(event.get("stage")), (now, event["done"]))
        seconds, done = now - start[0], event["done"] - start[1]
        if seconds <= 0 or done <= 0:
            return ""
        rate = done / seconds
        left = int(round((event["total"] - event["done"]) / rate))
        return "({:.3g}/s, ETA {}:{:02d})".format(rate, left // 60, left % 60)

    def cancelled(self) -> bool:
        """The node's Cancel button was pressed, or the progress bar's cancel."""
        if self.job is not None and self.job.cancelled():
            return True
        return bool(self._task is not None and self._task.isCancelled())
