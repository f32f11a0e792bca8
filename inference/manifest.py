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

from .errors import ManifestError, MissingFileError
from .sequence import SequencePattern, parse_frame_range

STAGES = ("train", "run", "deflicker", "colourlock", "metrics", "demo", "inspect", "convert", "hash", "torchscript",
          "render", "gate", "submit")
_PATTERN = {"type": "string", "minLength": 1, "description": "image sequence pattern (####, %04d or @@@@)"}
_PATH = {"type": "string", "minLength": 1}
_SPACE = {"type": "string", "minLength": 1, "description": "OCIO colourspace, alias or role"}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "restyle job manifest",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "version": {"const": 1},
        "stage": {"enum": list(STAGES)},
        "plate": _PATTERN,
        "plate_colourspace": _SPACE,
        "frames": {"type": ["string", "integer"], "minLength": 1},
        "handles": {"type": "integer", "minimum": 0, "maximum": 1000},
        "keys": {"type": "object", "minProperties": 1,
                 "propertyNames": {"pattern": r"^-?\d+$"},
                 "additionalProperties": _PATH},
        "key_colourspace": _SPACE,
        "guides": {"type": "array", "items": {"enum": ["normals", "depth", "position"]}},
        "model": _PATH,
        "input": _PATTERN,
        "input_colourspace": _SPACE,
        "guide": _PATTERN,
        "reference": _PATH,
        "reference_colourspace": _SPACE,
        "output_colourspace": _SPACE,
        "swatches": _PATH,
        "output": _PATTERN,
        "out": _PATH,
        "out_colourspace": _SPACE,
        "working_colourspace": _SPACE,
        "report": _PATH,
        "json": _PATH,
        "dtype": {"enum": ["half", "float", "uint8", "uint16", "uint10", "auto", "fp16", "fp32"]},
        "compression": {"type": "string", "minLength": 1},
        "device": {"enum": ["auto", "cpu", "cuda"]},
        "seed": {"type": "integer"},
        "threads": {"type": "integer", "minimum": 1, "maximum": 1024},
        "steps": {"type": "integer", "minimum": 1},
        "seconds": {"type": "number", "exclusiveMinimum": 0},
        "plateau": {"type": "boolean"},
        "stability": {"type": "number", "minimum": 0},
        "key_psnr": {"type": "number", "minimum": 0, "description": "key check threshold, dB (0 = any finite look)"},
        "lr": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "resume": {"type": "boolean"},
        "onnx_dtype": {"enum": ["fp32", "fp16"]},
        "init": _PATH,
        "repass": {"enum": ["auto", "colour", "full"]},
        "backend": {"enum": ["auto", "onnxruntime", "torch"]},
        "tile": {"type": "integer", "minimum": 64, "maximum": 65536,
                 "description": "tile side, px: each tile also reads the network's 48 px margin on every side"},
        "batch": {"type": "integer", "minimum": 1, "maximum": 256},
        "detail": {"type": "number", "minimum": 0, "maximum": 1000,
                   "description": "carried keyframe brushwork finer than this many pixels (0 = off)"},
        "texture": {"type": "boolean",
                    "description": "rebuild every frame from the keyframes' own patches (guided patch synthesis)"},
        "mode": {"enum": ["global", "local", "both"]},
        "strength": {"type": "number", "minimum": 0, "maximum": 1},
        "radius": {"type": "integer", "minimum": 1, "maximum": 100},
        # deflicker/render take one source; metrics a comma list (each command checks its own)
        "vectors": {"type": "string", "pattern": r"^(dis|farneback|blender|nuke)(,(dis|farneback|blender|nuke))*$"},
        "grade_nk": _PATH,
        "guide_colourspace": _SPACE,
        "check_only": {"type": "boolean"},
        "lut": {"type": "boolean"},
        "max_hold": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000,
                     "description": "furthest a swatch hold may move a swatch, in multiples of its tolerance"},
        "chunk": {"type": "integer", "minimum": 1, "maximum": 100000},
        "skip_existing": {"type": "boolean"},
        "checkpoint_every": {"type": "integer", "minimum": 0},
        "deflicker": {"enum": ["off", "global", "local", "both"]},
        "method": {"enum": ["mkl", "lstsq"]},
        "sigma": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
        "size": {"type": "string", "pattern": r"^\d+x\d+$"},
        "parameters": {"type": "object"},
        "farm": {"enum": ["deadline", "opencue", "openjd"]},
        "job_dir": _PATH,
        "comp": _PATH,
        "name": {"type": "string", "pattern": r"^[A-Za-z0-9_.-]+$",
                 "description": "job name: letters, digits, _ . -"},
        "chunk_size": {"type": "integer", "minimum": 1, "maximum": 100000},
        "engine_python": _PATH,
        "toolset": _PATH,
        "nuke": _PATH,
        "nuke_version": {"type": "string", "pattern": r"^\d+\.\d+$"},
        "pool": {"type": "string", "minLength": 1},
        "gpu_group": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+$"},
        "priority": {"type": "integer", "minimum": 0, "maximum": 100},
        "show": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+$"},
        "submit": {"type": "boolean"},
    },
}
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def in_range(spec: dict[str, Any], value: float) -> bool:
    """Whether a number lies in a schema property's range (minimum, maximum, exclusiveMinimum)."""
    return (value >= spec.get("minimum", -math.inf) and value <= spec.get("maximum", math.inf)
            and value > spec.get("exclusiveMinimum", -math.inf))


def range_text(spec: dict[str, Any]) -> str:
    """A schema property's type and range in words, e.g. 'an integer from 1 to 1024', 'a number above 0'."""
    low = (f"above {spec['exclusiveMinimum']:g}" if "exclusiveMinimum" in spec
           else f"from {spec['minimum']:g}" if "minimum" in spec else None)
    high = f"{spec['maximum']:g}" if "maximum" in spec else None
    if low and high:
        bounds = f"{low} to {high}" if low.startswith("from") else f"{low}, up to {high}"
    elif low:
        bounds = f"{low[len('from '):]} or more" if low.startswith("from") else low
    else:
        bounds = f"up to {high}" if high else "(any)"
    return f"{'an integer' if spec['type'] == 'integer' else 'a number'} {bounds}"


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
