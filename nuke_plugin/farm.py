"""The Nuke side of a shot on the farm. Nothing here calls ``nuke.execute`` inside a render
callback (Nuke refuses: "I'm already executing something else").

A farm job is four steps (``restyle submit`` writes them, see docs/nuke.md "Farm"):

1. **prep** (``nuke -t <toolset>/nuke_plugin/farm_prep.py SCRIPT FIRST-LAST NODE...``, per chunk):
   :func:`prep` renders each named toolset node's signed inputs over the chunk (and a Deflicker's
   handles) with the Writes inside the node, at the top level of the terminal session; an input
   that is a plain Read is not rendered (the engine reads its files). Then it checks their pixels
   against the hashes the node's APPROVED version is keyed on (PLATE CHANGED stops the task,
   unless 'Override sign-off' is on).
2. **render**: the engine's ``restyle render`` per chunk into the approved version's folder.
3. **QC gate** (with a colour reference).
4. **comp** (``nuke -x SCRIPT -F A-B``): on load each toolset node points its Read at its approved
   version (:func:`show_approved`); before the comp's Writes render a frame, :func:`check` makes
   sure every enabled toolset node's approved frames from that frame to ``$RESTYLE_FARM_BATCH``
   − 1 frames later are on disk, else the render stops naming the node, the version and the
   missing frames. The comp never runs the engine.

The approved version is recorded on the node by Approve (or Render range) in the GUI
(:func:`nuke_plugin.jobs.approve`); the farm never reads the engine settings from the knobs.
"""
from __future__ import annotations

import os
import re
from typing import Any, List, Set, Tuple

import nuke

from . import cache, jobs, node_io, signoff
from .engine import EngineError
from .errors import PluginError
from .feedback import Feedback
from .stages import STAGES, stage_of

ENV_BATCH = "RESTYLE_FARM_BATCH"  # frames of a comp chunk (checked at the chunk's first frame)
_checked: Set[Tuple[str, int]] = set()  # (node, frame) found on disk in this Nuke process


def install() -> None:
    nuke.addBeforeFrameRender(before_frame_render)


def before_frame_render() -> None:
    """The comp's render callback: checks files only (no engine, no nuke.execute)."""
    write = nuke.thisNode()
    if nuke.GUI or _inside_toolset_node(write):
        return
    try:
        check(nuke.frame())
    except PluginError as exc:
        nuke.tprint("Restyle farm: {}".format(exc))
        raise RuntimeError("Restyle: {}".format(exc)) from None


def _inside_toolset_node(node: Any) -> bool:
    parent = node.parent()
    return parent is not None and parent.Class() in STAGES


def toolset_nodes() -> List[Any]:
    """The script's enabled toolset nodes (a disabled one passes its input through, as in Nuke)."""
    return [n for n in nuke.allNodes(group=nuke.root()) if n.Class() in STAGES and not n["disable"].value()]


def upstream(node: Any) -> List[Any]:
    """Every node feeding ``node``, through its inputs and theirs (each once, nearest first)."""
    found = []  # type: List[Any]
    seen = {node.fullName()}  # by name: Nuke may hand out a new Python object for the same node
    todo = [node]
    while todo:
        current = todo.pop(0)
        for feeding in (current.input(i) for i in range(current.inputs())):
            if feeding is not None and feeding.fullName() not in seen:
                seen.add(feeding.fullName())
                found.append(feeding)
                todo.append(feeding)
    return found


def chain(node: Any) -> List[Any]:
    """The enabled toolset nodes that feed ``node`` or that it feeds, directly or through other
    nodes, with ``node`` itself: upstream first (each after every node of the chain it reads from)."""
    feeding = {n.fullName(): {u.fullName() for u in upstream(n)} for n in toolset_nodes()}
    name = node.fullName()
    feeding.setdefault(name, {u.fullName() for u in upstream(node)})
    linked = [n for n in toolset_nodes() if n.fullName() == name or n.fullName() in feeding[name] or
              name in feeding[n.fullName()]]
    names = {n.fullName() for n in linked}
    return sorted(linked, key=lambda n: len(feeding[n.fullName()] & names))


def check_chain(node: Any) -> None:
    """A farm job renders one toolset node: refuse one whose chain (:func:`chain`) has a node
    without a complete approved version, which the job's prep (upstream) or comp (downstream)
    would need and no step of the job makes.

    Raises:
        PluginError: naming the chain in order, each node lacking frames and why, and what to do.
    """
    nodes = chain(node)
    position = {n.fullName(): "upstream" for n in upstream(node)}
    lacking = ["{} ({}: {})".format(n.name(), position.get(n.fullName(), "downstream"), reason)
               for n, reason in ((n, _not_ready(n)) for n in nodes if n.fullName() != node.fullName()) if reason]
    if lacking:
        raise PluginError(
            "{}: a farm job renders one toolset node, and {} is in a chain of them (upstream first: {}) whose "
            "other nodes' approved frames must be on disk: {}. The farm does not render a chain in order yet: "
            "Render range the chain's nodes in the GUI in that order (each approves what it renders, a node "
            "after the one it reads from), or disable the nodes the comp does not need, save the script and "
            "submit again".format(node.name(), node.name(), " -> ".join(n.name() for n in nodes), "; ".join(lacking)))


