"""Engine jobs of a node: train a look (RestyleLook), render frames into the content-keyed cache,
and keep the node's list of complete versions and the approved one. Shared by the GUI buttons
and the farm steps.

Nothing is lost on failure: frames are written by the engine atomically into the key's own
folder, and the node's Read is moved to a folder only once every frame of its range is there.
"""
from __future__ import annotations

import getpass
import json
import os
import time
from typing import Any, Callable, Dict, List, Optional

from . import cache, colour, engine, node_io, paths, signoff, versions
from .errors import PluginError
from .feedback import Feedback
from .stages import RESTYLE, Stage, deflicker_handles, field_value, stage_of


def params(node: Any, stage_params: Any) -> Dict[str, Any]:
    """Engine fields from the node's knobs (knobs left at 'engine default' are omitted)."""
    out = {}
    for param in stage_params:
        converted = field_value(param, node_io.value(node, param.knob))
        if converted is not None:
            out[param.field] = converted
    return out


# Engine fields that hold a path: the cache key takes their files' content (``files``) instead, so
# the same script finds its versions on a machine that maps the paths elsewhere.
PATH_FIELDS = ("ocio_config", "swatches", "init")
# The colourspace field of each engine input field.
SPACE_FIELDS = {"plate": "plate_colourspace", "keys": "key_colourspace", "input": "input_colourspace",
                "guide": "guide_colourspace", "reference": "reference_colourspace"}


def keyed(fields: Dict[str, Any]) -> Dict[str, Any]:
    """The fields a cache key is made of (:data:`PATH_FIELDS` left out)."""
    return {k: v for k, v in fields.items() if k not in PATH_FIELDS}


def colour_fields(script_colour: colour.ScriptColour, fields: Dict[str, Any],
                  inputs: Dict[str, Any]) -> Dict[str, Any]:
    """The engine fields that carry the script's colour into a job: its OCIO config, and for each
    input field ({field: pattern, or {frame: file} for keys}) the colourspace Nuke has its files in,
    where the node's own colourspace knob (already in ``fields``) does not say."""
    out = {"ocio_config": script_colour.config}  # type: Dict[str, Any]
    for field, pattern in inputs.items():
        sample = next(iter(pattern.values())) if isinstance(pattern, dict) else pattern
        space = colour.file_space(script_colour, sample)
        if space and SPACE_FIELDS[field] not in fields:
            out[SPACE_FIELDS[field]] = space
    return out


def model_path(node: Any, model: Optional[str] = None) -> str:
    """The node's trained look (``model``: a stored 'model_file' value, e.g. an approved version's;
    default the knob's): kept relative to the cache root (so the script and its cache move
    together); an absolute one (older scripts) is used through the path mapping."""
    model = str(node_io.value(node, "model_file") if model is None else model).strip()
    if not model:
        return ""
    return os.path.normpath(os.path.join(node_io.cache_root(node), paths.map_path(model)))


# --- train (RestyleLook) -----------------------------------------------------------------------------

def key_files(painted: str, keys: List[int]) -> Dict[str, str]:
    """The engine's ``keys`` field (frame -> painting file) for the 'keys' input rendered to ``painted``."""
    return {str(f): cache.frame_path(painted, f) for f in keys}


def painted_keys(node: Any) -> Dict[str, str]:
    """:func:`key_files` of the node's key frames, rendering its 'keys' input there (in a script of
    several views, the hero view's paintings: the ones the look is trained on)."""
    keys = signoff.key_frames(node)
    return key_files(cache.view_pattern(node_io.render_input(node, RESTYLE.inputs[1], keys), node_io.views()[0]), keys)


WATCH_ENV, WATCH_FAR_ENV = "RESTYLE_TRAIN_WATCH", "RESTYLE_TRAIN_WATCH_FAR"  # inference/restyle/watch.py


def far_frame(keys: List[int], first: int, last: int) -> Optional[int]:
    """The frame of the range farthest from every key (the earliest of equals), None if all are keys."""
    frames = [f for f in range(first, last + 1) if f not in keys]
    return max(frames, key=lambda f: (min(abs(f - k) for k in keys), -f)) if frames else None


