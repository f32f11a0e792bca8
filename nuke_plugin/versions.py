"""Versions a person can read, and purging the ones no node shows. Stdlib only.

A version entry in a node's 'history' knob carries a label (the date it was made and what changed
since the version before it: the look/painting, settings, plate, range), an optional note, its
frame count and its size on disk. A purge deletes the version folders of a cache that no node of
the script shows, and the stored frames (``<stage>/frames``) no remaining version links.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from typing import Any, Dict, Iterable, List, Tuple

from . import cache

_KEY_IN_ITEM = re.compile(r"\[([0-9a-f]+)\]$")


def what_of(version: Dict[str, Any], first: int, last: int) -> Dict[str, Any]:
    """What a version is made from, to compare with the version before it."""
    signed = json.dumps(version.get("signed", {}), sort_keys=True).encode("utf-8")
    return {"files": version.get("files", {}), "fields": version.get("fields", {}),
            "inputs": hashlib.sha256(signed).hexdigest()[:16], "range": [first, last]}


def changes(before: Dict[str, Any], now: Dict[str, Any]) -> str:
    """'painting, settings: tile, plate' - what differs; 'first version' without a version before."""
    if not before:
        return "first version"
    said = []
    files_before, files_now = before.get("files", {}), now.get("files", {})
    for role in sorted(set(files_before) | set(files_now)):
        if files_before.get(role) != files_now.get(role):
            said.append("painting" if role == "model" else role)
    fields_before, fields_now = before.get("fields", {}), now.get("fields", {})
    moved = sorted(k for k in set(fields_before) | set(fields_now) if fields_before.get(k) != fields_now.get(k))
    if moved:
        said.append("settings: " + ", ".join(moved))
    if before.get("inputs") != now.get("inputs"):
        said.append("plate")
    if before.get("range") != now.get("range"):
        said.append("range {}-{}".format(*now["range"]))
    return ", ".join(said) or "same inputs and settings"


def disk_usage(folder: str) -> Tuple[int, int]:
    """(frames, bytes) of a version folder."""
    frames = total = 0
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            total += os.path.getsize(path)
            frames += name.endswith(".exr")
    return frames, total


def size_text(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return "{:.0f} {}".format(size, unit) if unit == "bytes" else "{:.1f} {}".format(size, unit)
        size /= 1024.0  # type: ignore[assignment]
    return ""


def item(entry: Dict[str, Any]) -> str:
    """The 'Version' menu item of an entry: its label, then its key in brackets."""
    return "{} [{}]".format(entry.get("label") or entry.get("made", ""), entry["key"])


def key_of(item_text: str) -> str:
    match = _KEY_IN_ITEM.search(item_text.strip())
    return match.group(1) if match else item_text.strip()


def info(entry: Dict[str, Any]) -> str:
    text = "{}: {} frames, {} on disk".format(entry.get("label", entry["key"]), entry.get("count", "?"),
                                               size_text(int(entry.get("bytes", 0))))
    return text + ("; note: " + entry["note"] if entry.get("note") else "")


def new_entry(key: str, first: int, last: int, what: Dict[str, Any], before: Dict[str, Any],
              folder: str) -> Dict[str, Any]:
    count, size = disk_usage(folder)
    made = time.strftime("%Y-%m-%d %H:%M")
    return {"key": key, "frames": [first, last], "made": made, "label": "{} {}".format(made, changes(before, what)),
            "what": what, "note": "", "count": count, "bytes": size}


# --- purge -----------------------------------------------------------------------------------------

def plan_purge(roots: Iterable[Tuple[str, str]], shown: Iterable[str]) -> Tuple[List[str], List[str], int]:
    """(version folders to delete, stored frames to delete, bytes freed) for the caches
    ``roots`` ((cache root, stage output) pairs) keeping the versions ``shown`` (keys)."""
    keep = set(shown)
    folders: List[str] = []
    for root, stage in sorted(set(roots)):
        base = os.path.join(root, stage)
        if not os.path.isdir(base):
            continue
        for name in sorted(os.listdir(base)):
            path = os.path.join(base, name)
            if name != "frames" and name not in keep and os.path.isdir(path):
                folders.append(path)
    links: Dict[Tuple[int, int], List[str]] = {}
    sizes: Dict[Tuple[int, int], Tuple[int, int]] = {}  # inode -> (links, size)
    stores = sorted({os.path.join(root, stage, "frames") for root, stage in roots})
    for folder in folders + [s for s in stores if os.path.isdir(s)]:
        for dirpath, _dirs, files in os.walk(folder):
            for name in files:
                path = os.path.join(dirpath, name)
                st = os.stat(path)
                inode = (st.st_dev, st.st_ino)
                links.setdefault(inode, []).append(path)
                sizes[inode] = (st.st_nlink, st.st_size)
    store_paths = {p for paths in links.values() for p in paths if any(p.startswith(s + os.sep) for s in stores)}
    freed, orphans = 0, []
    for inode, paths in links.items():
        nlink, size = sizes[inode]
        if len(paths) == nlink:  # every link is in a purged folder or the store: nothing else holds it
            freed += size
            orphans.extend(p for p in paths if p in store_paths)
    return folders, sorted(orphans), freed


def purge(folders: List[str], orphans: List[str]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    for path in orphans:
        if os.path.isfile(path):
            os.remove(path)


def exists(root: str, stage: str, key: str) -> bool:
    return cache.is_complete(cache.version_dir(root, stage, key))
