"""Run the engine as a separate process: ``[python, -m, inference.cli, COMMAND, --manifest JOB.json]``.

Progress arrives as JSON lines on the child's stderr (``--progress json``) and is handed to a
callback; a cancel request sends SIGINT, on which the engine stops after the frames in flight
(every frame it wrote is complete) and exits 130. Any failure becomes an :class:`EngineError`
whose message says what went wrong and what to do. Stdlib only.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import settings

ProgressCallback = Callable[[Dict[str, Any]], None]

QC_FAILED = 3  # colourlock QC failed (a swatch off target or repainted, NaN/Inf); frames and report written
_ADVICE = {
    64: "a setting is wrong: fix the knob or field named above",
    65: "the input frames are bad: fix the file or frame named above",
    66: "input frames are missing: render or connect the frames named above",
    70: "the engine crashed (internal error); the last good frames are still in use",
    73: "the cache folder cannot be written: check 'Cache folder' (cache_dir) and disk space",
    130: "cancelled; the node still shows the last complete version",
}
CANCELLED = 130
KILL_AFTER_S = 15.0  # after a cancel, how long the engine may take to stop before it is killed


class EngineError(Exception):
    """The engine could not run or did not finish; ``str()`` is the message for the user."""

    def __init__(self, message: str, exit_code: Optional[int] = None) -> None:
        Exception.__init__(self, message)
        self.exit_code = exit_code


def command_line(command: str, manifest: str) -> List[str]:
    return [settings.engine_python(), "-m", "inference.cli", command, "--manifest", manifest,
            "--progress", "json"]


def run(command: str, manifest: str, on_progress: ProgressCallback,
        cancelled: Callable[[], bool], accept: Tuple[int, ...] = (0,), env: Optional[Dict[str, str]] = None) -> int:
    """Run one engine command to the end, in the manifest's folder (so only an installed engine
    is found, never one that happens to sit in Nuke's working directory).

    Args:
        on_progress: called with each JSON event ({"event": "progress"|"note", ...}).
        cancelled: polled while the engine runs; True sends SIGINT (then a kill after KILL_AFTER_S).
        accept: exit codes that are results, not failures (colourlock's 3: QC failed, frames written).
        env: variables set for the engine on top of Nuke's environment.

    Returns:
        The engine's exit code (one of ``accept``).

    Raises:
        EngineError: engine missing, non-zero exit (message from the engine's own error line
            plus advice), killed by a signal, or cancelled (exit_code 130).
    """
    argv = command_line(command, manifest)
    try:
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=os.path.dirname(manifest),
                                 universal_newlines=True, bufsize=1, env=dict(os.environ, **(env or {})))
    except OSError as exc:
        raise EngineError("engine Python not found or not runnable: {} ({}). Set ${} or Nuke > Restyle > "
                          "Preferences to the Python that has the engine installed".format(
                              argv[0], exc.strerror or exc, settings.ENV_PYTHON)) from None
    lines = _stream(child)
    errors, interrupted = _pump(child, lines, on_progress, cancelled)
    if interrupted and child.returncode != 0:
        raise EngineError(_ADVICE[CANCELLED], CANCELLED)
    if child.returncode not in accept:
        _check_exit(command, argv[0], child.returncode, errors)
    return child.returncode


def _stream(child: "subprocess.Popen[str]") -> "queue.Queue[Optional[str]]":
    """Lines of the child's stderr on a queue (None at the end); stdout is drained and dropped."""
    lines: "queue.Queue[Optional[str]]" = queue.Queue()

    def read_stderr() -> None:
        for line in child.stderr:  # type: ignore[union-attr]
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def drain_stdout() -> None:
        for _line in child.stdout:  # type: ignore[union-attr]
            pass

    for target in (read_stderr, drain_stdout):
        threading.Thread(target=target, daemon=True).start()
    return lines


def _pump(child: "subprocess.Popen[str]", lines: "queue.Queue[Optional[str]]", on_progress: ProgressCallback,
          cancelled: Callable[[], bool]) -> Tuple[List[str], bool]:
    """Hand progress events on until the child ends; returns its non-JSON stderr lines and
    whether it was interrupted."""
    errors: List[str] = []
    interrupted_at: Optional[float] = None
    while True:
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            line = ""
        if line is None:
            break
        if line:
            _handle(line, on_progress, errors)
        if interrupted_at is None and cancelled():
            _interrupt(child)
            interrupted_at = time.monotonic()
        elif interrupted_at is not None and time.monotonic() - interrupted_at > KILL_AFTER_S:
            child.kill()
    child.wait()
    return errors, interrupted_at is not None


def _interrupt(child: "subprocess.Popen[str]") -> None:
    """Ctrl-C for the engine (it stops after the frames in flight); Windows has no SIGINT to send."""
    if os.name == "nt":
        child.terminate()
    else:
        child.send_signal(signal.SIGINT)


def _handle(line: str, on_progress: ProgressCallback, errors: List[str]) -> None:
    try:
        event = json.loads(line)
    except ValueError:
        errors.append(line)
        return
    if isinstance(event, dict) and "event" in event:
        on_progress(event)
    else:
        errors.append(line)


def _check_exit(command: str, python: str, code: int, errors: List[str]) -> None:
    said = errors[-1] if errors else ""
    if "No module named" in said:
        raise EngineError("the engine is not installed in {} ({}): set ${} or Nuke > Restyle > Preferences to "
                          "the Python of the engine's environment".format(python, said, settings.ENV_PYTHON), code)
    if code < 0:
        raise EngineError("the engine was killed by signal {} during 'restyle {}'{}; the last good frames are "
                          "still in use. Check memory/GPU and render again".format(
                              -code, command, ": " + said if said else ""), code)
    advice = _ADVICE.get(code, "the engine failed (exit {})".format(code))
    raise EngineError("{}{}".format(said + "\n" if said else "", advice), code)