def train(node: Any, feedback: Feedback, watched: Optional[Callable[[Dict[str, Any]], None]] = None) -> str:
    """Train (or reuse) the look for the current keyframes; sets 'model_file'; returns its path.

    ``watched(record)`` hears of each picture of the look so far the engine writes while it trains
    (``inference/restyle/watch.py``: the contact strip of the keys and the frame farthest from
    them, a curve, steps per second). In a script of several views the look learns from the hero
    view (the first) and paints every view."""
    keys = signoff.key_frames(node)
    plate_spec, keys_spec = RESTYLE.inputs
    plate_frames = _with_next_frames(keys, *node_io.frame_range(node))
    feedback.step("rendering plate at frames {} and keys at {}".format(node_io.ranges_text(plate_frames),
                                                                       node_io.ranges_text(keys)))
    hero = node_io.views()[0]
    plate = cache.view_pattern(node_io.render_input(node, plate_spec, plate_frames), hero)
    painted = cache.view_pattern(node_io.render_input(node, keys_spec, keys), hero)
    hashes = {spec.name: signoff.hash_frames(node, spec, pattern, frames, feedback, hero)
              for spec, pattern, frames in ((plate_spec, plate, plate_frames), (keys_spec, painted, keys))}
    fields = params(node, RESTYLE.train_params)
    approved = _approved_model(node, keys)
    files = {}
    if approved:
        fields["init"] = approved
        files["init"] = cache.file_digest(approved)
    else:
        fields.pop("repass", None)
    script_colour = colour.of_script()
    files["colour"] = colour.identity(script_colour)
    root = node_io.cache_root(node)
    folder = os.path.join(root, "models", cache.key("train", hashes, files, keyed(fields)))
    model = os.path.join(folder, "look.onnx")
    if not os.path.isfile(model) or stopped_early(model):
        manifest = dict(fields, version=1, stage="train", plate=plate, frames=node_io.ranges_text(plate_frames),
                        keys=key_files(painted, keys), out=model)
        if os.path.isfile(os.path.splitext(model)[0] + ".ckpt"):  # a stopped training of this look: go on
            manifest["resume"] = True
            feedback.step("resuming the stopped training from its last checkpoint")
        feedback.step("training on keyframes {}".format(node_io.ranges_text(keys)))
        watch = os.path.join(folder, "watch")
        env = {WATCH_ENV: watch}
        far = far_frame(keys, *node_io.frame_range(node))
        if far is not None and far not in plate_frames:  # the engine reads that plate frame for the strip
            plate = cache.view_pattern(node_io.render_input(node, plate_spec, sorted(set(plate_frames) | {far})), hero)
            manifest["plate"] = plate
        if far is not None:
            env[WATCH_FAR_ENV] = str(far)
        manifest.update(colour_fields(script_colour, fields, {"plate": manifest["plate"], "keys": manifest["keys"]}))
        seen = [0.0]

        def progress(event: Dict[str, Any]) -> None:
            feedback.event(event)
            record = os.path.join(watch, "watch.json")
            stamp = os.path.getmtime(record) if os.path.isfile(record) else 0.0
            if watched is not None and stamp > seen[0]:
                seen[0] = stamp
                with open(record, encoding="utf-8") as f:
                    watched(json.load(f))

        before = _stamp(model)
        try:
            engine.run("train", cache.write_manifest(folder, "job.json", manifest), progress, feedback.cancelled,
                       env=env)
        except Exception:
            if _stamp(model) != before:  # a look that failed its key check is written marked failed: never reuse
                os.remove(model)         # it (an earlier look stopped early stays)
            raise
        _mark_stopped_early(model, feedback.cancelled())
    node["model_file"].setValue(paths.relative_to(root, model))
    return model


STOPPED_EARLY = "stopped_early.json"  # beside a look whose training was stopped (Stop): Train again resumes it


