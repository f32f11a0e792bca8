"""Run the engine in a separate process: a warm one kept for the session (``restyle serve``), or
one per job (``[python, -m, inference.cli, COMMAND, --manifest JOB.json]``).

Renders, deflicker, colour lock and hashing go to the session's warm engine (:class:`WarmEngine`):
started on first use, it keeps torch, CUDA and the looks loaded, and takes one job at a time;
a job that finds it busy, or a session where it cannot start, runs in a process of its own, as
training always does. It is started again when it has died or gone idle, or when the engine's
Python or Nuke's environment changed, and stopped when Nuke exits.

Progress arrives as JSON lines (``--progress json``) and is handed to a callback; a cancel asks the
engine to stop (SIGINT for a process of its own, a cancel request for the warm one), on which it
stops after the frames in flight (every frame it wrote is complete) and reports 130. Any failure
becomes an :class:`EngineError` whose message says what went wrong and what to do. Stdlib only.
"""
from __future__ import annotations

import atexit
import collections
import itertools
import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

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
# ... training's, which then writes the look so far (a final key check and the export, at full frame size)
TRAIN_KILL_AFTER_S = 180.0


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
    """Run one engine command to the end: on the session's warm engine when it is free (the
    commands of :data:`WARM_COMMANDS`, without ``env``), else in a process of its own started in
    the manifest's folder (so only an installed engine is found, never one that happens to sit in
    Nuke's working directory).

    Args:
        on_progress: called with each JSON event ({"event": "progress"|"note", ...}).
        cancelled: polled while the engine runs; True asks it to stop (then a kill after KILL_AFTER_S;
            training, which writes the look so far when stopped, after TRAIN_KILL_AFTER_S).
        accept: exit codes that are results, not failures (colourlock's 3: QC failed, frames written).
        env: variables set for the engine on top of Nuke's environment.

    Returns:
        The engine's exit code (one of ``accept``).

    Raises:
        EngineError: engine missing, non-zero exit (message from the engine's own error line
            plus advice), killed by a signal, or cancelled (exit_code 130).
    """
    if env is None and command in WARM_COMMANDS:
        done = _run_warm(command, manifest, on_progress, cancelled)
        if done is not None:
            return _result(command, settings.engine_python(), done, accept)
    argv = command_line(command, manifest)
    try:
        child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=os.path.dirname(manifest),
                                 universal_newlines=True, bufsize=1, env=dict(os.environ, **(env or {})))
    except OSError as exc:
        raise EngineError("engine Python not found or not runnable: {} ({}). Set ${} or Nuke > Restyle > "
                          "Preferences to the Python that has the engine installed".format(
                              argv[0], exc.strerror or exc, settings.ENV_PYTHON)) from None
    lines = _stream(child)
    errors, interrupted = _pump(child, lines, on_progress, cancelled,
                                TRAIN_KILL_AFTER_S if command == "train" else KILL_AFTER_S)
    return _result(command, argv[0], (child.returncode, errors, interrupted), accept)


def _result(command: str, python: str, done: Tuple[int, List[str], bool], accept: Tuple[int, ...]) -> int:
    """The exit code of a finished job (exit code, its error lines, whether it was interrupted),
    or the EngineError it stands for."""
    code, errors, interrupted = done
    if interrupted and code not in (0, 64, 65):  # 64/65: it stopped, then said what is wrong (a look stopped
        raise EngineError(_ADVICE[CANCELLED], CANCELLED)  # early that fails its key check)
    if code not in accept:
        _check_exit(command, python, code, errors)
    return code


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
          cancelled: Callable[[], bool], kill_after: float) -> Tuple[List[str], bool]:
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
        elif interrupted_at is not None and time.monotonic() - interrupted_at > kill_after:
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


# --- the session's warm engine ----------------------------------------------------------------------

WARM_COMMANDS = ("render", "run", "deflicker", "colourlock", "hash")  # training runs in a process of its own
IDLE_MINUTES = 20  # a warm engine without a job this long exits (the next job starts another)
READY_TIMEOUT_S = 300.0  # how long a starting warm engine may take to load (torch, CUDA) before it is given up
STOP_TIMEOUT_S = 5.0  # at Nuke's exit: how long the warm engine may take to end before it is killed


