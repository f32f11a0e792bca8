"""The content-keyed frame cache (``../shared/DESIGN.md``): one folder per key.

A key is the SHA-256 of the stage, the signed-off hashes of the input frames, the digests of the
files the stage uses (the model, swatches) and the engine parameters, so a new style reference
or setting makes a new folder and never touches frames a comp already reads. A folder is a
*version* once ``complete.json`` is written, after every frame of its range is on disk.
Layout: ``<root>/<stage>/<key>/<stage>.####.exr`` + ``job.json`` + ``complete.json``;
a ColourLock version's QC report in ``report/`` (:func:`report_dir`);
models in ``<root>/models/<key>/look.onnx``; a node's rendered inputs in
``<root>/inputs/<node>/<input>/<input>.####.exr``. In a script of several views the frame files
carry the view (``<stage>.%V.####.exr``: Nuke's %V is the view's name), one file per view. Stdlib only, so GUI and farm compute the
same key from the same knobs.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence

KEY_LENGTH = 16  # hex digits of the SHA-256 kept in folder names
COMPLETE = "complete.json"


def key(stage: str, inputs: Mapping[str, Mapping[str, str]], files: Mapping[str, str],
        params: Mapping[str, Any]) -> str:
    """The cache key: inputs are {input: {frame: hash}}, files {role: sha256}."""
    payload = json.dumps({"stage": stage, "inputs": inputs, "files": files, "params": params},
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:KEY_LENGTH]


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def version_dir(root: str, stage: str, cache_key: str) -> str:
    return os.path.join(root, stage, cache_key)


def frame_pattern(folder: str, stem: str, views: bool = False) -> str:
    """The frames' file pattern, as Nuke's Read/Write file knobs write it; with ``views``, Nuke's
    ``%V`` before the frame number, so each view has its own files."""
    return os.path.join(folder, stem + (".%V" if views else "") + ".%04d.exr").replace(os.sep, "/")


def view_pattern(pattern: str, view: Optional[str]) -> str:
    """One view's files of a pattern, as Nuke fills them in (%V the view's name, %v its first
    letter); ``None`` (a script of one view) leaves the pattern as it is."""
    return pattern if view is None else pattern.replace("%V", view).replace("%v", view[:1])


def report_dir(folder: str, view: Optional[str]) -> str:
    """A ColourLock version's QC report folder of ``view`` (``report/``; in a script of several views
    ``report.<view>/``, one per view as the view's frames are)."""
    return os.path.join(folder, "report" + ("" if view is None else "." + view))


def frame_path(pattern: str, frame: int) -> str:
    """One frame's file of a printf pattern (``%04d``, ``%d``; a plate's Read may pad otherwise)."""
    return re.sub(r"%(0\d+)?d", lambda m: ("%" + (m.group(1) or "") + "d") % frame, pattern)


def missing(pattern: str, frames: List[int], views: Sequence[Optional[str]] = (None,)) -> List[int]:
    """The frames not on disk in every one of ``views``."""
    return [f for f in frames if any(not os.path.isfile(frame_path(view_pattern(pattern, v), f)) for v in views)]


def link(src: str, dst: str) -> None:
    """Put ``src``'s frame at ``dst`` atomically: a hard link (no copy, same file) where the file
    system allows, else a copy. The frame store and the versions share frames this way."""
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    tmp = "{}.{}.{}.tmp".format(dst, os.getpid(), threading.get_ident())  # jobs of two nodes may share a frame
    if os.path.lexists(tmp):
        os.remove(tmp)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def is_complete(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, COMPLETE))


def mark_complete(folder: str, record: Dict[str, Any]) -> None:
    """Write complete.json atomically: from now on the folder may be shown."""
    tmp = os.path.join(folder, "." + COMPLETE + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=1, sort_keys=True)
    os.replace(tmp, os.path.join(folder, COMPLETE))


def write_manifest(folder: str, name: str, manifest: Dict[str, Any]) -> str:
    """The engine job manifest (its JSON schema: inference/jobs/manifest.py); returns its path."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return path
