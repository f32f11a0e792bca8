"""The inside of a toolset node: knob reading, rendering its inputs with the Writes inside the
Group, and pointing its Read/Switch at cached frames.

Inside every gizmo: ``Input`` nodes named as in ``stages``; a disabled Write ``<input>_cache``
under each (for the plate, after Copy ``plate_aovs`` that adds the optional ``aovs`` input's layers); Read ``result`` (a complete version) and Read ``preview`` (one previewed frame);
Text2 ``not_rendered`` over the plate; Switch ``show`` (0 plate + warning, 1 result, 2 preview);
Copy ``layers`` (channels rgb: the shown colour onto the first input, whose alpha and other
layers pass through untouched) before the Output.
"""
from __future__ import annotations

import os
import re
from typing import Any, List, Optional, Tuple

import nuke

from . import cache, paths, worker
from .errors import PluginError
from .stages import InputSpec

SHOW_PLATE, SHOW_RESULT, SHOW_PREVIEW = 0, 1, 2
NOT_RENDERED = "{}: not rendered yet - press Render range (showing the plate)"
RENDERING = "{}: rendering - this frame is not there yet (showing the plate)"


def value(node: Any, name: str) -> Any:
    return node[name].value()


def frame_range(node: Any) -> Tuple[int, int]:
    """The node's frames: its 'Frame range' knob (e.g. 1001-1024), empty for the project's."""
    text = str(value(node, "frame_range")).strip()
    if not text:
        return worker.on_main(lambda: (nuke.root().firstFrame(), nuke.root().lastFrame()))
    match = re.fullmatch(r"(-?\d+)\s*-\s*(-?\d+)", text) or re.fullmatch(r"(-?\d+)()", text)
    if match is None:
        raise PluginError("{}: 'Frame range' (frame_range) is {!r}; write FIRST-LAST, e.g. 1001-1100, or leave "
                          "it empty for the project range".format(node.name(), text))
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if last < first:
        raise PluginError("{}: 'Frame range' (frame_range) {} ends before it starts".format(node.name(), text))
    return first, last


DEFAULT_CACHE = "restyle_cache"  # an empty 'Cache folder': this folder beside the script


def cache_root(node: Any) -> str:
    """The 'Cache folder' knob with its TCL evaluated (``[file dirname [value root.name]]/cache``),
    through the studio's path mapping (:mod:`.paths`); a relative folder starts at the script's
    folder, an empty one is restyle_cache beside the script. No per-user setting takes part, so
    every machine that opens the script finds the same cache. One trip to the main thread."""
    return worker.on_main(_cache_root, worker.unwrap(node))


def _cache_root(node: Any) -> str:
    root = paths.map_path(paths.evaluated(node, "cache_dir") or DEFAULT_CACHE)
    if not os.path.isabs(root):
        root = os.path.join(paths.script_folder(node, "Cache folder (cache_dir)"), root)
    return os.path.normpath(root)


def views() -> List[Optional[str]]:
    """The views a node's jobs go through, one engine job each: ``[None]`` in a script of one view
    (files without a view), else the script's views (nuke.views(); the first is the hero, whose
    paintings train the look)."""
    names = worker.on_main(nuke.views)
    return [None] if len(names) < 2 else list(names)


def input_pattern(node: Any, spec: InputSpec) -> str:
    """Where the Write inside the node renders the input: with ``%V`` in a script of several views."""
    folder = os.path.join(cache_root(node), "inputs", node.fullName(), spec.name)
    return cache.frame_pattern(folder, spec.name, views() != [None])


def render_input(node: Any, spec: InputSpec, frames: List[int]) -> str:
    """The file pattern of the input's frames over ``frames``: the upstream Read's own files when
    the input is a plain Read (:func:`plain_read`), else what is connected rendered to EXR by the
    Write inside the Group (nuke.execute, on the main thread with Nuke's own progress and cancel),
    in every view of the script (``%V`` in the pattern then: :func:`cache.view_pattern`)."""
    direct = worker.on_main(read_directly, worker.unwrap(node), spec, frames)
    if direct:
        return direct
    return worker.on_main(_render_input, worker.unwrap(node), spec, frames)


