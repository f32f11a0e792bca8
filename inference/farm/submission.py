"""A submission: the farm files written for a shot and the command that submits them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Submission:
    files: list[Path]  # everything written, submit.sh last
    command: list[str]  # what submits the job (openjd: runs it locally)
    script: Path  # job_dir/submit.sh: runs ``command``
