"""Paths that travel with the script: the studio's path mapping, and paths relative to the script.

A script saved on one machine and rendered on another (the farm, a Windows workstation) finds its
cache because the toolset reads every path it keeps through :func:`map_path`:

1. ``$RESTYLE_PATH_MAP``: ``FROM=TO`` prefix rules separated by ``;`` (e.g.
   ``/mnt/show=S:/show;/Volumes/show=/mnt/show``); the first rule whose FROM starts the path
   replaces it (``\\`` and ``/`` compare equal);
2. then Nuke's filename filters (``nuke.filenameFilter``): a studio's ``nuke.addFilenameFilter``
   callable registered in init.py, the hook Nuke's own Reads and Writes map their files with.

A relative path (the cache folder, a model in the cache) is taken from the script's folder or the
cache root, so moving a script and its cache together keeps them working. Stdlib + ``nuke``.
"""
from __future__ import annotations

import os
from typing import Any, List, Tuple

import nuke

from . import worker
from .errors import PluginError

ENV_MAP = "RESTYLE_PATH_MAP"


def rules() -> List[Tuple[str, str]]:
    """$RESTYLE_PATH_MAP as (FROM, TO) pairs, in order.

    Raises:
        PluginError: a rule without '=' or with an empty side (naming the rule).
    """
    out = []
    for rule in filter(None, (r.strip() for r in os.environ.get(ENV_MAP, "").split(";"))):
        source, sep, target = rule.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise PluginError("${}: rule {!r} is not FROM=TO (e.g. /mnt/show=S:/show; rules separated by ';')".format(
                ENV_MAP, rule))
        out.append((source.strip(), target.strip()))
    return out


def map_path(path: str) -> str:
    """``path`` as this machine sees it: the first matching $RESTYLE_PATH_MAP rule, then Nuke's
    filename filters (main thread)."""
    slashed = path.replace("\\", "/")
    for source, target in rules():
        prefix = source.replace("\\", "/").rstrip("/")
        if slashed == prefix or slashed.startswith(prefix + "/"):
            path = target.rstrip("/\\") + slashed[len(prefix):]
            break
    return worker.on_main(nuke.filenameFilter, path) if path else path


def script_folder(node: Any, knob: str) -> str:
    """The saved script's folder, where a relative ``knob`` value of ``node`` starts.

    Raises:
        PluginError: the script is untitled, so a relative path has nowhere to start.
    """
    try:
        return os.path.dirname(worker.on_main(nuke.scriptName))
    except RuntimeError:
        raise PluginError("{}: save the script first, or make '{}' an absolute folder: a relative one starts at the "
                          "script's folder".format(node.name(), knob)) from None


def evaluated(node: Any, knob: str) -> str:
    """A file knob's value with its TCL evaluated (``[file dirname [value root.name]]``), stripped."""
    return str(worker.on_main(lambda: worker.unwrap(node)[knob].evaluate())).strip()


def relative_to(base: str, path: str) -> str:
    """``path`` relative to ``base`` with '/' when it lies inside it, else ``path`` unchanged."""
    try:
        inside = os.path.relpath(path, base)
    except ValueError:  # another drive (Windows)
        return path
    return path if inside == os.pardir or inside.startswith(os.pardir + os.sep) else inside.replace(os.sep, "/")
