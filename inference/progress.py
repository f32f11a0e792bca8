"""Progress reports for long work: human lines on a terminal, JSON lines for a host.

Nuke (or a farm wrapper) runs the engine as a child process with ``--progress json``
and reads one JSON object per line from stderr: ``{"event": "progress", "stage": ...,
"done": 3, "total": 24, "fps": 8.1, "eta_s": 2.6, "message": ...}``.
"""
from __future__ import annotations

import json
import sys
import time
from typing import TextIO

MODES = ("text", "json", "none")


class Progress:
    """Counts finished items of one stage and reports rate and time to go."""

    def __init__(self, stage: str, total: int, mode: str = "text", stream: TextIO | None = None,
                 min_interval_s: float = 0.5):
        self.stage, self.total, self.mode = stage, total, mode
        self.stream = stream or sys.stderr
        self.done = 0
        self._start = self._last = time.monotonic()
        self._min_interval = min_interval_s

    def advance(self, count: int = 1, message: str = "") -> None:
        self.done += count
        now = time.monotonic()
        if self.done >= self.total or now - self._last >= self._min_interval:
            self._last = now
            self._emit(message)

    def note(self, message: str) -> None:
        """A free-form status line (a step starting, a fallback taken)."""
        if self.mode == "json":
            self._write({"event": "note", "stage": self.stage, "message": message})
        elif self.mode == "text":
            self.stream.write(f"[{self.stage}] {message}\n")
            self.stream.flush()

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self._start
        return self.done / elapsed if elapsed > 0 else 0.0

    def _emit(self, message: str) -> None:
        rate = self.rate
        eta = (self.total - self.done) / rate if rate > 0 else None
        if self.mode == "json":
            self._write({"event": "progress", "stage": self.stage, "done": self.done,
                         "total": self.total, "fps": round(rate, 2),
                         "eta_s": None if eta is None else round(eta, 1), "message": message})
        elif self.mode == "text":
            eta_text = "" if eta is None else f", ETA {eta:.0f}s"
            suffix = f" {message}" if message else ""
            self.stream.write(f"[{self.stage}] {self.done}/{self.total} "
                              f"({100 * self.done // max(self.total, 1)}%), {rate:.1f}/s{eta_text}{suffix}\n")
            self.stream.flush()

    def _write(self, record: dict) -> None:
        self.stream.write(json.dumps(record) + "\n")
        self.stream.flush()
