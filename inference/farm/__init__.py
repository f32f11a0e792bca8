"""Farm submission of a shot: Deadline 10 job/plugin info files, an OpenCue job spec (pyoutline),
or the Open Job Description template with its parameter values. ``restyle submit`` writes them,
``restyle gate`` is the QC step they run; the commands themselves are in :mod:`.shot`."""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError
from .shot import FarmShot


@dataclass(frozen=True)
class Submission:
    files: list[Path]  # everything written, submit.sh last
    command: list[str]  # what submits the job (openjd: runs it locally)
    script: Path  # job_dir/submit.sh: runs ``command``


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
