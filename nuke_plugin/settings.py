"""Plug-in preferences: which Python runs the engine, and the default cache folder.

The default cache folder is written into a node's 'Cache folder' knob when the user creates the
node (:func:`apply_defaults`), so the script records it and every machine reads the same folder;
it never takes part when a script is read.

Order for the engine's Python: ``$RESTYLE_PYTHON``, then the preferences file, then the Python
beside a ``restyle`` command on PATH, then the interpreter running this code (Nuke's own, which
usually lacks the engine: the first engine call then says so). Preferences live in a small JSON
file, ``$RESTYLE_PREFS`` or ``~/.nuke/restyle_prefs.json``; Nuke ▸ Restyle ▸ Preferences edits them.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Dict

ENV_PYTHON = "RESTYLE_PYTHON"
ENV_PREFS = "RESTYLE_PREFS"
FIELDS = {"engine_python": "Engine Python", "cache_dir": "Default cache folder"}  # cache_dir: for new nodes


def prefs_path() -> str:
    return os.environ.get(ENV_PREFS) or os.path.join(os.path.expanduser("~"), ".nuke", "restyle_prefs.json")


def load() -> Dict[str, str]:
    """The saved preferences ({} when none or unreadable: defaults then apply)."""
    try:
        with open(prefs_path(), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return {k: str(v) for k, v in data.items() if k in FIELDS} if isinstance(data, dict) else {}


def save(prefs: Dict[str, str]) -> None:
    path = prefs_path()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({k: v for k, v in prefs.items() if k in FIELDS and v}, f, indent=1)
    os.replace(tmp, path)


def engine_python() -> str:
    configured = os.environ.get(ENV_PYTHON) or load().get("engine_python")
    if configured:
        return configured
    restyle = shutil.which("restyle")
    if restyle:
        for name in ("python3", "python", "python.exe"):
            beside = os.path.join(os.path.dirname(restyle), name)
            if os.path.isfile(beside):
                return beside
    return sys.executable


def default_cache_dir() -> str:
    return load().get("cache_dir", "")


def apply_defaults() -> None:
    """onUserCreate of the toolset nodes (GUI): a new node's 'Cache folder' is the preferences'
    default folder, where one is set (else the gizmo's, beside the script)."""
    import nuke

    folder = default_cache_dir()
    if folder:
        nuke.thisNode()["cache_dir"].setValue(folder)


def show_panel() -> None:
    """Nuke ▸ Restyle ▸ Preferences: edit and save the preferences (GUI only)."""
    import nuke

    prefs = load()
    panel = nuke.Panel("Restyle preferences")
    panel.addFilenameSearch(FIELDS["engine_python"], prefs.get("engine_python", engine_python()))
    panel.addFilenameSearch(FIELDS["cache_dir"], prefs.get("cache_dir", ""))
    if panel.show():
        save({key: panel.value(label) or "" for key, label in FIELDS.items()})
