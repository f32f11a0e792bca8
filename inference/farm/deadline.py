"""Deadline 10: a job info and a plugin info file (``Key=Value`` lines) per job, submitted together
with ``deadlinecommand -SubmitMultipleJobs -dependent`` so each job waits for the one before it:
the Nuke prep (with a toolset node: CommandLine plug-in running ``nuke -t`` per chunk, since
Deadline's Nuke plug-in renders scripts, NUKE_PATH and RESTYLE_PYTHON in the job's environment),
restyle render (CommandLine plug-in, one task per chunk, on the GPU group; one such job per view
of a comp of several views), the QC gate
(CommandLine, one task; with a colour reference), then the comp (Nuke plug-in, one task per chunk,
NUKE_PATH in the job's environment). Frame tokens: ``<STARTFRAME>`` and ``<ENDFRAME>``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ..errors import FarmError, UsageError
from ..sequence import SequencePattern
from .shot import FarmShot, view_path
from .submission import Submission

START, END = "<STARTFRAME>", "<ENDFRAME>"


def info_text(info: dict[str, Any]) -> str:
    """Deadline's info file format: one ``Key=Value`` per line (booleans True/False)."""
    return "".join(f"{key}={value}\n" for key, value in info.items())


def jobs(shot: FarmShot) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(file stem, job info, plugin info) of each job, in dependency order."""
    if shot.nuke_version is None:
        raise UsageError("restyle submit --farm deadline needs --nuke-version (e.g. 15.1): Deadline's Nuke "
                         "plug-in picks the Nuke install by version")
    common = {"BatchName": shot.name, "Priority": shot.priority, **({"Pool": shot.pool} if shot.pool else {})}
    renders = [("render" if view is None else f"render_{view}", *_render_job(shot, view, common))
               for view in shot.render_views]
    gate = ({"Plugin": "CommandLine", "Name": f"{shot.name} QC gate", **common, "Frames": shot.first, "ChunkSize": 1},
            _command_line(shot.gate_command(), shot.toolset))
    prep = ({"Plugin": "CommandLine", "Name": f"{shot.name} prep", **common, "Frames": shot.frames,
             "ChunkSize": shot.chunk_size, **_environment(shot.prep_env())},
            _command_line(shot.prep_command(START, END), shot.toolset))
    comp = ({"Plugin": "Nuke", "Name": f"{shot.name} comp", **common, "Frames": shot.frames,
             "ChunkSize": shot.chunk_size, **_environment(shot.comp_env())},
            {"SceneFile": shot.comp, "Version": shot.nuke_version, "NukeX": False, "BatchMode": True,
             "BatchModeIsMovie": False, "ContinueOnError": False, "RenderMode": "Use Scene Settings",
             "UseGpu": False, "Threads": 0, "RamUse": 0})
    return (([("prep", *prep)] if shot.prepped else []) + renders +
            ([("qc_gate", *gate)] if shot.gated else []) + [("comp", *comp)])


def _render_job(shot: FarmShot, view: str | None, common: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Job and plugin info of the render of ``view`` (None: the shot's one view)."""
    out = SequencePattern.parse(shot.render["out"] if view is None else view_path(shot.render["out"], view)).hashes
    return ({"Plugin": "CommandLine", "Name": f"{shot.name} restyle" + ("" if view is None else f" {view}"), **common,
             "Frames": shot.frames, "ChunkSize": shot.chunk_size, **({"Group": shot.gpu_group} if shot.gpu_group else {}),
             "OutputDirectory0": os.path.dirname(out), "OutputFilename0": os.path.basename(out)},
            _command_line(shot.render_command(START, END, view), shot.toolset))


def _environment(env: dict[str, str]) -> dict[str, str]:
    """Job info keys that set the tasks' environment."""
    return {f"EnvironmentKeyValue{i}": f"{key}={value}" for i, (key, value) in enumerate(env.items())}


def _command_line(argv: list[str], startup: str) -> dict[str, Any]:
    """CommandLine plug-in info; Arguments quoted the way Deadline splits them (double quotes)."""
    return {"Executable": argv[0], "Arguments": subprocess.list2cmdline(argv[1:]), "StartupDirectory": startup,
            "Shell": "default", "ShellExecute": False, "SingleFramesOnly": False}


def deadlinecommand() -> str:
    """The Deadline client's command: in $DEADLINE_PATH (set by its installer), else on PATH."""
    folder = os.environ.get("DEADLINE_PATH")
    found = os.path.join(folder, "deadlinecommand") if folder else shutil.which("deadlinecommand")
    return found if found and os.access(found, os.X_OK) else "deadlinecommand"


def job_files(shot: FarmShot, job_dir: Path) -> tuple[dict[str, str], list[str]]:
    """The info files (by name) and the deadlinecommand call that submits them from ``job_dir``."""
    texts: dict[str, str] = {}
    command = [deadlinecommand(), "-SubmitMultipleJobs", "-dependent"]
    for stem, job_info, plugin_info in jobs(shot):
        names = [f"{stem}_job_info.job", f"{stem}_plugin_info.job"]
        texts.update(zip(names, (info_text(job_info), info_text(plugin_info))))
        command += ["-job", *(str(job_dir / name) for name in names)]
    return texts, command


def submit(submission: Submission) -> list[str]:
    """Run deadlinecommand; returns the job ids, in dependency order.

    Raises:
        FarmError: deadlinecommand missing, failing, or not accepting every job.
    """
    exe = shutil.which(submission.command[0])
    if exe is None:
        raise FarmError(f"{submission.command[0]} not found: set $DEADLINE_PATH to the Deadline client's bin folder "
                        f"or put it on PATH, then run {submission.script}")
    done = subprocess.run([exe, *submission.command[1:]], capture_output=True, text=True)
    ids = [line.split("=", 1)[1].strip() for line in done.stdout.splitlines() if line.startswith("JobID=")]
    if done.returncode != 0 or len(ids) != submission.command.count("-job"):
        said = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise FarmError(f"deadlinecommand did not accept the jobs (exit {done.returncode}): {' | '.join(said)}; "
                        f"the job files stay in {submission.script.parent}")
    return ids
