"""A shot as farm work, four steps each waiting for the whole step before it: with ``--node``, the
Nuke prep per chunk (``nuke -t <toolset>/nuke_plugin/farm_prep.py``: the toolset node's inputs that
are not plain Reads rendered by Nuke, its plate checked against its approved version), then
``restyle render`` per frame chunk (GPU workers), the QC gate on the chunks' ColourLock reports
(with a colour reference), then ``nuke -x`` of the comp per chunk with NUKE_PATH set, where each
toolset node only checks that its approved frames are there (docs/nuke.md, "Farm").

Every farm runs these same commands; a farm's writer only puts its own frame tokens in for a
chunk's first and last frame (Deadline ``<STARTFRAME>``, OpenCue ``#FRAME_START#``). A chunk's
render reads its own handles and keeps complete frames (``--skip-existing``), so chunks equal a
whole-shot render and a retried task redoes only what is missing. Each chunk writes its QC report
to ``REPORT/chunk.FIRST`` (as the OpenJD template, inference/farm/restyle_shot.yaml, does), which the gate reads.

A comp of several views (``--views left,right``, with Nuke's ``%V`` in ``--plate`` and ``--out``)
renders each chunk once per view, ``%V``/``%v`` filled in (:func:`view_path`), each view's QC
report in ``REPORT/chunk.FIRST.VIEW``.
"""
from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MissingFileError, UsageError
from ..jobs.argv import command_args
from ..jobs.manifest import validate
from .settings import DEFAULT_CHUNK_SIZE, DEFAULT_PRIORITY

TOOLSET = Path(__file__).resolve().parents[2]  # this repository: init.py, gizmos/, nuke_plugin/
CHUNK_REPORT = "chunk.{first}"  # a chunk's QC report folder under --report

# `restyle submit` fields that describe the farm jobs; every other field is a `restyle render` one.
FARM_FIELDS = ("farm", "job_dir", "name", "chunk_size", "comp", "nuke", "nuke_version", "engine_python", "toolset",
               "pool", "gpu_group", "priority", "show", "submit", "node", "views")
# Fields that mean something to some farms only: refused for the others rather than ignored.
FARM_ONLY = {"nuke_version": ("deadline",), "pool": ("deadline",), "submit": ("deadline",), "show": ("opencue",),
             "gpu_group": ("deadline", "opencue"), "priority": ("deadline", "opencue")}
NOT_RENDER = {"frames", "report", "skip_existing"}  # set per chunk by the farm, not passed through
# Files, folders and sequences: made absolute, since farm tasks start in folders of their own.
PATH_FIELDS = ("model", "plate", "out", "reference", "swatches", "report", "comp", "toolset")
VIEW_FIELDS = ("plate", "out", "reference")  # render fields that may name each view's files (%V, %v)


def view_path(path: str, view: str) -> str:
    """One view's file of a path, as Nuke fills it in: %V the view's name, %v its first letter."""
    return path.replace("%V", view).replace("%v", view[:1])


@dataclass(frozen=True)
class FarmShot:
    """What every farm's jobs need; ``render`` holds the `restyle render` fields passed through."""

    name: str
    first: int
    last: int
    chunk_size: int
    render: dict[str, Any]
    report: str | None  # ColourLock QC reports (with a reference): the gate job runs
    comp: str
    nuke: str
    nuke_version: str | None
    engine_python: str
    toolset: str
    pool: str | None
    gpu_group: str | None
    priority: int
    show: str | None
    node: str | None = None  # the toolset node in the comp whose approved version this job renders: prep step
    views: tuple[str, ...] = ()  # the comp's views, each rendered on its own (%V in plate and out); () one view

    @property
    def prepped(self) -> bool:
        """Whether a Nuke prep step runs before the renders (a toolset node is named)."""
        return self.node is not None

    @property
    def frames(self) -> str:
        return f"{self.first}-{self.last}"

    @property
    def gated(self) -> bool:
        """Whether a QC gate runs between the renders and the comp (colour lock on)."""
        return self.report is not None

    @property
    def render_views(self) -> tuple[str | None, ...]:
        """The views a chunk is rendered in: each of :attr:`views`, or (None,) for one view."""
        return self.views or (None,)

    def render_command(self, first: str, last: str, view: str | None = None) -> list[str]:
        """``restyle render`` of the chunk first..last (numbers or a farm's frame tokens) in ``view``."""
        fields = dict(self.render, frames=f"{first}-{last}", skip_existing=True)
        if view is not None:
            fields.update({f: view_path(fields[f], view) for f in VIEW_FIELDS if f in fields})
        if self.report is not None:
            fields["report"] = f"{self.report}/{CHUNK_REPORT.format(first=first)}" + ("" if view is None else f".{view}")
        return [self.engine_python, "-m", "inference.cli", "render", *command_args("render", fields),
                "--progress", "text"]

    def gate_command(self) -> list[str]:
        """``restyle gate``: fails when any chunk's ColourLock report failed."""
        return [self.engine_python, "-m", "inference.cli", "gate", "--report", str(self.report)]

    def prep_command(self, first: str, last: str) -> list[str]:
        """The Nuke prep of the chunk first..last (``nuke -t``; the frames before the node: Nuke takes
        a trailing frame range off a -t command line)."""
        return [self.nuke, "-t", str(Path(self.toolset) / "nuke_plugin" / "farm_prep.py"), self.comp,
                f"{first}-{last}", str(self.node)]

    def prep_env(self) -> dict[str, str]:
        """The prep's environment: the toolset from NUKE_PATH; the engine (it hashes the inputs)."""
        return {"NUKE_PATH": self.toolset, "RESTYLE_PYTHON": self.engine_python}

    def comp_command(self, first: str, last: str) -> list[str]:
        """Nuke's command-line render of the comp over first..last."""
        return [self.nuke, "-x", "-F", f"{first}-{last}", self.comp]

    def comp_env(self) -> dict[str, str]:
        """The comp's environment: the gizmos and init.py come from NUKE_PATH, and the Restyle farm
        hook checks a whole chunk's frames at its first frame."""
        return {"NUKE_PATH": self.toolset, "RESTYLE_FARM_BATCH": str(self.chunk_size)}


