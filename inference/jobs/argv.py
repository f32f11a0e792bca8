"""A job as the flags of a ``restyle`` command (what farm tasks run)."""
from __future__ import annotations

from typing import Any

from .commands import SUBCOMMANDS


def command_args(command: str, job: dict[str, Any]) -> list[str]:
    """The flags that hand ``job`` to ``restyle COMMAND`` (job_from_args of them gives ``job`` back).

    Raises:
        ValueError: a field that is not one of the command's flags.
    """
    specs = {dest: (flags[0], options) for flags, dest, options in SUBCOMMANDS[command]["args"]}
    args: list[str] = []
    for field, value in job.items():
        if field == "threads":
            args += ["--threads", str(value)]
            continue
        if field not in specs:
            raise ValueError(f"restyle {command} has no flag for field '{field}'")
        flag, options = specs[field]
        if options.get("action") == "store_const":
            args += [flag] if value == options["const"] else []
        elif field == "keys":
            args += [a for frame, path in value.items() for a in (flag, f"{frame}={path}")]
        elif isinstance(value, list):
            args += [flag, ",".join(value)]
        else:
            args += [flag, str(value)]
    return args