def stopped_early(model: str) -> bool:
    """The look was written when its training was stopped early (usable; Train again goes on)."""
    return os.path.isfile(os.path.join(os.path.dirname(model), STOPPED_EARLY))


def _mark_stopped_early(model: str, stopped: bool) -> None:
    """After the engine wrote ``model``: a Stop during training made it the look so far."""
    marker = os.path.join(os.path.dirname(model), STOPPED_EARLY)
    if stopped:
        with open(marker, "w", encoding="utf-8") as f:
            json.dump({"model": model, "stopped": time.strftime("%Y-%m-%d %H:%M:%S")}, f)
    elif os.path.isfile(marker):
        os.remove(marker)


def _stamp(path: str) -> Optional[float]:
    return os.path.getmtime(path) if os.path.isfile(path) else None


def _with_next_frames(keys: List[int], first: int, last: int) -> List[int]:
    """The key frames and the plate frame after each (before, at the range's end): the engine
    learns from each such pair to move with the plate (its 'stability' flicker target)."""
    return sorted(set(keys) | {k + 1 if k < last else k - 1 for k in keys if first < last})


def _approved_model(node: Any, keys: List[int]) -> Optional[str]:
    """The node's current look, when 'Start from the approved look' is on and it was trained on
    the same key frames (its job manifest says so) and not stopped early (Train again resumes
    that one); else None."""
    model = model_path(node)
    job = os.path.join(os.path.dirname(model), "job.json")
    if not (node_io.value(node, "from_approved") and model and os.path.isfile(model) and os.path.isfile(job)) \
            or stopped_early(model):
        return None
    with open(job, encoding="utf-8") as f:
        trained_on = sorted(int(frame) for frame in json.load(f).get("keys", {}))
    return model if trained_on == sorted(keys) else None


# --- render --------------------------------------------------------------------------------------------

def version_of(node: Any, signed: Optional[Dict[str, Dict[str, str]]] = None) -> Dict[str, Any]:
    """Key, folder and frame pattern of the frames the node's current knobs describe (``signed``:
    the input hashes to key them by; default the node's sign-off record)."""
    stage = stage_of(node.Class())
    if signed is None:
        signed = signoff.recorded(node)
    files = {}
    if stage is RESTYLE:
        model = model_path(node)
        if not model or not os.path.isfile(model):
            raise PluginError("{}: no trained look{}: press 'Train' (keyframes in 'Key frames')".format(
                node.name(), " (model {} is gone)".format(model) if model else ""))
        files["model"] = cache.file_digest(model)
    fields = dict(params(node, stage.params), **dict(stage.fixed))
    if fields.get("swatches"):
        fields["swatches"] = paths.map_path(fields["swatches"])
        files["swatches"] = cache.file_digest(fields["swatches"])
    if fields.get("texture"):  # Keyframe texture replaces Keyframe detail (the engine takes one of them)
        fields.pop("detail", None)
    script_colour = colour.of_script()
    files["colour"] = colour.identity(script_colour)
    fields["ocio_config"] = script_colour.config
    if stage is RESTYLE and "out_colourspace" not in fields:  # the node's Read reads float files in floatLut
        fields["out_colourspace"] = colour.space(script_colour, "floatLut")
    key = cache.key(stage.command, signed, files, keyed(fields))
    folder = cache.version_dir(node_io.cache_root(node), stage.output, key)
    views = node_io.views()
    return {"key": key, "folder": folder, "pattern": cache.frame_pattern(folder, stage.output, views != [None]),
            "fields": fields, "files": files, "signed": signed, "colour": script_colour, "views": views}


