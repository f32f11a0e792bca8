"""A ``nuke`` command line for tests on the stand-in module: ``nuke -x [-F RANGE]... SCRIPT.nk``
and ``nuke -t SCRIPT.py [ARG]...``.

It does what a farm's ``nuke -x`` / ``nuke -t`` does, as far as the stand-in can: a fresh
terminal-mode process whose plug-in path comes from ``$NUKE_PATH`` (so gizmos and init.py are
found only through it), the start-up scripts, then ``-x``: every enabled Write of the script over
each ``-F`` range (none: the script's frame range); ``-t``: the Python file with ``sys.argv`` =
[file, args...], less a trailing frame range, which Nuke takes off the command line (Foundry,
"Command line": the range goes to ``frames all``, not to the script). A failed load, render or
script prints the error on stderr and exits 1 (a script's own ``sys.exit(n)`` exits n); a switch
Nuke has but the stand-in does not emulate (``-X``, ``-m``, ``--gpu``, ...) exits 2 naming it, so
a job template never silently relies on something untested.

Tests run it through a wrapper made by ``make_executable`` (this Python, this file). With
``$NUKE_STANDIN_STATE`` set, the process also writes what happened (Writes rendered, dialogs,
progress tasks, start-up scripts run) there as JSON: the stand-in's ``state``, which real Nuke
does not have.
"""
from __future__ import annotations

import json
import os
import re
import runpy
import shlex
import sys
import traceback
from pathlib import Path
from typing import List, Optional, Tuple

STUBS = Path(__file__).resolve().parent
ENV_STATE = "NUKE_STANDIN_STATE"
USAGE = "usage: nuke -x [-F RANGE]... SCRIPT.nk  |  nuke -t SCRIPT.py [ARG]...   (stand-in: no GUI)"


class UsageError(Exception):
    pass


def parse_args(argv: List[str]) -> Tuple[str, List[str], Optional[List[str]]]:
    """(script, ranges, None) of ``-x``, or (python file, [], its arguments) of ``-t``, from Nuke's
    ``<switches> <script> <argv>`` command line."""
    if argv[:1] == ["-t"]:
        if len(argv) < 2 or not argv[1].endswith(".py"):
            raise UsageError("-t needs a Python file (the stand-in runs no interactive terminal)")
        args = argv[2:]
        if args and re.fullmatch(r"-?\d+(-(-?\d+)(x\d+)?)?", args[-1]):
            args = args[:-1]  # Nuke takes a trailing frame range off the script's arguments
        return argv[1], [], args
    execute = False
    ranges: List[str] = []
    script: Optional[str] = None
    args = list(argv)
    while args:
        arg = args.pop(0)
        if arg == "--":
            if len(args) != 1:
                raise UsageError("exactly one script after --, got {}".format(args))
            script = args.pop(0)
        elif arg == "-x":
            execute = True
        elif arg == "-F":
            if not args:
                raise UsageError("-F needs a frame range, e.g. -F 1001-1010")
            ranges.append(args.pop(0))
        elif arg.startswith("-"):
            raise UsageError("switch {} is not emulated by the stand-in (only -x, -F and -t are)".format(arg))
        elif script is None:
            script = arg
        else:
            raise UsageError("unexpected argument {!r} after the script; give frame ranges with -F".format(arg))
    if not execute:
        raise UsageError("-x is required: only command-line renders are emulated, not the GUI")
    if script is None:
        raise UsageError("no script to render")
    return script, ranges, None


def main(argv: List[str]) -> int:
    try:
        script, ranges, script_args = parse_args(argv)
    except UsageError as exc:
        print("nuke: {}\n{}".format(exc, USAGE), file=sys.stderr)
        return 2
    sys.path.insert(0, str(STUBS))
    import nuke

    nuke._standin.reset(mode="terminal", nuke_path=os.environ.get("NUKE_PATH", ""))
    status = 0
    try:
        nuke._standin.startup()
        if script_args is None:
            nuke._standin.render_script(script, ranges)
        else:
            status = _run_python(script, script_args)
    except (RuntimeError, ValueError, OSError) as exc:
        print("ERROR: {}".format(exc), file=sys.stderr)
        status = 1
    finally:
        _write_state(nuke._standin.state)
    return status


def _run_python(path: str, args: List[str]) -> int:
    """``nuke -t path args``: the file runs as __main__ with ``nuke`` importable; its exit status."""
    sys.argv = [path] + args
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:  # noqa: BLE001 - Nuke prints the traceback and exits non-zero
        traceback.print_exc()
        return 1
    return 0


def _write_state(state) -> None:
    path = os.environ.get(ENV_STATE)
    if path:
        Path(path).write_text(json.dumps({"written": state.written, "dialogs": state.dialogs,
                                          "tasks": len(state.tasks), "ran": state.ran}))


def make_executable(folder: Path) -> Path:
    """Write ``folder/nuke``: a shell wrapper running this file with this Python (so the engine's
    packages, which the stand-in's Read/Write use, are importable wherever it is called from)."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "nuke"
    exe.write_text('#!/bin/sh\nexec {} {} "$@"\n'.format(shlex.quote(sys.executable), shlex.quote(str(Path(__file__).resolve()))))
    exe.chmod(0o755)
    return exe


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
