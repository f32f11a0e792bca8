"""A job: a command's fields from its manifest and flags, checked before any work."""
from __future__ import annotations

from typing import Any

from ..errors import UsageError
from ..job_paths import READS, check_job_paths
from ..sequence import SequencePattern, parse_frame_range
from . import manifest
from .commands import OUT_PATTERN_STAGES, PATTERN_ARGS, READS_AS, SUBCOMMANDS, WRITES


def job_from_flags(command: str, flags: dict[str, Any], manifest_path: str | None) -> dict[str, Any]:
    """Merge the manifest's fields and the flags given (field -> value, None when not given; flags win),
    then check required fields, patterns and the frame range."""
    job: dict[str, Any] = manifest.load(manifest_path) if manifest_path else {}
    if job.get("stage") not in (None, command):
        raise UsageError(f"manifest {manifest_path} is for stage '{job['stage']}', not '{command}'")
    for _flags, dest, _options in SUBCOMMANDS[command]["args"]:
        value = flags.get(dest)
        if value is not None:
            job[dest] = dict(value) if dest == "keys" else value
    if flags.get("threads") is not None:
        job["threads"] = flags["threads"]
    missing = [f for f in SUBCOMMANDS[command]["required"] if f not in job]
    if missing:
        names = ", ".join(flag_of(command, f) for f in missing)
        raise UsageError(f"restyle {command} needs {names} (as flags or manifest fields)")
    for field in PATTERN_ARGS & job.keys():
        SequencePattern.parse(job[field])
    if command in OUT_PATTERN_STAGES and "out" in job:
        SequencePattern.parse(job["out"])
    if "frames" in job and command != "demo":
        parse_frame_range(job["frames"])
    return job


def flag_of(command: str, field: str) -> str:
    """The command-line flag of a manifest field (``keys`` -> ``--key``)."""
    flags = {dest: flags[0] for flags, dest, _options in SUBCOMMANDS[command]["args"]}
    return flags.get(field, "--" + field.replace("_", "-"))


def check_paths(command: str, job: dict[str, Any], manifest: str | None) -> None:
    """Before any work: the job's input files are there and none of its outputs writes over one."""
    check_job_paths(job, {**READS, **READS_AS.get(command, {})}, WRITES[command],
                    lambda field: flag_of(command, field), manifest)