def _not_ready(node: Any) -> str:
    """Why the node's approved frames are not all on disk ("" when they are)."""
    if not jobs.is_approved(node):
        return "no approved version"
    record = jobs.approved(node)
    first, last = record["frames"]
    missing = cache.missing(record["pattern"], list(range(first, last + 1)), record["views"])
    return "approved version {} [{}] is missing frames {}".format(
        stage_of(node.Class()).output, record["key"], node_io.ranges_text(missing)) if missing else ""


def show_approved(node: Any) -> None:
    """On the farm (script load): the node's Read reads its approved version; without one (or
    without a cache folder) the plate shows, and :func:`check` stops the comp naming the node."""
    try:
        record = jobs.approved(node)
    except PluginError as exc:
        node_io.show_plate(node, str(exc))
        return
    node_io.show_result(node, record["pattern"], *record["frames"])


def check(frame: int) -> None:
    """Every enabled toolset node has the frames of its approved version from ``frame`` to the end
    of the comp chunk (``$RESTYLE_FARM_BATCH`` frames) on disk.

    Raises:
        PluginError: no approved version, a frame outside its range, or frames missing (each named).
    """
    batch = max(1, int(os.environ.get(ENV_BATCH, "10")))
    for node in toolset_nodes():
        if (node.fullName(), frame) in _checked:
            continue
        record = jobs.approved(node)
        first, last = record["frames"]
        if not first <= frame <= last:
            raise PluginError("{}: the comp renders frame {}, outside the approved version {} (frames {}-{}): "
                              "approve a version over the comp's range".format(node.name(), frame, record["key"],
                                                                               first, last))
        frames = list(range(frame, min(last, frame + batch - 1) + 1))
        missing = cache.missing(record["pattern"], frames, record["views"])
        if missing:
            raise PluginError("{}: approved version {} is missing frames {} in {}: run the farm job's prep and "
                              "render steps for it first (or Render range in the GUI)".format(
                                  node.name(), record["label"], node_io.ranges_text(missing), record["folder"]))
        _checked.update((node.fullName(), f) for f in frames)


def prep(names: List[str], first: int, last: int) -> None:
    """The prep step of the chunk first..last for the named toolset nodes (see the module text).

    Raises:
        PluginError: an unknown or disabled node, no approved version, a changed plate, a failed
            input render (each naming the node, input and frames).
        EngineError: the engine could not hash the frames.
    """
    for name in names:
        node = nuke.toNode(name)
        if node is None or node.Class() not in STAGES:
            raise PluginError("{}: no toolset node of that name in {}".format(name, nuke.scriptName()))
        if node["disable"].value():
            raise PluginError("{}: the node is disabled in the script: it passes its input through and "
                              "needs no farm render".format(name))
        with Feedback(node, "farm prep") as feedback:
            _prep_node(node, first, last, feedback)


def _prep_node(node: Any, first: int, last: int, feedback: Feedback) -> None:
    record = jobs.approved(node)
    check_chain(node)  # a job submitted from a shell (restyle submit --node) is refused here
    lo, hi = record["frames"]
    margin = jobs.approved_handles(node, record)
    span = list(range(max(lo, first - margin), min(hi, last + margin) + 1))
    if not span:
        feedback.step("frames {}-{} are outside the approved range {}-{}: nothing to do".format(first, last, lo, hi))
        return
    current = {}
    for spec in stage_of(node.Class()).inputs:
        if spec.signed:
            frames = ([int(record["job"]["reference_frame"])] if spec.name == "reference"
                      else signoff.input_frames(node, spec, span))
            feedback.step("'{}' input, frames {}".format(spec.name, node_io.ranges_text(frames)))
            pattern = node_io.render_input(node, spec, frames)  # a plain Read: its own files, nothing rendered
            current.update(signoff.view_hashes(node, spec, pattern, frames, feedback))
    changed = signoff.changed_frames(record["signed"], current)
    if changed and not node_io.value(node, "override_signoff"):
        raise PluginError(signoff.describe(node, changed))
    feedback.step("inputs ready for approved version {}".format(record["label"]))


def main(argv: List[str]) -> int:
    """``farm_prep.py SCRIPT FIRST-LAST NODE [NODE...]`` in ``nuke -t``: exit 0, or 1 with the
    reason on stderr (and 2 for a bad command line)."""
    import sys

    if len(argv) < 3:
        print("usage: nuke -t farm_prep.py SCRIPT.nk FIRST-LAST NODE [NODE...]", file=sys.stderr)
        return 2
    script, frames, names = argv[0], argv[1], argv[2:]
    match = re.fullmatch(r"(-?\d+)-(-?\d+)", frames)
    if match is None or int(match.group(2)) < int(match.group(1)):
        print("farm_prep.py: frames {!r} are not FIRST-LAST, e.g. 1001-1064".format(frames), file=sys.stderr)
        return 2
    first, last = int(match.group(1)), int(match.group(2))
    try:
        nuke.scriptOpen(script)
        prep(names, first, last)
    except (PluginError, EngineError, RuntimeError) as exc:
        print("ERROR: Restyle farm prep: {}".format(exc), file=sys.stderr)
        return 1
    return 0
