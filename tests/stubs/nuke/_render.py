"""Pixels through the stand-in's graph: Read and Write really read and write image files.

Files go through the engine's I/O (``inference.image``), so a Write of EXR frames is atomic and a
Read of a PNG is linearised from sRGB as Nuke's Read does by default for 8-bit files. Each frame
is pulled from the Write's input up the graph; a Group renders what its Output node sees.
"""
from __future__ import annotations

import dataclasses
import os
import re
import typing as _t

from . import _callbacks, _nodes, _standin


def frame_path(pattern: str, frame: int) -> str:
    """Nuke's frame substitution: ####, %04d (and %d)."""
    path = re.sub(r"#+", lambda m: "%0{}d".format(len(m.group(0))), pattern)
    return re.sub(r"%(0\d+)?d", lambda m: ("%" + (m.group(1) or "") + "d") % frame, path)


def view_path(path: str, view: str) -> str:
    """Nuke's view substitution in file names (Foundry, "Rendering Stereoscopic Images"): %V is the
    view's name (left, right), %v its first letter (l, r)."""
    return path.replace("%V", view).replace("%v", view[:1])


def current_view() -> str:
    """The view being computed: the one nuke.execute renders, else the script's first view."""
    import nuke

    views = nuke.views()
    return _standin.state.view if _standin.state.view in views else views[0]


def file_path(node: "_nodes.Node", frame: int) -> str:
    """The file a Read or Write uses at ``frame`` in the current view: its file knob with TCL
    evaluated, through the filename filters (nuke.filenameFilter, as Nuke does before it opens a
    file), frame and view substituted."""
    import nuke

    _standin.state.this_stack.append((node, node["file"]))
    try:
        return view_path(frame_path(nuke.filenameFilter(node["file"].evaluate()), frame), current_view())
    finally:
        _standin.state.this_stack.pop()


def image(node: "_nodes.Node", frame: int) -> _t.Any:
    """The image a node outputs at ``frame`` (an inference.image.Image)."""
    kind = node.Class()
    if node["disable"].value() and kind not in ("Write",):
        return _input_image(node, 0, frame)
    if kind == "Read":
        return _read(node, frame)
    if kind == "Input":
        group = node.parent()
        number = node["number"].value()
        upstream = group.input(number) if group is not None else None
        if upstream is None:
            raise RuntimeError("{}: input {} ({}) is not connected".format(group.fullName(), number, node.name()))
        return image(upstream, frame)
    if kind == "Copy":
        return _copy(node, frame)
    if kind == "Switch":
        which = max(0, min(node["which"].value(), node.inputs() - 1))
        return _input_image(node, which, frame)
    if isinstance(node, _nodes.Group):
        output = node.output()
        if output is None:
            raise RuntimeError("{}: group has no Output node".format(node.fullName()))
        return _input_image(output, 0, frame)
    return _input_image(node, 0, frame)  # Output, Write, Text2, NoOp, Dot


def _input_image(node: "_nodes.Node", i: int, frame: int) -> _t.Any:
    upstream = node.input(i)
    if upstream is None:
        raise RuntimeError("{}: input {} is not connected".format(node.fullName(), i))
    return image(upstream, frame)


def _copy(node: "_nodes.Node", frame: int) -> _t.Any:
    """B (input 0) with A's (input 1) channels added or replaced: channels "all" (every channel
    of A) or "rgb" (A's colour onto B's colour channels; B's alpha and other layers stay). The
    output's bbox is the union of both (bbox "union", Copy's default); outside an input's bbox
    the stand-in reads zeros."""
    import numpy as np

    b, a = _input_image(node, 0, frame), _input_image(node, 1, frame)
    which = node["channels"].value()
    if which not in ("all", "rgb"):
        raise RuntimeError("{}: the stand-in's Copy models channels 'all' and 'rgb' only".format(node.fullName()))
    b, a = _on_window(b, _union(b.data_window, a.data_window)), _on_window(a, _union(b.data_window, a.data_window))
    if which == "rgb":
        try:
            names = b.beauty_channels(alpha=False)
        except Exception:  # noqa: BLE001 - B has no colour: the copy adds rgb
            names = ["R", "G", "B"]
        pixels = b.as_float32().copy() if names[0] in b.channels else np.concatenate(
            [b.as_float32(), np.zeros(b.pixels.shape[:2] + (3,), np.float32)], axis=-1)
        channels = b.channels if names[0] in b.channels else tuple(b.channels) + tuple(names)
        colour = a.beauty(alpha=False).as_float32()
        for i, name in enumerate(names):
            pixels[..., channels.index(name)] = colour[..., i]
        return dataclasses.replace(b, pixels=pixels, channels=tuple(channels))
    kept = [c for c in b.channels if c not in a.channels]
    pixels = np.concatenate([b.select(kept).as_float32(), a.as_float32()], axis=-1)
    return dataclasses.replace(b, pixels=pixels, channels=tuple(kept) + tuple(a.channels))


