"""What each node asks of the engine: its inputs, its engine command and the knob behind every
engine field. The gizmo files carry these knobs (a test checks they match), and
``nuke_plugin.jobs`` turns knob values into engine job manifests with them. Stdlib only.
"""
from __future__ import annotations

from typing import Any, Dict, NamedTuple, Optional, Tuple


class Param(NamedTuple):
    """One engine field and the gizmo knob that holds it."""

    knob: str
    field: str  # manifest field (= CLI flag without the dashes)
    kind: str  # "int", "float", "bool", "choice", "text" or "list" (comma-separated text)
    unset: Any = None  # the knob value that means "engine default": the field is left out


class InputSpec(NamedTuple):
    """A Group input, rendered to an EXR sequence inside the node before the engine runs."""

    name: str  # the Input node's name; its cache Write is "<name>_cache"
    field: str  # manifest field its rendered frames go to
    signed: bool  # part of the plate sign-off (hashed, and a change refuses farm renders)


class Stage(NamedTuple):
    node_class: str
    command: str  # engine subcommand that writes the frames
    output: str  # file stem of the cached frames
    inputs: Tuple[InputSpec, ...]
    params: Tuple[Param, ...]
    train_params: Tuple[Param, ...] = ()  # RestyleLook only: `restyle train`
    aovs: bool = False  # an optional 'aovs' input whose layers join the plate's (guides, vectors)
    fixed: Tuple[Tuple[str, Any], ...] = ()  # engine fields the node always sets (no knob)


_DEVICE = Param("device", "device", "choice", "auto")
_PLATE_SPACE = Param("plate_colourspace", "plate_colourspace", "text", "")

# Restyle runs the engine's streaming pipeline (restyle render) with only its restyle stage: the
# Deflicker and ColourLock nodes are separate nodes in the comp, each on its own input.
RESTYLE = Stage(
    "RestyleLook", "render", "restyle",
    inputs=(InputSpec("plate", "plate", True), InputSpec("keys", "keys", False)),
    params=(_PLATE_SPACE, Param("out_colourspace", "out_colourspace", "text", ""), _DEVICE,
            Param("backend", "backend", "choice", "auto"), Param("dtype", "dtype", "choice", "auto"),
            Param("tile", "tile", "int", 0), Param("batch", "batch", "int", 0), Param("detail", "detail", "float", 8.0),
            Param("texture", "texture", "bool", False), Param("vectors", "vectors", "choice", "auto")),
    train_params=(_PLATE_SPACE, Param("key_colourspace", "key_colourspace", "text", ""),
                  Param("working_colourspace", "working_colourspace", "text", ""),
                  Param("guides", "guides", "list", ""), Param("steps", "steps", "int"),
                  Param("seconds", "seconds", "float", 0.0), Param("plateau", "plateau", "bool"),
                  Param("key_psnr", "key_psnr", "float"), Param("seed", "seed", "int"), Param("stability", "stability", "float"),
                  Param("repass", "repass", "choice"), _DEVICE),
    aovs=True,
    # detail at 8 is left to the engine: from the paintings the model carries, 8 px along optical
    # flow, 48 along the plate's own vectors (its defaults); vectors auto too
    fixed=(("deflicker", "off"),),
)
DEFLICKER = Stage(
    "RestyleDeflicker", "deflicker", "deflicker",
    inputs=(InputSpec("src", "input", True), InputSpec("plate", "guide", True)),
    params=(Param("mode", "mode", "choice"), Param("strength", "strength", "float"),
            Param("radius", "radius", "int"), Param("handles", "handles", "int", 0),
            Param("vectors", "vectors", "choice"), _DEVICE,
            Param("input_colourspace", "input_colourspace", "text", ""),
            Param("guide_colourspace", "guide_colourspace", "text", "")),
    aovs=True,
)
COLOURLOCK = Stage(
    "RestyleColourLock", "colourlock", "colourlock",
    inputs=(InputSpec("src", "input", True), InputSpec("reference", "reference", True)),
    params=(Param("swatches", "swatches", "text", ""), Param("method", "method", "choice"),
            Param("sigma", "sigma", "float"), Param("lut", "lut", "bool", False),
            Param("max_hold", "max_hold", "float"), Param("device", "device", "choice", "cpu"), Param("input_colourspace", "input_colourspace", "text", ""),
            Param("reference_colourspace", "reference_colourspace", "text", "")),
)
STAGES = {s.node_class: s for s in (RESTYLE, DEFLICKER, COLOURLOCK)}

# Knobs every node has (besides its engine fields): name -> what the plug-in does with it.
COMMON_KNOBS = {
    "cache_dir": "cache root folder",
    "frame_range": "frames this node renders",
    "signoff": "signed-off input hashes (JSON)",
    "signoff_info": "who signed off what, shown in the panel",
    "override_signoff": "farm renders go on although the plate changed",
    "history": "rendered versions (JSON)",
    "version": "the version the node shows",
    "version_note": "a note on the shown version", "version_info": "the shown version's label, frames and size",
    "approve": "button", "approved_info": "the approved version (the one every farm step uses)",
    "purge": "button",
    "status": "state and warnings",
    "sign_off": "button", "preview": "button", "render": "button", "cancel": "button",
    "open_report": "button",
}
RESTYLE_KNOBS = {"key_frames": "painted frames", "model_file": "trained model", "train": "button",
                 "from_approved": "train from the current look when its key frames match", "submit_farm": "button"}
COLOURLOCK_KNOBS = {"reference_frame": "frame of the reference input that is locked"}


def stage_of(node_class: str) -> Stage:
    return STAGES[node_class]


def knob_names(stage: Stage) -> Tuple[str, ...]:
    """Every user knob the plug-in reads or writes on a node of this stage."""
    extra: Dict[str, str] = {}
    if stage is RESTYLE:
        extra = RESTYLE_KNOBS
    elif stage is COLOURLOCK:
        extra = COLOURLOCK_KNOBS
    params = {p.knob for p in stage.params + stage.train_params}
    return tuple(sorted(set(COMMON_KNOBS) | set(extra) | params))


def field_value(param: Param, value: Any) -> Optional[Any]:
    """A knob value as the engine wants it, or None when it means "engine default"."""
    if param.unset is not None and value == param.unset:
        return None
    if param.kind == "list":
        return [v.strip() for v in str(value).split(",") if v.strip()]
    if param.kind == "int":
        return int(value)
    if param.kind == "float":
        return float(value)
    if param.kind == "bool":
        return bool(value)
    return str(value)


def deflicker_handles(mode: str, radius: int, handles: int) -> int:
    """Frames each side a deflicker chunk reads (the engine's default when handles is 0)."""
    return handles or radius * (2 if mode == "both" else 1)