def render(node: Any, frames: List[int], feedback: Feedback, override: bool = False,
           verify: bool = False, playhead: Optional[Callable[[], int]] = None,
           landed: Optional[Callable[[Dict[str, Any], List[int]], None]] = None,
           unsigned_ok: bool = False) -> Dict[str, Any]:
    """Make sure ``frames`` of the node's current version exist; returns the version.

    Frames of the range the sign-off does not cover yet (the range was extended) are signed
    when first used. With ``unsigned_ok`` (Preview) a node without any sign-off renders from
    the frames' current hashes; the version is then marked ``unsigned``. Each frame is first
    looked up in the stage's frame store by :func:`frame_key` (its own inputs and settings), so
    only frames whose inputs or settings changed are rendered.

    Missing frames are rendered by the engine from freshly rendered inputs, after checking the
    signed inputs still match the sign-off (PluginError naming the frames otherwise, unless
    ``override``); ``verify`` checks them even when no frame is missing (Render range, farm
    renders). The version is marked complete when its whole range is on disk.

    With ``playhead`` (the Viewer's frame, asked before each engine run) the frames are made
    current frame first, spreading out from it, and a move of the playhead to a frame still to do
    puts that frame next (:func:`next_chunk`); ``landed(version, frames)`` hears of each frame
    as soon as it is on disk.
    """
    first, last = node_io.frame_range(node)
    outside = [f for f in frames if not first <= f <= last]
    if outside:
        raise PluginError("{}: frames {} are outside the node's 'Frame range' {}-{}".format(
            node.name(), node_io.ranges_text(outside), first, last))
    version = version_of(node, _signed_for(node, frames, feedback, unsigned_ok))
    if not signoff.has_record(node):
        version["unsigned"] = True
    todo = cache.missing(version["pattern"], frames, version["views"])
    if todo or verify:
        _run_stage(node, version, todo or frames, feedback, override, run_engine=bool(todo), playhead=playhead,
                   landed=landed)
    if not version.get("unsigned") and not cache.missing(version["pattern"], list(range(first, last + 1)),
                                                         version["views"]):
        if not cache.is_complete(version["folder"]):
            cache.mark_complete(version["folder"], {"key": version["key"], "frames": [first, last],
                                                    "made": time.strftime("%Y-%m-%d %H:%M:%S")})
        remember(node, version["key"], first, last, version)  # also a version another node or session made
    return version


CHUNK_FRAMES = 8  # frames per engine run after the first, while a range renders in the GUI


def next_chunk(remaining: List[int], head: int, size: int = CHUNK_FRAMES) -> List[int]:
    """The frames of the next engine run: the frame the Viewer shows alone when it is still to do;
    else up to ``size`` consecutive frames from the one nearest the playhead (ties: the later),
    running away from the playhead. So a range renders current frame first, spreading out."""
    todo = sorted(set(remaining))
    if head in todo:
        return [head]
    start = min(todo, key=lambda f: (abs(f - head), f < head))
    step = 1 if start > head else -1
    chunk = [start]
    while len(chunk) < size and chunk[-1] + step in todo:
        chunk.append(chunk[-1] + step)
    return sorted(chunk)


def _run_stage(node: Any, version: Dict[str, Any], todo: List[int], feedback: Feedback, override: bool,
               run_engine: bool, playhead: Optional[Callable[[], int]] = None,
               landed: Optional[Callable[[Dict[str, Any], List[int]], None]] = None) -> None:
    """Check the signed inputs over what ``todo`` reads, then make ``todo`` with one engine job per
    view. A view whose signed inputs changed since sign-off is not rendered (unless ``override``);
    the other views are, then PluginError names what changed."""
    stage = stage_of(node.Class())
    first, last = node_io.frame_range(node)
    margin = _handles(node, stage)
    span = list(range(max(first, todo[0] - margin), min(last, todo[-1] + margin) + 1))
    current = signoff.current_hashes(node, span, feedback)
    changed = {} if override else signoff.changed_frames(version["signed"], current)
    refused = {signoff.split_entry(name)[1] for name in changed}
    if run_engine:
        for view in [v for v in version["views"] if v not in refused]:
            _run_view(node, version, view, span, todo, feedback, playhead, landed)
    if changed:
        raise PluginError(signoff.describe(node, changed))