def _union(one: _t.Any, other: _t.Any) -> _t.Any:
    x0, y0 = min(one.x, other.x), min(one.y, other.y)
    x1, y1 = max(one.x + one.width, other.x + other.width), max(one.y + one.height, other.y + other.height)
    return type(one)(x0, y0, x1 - x0, y1 - y0)


def _on_window(picture: _t.Any, window: _t.Any) -> _t.Any:
    """``picture`` on the data window ``window`` (which holds its own), zeros around it."""
    import numpy as np

    data = picture.data_window
    if data == window:
        return picture
    pixels = np.zeros((window.height, window.width, len(picture.channels)), np.float32)
    pixels[data.y - window.y:data.y - window.y + data.height, data.x - window.x:data.x - window.x + data.width] = \
        picture.as_float32()
    return dataclasses.replace(picture, pixels=pixels, data_window=window, overscan=None)


def _read(node: "_nodes.Node", frame: int) -> _t.Any:
    import numpy as np
    from inference.image import read_image

    first, last = node["first"].value(), node["last"].value()
    frame = min(max(_file_frame(node, frame), first), last)  # before/after default to "hold"
    path = file_path(node, frame)
    if not os.path.isfile(path):
        raise RuntimeError("{}: Read error: {}: No such file or directory".format(node.fullName(), path))
    picture = read_image(path)
    if not path.lower().endswith(".exr"):
        pixels = picture.as_float32()
        linear = np.where(pixels <= 0.04045, pixels / 12.92, ((pixels + 0.055) / 1.055) ** 2.4)
        picture = type(picture).from_array(linear.astype(np.float32), picture.channels)
    return _proxy(picture)


def _proxy(picture: _t.Any) -> _t.Any:
    """In proxy mode (Root ▸ proxy, proxy_scale) a Read gives its full-size file scaled down, as
    the rest of the script then computes at proxy size."""
    root = _standin.state.root
    if not root["proxy"].value():
        return picture
    import cv2

    scale = float(root["proxy_scale"].value())
    size = (max(1, round(picture.size[0] * scale)), max(1, round(picture.size[1] * scale)))
    pixels = cv2.resize(picture.as_float32(), size, interpolation=cv2.INTER_AREA).reshape(size[1], size[0], -1)
    return type(picture).from_array(pixels, picture.channels)


def _file_frame(node: "_nodes.Node", frame: int) -> int:
    """The file frame a Read shows at ``frame`` (Read ▸ frame: "offset" adds N to the clip's frame
    numbers, "start at" N starts the clip, first, at frame N; "expression" is TCL, which the
    stand-in evaluates only as a literal frame number)."""
    text = str(node["frame"].value()).strip()
    if not text:
        return frame
    mode = node["frame_mode"].value()
    if mode == "offset":
        return frame - int(text)
    if mode == "start at":
        return frame - int(text) + node["first"].value()
    if not re.fullmatch(r"-?\d+", text):
        raise RuntimeError("{}: the stand-in does not evaluate the frame expression {!r}".format(node.fullName(), text))
    return int(text)


def _write(node: "_nodes.Node", frame: int) -> None:
    from inference.image import write_image

    path = file_path(node, frame)
    if not path:
        raise RuntimeError("{}: no file name".format(node.fullName()))
    folder = os.path.dirname(path)
    if node["create_directories"].value():
        os.makedirs(folder, exist_ok=True)
    elif folder and not os.path.isdir(folder):
        raise RuntimeError("{}: Can't write {}: No such file or directory".format(node.fullName(), path))
    picture = _input_image(node, 0, frame)
    if node["channels"].value() == "rgba":
        beauty = picture.beauty()
        picture = dataclasses.replace(beauty, channels=("R", "G", "B", "A")[:len(beauty.channels)])
    write_image(path, picture)


def execute(node: "_nodes.Node", frames: _t.Sequence[int], views: _t.Sequence[str]) -> None:
    """nuke.execute: beforeRender, then per frame and view beforeFrameRender / write /
    afterFrameRender, then afterRender. A disabled Write is an error, as in Nuke; so is a cancel in
    the GUI. Each view writes the Write's file with %V/%v filled in (without them, views write
    over each other, as in Nuke)."""
    if node.Class() != "Write":
        raise RuntimeError("{} cannot be executed".format(node.fullName()))
    if node["disable"].value():
        raise RuntimeError("{}: node is disabled".format(node.fullName()))
    state = _standin.state
    state.executing += 1
    before = state.view
    try:
        _callbacks.run("beforeRender", node)
        for frame in frames:
            state.frame = frame
            if state.cancel_execute is not None and state.cancel_execute(node, frame):
                raise RuntimeError("Cancelled")
            for view in views:
                state.view = view
                _callbacks.run("beforeFrameRender", node)
                _write(node, frame)
                state.written.append((node.fullName(), frame))
                _callbacks.run("afterFrameRender", node)
        _callbacks.run("afterRender", node)
    finally:
        state.executing -= 1
        state.view = before
