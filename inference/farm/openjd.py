"""Open Job Description: this toolset's job template (``restyle_shot.yaml``, package data of
``inference.farm``, so an installed engine carries it) with the shot's parameter values as JSON,
for ``openjd run TEMPLATE --job-param file://VALUES`` (or a Deadline Cloud queue).

Every ``restyle render`` setting has a template parameter (:data:`RENDER_PARAMS`); one left empty
leaves its flag out, so the engine's own default holds (its settings dataclasses, the one copy).
The template colour-locks and gates only when the shot has a colour reference.
"""
from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import MissingFileError, UsageError
from .shot import FarmShot

TEMPLATE = Path(str(resources.files(__package__) / "restyle_shot.yaml"))
# template parameter <- restyle render field (every render field but those each chunk sets itself:
# frames, report, skip_existing; tests/test_farm_openjd.py checks none is missing)
RENDER_PARAMS = {"Model": "model", "Plate": "plate", "Output": "out", "PlateColourspace": "plate_colourspace",
                 "OutColourspace": "out_colourspace", "OcioConfig": "ocio_config", "Device": "device",
                 "Backend": "backend", "Dtype": "dtype", "Tile": "tile", "Batch": "batch", "Detail": "detail",
                 "Texture": "texture", "Keys": "keys", "KeyColourspace": "key_colourspace", "Vectors": "vectors",
                 "Deflicker": "deflicker", "Strength": "strength", "Radius": "radius", "RenderChunk": "chunk",
                 "Compression": "compression", "Reference": "reference",
                 "ReferenceColourspace": "reference_colourspace", "Swatches": "swatches", "Method": "method",
                 "Sigma": "sigma", "Lut": "lut", "MaxHold": "max_hold"}


def template_value(value: Any) -> str:
    """A render field's value as its template parameter: what the Restyle step puts after the flag,
    ``true`` for a switch, one ``FRAME=IMAGE`` a line for the paintings."""
    if isinstance(value, bool):
        return "true" if value else ""
    if isinstance(value, dict):
        return "\n".join(f"{frame}={path}" for frame, path in value.items())
    return str(value)


def parameter_values(shot: FarmShot) -> dict[str, Any]:
    """The template's parameters for the shot: each render setting it sets, the farm's own.

    Raises:
        UsageError: a value the steps' shell scripts cannot carry (a quote, a line break), named.
    """
    values = {param: template_value(shot.render[field]) for param, field in RENDER_PARAMS.items()
              if field in shot.render}
    values = {"ShotName": shot.name, **values, **({"ReportDir": shot.report} if shot.gated else {}),
              **({"Views": " ".join(shot.views)} if shot.views else {}),
              "FrameStart": shot.first, "FrameEnd": shot.last, "ChunkSize": shot.chunk_size,
              "EnginePython": shot.engine_python, "NukeExecutable": shot.nuke, "CompScript": shot.comp,
              "ToolsetRoot": shot.toolset, **({"NukeNode": shot.node} if shot.prepped else {})}
    for param, value in values.items():
        lines = str(value).split("\n") if param == "Keys" else [str(value)]
        if any("'" in line or "\n" in line or "\r" in line for line in lines):
            raise UsageError(f"{TEMPLATE.name} cannot carry {param} {value!r} (a quote or a line break in it): "
                             "rename it, or use --farm deadline or opencue")
    return values


def job_files(shot: FarmShot, job_dir: Path) -> tuple[dict[str, str], list[str]]:
    """The template and its parameter values, and the ``openjd run`` that runs them here."""
    values = parameter_values(shot)
    if not TEMPLATE.is_file():
        raise MissingFileError(f"{TEMPLATE} is missing: the engine's install lacks its package data; "
                               "reinstall it")
    params = "parameter_values.json"
    return ({TEMPLATE.name: TEMPLATE.read_text(), params: json.dumps(values, indent=1) + "\n"},
            ["openjd", "run", str(job_dir / TEMPLATE.name), "--job-param", f"file://{job_dir / params}"])
