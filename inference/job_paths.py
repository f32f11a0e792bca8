"""The files a command reads and writes, checked before any work starts.

Every input file a job names must be there (exit 66, naming the flag), and no output may land on
an input: an output file or frame that is, on disk, the same file as an input's (same device and
inode, so another spelling, an absolute path, ``..``, a symlinked folder or a hard link are all
caught), or an output folder that holds an input under a name the command writes there, is refused
(exit 64, naming both paths). An output whose folder cannot be made or written is refused too (73).
Sequences are expanded over the job's frame range (outputs) or over every frame on disk (inputs,
whose handles reach past the range).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path
from typing import Any, Callable, Iterator, Union

from .errors import MissingFileError, OutputError, UsageError
from .sequence import SequencePattern, parse_frame_range

SEQUENCE, FILE = "sequence", "file"
FARM_FILE = "farm file"  # read later by farm workers: checked against outputs where it is, not required here


@dataclass(frozen=True)
class Folder:
    """An output folder and the names (globs) a command writes directly in it: an input there under
    one of them (or inside a folder of that name) would be written over."""

    names: tuple[str, ...] = ("*",)


FOLDER = Folder()  # a folder the command may write anything into
Kind = Union[str, Folder]

# What every command reads, by manifest field; jobs.commands.READS_AS overrides it for a command (metrics'
# --reference is a sequence, colourlock's one image). A field a command writes is not read.
READS = {"plate": SEQUENCE, "input": SEQUENCE, "guide": SEQUENCE, "output": SEQUENCE, "model": FILE,
         "reference": FILE, "swatches": FILE, "init": FILE, "comp": FILE, "keys": FILE}

Identity = tuple[int, int]  # (device, inode) of a file on disk


def check_job_paths(job: dict[str, Any], reads: dict[str, str], writes: dict[str, Kind],
                    flag: Callable[[str], str], manifest: str | None = None) -> None:
    """Refuse a job whose inputs are missing or whose outputs would write over an input.

    Args:
        reads / writes: manifest field -> SEQUENCE, FILE, FARM_FILE (reads) or a Folder (writes), for the
            fields this command reads and writes (fields absent from ``job`` are skipped).
        flag: the command-line flag of a field, for messages.
        manifest: the --manifest file, an input too.

    Raises:
        MissingFileError: an input file is not there.
        OutputError: an output's folder cannot be made or written (a file on its way, no permission),
            or a file output names an existing folder.
        UsageError: an output is one of the inputs, or an output folder holds one under a name the
            command writes there; names both.
    """
    inputs = [(flag(field), kind, path) for field, kind in reads.items() if field not in writes
              for path in _paths(job.get(field))]
    inputs += [("--manifest", FILE, manifest)] if manifest else []
    for name, kind, path in inputs:
        if kind == FILE and not Path(path).is_file():
            raise MissingFileError(f"{name} {path} does not exist")
    on_disk = {identity: (name, shown) for name, kind, path in inputs for identity, shown in _existing(kind, path)}
    frames = parse_frame_range(job["frames"]) if SEQUENCE in writes.values() and "frames" in job else []
    for field, kind in writes.items():
        for path in _paths(job.get(field)):
            _check_output(flag(field), kind, path, frames, on_disk)


def _paths(value: Any) -> list[str]:
    """The path(s) a field holds: none, one, or (``keys``) one per painted frame."""
    if value is None:
        return []
    return [str(v) for v in value.values()] if isinstance(value, dict) else [str(value)]


def _identity(path: str | os.PathLike) -> Identity | None:
    """(device, inode) of the file ``path`` leads to (symlinks followed), or None when there is none."""
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return None
    return (stat.st_dev, stat.st_ino)


def _existing(kind: str, path: str) -> Iterator[tuple[Identity, str]]:
    """(identity, path) of each file of an input on disk: every frame of a sequence found there."""
    if kind == SEQUENCE:
        pattern = SequencePattern.parse(path)
        files = [pattern.path(frame) for frame in pattern.existing_frames()]
    else:
        files = [path]
    for file in files:
        identity = _identity(file)
        if identity is not None:
            yield identity, file


def _written(kind: Kind, path: str, frames: list[int]) -> Iterator[str]:
    """The files already on disk that an output would replace: a sequence's frames in the range."""
    if kind == SEQUENCE:
        pattern = SequencePattern.parse(path)
        wanted = set(frames)
        yield from (pattern.path(f) for f in pattern.existing_frames() if f in wanted)
    elif kind == FILE:
        yield path


def _check_output(name: str, kind: Kind, path: str, frames: list[int],
                  inputs: dict[Identity, tuple[str, str]]) -> None:
    """Refuse one output that names the wrong kind of thing, cannot be written, or lands on an input
    (see check_job_paths)."""
    _check_writable(name, path, _folder_of(kind, path))
    if kind == FILE and Path(path).is_dir():
        raise OutputError(f"{name} {path} is a folder: name the file to write (in it or elsewhere)")
    if isinstance(kind, Folder):  # one that is a file was refused by _check_writable
        _refuse_inputs_inside(name, path, kind.names, inputs)
        return
    for file in _written(kind, path, frames):
        identity = _identity(file)
        if identity in inputs:
            flag, shown = inputs[identity]
            raise UsageError(f"{name} {path} would write over the input {flag} {shown} (as {file}); "
                             f"write the output somewhere else")


def _folder_of(kind: Kind, path: str) -> Path:
    """The folder an output is written in (a folder output: itself)."""
    if isinstance(kind, Folder):
        return Path(path)
    return SequencePattern.parse(path).directory if kind == SEQUENCE else Path(path).parent


def _check_writable(name: str, path: str, folder: Path) -> None:
    """The output's folder is there and writable, or can be made: its nearest existing ancestor is a
    writable folder (nothing is created here)."""
    ancestor = Path(os.path.abspath(folder))
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    problem = (f"'{ancestor}' is a file" if not ancestor.is_dir()
               else f"no write permission on '{ancestor}'" if not os.access(ancestor, os.W_OK | os.X_OK) else None)
    if problem:
        raise OutputError(f"{name} {path}: output folder '{folder}' cannot be written ({problem}); "
                          f"choose another {name} or fix its permissions")


def _refuse_inputs_inside(name: str, folder: str, names: tuple[str, ...],
                          inputs: dict[Identity, tuple[str, str]]) -> None:
    """An output folder must not hold an input under a name the command writes there."""
    root = os.path.realpath(folder)
    for flag, shown in inputs.values():
        real = os.path.realpath(shown)
        if os.path.commonpath([root, real]) != root or real == root:
            continue
        first = os.path.relpath(real, root).split(os.sep)[0]
        if any(fnmatch(first, written) for written in names):
            raise UsageError(f"{name} {folder} holds the input {flag} {shown}, where this command writes "
                             f"{', '.join(names)}; choose another output folder or move the input")
