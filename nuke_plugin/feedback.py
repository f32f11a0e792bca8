"""Progress, cancel and errors the Nuke way: a ProgressTask and message box in the GUI,
plain lines on the terminal in ``nuke -t``/``-x`` (no GUI calls there)."""
from __future__ import annotations

from typing import Any, Dict, Set

import nuke

_cancel_requests: Set[str] = set()  # full names of nodes whose Cancel button was pressed


def request_cancel(node_name: str) -> None:
    _cancel_requests.add(node_name)


class Feedback(object):
    """Reports one job of one node; ``with Feedback(node, title) as fb:``."""

    def __init__(self, node: Any, title: str) -> None:
        self.node_name = node.fullName()
        self.title = title
        self._task = None  # type: Any
        self._last_line = ""

    def __enter__(self) -> "Feedback":
        _cancel_requests.discard(self.node_name)
        if nuke.GUI:
            self._task = nuke.ProgressTask(self.title)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._task = None  # deleting the task closes Nuke's progress bar
        _cancel_requests.discard(self.node_name)

    def step(self, message: str) -> None:
        """A new step of the job (render inputs, hash, run the engine...)."""
        if self._task is not None:
            self._task.setMessage(message)
            self._task.setProgress(0)
        else:
            nuke.tprint("[{}] {}".format(self.node_name, message))

    def event(self, event: Dict[str, Any]) -> None:
        """One engine progress event (see inference/progress.py)."""
        text = "{} {}".format(event.get("stage", ""), event.get("message", "")).strip()
        if event.get("event") == "progress" and event.get("total"):
            percent = int(100 * event["done"] // event["total"])
            text = "{} {}/{} {}".format(event.get("stage", ""), event["done"], event["total"],
                                        event.get("message") or "").strip()
            if self._task is not None:
                self._task.setProgress(percent)
        if self._task is not None:
            self._task.setMessage(text)
        elif text != self._last_line:
            nuke.tprint("[{}] {}".format(self.node_name, text))
        self._last_line = text

    def cancelled(self) -> bool:
        if self.node_name in _cancel_requests:
            return True
        return bool(self._task is not None and self._task.isCancelled())
