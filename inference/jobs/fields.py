"""Every job field a command or manifest takes: its JSON Schema type and range, the one place both are set.

The manifest's schema (:mod:`.manifest`) is these fields; a numeric flag (:func:`.commands.bounded`)
accepts the same values as its field.
"""
from __future__ import annotations

import math
from typing import Any

_PATTERN = {"type": "string", "minLength": 1, "description": "image sequence pattern (####, %04d or @@@@)"}
_PATH = {"type": "string", "minLength": 1}
_SPACE = {"type": "string", "minLength": 1, "description": "OCIO colourspace, alias or role"}

FIELDS: dict[str, Any] = {
    "plate": _PATTERN,
    "ocio_config": {"type": "string", "minLength": 1,
                    "description": "OCIO config file, or an ocio:// built-in config (default: $OCIO, else built-in)"},
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
    "curve": _PATH,
    "dtype": {"enum": ["half", "float", "uint8", "uint16", "uint10", "auto", "fp16", "fp32"]},
    "compression": {"type": "string", "minLength": 1},
    "device": {"enum": ["auto", "cpu", "cuda"]},
    "seed": {"type": "integer"},
    "threads": {"type": "integer", "minimum": 1, "maximum": 1024},
    "steps": {"type": "integer", "minimum": 1},
    "seconds": {"type": "number", "exclusiveMinimum": 0},
    "idle_minutes": {"type": "number", "exclusiveMinimum": 0},
    "plateau": {"type": "boolean"},
    "stability": {"type": "number", "minimum": 0},
    "unpainted_weight": {"type": "number", "minimum": 0, "maximum": 1},
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
    "vectors": {"type": "string", "pattern": r"^(dis|farneback|blender|nuke|auto)(,(dis|farneback|blender|nuke))*$"},
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
    "views": {"type": "array", "minItems": 1, "uniqueItems": True,
              "items": {"type": "string", "pattern": r"^[A-Za-z0-9_-]+$"},
              "description": "a Nuke script's view names, e.g. left, right"},
    "node": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
             "description": "a Nuke node's full name, e.g. Restyle1 or Group1.Restyle1"},
}


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