def _run_view(node: Any, version: Dict[str, Any], view: Optional[str], span: List[int], todo: List[int],
              feedback: Feedback, playhead: Optional[Callable[[], int]],
              landed: Optional[Callable[[Dict[str, Any], List[int]], None]]) -> None:
    """The engine runs making the frames of ``todo`` that ``view`` (None: the script's only one)
    lacks, from that view's inputs (read over ``span``) into that view's files."""
    stage = stage_of(node.Class())
    out = cache.view_pattern(version["pattern"], view)
    todo = _reuse(node, stage, version, cache.missing(out, todo), view)
    if not todo:
        return
    manifest = dict(version["fields"], version=1, stage=stage.command, out=out)
    for spec in stage.inputs:
        if spec.signed:
            pattern = cache.view_pattern(node_io.source_pattern(node, spec, signoff.input_frames(node, spec, span)), view)
            manifest[spec.field] = (cache.frame_path(pattern, int(node_io.value(node, "reference_frame")))
                                    if spec.name == "reference" else pattern)
    if stage is RESTYLE:
        manifest["model"] = model_path(node)
        if manifest.get("detail") or manifest.get("texture"):  # the paintings' brushwork is used: the engine
            # checks them against the model
            manifest["keys"] = painted_keys(node)
    manifest.update(colour_fields(version["colour"], version["fields"],
                                  {f: manifest[f] for f in SPACE_FIELDS if f in manifest}))
    suffix = "" if view is None else "." + view
    if stage.command == "colourlock":
        manifest["report"] = cache.report_dir(version["folder"], view)
    margin = _handles(node, stage)
    if margin:
        manifest["handles"] = margin
    # colourlock fits one transform over the frames it is given: always one run, as before
    ordered = playhead is not None and stage.command != "colourlock"
    remaining = list(todo)
    code = 0
    while remaining:
        chunk = next_chunk(remaining, playhead()) if ordered else [remaining[0], remaining[-1]]
        frames = list(range(chunk[0], chunk[-1] + 1))
        manifest["frames"] = "{}-{}".format(frames[0], frames[-1])
        feedback.step("{} frames {}{}".format(stage.command, node_io.ranges_text(frames),
                                              "" if view is None else ", view " + view))
        seen: List[int] = []

        def progress(event: Dict[str, Any]) -> None:
            feedback.event(event)
            if landed is not None:  # a frame has landed once every view of it is there
                new = [f for f in frames if f not in seen and not cache.missing(version["pattern"], [f],
                                                                                 version["views"])]
                if new:
                    seen.extend(new)
                    landed(version, new)

        code = max(code, engine.run(stage.command, cache.write_manifest(version["folder"], "job{}.json".format(suffix),
                                                                        manifest),
                                    progress, feedback.cancelled,
                                    accept=(0, engine.QC_FAILED) if stage.command == "colourlock" else (0,)))
        _store(node, stage, version, frames, view)
        progress({"event": "note", "stage": stage.command, "message": "frames {} done".format(manifest["frames"])})
        remaining = [f for f in remaining if f not in frames]
    if code == engine.QC_FAILED:
        version["warning"] = ("QC FAILED in frames {}{}: a brand swatch off its target or not held there (the region "
                              "was repainted), or NaN/Inf; press Open report").format(
            node_io.ranges_text(todo), "" if view is None else " (view {})".format(view))
    still = cache.missing(out, todo)
    if still:
        raise PluginError("{}: the engine finished but frames {} are missing in {}".format(
            node.name(), node_io.ranges_text(still), version["folder"]))


# --- the flicker curve of a version ----------------------------------------------------------------

FLICKER_JSON, FLICKER_PNG = "flicker.json", "flicker.png"  # beside a complete version (restyle metrics --curve)


