"""The inside of a toolset node: knob reading, rendering its inputs with the Writes inside the
Group, and pointing its Read/Switch at cached frames.

Inside every gizmo: ``Input`` nodes named as in ``stages``; a disabled Write ``<input>_cache``
under each (for the plate, after Copy ``plate_aovs`` that adds the optional ``aovs`` input's layers); Read ``result`` (a complete version) and Read ``preview`` (one previewed frame);
Text2 ``not_rendered`` over the plate; Switch ``show`` (0 plate + warning, 1 result, 2 preview).
"""
from __future__ import annotations

import os
import re
from typing import Any, List, Tuple

import nuke

from . import cache, settings
from .errors import PluginError
from .stages import InputSpec

SHOW_PLATE, SHOW_RESULT, SHOW_PREVIEW = 0, 1, 2
NOT_RENDERED = "{}: not rendered yet - press Render range (showing the plate)"


def value(node: Any, name: str) -> Any:
    return node[name].value()


def frame_range(node: Any) -> Tuple[int, int]:
    """The node's frames: its 'Frame range' knob (e.g. 1001-1024), empty for the project's."""
    text = str(value(node, "frame_range")).strip()
    if not text:
        return nuke.root().firstFrame(), nuke.root().lastFrame()
    match = re.fullmatch(r"(-?\d+)\s*-\s*(-?\d+)", text) or re.fullmatch(r"(-?\d+)()", text)
    if match is None:
        raise PluginError("{}: 'Frame range' (frame_range) is {!r}; write FIRST-LAST, e.g. 1001-1100, or leave "
                          "it empty for the project range".format(node.name(), text))
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if last < first:
        raise PluginError("{}: 'Frame range' (frame_range) {} ends before it starts".format(node.name(), text))
    return first, last


def cache_root(node: Any) -> str:
    """The 'Cache folder' knob, else the preferences' default, else restyle_cache beside the script."""
    root = str(value(node, "cache_dir")).strip() or settings.default_cache_dir()
    if root:
        return root
    try:
        script = nuke.scriptName()
    except RuntimeError:
        raise PluginError("{}: save the script first, or set 'Cache folder' (cache_dir), so the node knows where "
                          "to keep its frames".format(node.name())) from None
    return os.path.join(os.path.dirname(script), "restyle_cache")


def input_pattern(node: Any, spec: InputSpec) -> str:
    folder = os.path.join(cache_root(node), "inputs", node.fullName(), spec.name)
    return cache.frame_pattern(folder, spec.name)


def render_input(node: Any, spec: InputSpec, frames: List[int]) -> str:
    """Render what is connected to the input over ``frames`` to EXR with the Write inside the
    Group (nuke.execute per run of consecutive frames); returns the file pattern."""
    number = int(value(node.node(spec.name), "number"))
    if node.input(number) is None:
        raise PluginError("{}: connect the '{}' input (input {})".format(node.name(), spec.name, number + 1))
    _use_aovs(node, spec)
    write = node.node(spec.name + "_cache")
    pattern = input_pattern(node, spec)
    os.makedirs(os.path.dirname(pattern), exist_ok=True)
    write["file"].setValue(pattern)
    write["disable"].setValue(False)
    try:
        for first, last in runs(frames):
            nuke.execute(write, first, last, 1)
    except RuntimeError as exc:
        raise PluginError("{}: rendering the '{}' input failed at frames {}: {}".format(
            node.name(), spec.name, ranges_text(frames), exc)) from None
    finally:
        write["disable"].setValue(True)
    return pattern


def _use_aovs(node: Any, spec: InputSpec) -> None:
    """Copy the optional 'aovs' input's layers onto the plate only while it is connected."""
    copy = node.node(spec.name + "_aovs")
    if copy is not None:
        connected = node.input(int(value(node.node("aovs"), "number"))) is not None
        copy["disable"].setValue(not connected)


def runs(frames: List[int]) -> List[Tuple[int, int]]:
    """[1, 2, 3, 7] -> [(1, 3), (7, 7)]."""
    out = []  # type: List[Tuple[int, int]]
    for frame in sorted(set(frames)):
        if out and frame == out[-1][1] + 1:
            out[-1] = (out[-1][0], frame)
        else:
            out.append((frame, frame))
    return out


def ranges_text(frames: List[int]) -> str:
    return ",".join(str(a) if a == b else "{}-{}".format(a, b) for a, b in runs(frames))


def show_result(node: Any, pattern: str, first: int, last: int) -> None:
    read = node.node("result")
    read["file"].setValue(pattern)
    read["first"].setValue(first)
    read["last"].setValue(last)
    node.node("show")["which"].setValue(SHOW_RESULT)


def show_preview(node: Any, pattern: str, frame: int) -> None:
    read = node.node("preview")
    read["file"].setValue(pattern)
    read["first"].setValue(frame)
    read["last"].setValue(frame)
    node.node("show")["which"].setValue(SHOW_PREVIEW)


def show_plate(node: Any, warning: str) -> None:
    node.node("not_rendered")["message"].setValue(warning)
    node.node("show")["which"].setValue(SHOW_PLATE)


def set_status(node: Any, text: str) -> None:
    node["status"].setValue(text)
