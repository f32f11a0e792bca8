"""The little TCL the stand-in evaluates: what a knob value uses to point a path at the script.

Modelled (Nuke's TCL commands, as knob expressions and ``nuke.tcl`` use them):

* ``[value NODE.KNOB]`` - a knob's value (``root.name``: the script's file; ``parent.KNOB``: the
  enclosing group's knob; ``this.KNOB``: the node's own);
* ``[file dirname PATH]``, ``[file join A B ...]`` (Tcl's ``file`` command);
* ``[getenv NAME]`` and ``$env(NAME)`` - an environment variable ('' when unset, as getenv).

Brackets nest (``[file dirname [value root.name]]``). Any other command raises RuntimeError, so a
test never passes on TCL the stand-in does not evaluate.
"""
from __future__ import annotations

import os
import posixpath
import re
import shlex
import typing as _t

_ENV = re.compile(r"\$env\((\w+)\)")


def evaluate(text: str, node: _t.Any) -> str:
    """``text`` with its ``[command ...]`` substitutions and ``$env(NAME)`` done, for ``node``'s knob."""
    text = _ENV.sub(lambda m: os.environ.get(m.group(1), ""), text)
    out, i = [], 0
    while i < len(text):
        if text[i] == "[":
            end = _closing(text, i)
            out.append(command(evaluate(text[i + 1:end], node), node))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _closing(text: str, start: int) -> int:
    depth = 0
    for i in range(start, len(text)):
        depth += {"[": 1, "]": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise RuntimeError("TCL: missing close-bracket in {!r}".format(text))


def command(line: str, node: _t.Any) -> str:
    """Run one (already substituted) command line."""
    return run(shlex.split(line), node)


def run(words: _t.List[str], node: _t.Any) -> str:
    """Run one command given as its words."""
    if not words:
        return ""
    name, args = words[0], words[1:]
    if name == "value" and len(args) == 1:
        return _value(args[0], node)
    if name == "file" and args[:1] == ["dirname"] and len(args) == 2:
        return posixpath.dirname(args[1].replace("\\", "/"))
    if name == "file" and args[:1] == ["join"] and len(args) >= 2:
        return posixpath.join(*args[1:])
    if name == "getenv" and len(args) in (1, 2):
        return os.environ.get(args[0], args[1] if len(args) == 2 else "")
    raise RuntimeError("TCL: the stand-in does not evaluate {!r}".format(" ".join(words)))


def _value(path: str, node: _t.Any) -> str:
    from . import _standin

    owner_name, _, knob_name = path.rpartition(".")
    if owner_name in ("", "this"):
        owner = node
    elif owner_name == "root":
        owner = _standin.state.root
    elif owner_name == "parent":
        owner = node.parent() if node is not None else None
    else:
        owner = _standin.state.root.node(owner_name)
    knob = owner.knob(knob_name) if owner is not None else None
    if knob is None:
        raise RuntimeError("TCL: no such knob {}".format(path))
    value = knob.value()
    return str(value).lower() if isinstance(value, bool) else str(value)