def source_pattern(node: Any, spec: InputSpec, frames: List[int]) -> str:
    """Where the engine reads the input's ``frames`` (rendered already by :func:`render_input`)."""
    return worker.on_main(read_directly, worker.unwrap(node), spec, frames) or input_pattern(node, spec)


def _render_input(node: Any, spec: InputSpec, frames: List[int]) -> str:
    number = int(value(node.node(spec.name), "number"))
    if node.input(number) is None:
        raise PluginError("{}: connect the '{}' input (input {})".format(node.name(), spec.name, number + 1))
    if nuke.executing():  # a farm render's hook: Nuke refuses to execute inside a render
        raise PluginError("{}: the '{}' input is not a plain Read of files, and Nuke cannot render it inside a "
                          "render (frames {}): render that input to files in a prep step and read them with a "
                          "Read, or render this node's range in the GUI first".format(
                              node.name(), spec.name, ranges_text(frames)))
    _use_aovs(node, spec)
    write = node.node(spec.name + "_cache")
    pattern = input_pattern(node, spec)
    os.makedirs(os.path.dirname(pattern), exist_ok=True)
    write["file"].setValue(pattern)
    write["disable"].setValue(False)
    proxy = nuke.root()["proxy"]
    was_proxy = bool(proxy.value())
    proxy.setValue(False)  # inputs render at full size: the look, cache and sign-off never see proxy
    try:
        for first, last in runs(frames):
            nuke.execute(write, first, last, 1, views=nuke.views())  # every view, named (%V in the file)
    except RuntimeError as exc:
        raise PluginError("{}: rendering the '{}' input failed at frames {}: {}".format(
            node.name(), spec.name, ranges_text(frames), exc)) from None
    finally:
        write["disable"].setValue(True)
        proxy.setValue(was_proxy)
    return pattern


# Read knobs whose non-default value the engine cannot reproduce: such a Read is rendered by Nuke.
# (The stand-in models first/last; the others are checked when the knob exists, as in real Nuke.)
_READ_DEFAULTS = {"raw": (False,), "premultiplied": (False,), "proxy": ("",)}
_PASS_THROUGH = ("Dot", "NoOp")


def plain_read(node: Any, spec: InputSpec) -> Any:
    """The Read feeding the input through Dots, NoOps, disabled nodes, Switches and Groups (a toolset
    node showing a rendered version is a Read of its cache frames), or None (something draws)."""
    if spec.name == "plate" and node.node("aovs") is not None and \
            node.input(int(value(node.node("aovs"), "number"))) is not None:
        return None  # the aovs' layers are joined onto the plate inside the node: render it
    current = node.input(int(value(node.node(spec.name), "number")))
    for _ in range(1000):
        if current is None:
            return None
        kind = current.Class()
        if kind == "Read":
            return None if current["disable"].value() else current
        if current["disable"].value() or kind in _PASS_THROUGH:
            current = current.input(0)
        elif kind == "Copy" and value(current, "channels") == "rgb" and _colour_only(node, spec):
            current = current.input(1)  # a toolset node's 'layers' Copy: its colour comes from A
        elif kind == "Switch":
            if current["which"].isAnimated() or current["which"].hasExpression():
                return None  # the choice may differ from frame to frame (a node rendering a range): Nuke renders
            which = int(current["which"].value())
            current = current.input(max(0, min(which, current.inputs() - 1)))
        elif kind == "Input" and current.parent() is not None:
            current = current.parent().input(int(value(current, "number")))
        elif hasattr(current, "output") and callable(current.output) and current.output() is not None:
            current = current.output().input(0)  # a Group or gizmo: what its Output sees
        else:
            return None
    return None


def _colour_only(node: Any, spec: InputSpec) -> bool:
    """Whether the input's Write takes the colour (rgba) only, so layers copied around it do not matter."""
    return value(node.node(spec.name + "_cache"), "channels") == "rgba"


