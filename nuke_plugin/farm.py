"""Command-line renders (``nuke -x comp.nk -F A-B``): restyled frames are made before the comp
needs them, with no GUI calls.

Each toolset node's onCreate installs a beforeFrameRender callback (Nuke de-duplicates it). Before each frame a
comp Write renders, every enabled toolset node in the script gets the frames of its current version
from that frame to ``$RESTYLE_FARM_BATCH`` - 1 frames later (default 10: a farm chunk), widened by
the handles of any deflicker downstream of it, rendered by the engine if missing; upstream nodes
first. A signed input that changed stops the render (exit non-zero) unless the node's 'Override
sign-off' is on. A disabled node passes its input through, as in Nuke, so it needs no frames.
In the GUI the hook does nothing: the buttons render there.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Set, Tuple

import nuke

from . import jobs, node_io
from .engine import EngineError
from .errors import PluginError
from .feedback import Feedback
from .stages import STAGES

ENV_BATCH = "RESTYLE_FARM_BATCH"
_busy: List[bool] = []  # non-empty while the hook renders (its own Writes call back)
_prepared: Set[Tuple[str, int]] = set()  # (node, frame) made and checked in this Nuke process


def install() -> None:
    nuke.addBeforeFrameRender(before_frame_render)


def before_frame_render() -> None:
    write = nuke.thisNode()
    if nuke.GUI or _busy or _inside_toolset_node(write):
        return
    _busy.append(True)
    try:
        prepare(nuke.frame())
    finally:
        _busy.pop()


def _inside_toolset_node(node: Any) -> bool:
    parent = node.parent()
    return parent is not None and parent.Class() in STAGES


def _active(node: Any) -> bool:
    """A toolset node that renders (a disabled one passes its input through)."""
    return node.Class() in STAGES and not node["disable"].value()


def toolset_nodes() -> List[Any]:
    """The script's enabled toolset nodes, each after the enabled toolset nodes upstream of it."""
    found = [n for n in nuke.allNodes(group=nuke.root()) if _active(n)]
    ordered = []  # type: List[Any]

    def visit(node: Any) -> None:
        if node in ordered:
            return
        for upstream in _upstream(node):
            visit(upstream)
        ordered.append(node)

    for node in found:
        visit(node)
    return ordered


def _upstream(node: Any) -> List[Any]:
    """Enabled toolset nodes feeding ``node`` (through any other nodes, disabled ones included)."""
    seen, todo, found = set(), list(node.dependencies()), []
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if _active(current):
            found.append(current)
        else:
            todo.extend(current.dependencies())
    return found


def margins(nodes: List[Any]) -> Dict[int, int]:
    """Extra frames each side a node must have ready for the deflickers downstream of it."""
    margin = {id(n): 0 for n in nodes}
    for node in reversed(nodes):  # downstream first
        for upstream in _upstream(node):
            margin[id(upstream)] = max(margin[id(upstream)], margin[id(node)] + jobs.handles_of(node))
    return margin


def prepare(frame: int) -> None:
    """Make every toolset node's frames for ``frame``'s batch and point its Read at them.

    Raises:
        RuntimeError: the render must stop; the message (also printed) says why and what to do.
    """
    batch = max(1, int(os.environ.get(ENV_BATCH, "10")))
    nodes = toolset_nodes()
    margin = margins(nodes)
    for node in nodes:
        if (node.fullName(), frame) in _prepared:  # made and checked with an earlier frame's batch
            continue
        try:
            first, last = node_io.frame_range(node)
            lo, hi = max(first, frame - margin[id(node)]), min(last, frame + batch - 1 + margin[id(node)])
            if lo > hi:
                continue
            with Feedback(node, "farm") as feedback:
                version = jobs.render(node, list(range(lo, hi + 1)), feedback,
                                      override=bool(node_io.value(node, "override_signoff")), verify=True)
        except (PluginError, EngineError) as exc:
            nuke.tprint("Restyle farm: {}".format(exc))
            raise RuntimeError("Restyle: {}".format(exc)) from None
        if "warning" in version:
            nuke.tprint("Restyle farm: {}: {}".format(node.name(), version["warning"]))
        node_io.show_result(node, version["pattern"], first, last)
        _prepared.update((node.fullName(), f) for f in range(lo, hi + 1))
