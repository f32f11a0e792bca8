"""What every benchmark records beside its figures (machine, when, which code and command), and
where it keeps them."""
from __future__ import annotations

import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = "bench/results"  # left out of the dirty check: a bench run writes there itself


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def gpu_name() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def physical_cores() -> dict[tuple[str, str], list[int]]:
    """This machine's CPUs grouped by physical core (socket, core id), from Linux's sysfs
    topology; hardware threads of one core (SMT siblings) share a group. Empty where unknown."""
    cores: dict[tuple[str, str], list[int]] = {}
    for topology in sorted(Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology")):
        try:
            key = ((topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text().strip())
        except OSError:
            continue
        cores.setdefault(key, []).append(int(topology.parent.name[3:]))
    return cores


def machine() -> dict[str, Any]:
    cores = physical_cores()
    return {"host": socket.gethostname(), "cpu": cpu_name(), "cpu_cores": os.cpu_count(),
            "cpu_physical_cores": len(cores) or None,
            "cpu_threads_per_core": max((len(c) for c in cores.values()), default=None),
            "gpu": gpu_name(), "python": platform.python_version(), "platform": platform.platform()}


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state() -> dict[str, Any]:
    """The commit the code runs from and whether tracked files differ from it (bench/results left
    out). ``RESTYLE_GIT_COMMIT`` and ``RESTYLE_GIT_DIRTY`` (1 or 0), where set, say it instead: a
    checkout sent to a GPU machine may travel without its .git or with a stale one. None where
    nothing says."""
    commit = None if os.environ.get("RESTYLE_GIT_COMMIT") else _git("rev-parse", "HEAD")
    if commit is not None:
        status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", f":(exclude){RESULTS}")
        return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}
    dirty = os.environ.get("RESTYLE_GIT_DIRTY")
    return {"git_commit": os.environ.get("RESTYLE_GIT_COMMIT") or None,
            "git_dirty": None if dirty is None else dirty not in ("", "0")}


AT_START = git_state()  # the code a bench runs is what was checked out when it started


def command_line(argv: list[str] | None = None) -> str:
    """``argv`` (default this process's) as a shell line that runs it again from the repository's
    root: a module started with ``python -m`` as such, a console script by its name."""
    argv = list(sys.argv if argv is None else argv)
    program = Path(argv[0]).resolve()
    if program.suffix == ".py" and program.is_relative_to(ROOT):
        argv[0:1] = ["python", "-m", ".".join(program.relative_to(ROOT).with_suffix("").parts)]
    else:
        argv[0] = program.name
    return shlex.join(argv)


def provenance() -> dict[str, Any]:
    """What reproduces a record: ``git_commit``, ``git_dirty`` (as the process started) and the ``command``."""
    state = AT_START
    if state["git_commit"] is None:
        print("warning: no git commit for this record (no .git here): set RESTYLE_GIT_COMMIT and "
              "RESTYLE_GIT_DIRTY where the checkout was copied from", file=sys.stderr)
    return {**state, "command": command_line()}


def store_result(path: Path, name: str, label: str, record: dict[str, Any]) -> Path:
    """Store ``record`` under ``label`` in the JSON file ``path``, keeping other machines' runs,
    with when it was measured and what reproduces it (:func:`provenance`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {"benchmark": name, "runs": {}}
    data["runs"][label] = {"measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **provenance(), **record}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path