def read_directly(node: Any, spec: InputSpec, frames: List[int]) -> str:
    """The pattern of a plain Read's own files when the engine can read them as Nuke would for
    ``frames`` (a literal absolute path, every frame inside first-last and on disk, colourspace,
    frame offset and the other Read knobs at their defaults, and the node's own colourspace knob
    for the input empty), else "" (Nuke renders the input instead). In a script of several views
    Nuke always renders it, once per view: a Read's one file may hold every view (a multi-view
    EXR), which the engine would read as one picture for all of them."""
    read = plain_read(node, spec)
    if read is None or views() != [None]:
        return ""
    for name, defaults in _READ_DEFAULTS.items():
        knob = read.knob(name)
        if knob is not None and knob.value() not in defaults:
            return ""
    mode, offset = read.knob("frame_mode"), read.knob("frame")
    if offset is not None and str(offset.value()).strip() not in ("", "0"):
        return ""  # a frame offset or 'start at' moves the files' frames: Nuke renders them
    if mode is not None and mode.value() not in ("expression", "offset") and offset is not None and \
            str(offset.value()).strip():
        return ""
    colourspace = read.knob("colorspace")
    if colourspace is not None and not str(colourspace.value()).startswith("default"):
        return ""
    own = node.knob("{}_colourspace".format("key" if spec.name == "keys" else spec.field))
    if own is not None and str(own.value()).strip():
        return ""
    path = str(read["file"].value())
    if not path or not os.path.isabs(path) or re.search(r"[\[\]$]|%[vV]", path):
        return ""
    pattern = re.sub(r"#+", lambda m: "%0{}d".format(len(m.group(0))), path)
    if not re.search(r"%0?\d*d", pattern):
        return ""
    first, last = int(read["first"].value()), int(read["last"].value())
    if any(not first <= f <= last or not os.path.isfile(cache.frame_path(pattern, f)) for f in frames):
        return ""
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
    _show(node, SHOW_RESULT)


def show_preview(node: Any, pattern: str, frame: int) -> None:
    read = node.node("preview")
    read["file"].setValue(pattern)
    read["first"].setValue(frame)
    read["last"].setValue(frame)
    _show(node, SHOW_PREVIEW)


def show_still(node: Any, path: str) -> None:
    """One picture (e.g. the training strip) in the node's 'preview' Read, at every frame."""
    read = node.node("preview")
    read["file"].setValue(path)
    _show(node, SHOW_PREVIEW)


def show_plate(node: Any, warning: str) -> None:
    node.node("not_rendered")["message"].setValue(warning)
    _show(node, SHOW_PLATE)


def _show(node: Any, which: int) -> None:
    knob = node.node("show")["which"]
    if knob.isAnimated():  # a range was showing frame by frame: back to one choice for every frame
        knob.clearAnimated()
    knob.setValue(which)


def show_progress(node: Any, pattern: str, first: int, last: int, there: List[int]) -> None:
    """While a range renders: the 'preview' Read reads the new version's frames, and the Switch
    shows each frame that is there, the plate with the note at every other frame (a key per
    frame of the range, so no interpolation between keys matters)."""
    read = node.node("preview")
    read["file"].setValue(pattern)
    read["first"].setValue(first)
    read["last"].setValue(last)
    node.node("not_rendered")["message"].setValue(RENDERING.format(node.name()))
    knob = node.node("show")["which"]
    if knob.isAnimated():
        knob.clearAnimated()
    for frame in range(first, last + 1):
        knob.setValueAt(SHOW_PREVIEW if frame in there else SHOW_PLATE, frame)


def show_landed(node: Any, frames: List[int]) -> None:
    """Frames of a rendering range that are now on disk show in the Viewer."""
    knob = node.node("show")["which"]
    if knob.isAnimated():
        for frame in frames:
            knob.setValueAt(SHOW_PREVIEW, frame)


def set_status(node: Any, text: str) -> None:
    node["status"].setValue(text)