class WarmEngine(object):
    """One ``restyle serve`` process: jobs go in as JSON lines on its stdin, their progress and
    exit code come back on its stdout (protocol: inference/jobs/serve.py)."""

    def __init__(self, python: str) -> None:
        self.python = python
        self.environment = dict(os.environ)  # what it was started with: a change starts another
        self._folder = tempfile.mkdtemp(prefix="restyle-engine-")  # its working folder: nothing to import there
        self.child = subprocess.Popen(
            [python, "-m", "inference.cli", "serve", "--idle-minutes", str(IDLE_MINUTES)], cwd=self._folder,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
            bufsize=1)
        self.lines = _lines_of(self.child.stdout)
        self.said: Deque[str] = collections.deque(maxlen=20)  # its last stderr lines (for errors)
        threading.Thread(target=self._drain_stderr, name="restyle-engine-stderr", daemon=True).start()
        self._ids = itertools.count(1)

    def _drain_stderr(self) -> None:
        for line in self.child.stderr:  # type: ignore[union-attr]
            self.said.append(line.rstrip("\n"))

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> bool:
        """True once the engine said it is ready; False when it ended or took too long (it is then stopped)."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            if _event_of(line).get("event") == "ready":
                return True
        self.stop()
        return False

    def alive(self) -> bool:
        return self.child.poll() is None

    def run(self, command: str, manifest: str, on_progress: ProgressCallback,
            cancelled: Callable[[], bool]) -> Optional[Tuple[int, List[str], bool]]:
        """One job: (exit code, its error lines, whether it was cancelled), or None when the engine had
        already ended without taking it (gone idle: the caller starts another)."""
        job = next(self._ids)
        if not self._send({"job": job, "command": command, "manifest": manifest}):
            return None
        errors: List[str] = []
        cancelled_at: Optional[float] = None
        heard = False
        while True:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                line = ""
            if line is None:  # the engine ended during the job
                self.child.wait()
                if not heard and cancelled_at is None and self.child.returncode == 0:
                    return None
                return self.child.returncode, errors, cancelled_at is not None
            if line:
                heard = True
                event = _event_of(line)
                if event.get("event") == "exit" and event.get("job") == job:
                    if event.get("error"):
                        errors.append(str(event["error"]))
                    return int(event["code"]), errors, cancelled_at is not None
                _handle(line, on_progress, errors)
            if cancelled_at is None and cancelled():
                self._send({"cancel": job})
                cancelled_at = time.monotonic()
            elif cancelled_at is not None and time.monotonic() - cancelled_at > KILL_AFTER_S:
                self.child.kill()

    def _send(self, request: Dict[str, Any]) -> bool:
        try:
            self.child.stdin.write(json.dumps(request) + "\n")  # type: ignore[union-attr]
            self.child.stdin.flush()  # type: ignore[union-attr]
        except (OSError, ValueError):  # it has ended (broken pipe) or was stopped
            return False
        return True

    def stop(self) -> None:
        """End of its stdin (it exits), then a kill if it does not end soon."""
        try:
            self.child.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            self.child.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.child.kill()
            self.child.wait()
        try:
            os.rmdir(self._folder)
        except OSError:
            pass


def _lines_of(stream: Any) -> "queue.Queue[Optional[str]]":
    """A text stream's lines on a queue (None at its end), read on a thread."""
    lines: "queue.Queue[Optional[str]]" = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, name="restyle-engine-out", daemon=True).start()
    return lines


def _event_of(line: str) -> Dict[str, Any]:
    try:
        event = json.loads(line)
    except ValueError:
        return {}
    return event if isinstance(event, dict) else {}


# refused: the (python, environment) it failed with, why: its last words
_warm: Dict[str, Any] = {"engine": None, "refused": None, "why": ""}
_warm_lock = threading.Lock()  # guards _warm
_warm_busy = threading.Lock()  # held by the job the warm engine runs


def warm_engine() -> Optional[WarmEngine]:
    """The session's warm engine, started (or started again) when needed and waited for; None
    when it cannot start with this Python and environment (jobs then run in processes of their own)."""
    python, environment = settings.engine_python(), dict(os.environ)
    with _warm_lock:
        warm = _warm["engine"]
        if warm is not None and warm.alive() and (warm.python, warm.environment) == (python, environment):
            return warm
        if warm is not None:
            warm.stop()
            _warm["engine"] = None
        if _warm["refused"] == (python, environment):
            return None
        try:
            warm = WarmEngine(python)
        except OSError:
            warm = None
        if warm is None or not warm.wait_ready():
            _warm["refused"] = (python, environment)
            _warm["why"] = (warm.said[-1] if warm is not None and warm.said else "") or "it did not start"
            return None
        _warm["engine"] = warm
        return warm


def _run_warm(command: str, manifest: str, on_progress: ProgressCallback,
              cancelled: Callable[[], bool]) -> Optional[Tuple[int, List[str], bool]]:
    """The job on the warm engine; None when it is busy with another job or cannot start (said
    in a note the first time)."""
    if not _warm_busy.acquire(False):
        return None
    try:
        for _attempt in range(2):  # a second time when it had just gone idle
            refused = _warm["refused"]
            warm = warm_engine()
            if warm is None:
                if _warm["refused"] != refused:
                    on_progress({"event": "note", "stage": "engine", "message": "no warm engine ({}): each job "
                                 "starts an engine process of its own".format(_warm["why"])})
                return None
            done = warm.run(command, manifest, on_progress, cancelled)
            if done is not None:
                return done
        return None
    finally:
        _warm_busy.release()


def stop_warm_engine() -> None:
    """Stop the session's warm engine (at Nuke's exit; also safe when there is none)."""
    with _warm_lock:
        warm, _warm["engine"] = _warm["engine"], None
    if warm is not None:
        warm.stop()


atexit.register(stop_warm_engine)