def flicker_curve(node: Any, version: Dict[str, Any], feedback: Feedback) -> Optional[str]:
    """Each frame's flicker in a complete version against the frame before, as a ratio to the
    plate's own (E_warp by DIS flow: ``restyle metrics --curve``), written once beside the version
    (flicker.json, flicker.png); returns a line for the status naming the worst frame and the
    graph, or None (no plate input, one frame, or the measure could not run: said in the status)."""
    stage = stage_of(node.Class())
    spec = next((s for s in stage.inputs if s.name == "plate"), None)
    first, last = node_io.frame_range(node)
    record = os.path.join(version["folder"], FLICKER_JSON)
    if spec is None or last <= first:
        return None
    hero = version["views"][0]  # in a script of several views, the hero view's curve
    if not os.path.isfile(record):
        manifest = {"version": 1, "stage": "metrics", "output": cache.view_pattern(version["pattern"], hero),
                    "frames": "{}-{}".format(first, last), "vectors": "dis",
                    "plate": cache.view_pattern(node_io.source_pattern(node, spec, list(range(first, last + 1))), hero),
                    "json": record, "curve": os.path.join(version["folder"], FLICKER_PNG)}
        space = version["fields"].get("plate_colourspace") or version["fields"].get("guide_colourspace")
        if space:
            manifest["plate_colourspace"] = space
        feedback.step("measuring the flicker of frames {}-{} against the plate's".format(first, last))
        try:
            engine.run("metrics", cache.write_manifest(version["folder"], "flicker_job.json", manifest), feedback.event,
                       feedback.cancelled)
        except engine.EngineError as exc:
            feedback.step("no flicker curve: {}".format(exc))
            return None
    with open(record, encoding="utf-8") as f:
        per_frame = json.load(f)["e_warp_by_flow"]["dis"]["per_frame"]
    ratio, frame = max(zip(per_frame["ratio_to_plate"], per_frame["frames"]))
    return "flicker per frame in {} (most at frame {}: {:.2g}x the plate's)".format(
        os.path.join(version["folder"], FLICKER_PNG), frame, ratio)


# --- signing frames when first used, and the per-frame store -----------------------------------------

def _signed_for(node: Any, frames: List[int], feedback: Feedback, unsigned_ok: bool) -> Dict[str, Dict[str, str]]:
    """The hashes to key a job on ``frames`` by: the sign-off record, extended by the frames of the
    range it does not cover yet (hashed now, recorded on the node: signed when first used)."""
    stage = stage_of(node.Class())
    first, last = node_io.frame_range(node)
    margin = _handles(node, stage)
    span = list(range(max(first, min(frames) - margin), min(last, max(frames) + margin) + 1))
    if not signoff.has_record(node):
        if not unsigned_ok:
            signoff.recorded(node)  # raises: says to sign off first
        return signoff.current_hashes(node, span, feedback)
    signed = signoff.recorded(node)
    views = node_io.views()
    new = [f for f in range(first, last + 1) if any(
        spec.signed and spec.name not in ("reference", "keys") and
        str(f) not in signed.get(signoff.entry(spec.name, view), {}) for spec in stage.inputs for view in views)]
    if not new:
        return signed
    feedback.step("signing frames {} (first used)".format(node_io.ranges_text(new)))
    current = signoff.current_hashes(node, new, feedback)
    for name, hashes in current.items():
        for frame, digest in hashes.items():
            signed.setdefault(name, {}).setdefault(frame, digest)  # a signed frame keeps its record
    signoff.record(node, signed)
    return signed


def _dependencies(node: Any, stage: Stage, frame: int, version: Dict[str, Any]) -> List[int]:
    """The input frames an output frame is made from: its own, the deflicker's handles, or (the
    Restyle's keyframe detail and texture walk from each key) every frame back to the keys."""
    first, last = node_io.frame_range(node)
    if stage is RESTYLE:
        if version["fields"].get("detail") == 0 and not version["fields"].get("texture"):
            return [frame]
        try:
            keys = signoff.key_frames(node)
        except PluginError:
            return list(range(first, last + 1))
        return list(range(max(first, min(keys + [frame])), min(last, max(keys + [frame])) + 1))
    margin = _handles(node, stage)
    return list(range(max(first, frame - margin), min(last, frame + margin) + 1))


