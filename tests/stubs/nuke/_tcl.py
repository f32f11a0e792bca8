"""The little TCL the stand-in evaluates: what a knob value uses to point a path at the script.

Modelled (Nuke's TCL commands, as knob expressions and ``nuke.tcl`` use them):

* ``[value NODE.KNOB]`` - a knob's value (``root.name``: the script's file; ``parent.KNOB``: the
  enclosing group's knob; ``this.KNOB``: the node's own);
* ``[file dirname PATH]``, ``[file join A B ...]`` (Tcl's ``file`` command);
* ``[getenv NAME]`` - an environment variable ('' when unset); ``$env(NAME)`` - the same, an error
  when unset (Tcl: can't read "env(NAME)": no such variable).

Brackets nest (``[file dirname [value root.name]]``). Any other command raises RuntimeError, so a
test never passes on TCL the stand-in does not evaluate.
"""
from __future__ import annotations

import os
import posixpath
import re
import typing as _t

_ENV = re.compile(r"\$env\((\w+)\)")


def evaluate(text: str, node: _t.Any) -> str:
    """``text`` with its ``[command ...]`` substitutions and ``$env(NAME)`` done, for ``node``'s knob."""
    text = _ENV.sub(lambda m: _env(m.group(1)), text)
    out, i = [], 0
    while i < len(text):
        if text[i] == "[":
            end = _closing(text, i)
            out.append(command(text[i + 1:end], node))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _env(name: str) -> str:
    if name not in os.environ:
        raise RuntimeError('TCL: can\'t read "env({})": no such variable'.format(name))
    return os.environ[name]


def _closing(text: str, start: int, opening: str = "[", closing: str = "]") -> int:
    depth = 0
    for i in range(start, len(text)):
        depth += {opening: 1, closing: -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise RuntimeError("TCL: missing close-{} in {!r}".format(closing, text))


def command(line: str, node: _t.Any) -> str:
    """Run one command line: its words split as Tcl does (a substitution stays inside its word,
    "..." groups with substitution, {...} without), each word substituted, then the command."""
    return run(_words(line, node), node)


def _words(line: str, node: _t.Any) -> _t.List[str]:
    words, i, n = [], 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        if line[i] == "{":
            end = _closing(line, i, "{", "}")
            words.append(line[i + 1:end])
            i = end + 1
            continue
        quoted = line[i] == '"'
        j = i + 1 if quoted else i
        start = j
        while j < n and (line[j] != '"' if quoted else not line[j].isspace()):
            j = _closing(line, j, "[", "]") + 1 if line[j] == "[" else j + 1
        words.append(evaluate(line[start:j], node))
        i = j + 1 if quoted else j
    return words


def run(words: _t.List[str], node: _t.Any) -> str:
    """Run one command given as its words."""
    if not words:
        return ""
    name, args = words[0], words[1:]
    if name == "value" and len(args) == 1:
        return _value(args[0], node)
    if name == "file" and args[:1] == ["dirname"] and len(args) == 2:
        return posixpath.dirname(args[1].replace("\\", "/")) or "."
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
