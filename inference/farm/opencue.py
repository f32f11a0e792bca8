"""OpenCue: the shot as a pyoutline outline of Shell layers, serialised to the job spec XML that
cuebot takes (``opencue.api.launchSpec``), without a cuebot: layer ``prep`` (with a toolset node:
``nuke -t`` per chunk, NUKE_PATH and RESTYLE_PYTHON in its environment), ``restyle`` (chunks, the GPU
tag; one a view, ``restyle_VIEW``, for a comp of several views), ``qc_gate`` (one frame; with a colour
reference), ``comp`` (chunks, NUKE_PATH in its environment), each depending on the whole layer before it. Frame tokens: ``#FRAME_START#`` and ``#FRAME_END#``.

pyoutline reads its configuration when imported (its own outline.cfg unless OUTLINE_CONFIG_FILE
names another) and keeps a session folder per outline; it is put in the job folder here.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path

from .shot import FarmShot

START, END = "#FRAME_START#", "#FRAME_END#"
SPEC = "opencue_job.xml"


def job_spec(shot: FarmShot, session_dir: Path) -> str:
    """The cuebot job spec (XML text) of the shot's outline."""
    import outline
    import outline.cuerun
    from outline.config import config
    from outline.modules.shell import Shell, ShellCommand

    config.set("outline", "session_dir", str(session_dir))
    job = outline.Outline(shot.name, frame_range=shot.frames, shot=shot.name,
                          show=shot.show or config.get("outline", "default_show"))
    gpu = {"gpus": 1} if shot.render.get("device") == "cuda" else {}
    layers = [Shell("restyle" if view is None else f"restyle_{view}",
                    command=shlex.join(shot.render_command(START, END, view)), chunk=shot.chunk_size,
                    tags=[shot.gpu_group] if shot.gpu_group else [], **gpu) for view in shot.render_views]
    if shot.prepped:
        layers.insert(0, Shell("prep", command=shlex.join(shot.prep_command(START, END)), chunk=shot.chunk_size,
                               env=shot.prep_env()))
    if shot.gated:
        layers.append(ShellCommand("qc_gate", command=shlex.join(shot.gate_command())))
    layers.append(Shell("comp", command=shlex.join(shot.comp_command(START, END)),
                        chunk=shot.chunk_size, env=shot.comp_env()))
    for before, layer in zip([None] + layers, layers):
        job.add_layer(layer)
        if before is not None:
            layer.depend_all(before)
    return outline.cuerun.OutlineLauncher(job, priority=shot.priority, nomail=True).serialize(use_pycuerun=False)


def job_files(shot: FarmShot, job_dir: Path) -> tuple[dict[str, str], list[str]]:
    """The job spec and the pycue call that launches it (with $CUEBOT_HOSTS set)."""
    launch = "import sys, opencue; print(opencue.api.launchSpec(open(sys.argv[1]).read()))"
    return {SPEC: job_spec(shot, job_dir / "opencue_session")}, [sys.executable, "-c", launch, str(job_dir / SPEC)]