def frame_key(node: Any, stage: Stage, version: Dict[str, Any], frame: int,
              view: Optional[str] = None) -> Optional[str]:
    """The key of one output frame of ``view``: the hashes of that view's input frames it depends
    on, the files and settings of the version and the frame number (views with the same inputs
    share it); None where frames are not independent (ColourLock fits one transform over every
    frame it is given) or an input frame is unsigned."""
    if stage.command == "colourlock":
        return None
    window = _dependencies(node, stage, frame, version)
    deps = {}
    for name, hashes in version["signed"].items():
        base, of_view = signoff.split_entry(name)
        if of_view != view:
            continue
        picked = {str(f): hashes.get(str(f)) for f in window}
        if None in picked.values():
            return None
        deps[base] = picked
    return cache.key(stage.command + "/frame", deps, version["files"], dict(keyed(version["fields"]), frame=frame))


def _store_path(node: Any, stage: Stage, key: str) -> str:
    return os.path.join(node_io.cache_root(node), stage.output, "frames", key + ".exr")


def _reuse(node: Any, stage: Stage, version: Dict[str, Any], todo: List[int], view: Optional[str]) -> List[int]:
    """Link frames of ``view`` whose key is in the store into the version; returns the frames still to make."""
    left = []
    for frame in todo:
        key = frame_key(node, stage, version, frame, view)
        stored = key and _store_path(node, stage, key)
        if stored and os.path.isfile(stored):
            cache.link(stored, cache.frame_path(cache.view_pattern(version["pattern"], view), frame))
        else:
            left.append(frame)
    return left


def _store(node: Any, stage: Stage, version: Dict[str, Any], frames: List[int], view: Optional[str]) -> None:
    for frame in frames:
        key = frame_key(node, stage, version, frame, view)
        made = cache.frame_path(cache.view_pattern(version["pattern"], view), frame)
        if key and os.path.isfile(made):
            cache.link(made, _store_path(node, stage, key))


def _handles(node: Any, stage: Stage) -> int:
    if stage.command != "deflicker":
        return 0
    return deflicker_handles(node_io.value(node, "mode"), int(node_io.value(node, "radius")),
                             int(node_io.value(node, "handles")))


def handles_of(node: Any) -> int:
    """Frames each side a node reads from its inputs (the farm renders these upstream too)."""
    return _handles(node, stage_of(node.Class()))


# --- versions ------------------------------------------------------------------------------------------

def _record(node: Any) -> Dict[str, Any]:
    """The 'history' knob: {"shown": key or null, "versions": [{key, frames, made}, ...],
    "approved": the approved version (:func:`approve`), when there is one}."""
    text = str(node_io.value(node, "history")).strip()
    return json.loads(text) if text else {"shown": None, "versions": []}


def history(node: Any) -> List[Dict[str, Any]]:
    return _record(node)["versions"]


def shown(node: Any) -> Optional[str]:
    return _record(node)["shown"]


def remember(node: Any, key: str, first: int, last: int, version: Optional[Dict[str, Any]] = None) -> None:
    """Add a complete version to the node's history, once (it is shown by show_version), with its
    label (date, what changed since the version before), frame count and size."""
    entries = history(node)
    if any(e["key"] == key for e in entries):
        return
    what = versions.what_of(version or {}, first, last)
    before = entries[-1].get("what", {}) if entries else {}
    entries.append(versions.new_entry(key, first, last, what, before, (version or {}).get("folder", "")))
    node["history"].setValue(json.dumps(dict(_record(node), versions=entries)))


def show_version(node: Any, key: Optional[str]) -> bool:
    """Point the node's Read at a complete version (True), else show the plate with a warning."""
    stage = stage_of(node.Class())
    entry = next((e for e in history(node) if e["key"] == key), None)
    folder = cache.version_dir(node_io.cache_root(node), stage.output, key or "")
    if entry is None or not cache.is_complete(folder):
        node_io.show_plate(node, node_io.NOT_RENDERED.format(node.name()))
        return False
    node_io.show_result(node, cache.frame_pattern(folder, stage.output, node_io.views() != [None]), *entry["frames"])
    node["history"].setValue(json.dumps(dict(_record(node), shown=key)))
    node["version"].setValues([versions.item(e) for e in history(node)])
    node["version"].setValue(versions.item(entry))
    node["version_note"].setValue(entry.get("note", ""))
    node["version_info"].setValue(versions.info(entry))
    return True


