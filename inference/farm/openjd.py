"""Open Job Description: this toolset's job template (``restyle_shot.yaml``, package data of
``inference.farm``, so an installed engine carries it) with the
shot's parameter values as JSON, for ``openjd run TEMPLATE --job-param file://VALUES`` (or a
Deadline Cloud queue). The template always colour-locks and gates; it takes only the render
settings it has parameters for, and any other render flag is refused rather than dropped.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import MissingFileError, UsageError
from .shot import FarmShot

TEMPLATE = Path(str(resources.files(__package__) / "restyle_shot.yaml"))
# template parameter <- restyle render field
RENDER_PARAMS = {"Model": "model", "Plate": "plate", "PlateColourspace": "plate_colourspace",
                 "OutColourspace": "out_colourspace", "ReferenceColourspace": "reference_colourspace",
                 "OcioConfig": "ocio_config", "Reference": "reference", "Output": "out", "Device": "device",
                 "Compression": "compression"}


def parameter_values(shot: FarmShot) -> dict[str, Any]:
    """The template's parameters for the shot.

    Raises:
        UsageError: no --reference (the template's QC gate needs reports), or a render flag the
            template has no parameter for.
    """
    if not shot.gated:
        raise UsageError("restyle submit --farm openjd needs --reference and --report: the template colour-locks "
                         "and gates every chunk")
    extra = sorted(set(shot.render) - set(RENDER_PARAMS.values()))
    if extra:
        flags = ", ".join("--" + field.replace("_", "-") for field in extra)
        raise UsageError(f"{TEMPLATE.name} has no parameter for {flags}: leave it out, or use --farm deadline or opencue")
    values = {param: shot.render[field] for param, field in RENDER_PARAMS.items() if field in shot.render}
    return {"ShotName": shot.name, **values, "ReportDir": shot.report, "FrameStart": shot.first,
            "FrameEnd": shot.last, "ChunkSize": shot.chunk_size, "EnginePython": shot.engine_python,
            "NukeExecutable": shot.nuke, "CompScript": shot.comp, "ToolsetRoot": shot.toolset,
            **({"NukeNode": shot.node} if shot.prepped else {})}


def job_files(shot: FarmShot, job_dir: Path) -> tuple[dict[str, str], list[str]]:
    """The template and its parameter values, and the ``openjd run`` that runs them here."""
    values = parameter_values(shot)
    if not TEMPLATE.is_file():
        raise MissingFileError(f"{TEMPLATE} is missing: the engine's install lacks its package data; "
                               "reinstall it")
    params = "parameter_values.json"
    return ({TEMPLATE.name: TEMPLATE.read_text(), params: json.dumps(values, indent=1) + "\n"},
            ["openjd", "run", str(job_dir / TEMPLATE.name), "--job-param", f"file://{job_dir / params}"])