def check_model(path: str) -> None:
    """Refuse, before any job is written, a model every render task would refuse: not a restyle
    model, damaged, or marked failed by its training's key check.

    Raises:
        ModelError: naming the model and what is wrong.
    """
    from ..restyle.model_file import load_model, require_key_check

    require_key_check(load_model(path))


def shot_from_job(job: dict[str, Any]) -> FarmShot:
    """Check a `restyle submit` job and make the shot.

    Raises:
        UsageError: a bad farm field (ManifestError), a range that is not FIRST-LAST, another farm's
            flag, a toolset without init.py.
        MissingFileError: the comp script or the model is not there.
        ModelError: the model is not one a render task would run (check_model).
    """
    job = {k: os.path.abspath(v) if k in PATH_FIELDS else v for k, v in job.items()}
    if "keys" in job:  # --detail's paintings
        job["keys"] = {frame: os.path.abspath(path) for frame, path in job["keys"].items()}
    farm = job["farm"]
    validate({k: v for k, v in job.items() if k in FARM_FIELDS})  # flags too: names go into file and job names
    for field, farms in FARM_ONLY.items():
        if field in job and farm not in farms:
            raise UsageError(f"--{field.replace('_', '-')} is for --farm {' or '.join(farms)}, not {farm}")
    match = re.fullmatch(r"\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?", str(job["frames"]))
    if match is None or int(match.group(2) or match.group(1)) < int(match.group(1)):
        raise UsageError(f"--frames {job['frames']!r}: a farm shot is one range FIRST-LAST, e.g. 1001-1100")
    if "reference" in job and "report" not in job:
        raise UsageError("restyle submit --reference needs --report DIR (each chunk writes its QC report there)")
    if "views" in job and not re.search("%[Vv]", job["out"]):
        raise UsageError(f"--views {','.join(job['views'])} needs Nuke's %V (or %v) in --out {job['out']}: else "
                         "every view writes the same files")
    for field in ("comp", "model"):
        if not Path(job[field]).is_file():
            raise MissingFileError(f"--{field} {job[field]} does not exist (as this machine sees it)")
    check_model(job["model"])
    toolset = job.get("toolset", str(TOOLSET))
    if not (Path(toolset) / "init.py").is_file():
        raise UsageError(f"--toolset {toolset} has no init.py: give the toolset folder (the comp's NUKE_PATH)")
    first = int(match.group(1))
    return FarmShot(
        name=job.get("name", Path(job["comp"]).stem), first=first, last=int(match.group(2) or first),
        chunk_size=job.get("chunk_size", DEFAULT_CHUNK_SIZE),
        render={k: v for k, v in job.items() if k not in FARM_FIELDS and k not in NOT_RENDER
                and k not in ("version", "stage")},
        report=job.get("report") if "reference" in job else None, comp=job["comp"], nuke=job.get("nuke", "nuke"),
        nuke_version=job.get("nuke_version"), engine_python=job.get("engine_python", sys.executable),
        toolset=toolset, pool=job.get("pool"), gpu_group=job.get("gpu_group"), priority=job.get("priority", DEFAULT_PRIORITY),
        show=job.get("show"), node=job.get("node"), views=tuple(job.get("views", ())))
