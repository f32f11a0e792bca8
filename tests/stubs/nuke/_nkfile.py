"""Nuke's script text (.nk and .gizmo files): read and write the subset the plug-in needs.

A file is a list of TCL-like commands: ``version ...``, ``Class { knob value ... }`` node blocks,
``set VAR [stack 0]`` / ``push $VAR`` / ``push 0`` to wire inputs (a node pops ``inputs N`` nodes,
input 0 on top), and ``end_group`` after a group's children. ``addUserKnob {ID name l label
t tooltip ...}`` inside a block adds a user knob (ID is the knob's TCL type id).
"""
from __future__ import annotations

import re
import typing as _t

from . import _knobs, _nodes, _standin

Token = _t.Tuple[str, str]  # (kind, text): kind is "word", "str" or "brace"


def tokenize(text: str) -> _t.List[Token]:
    tokens: _t.List[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c == "#" and (not tokens or text[i - 1] == "\n"):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif c == '"':
            i, value = _quoted(text, i + 1)
            tokens.append(("str", value))
        elif c in "{[":
            close = "}" if c == "{" else "]"
            depth, j = 0, i
            while j < n:
                if text[j] == "\\":
                    j += 2
                    continue
                if text[j] == '"' and close == "}":
                    j, _ = _quoted(text, j + 1)
                    continue
                depth += {c: 1, close: -1}.get(text[j], 0)
                j += 1
                if depth == 0:
                    break
            if depth:
                raise SyntaxError("unbalanced {} at offset {}".format(c, i))
            tokens.append(("brace" if c == "{" else "word", text[i + 1:j - 1] if c == "{" else text[i:j]))
            i = j
        else:
            j = i
            while j < n and not text[j].isspace() and text[j] not in '{"':
                j += 1
            tokens.append(("word", text[i:j]))
            i = j
    return tokens


def _quoted(text: str, i: int) -> _t.Tuple[int, str]:
    out = []
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append({"n": "\n", "t": "\t"}.get(text[i + 1], text[i + 1]))
            i += 2
        elif c == '"':
            return i + 1, "".join(out)
        else:
            out.append(c)
            i += 1
    raise SyntaxError("unterminated string")


def quote(value: str) -> str:
    if value and re.fullmatch(r"[A-Za-z0-9_./:+\-]+", value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("[", "\\[") + '"'  # as Nuke saves it: no TCL runs when it loads


# --- reading ----------------------------------------------------------------------------------------

class Block(_t.NamedTuple):
    node_class: str
    values: _t.List[_t.Tuple[str, str]]  # knob name, text, in file order
    user_knobs: _t.List[_knobs.Knob]


def parse_block(body: str) -> Block:
    tokens = tokenize(body)
    values: _t.List[_t.Tuple[str, str]] = []
    user: _t.List[_knobs.Knob] = []
    i = 0
    while i < len(tokens):
        name = tokens[i][1]
        if name == "addUserKnob":
            user.append(user_knob(tokens[i + 1][1]))
        elif i + 1 < len(tokens):
            values.append((name, tokens[i + 1][1]))
        i += 2
    return Block("", values, user)


def user_knob(spec: str) -> _knobs.Knob:
    """``{ID name l label t tooltip M {items} T value +FLAG -FLAG R lo hi}`` -> a Knob."""
    tokens = [t[1] for t in tokenize(spec)]
    tcl_id, name = int(tokens[0]), tokens[1]
    cls = _knobs.BY_TCL_ID.get(tcl_id)
    if cls is None:
        raise SyntaxError("addUserKnob: unsupported knob type id {} ({})".format(tcl_id, name))
    options: _t.Dict[str, str] = {}
    flags: _t.List[str] = []
    i = 2
    while i < len(tokens):
        if tokens[i][:1] in "+-" and tokens[i][1:].isupper():
            flags.append(tokens[i])
            i += 1
        elif tokens[i] == "R":
            i += 3
        else:
            options[tokens[i]] = tokens[i + 1]
            i += 2
    label = options.get("l", name)
    if cls is _knobs.Enumeration_Knob:
        knob: _knobs.Knob = cls(name, label, [t[1] for t in tokenize(options.get("M", ""))])
    else:
        knob = cls(name, label)
    if "T" in options:
        knob._parse(options["T"])
    knob.setTooltip(options.get("t", ""))
    for flag in flags:
        value = _knobs.FLAGS.get(flag[1:])
        if value is not None:
            (knob.setFlag if flag[0] == "+" else knob.clearFlag)(value)
    return knob


def read_graph(text: str, into: "_nodes.Group", top_level: bool) -> _t.List["_nodes.Node"]:
    """Create the nodes of a script (or a gizmo's children) in ``into``; returns them in order.

    With top_level, the first ``Gizmo``/``Group`` block of a .gizmo file sets ``into``'s own knobs
    instead of making a node; a ``Root`` block sets nuke.root()'s knobs.
    """
    tokens = tokenize(re.sub(r"(?m)^version .*$", "", text))  # "version 15.1 v2": the writer's version
    stack: _t.List[_t.Optional[_nodes.Node]] = []
    variables: _t.Dict[str, _t.Optional[_nodes.Node]] = {}
    made: _t.List[_nodes.Node] = []
    groups = [into]
    i = 0
    while i < len(tokens):
        word = tokens[i][1]
        if word == "set":
            variables[tokens[i + 1][1]] = stack[-1] if stack else None
            i += 3
        elif word == "push":
            ref = tokens[i + 1][1]
            stack.append(None if ref == "0" else variables[ref.lstrip("$")])
            i += 2
        elif word == "end_group":  # closes a Group block, or the .gizmo's own group (its caller ends that)
            if len(groups) > 1:
                groups.pop().end()
            i += 1
        elif i + 1 < len(tokens) and tokens[i + 1][0] == "brace":
            block = parse_block(tokens[i + 1][1])._replace(node_class=word)
            i += 2
            if top_level and word in ("Gizmo", "Group") and not made and groups == [into]:
                _apply(into, block)
                continue
            if word == "Root":
                _apply(_standin.state.root, block)
                continue
            node = _make(block, stack)
            made.append(node)
            stack.append(node)
            if word == "Group":
                node.begin()  # type: ignore[attr-defined]
                groups.append(node)  # type: ignore[arg-type]
        else:
            raise SyntaxError("unexpected {!r}".format(word))
    return made


def _apply(node: "_nodes.Node", block: Block) -> None:
    for knob in block.user_knobs:
        node._add_knob(knob)
    for name, text in block.values:
        if name != "inputs":
            _nodes.set_from_text(node, name, text)


def _make(block: Block, stack: _t.List[_t.Optional["_nodes.Node"]]) -> "_nodes.Node":
    values = dict(block.values)
    count = int(values.get("inputs", "0" if block.node_class in _nodes._NO_INPUTS or not stack else "1"))
    node = _nodes.make_node(block.node_class, [(k, v) for k, v in block.values if k != "inputs"],
                            block.user_knobs)
    for index in range(count):
        node.setInput(index, stack.pop())
    return node


def load_gizmo(node: "_nodes.Gizmo", path: str) -> None:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    node.begin()
    try:
        read_graph(text, node, top_level=True)
    finally:
        node.end()


# --- writing ---------------------------------------------------------------------------------------

def write_script(root: "_nodes.Root") -> str:
    """The top-level graph as .nk text (gizmo instances as their class and knob values)."""
    lines = ["#! stand-in nuke script", "version 15.1 v2", "Root {", " inputs 0"]
    lines += [" {} {}".format(k, quote(root[k]._script())) for k in (
        "name", "first_frame", "last_frame", "fps", "project_directory", "views",
        *(c[1] for c in _nodes.COLOUR_KNOBS))]
    lines.append("}")
    order = _topological(root.nodes())
    names = {id(n): "N" + n.name() for n in order}
    for node in order:
        for upstream in reversed([node.input(i) for i in range(node.inputs())]):
            lines.append("push " + ("$" + names[id(upstream)] if upstream is not None else "0"))
        lines.append("{} {{".format(node.Class()))
        lines.append(" inputs {}".format(node.inputs()))
        for knob in node.allKnobs():
            if _savable(node, knob):
                lines.append(" {} {}".format(knob.name(), quote(knob._script())))
        lines.append("}")
        lines.append("set {} [stack 0]".format(names[id(node)]))
    return "\n".join(lines) + "\n"


def _savable(node: "_nodes.Node", knob: _knobs.Knob) -> bool:
    """Buttons, tabs and DO_NOT_WRITE knobs are not saved; nor a gizmo's callbacks (from its file)."""
    if isinstance(knob, (_knobs.Tab_Knob, _knobs.Script_Knob)) or knob.getFlag(_knobs.FLAGS["DO_NOT_WRITE"]):
        return False
    return not (isinstance(knob, _knobs.PythonKnob) and isinstance(node, _nodes.Gizmo))


def _topological(nodes: _t.List["_nodes.Node"]) -> _t.List["_nodes.Node"]:
    done: _t.List[_nodes.Node] = []

    def visit(node: "_nodes.Node") -> None:
        if node in done or node not in nodes:
            return
        for upstream in node.dependencies():
            visit(upstream)
        done.append(node)

    for node in nodes:
        visit(node)
    return done
