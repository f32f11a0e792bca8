"""The JSON job manifest: the same fields as the CLI flags, validated with JSON Schema.

A manifest lets Nuke, a farm task or a TD hand the engine a whole job in one file::

    {"version": 1, "stage": "run", "model": "look.onnx",
     "plate": "plate/plate.%04d.exr", "frames": "1001-1100", "handles": 4,
     "out": "cache/restyle.%04d.exr"}

Flags given on the command line override manifest fields. Every error names the field.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema

from ..errors import ManifestError, MissingFileError
from ..sequence import SequencePattern, parse_frame_range
from .commands import SUBCOMMANDS
from .fields import FIELDS, range_text

# The commands a manifest can name as its stage: every one but bench, which measures this machine.
STAGES = tuple(command for command in SUBCOMMANDS if command != "bench")
SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "restyle job manifest",
    "type": "object",
    "additionalProperties": False,
    "properties": {"version": {"const": 1}, "stage": {"enum": list(STAGES)}, **FIELDS},
}
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

PATTERN_FIELDS = ("plate", "input", "guide", "output")


def validate(manifest: Any) -> dict[str, Any]:
    """Check a manifest's shape and values; return it unchanged.

    Raises:
        ManifestError: naming the first offending field (dotted path) and what is wrong.
    """
    errors = sorted(_VALIDATOR.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        field = ".".join(str(p) for p in error.absolute_path) or _field_of(error)
        raise ManifestError(field, error.message)
    for name, value in manifest.items():
        if isinstance(value, float) and not math.isfinite(value):  # JSON's NaN/Infinity pass the schema's bounds
            raise ManifestError(name, f"{value} is not {range_text(SCHEMA['properties'][name])}")
    for name in PATTERN_FIELDS:
        if name in manifest:
            _as(name, SequencePattern.parse, manifest[name])
    if "frames" in manifest:
        _as("frames", parse_frame_range, manifest["frames"])
    return manifest


def load(path: str | Path) -> dict[str, Any]:
    """Read and validate a manifest file; relative paths in it are taken from its folder.

    Raises:
        MissingFileError: no such file.
        ManifestError: not JSON, or a field that fails validation (named).
    """
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise MissingFileError(f"--manifest {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise ManifestError("(file)", f"{path} is not valid JSON: {exc}") from None
    validate(manifest)
    return _resolve_paths(manifest, path.parent)


def _resolve_paths(manifest: dict[str, Any], base: Path) -> dict[str, Any]:
    path_fields = set(PATTERN_FIELDS) | {"model", "reference", "swatches", "out", "report", "json", "grade_nk", "init",
                                         "job_dir", "comp", "toolset"}
    resolved = dict(manifest)
    for name in path_fields & resolved.keys():
        resolved[name] = str(base / resolved[name])
    if "ocio_config" in resolved and "://" not in resolved["ocio_config"]:  # ocio://name is a built-in config
        resolved["ocio_config"] = str(base / resolved["ocio_config"])
    if "keys" in resolved:
        resolved["keys"] = {k: str(base / v) for k, v in resolved["keys"].items()}
    return resolved


def _field_of(error: jsonschema.ValidationError) -> str:
    """Name the property a top-level error is about (unknown or missing field)."""
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(SCHEMA["properties"]))
        return extra[0] if extra else "(top level)"
    return "(top level)"


def _as(field: str, parse, value):
    try:
        return parse(value)
    except Exception as exc:  # the parser's own message says what is wrong
        raise ManifestError(field, str(exc)) from None
