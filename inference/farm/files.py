"""Writing a shot's farm files: the farm's own (:mod:`.deadline`, :mod:`.opencue`, :mod:`.openjd`)
and submit.sh, which submits them (openjd: runs the job locally)."""
from __future__ import annotations

import shlex
from pathlib import Path

from ..errors import OutputError
from .shot import FarmShot
from .submission import Submission


def write_submission(farm: str, shot: FarmShot, job_dir: Path) -> Submission:
    """Write ``farm``'s files for ``shot`` into ``job_dir``, and submit.sh with the command that
    submits them. Nothing is written when the farm cannot take the shot.

    Raises:
        OutputError: job_dir cannot be written.
        UsageError: the farm cannot express a setting of the shot (the message names the flag).
    """
    if farm == "deadline":
        from .deadline import job_files
    elif farm == "opencue":
        from .opencue import job_files
    else:
        from .openjd import job_files
    job_dir = job_dir.absolute()
    texts, command = job_files(shot, job_dir)
    texts["submit.sh"] = f"#!/bin/sh\n# {farm} job for {shot.name}, written by restyle submit\nexec {shlex.join(command)}\n"
    try:
        job_dir.mkdir(parents=True, exist_ok=True)
        for name, text in texts.items():
            (job_dir / name).write_text(text)
        (job_dir / "submit.sh").chmod(0o755)
    except OSError as exc:
        raise OutputError(f"cannot write the {farm} job into {job_dir}: {exc.strerror or exc}") from None
    return Submission([job_dir / name for name in texts], command, job_dir / "submit.sh")