def set_note(node: Any, note: str) -> None:
    """The shown version's note (main thread: the 'Note' knob changed)."""
    record = _record(node)
    for entry in record["versions"]:
        if entry["key"] == record["shown"]:
            entry["note"] = note
            node["history"].setValue(json.dumps(record))
            node["version_info"].setValue(versions.info(entry))


# --- the approved version: what every farm step uses ---------------------------------------------------

def approve(node: Any, version: Dict[str, Any]) -> Dict[str, Any]:
    """Record ``version`` (from :func:`version_of` or :func:`render`) over the node's frame range as
    the approved one: its key, range, the sign-off hashes it is keyed on and the engine job that
    makes its frames (fields, model, reference frame). Every farm step uses this record, not the
    knobs, so changing a knob after approval changes nothing on the farm until the next approval."""
    stage = stage_of(node.Class())
    first, last = node_io.frame_range(node)
    job = dict(version["fields"])
    if stage is RESTYLE:
        job["model"] = str(node_io.value(node, "model_file"))
    if stage.command == "colourlock":
        job["reference_frame"] = int(node_io.value(node, "reference_frame"))
    made = time.strftime("%Y-%m-%d %H:%M")
    record = {"key": version["key"], "frames": [first, last], "job": job, "signed": version["signed"],
              "views": version["views"],
              "label": "{} [{}] frames {}-{}, approved {} by {}".format(
                  stage.output, version["key"], first, last, made, getpass.getuser())}
    node["history"].setValue(json.dumps(dict(_record(node), approved=record)))
    node["approved_info"].setValue(record["label"])
    return record


def approve_current(node: Any, feedback: Feedback) -> Dict[str, Any]:
    """Approve the version the node's current knobs, look and sign-off describe over its range
    (frames of the range not signed yet are signed now, as Render range would)."""
    first, last = node_io.frame_range(node)
    return approve(node, version_of(node, _signed_for(node, list(range(first, last + 1)), feedback, False)))


def kept_keys(node: Any) -> List[str]:
    """The versions a purge keeps for the node: the one it shows and the one the farm uses."""
    record = _record(node)
    return [key for key in (record["shown"], (record.get("approved") or {}).get("key")) if key]


def approved_label(node: Any) -> str:
    """What the panel's 'Approved' line says: the approved version's label, or that none is."""
    record = _record(node).get("approved")
    return record["label"] if record else "none: press Approve or Render range"


def is_approved(node: Any) -> bool:
    """Whether the node has an approved version (see :func:`approved`)."""
    return bool(_record(node).get("approved"))


def approved(node: Any) -> Dict[str, Any]:
    """The node's approved version, with its frame ``pattern`` in the node's cache.

    Raises:
        PluginError: nothing approved yet (naming the node and what to press).
    """
    if not is_approved(node):
        raise PluginError("{}: no approved version: press 'Approve' (or 'Render range', which approves the "
                          "version it makes) in the GUI and save the script".format(node.name()))
    record = _record(node)["approved"]
    stage = stage_of(node.Class())
    folder = cache.version_dir(node_io.cache_root(node), stage.output, record["key"])
    views = record.get("views", [None])  # approved before views were recorded: one view
    return dict(record, folder=folder, views=views, pattern=cache.frame_pattern(folder, stage.output, views != [None]))


def approved_handles(node: Any, record: Dict[str, Any]) -> int:
    """Frames each side the approved version's job reads from its inputs (Deflicker)."""
    job = record["job"]
    if stage_of(node.Class()).command != "deflicker":
        return 0
    return deflicker_handles(str(job["mode"]), int(job.get("radius", 0)), int(job.get("handles", 0)))
