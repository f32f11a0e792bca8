"""Plate sign-off: the content hashes of a node's signed inputs, recorded on the node.

The record (knob ``signoff``, JSON ``{input: {frame: sha256}}``) is the contract: cache keys are
built from it, so GUI and farm agree on a key without re-hashing the whole plate, and a render
that finds different pixels in a signed input stops (farm: unless 'Override sign-off' is on).
Frame hashes come from the engine (``restyle hash``: decoded pixels, not file bytes). In a script
of several views each view of an input is signed on its own, as ``input@view`` (:func:`entry`),
so a change in one view stops only that view's job.
"""
from __future__ import annotations

import getpass
import json
import os
import time
from typing import Any, Dict, List, Optional, Tuple

from . import cache, engine, node_io
from .errors import PluginError
from .feedback import Feedback
from .stages import InputSpec, stage_of

Hashes = Dict[str, str]  # frame (as text) -> sha256


def input_frames(node: Any, spec: InputSpec, frames: List[int]) -> List[int]:
    """The frames of an input a job over ``frames`` needs."""
    if spec.name == "reference":
        return [int(node_io.value(node, "reference_frame"))]
    if spec.name == "keys":
        return key_frames(node)
    return frames


def key_frames(node: Any) -> List[int]:
    text = str(node_io.value(node, "key_frames")).replace(",", " ").split()
    try:
        frames = sorted({int(f) for f in text})
    except ValueError:
        raise PluginError("{}: 'Key frames' (key_frames) must be frame numbers, e.g. 1001 1012; got {!r}".format(
            node.name(), node_io.value(node, "key_frames"))) from None
    if not frames:
        raise PluginError("{}: no keyframe: enter the painted frames in 'Key frames' (key_frames), e.g. 1001, "
                          "and connect the paintings to the 'keys' input".format(node.name()))
    return frames


def entry(name: str, view: Optional[str]) -> str:
    """The record's name of an input in a view: the input's name alone in a script of one view."""
    return name if view is None else "{}@{}".format(name, view)


def split_entry(name: str) -> Tuple[str, Optional[str]]:
    """(input, view or None) of a record's name."""
    base, _, view = name.partition("@")
    return base, view or None


def hash_frames(node: Any, spec: InputSpec, pattern: str, frames: List[int], feedback: Feedback,
                view: Optional[str] = None) -> Hashes:
    """Engine-computed hashes of rendered input frames (of ``view``: ``pattern`` is that view's)."""
    folder = os.path.dirname(node_io.input_pattern(node, spec))  # never beside a Read's own files
    suffix = "" if view is None else "." + view
    out = os.path.join(folder, "hashes{}.json".format(suffix))
    manifest = cache.write_manifest(folder, "hash_job{}.json".format(suffix), {
        "version": 1, "plate": pattern, "frames": node_io.ranges_text(frames), "json": out})
    feedback.step("hashing {} frames of '{}'".format(len(frames), entry(spec.name, view)))
    engine.run("hash", manifest, feedback.event, feedback.cancelled)
    with open(out, encoding="utf-8") as f:
        return json.load(f)["frames"]


def current_hashes(node: Any, frames: List[int], feedback: Feedback) -> Dict[str, Hashes]:
    """Render and hash every signed input, in every view, over the frames a job on ``frames`` reads."""
    hashes = {}
    for spec in stage_of(node.Class()).inputs:
        if spec.signed:
            wanted = input_frames(node, spec, frames)
            feedback.step("rendering '{}' input, frames {}".format(spec.name, node_io.ranges_text(wanted)))
            hashes.update(view_hashes(node, spec, node_io.render_input(node, spec, wanted), wanted, feedback))
    return hashes


def view_hashes(node: Any, spec: InputSpec, pattern: str, frames: List[int], feedback: Feedback) -> Dict[str, Hashes]:
    """The record's entries of an input rendered to ``pattern``: one per view of the script."""
    return {entry(spec.name, view): hash_frames(node, spec, cache.view_pattern(pattern, view), frames, feedback, view)
            for view in node_io.views()}


def sign_off(node: Any, feedback: Feedback) -> Dict[str, Hashes]:
    """Record the signed inputs' hashes over the node's whole frame range."""
    first, last = node_io.frame_range(node)
    hashes = current_hashes(node, list(range(first, last + 1)), feedback)
    node["signoff"].setValue(json.dumps(hashes, sort_keys=True))
    node["signoff_info"].setValue("signed off {} by {}: {} {}-{}".format(
        time.strftime("%Y-%m-%d %H:%M"), getpass.getuser(), ", ".join(sorted(hashes)), first, last))
    return hashes


def has_record(node: Any) -> bool:
    return bool(str(node_io.value(node, "signoff")).strip())


def record(node: Any, hashes: Dict[str, Hashes]) -> None:
    """Write the sign-off record (frames added to it are signed when first used)."""
    node["signoff"].setValue(json.dumps(hashes, sort_keys=True))


def recorded(node: Any) -> Dict[str, Hashes]:
    text = str(node_io.value(node, "signoff")).strip()
    if not text:
        raise PluginError("{}: the plate is not signed off: press 'Sign off plate' once the plate is final "
                          "(its frame hashes key the cache)".format(node.name()))
    return json.loads(text)


def changed_frames(signed: Dict[str, Hashes], current: Dict[str, Hashes]) -> Dict[str, List[int]]:
    """{input: [frames whose pixels differ from the sign-off, or were never signed off]}."""
    changed = {}
    for name, hashes in current.items():
        bad = sorted(int(f) for f, h in hashes.items() if signed.get(name, {}).get(f) != h)
        if bad:
            changed[name] = bad
    return changed


def describe(node: Any, changed: Dict[str, List[int]]) -> str:
    parts = ["'{}'{} frames {}".format(split_entry(name)[0], "" if split_entry(name)[1] is None else
                                       " view {}".format(split_entry(name)[1]), node_io.ranges_text(frames))
             for name, frames in sorted(changed.items())]
    return ("{}: PLATE CHANGED since sign-off: {}. Check the plate; if the change is wanted, press 'Sign off "
            "plate' again (a new cache version is made; the current one stays).".format(node.name(), "; ".join(parts)))
