"""Nodes, Groups, gizmos and the node graph of the stand-in.

Node classes the stand-in knows (their knobs and how they render): Read, Write, Input, Output,
Switch, Copy (channels "all": every channel of input 1, A, onto input 0, B; "rgb": A's colour only), Text2 (passes its input through: the stand-in draws no text), NoOp, Dot, and gizmos found
as ``<Class>.gizmo`` on the plug-in path. Anything else is Nuke's "unknown command" error.
"""
from __future__ import annotations

import os
import re
import typing as _t

from . import _callbacks, _knobs, _standin

# Knobs each built-in class gets: (knob class, name, default value)
_COMMON = [(_knobs.String_Knob, "label", ""), (_knobs.Boolean_Knob, "disable", False),
           (_knobs.PythonKnob, "knobChanged", ""), (_knobs.PythonKnob, "onCreate", "")]
_BUILTIN: _t.Dict[str, _t.List[_t.Tuple[type, str, _t.Any]]] = {
    "Read": [(_knobs.File_Knob, "file", ""), (_knobs.Int_Knob, "first", 1), (_knobs.Int_Knob, "last", 1),
             (_knobs.Enumeration_Knob, "on_error", ("error", "black", "checkerboard", "nearest frame")),
             (_knobs.Enumeration_Knob, "frame_mode", ("expression", "start at", "offset")),
             (_knobs.String_Knob, "frame", "")],
    "Write": [(_knobs.File_Knob, "file", ""), (_knobs.String_Knob, "file_type", ""),
              (_knobs.String_Knob, "channels", "rgba"), (_knobs.String_Knob, "metadata", "default metadata"),
              (_knobs.Boolean_Knob, "create_directories", False)],
    "Input": [(_knobs.Int_Knob, "number", 0)],
    "Output": [],
    "Switch": [(_knobs.Int_Knob, "which", 0)],
    "Copy": [(_knobs.String_Knob, "channels", "none")],
    "Text2": [(_knobs.String_Knob, "message", "")],
    "NoOp": [],
    "Dot": [],
}
_NO_INPUTS = {"Read", "Input"}


class Node(object):
    """A node of the graph."""

    def __init__(self, node_class: str, parent: _t.Optional["Group"]) -> None:
        self._class = node_class
        self._knobs: _t.Dict[str, _knobs.Knob] = {}
        self._inputs: _t.List[_t.Optional[Node]] = []
        self._parent = parent
        self._add_knob(_knobs.String_Knob("name"))
        for cls, name, default in _COMMON + _BUILTIN.get(node_class, []):
            self._add_default_knob(cls, name, default)

    def _add_default_knob(self, cls: type, name: str, default: _t.Any) -> None:
        if cls is _knobs.Enumeration_Knob:
            knob = cls(name, name, default)
        else:
            knob = cls(name)
            knob.setValue(default)
        if cls is _knobs.PythonKnob or name == "disable":
            knob.setFlag(_knobs.FLAGS["INVISIBLE"])
        self._add_knob(knob)

    def _add_knob(self, knob: _knobs.Knob) -> None:
        knob._node = self
        self._knobs[knob.name()] = knob

    def Class(self) -> str:
        return self._class

    def name(self) -> str:
        return self._knobs["name"].value()

    def setName(self, name: str, uncollide: bool = True, updateExpressions: bool = False) -> None:
        if self._parent is not None and self._parent.node(name) not in (None, self):
            if not uncollide:
                raise ValueError("name {!r} is in use".format(name))
            name = _unique(self._parent, re.sub(r"\d+$", "", name))
        self._knobs["name"].setValue(name)

    def fullName(self) -> str:
        parent = self._parent
        if parent is None or isinstance(parent, Root):
            return self.name()
        return parent.fullName() + "." + self.name()

    def knob(self, p: _t.Any, follow_link: _t.Any = None) -> _t.Optional[_knobs.Knob]:
        if isinstance(p, int):
            return list(self._knobs.values())[p]
        return self._knobs.get(p)

    def knobs(self) -> _t.Dict[str, _knobs.Knob]:
        return dict(self._knobs)

    def allKnobs(self) -> _t.List[_knobs.Knob]:
        return list(self._knobs.values())

    def numKnobs(self) -> int:
        return len(self._knobs)

    def addKnob(self, k: _knobs.Knob) -> None:
        if not isinstance(k, _knobs.Knob):
            raise TypeError("addKnob needs a Knob, not {}".format(type(k).__name__))
        self._add_knob(k)

    def removeKnob(self, k: _knobs.Knob) -> None:
        if self._knobs.get(k.name()) is not k:
            raise ValueError("{} is not a knob of {}".format(k.name(), self.name()))
        del self._knobs[k.name()]

    def __getitem__(self, key: str) -> _knobs.Knob:
        knob = self._knobs.get(key)
        if knob is None:
            raise NameError("knob {} does not exist".format(key))
        return knob

    def __len__(self) -> int:
        return len(self._knobs)

    def __repr__(self) -> str:
        return "<{} {}>".format(self._class, self.fullName())

    def __str__(self) -> str:
        return self.fullName()

    def input(self, i: int) -> _t.Optional["Node"]:
        return self._inputs[i] if 0 <= i < len(self._inputs) else None

    def inputs(self) -> int:
        return len(self._inputs)

    def setInput(self, i: int, node: _t.Optional["Node"]) -> bool:
        if not isinstance(i, int) or (node is not None and not isinstance(node, Node)):
            raise TypeError("setInput(int, Node)")
        while len(self._inputs) <= i:
            self._inputs.append(None)
        self._inputs[i] = node
        while self._inputs and self._inputs[-1] is None:
            self._inputs.pop()
        return True

    def connectInput(self, i: int, node: _t.Optional["Node"]) -> bool:
        return self.setInput(i, node)

    def dependencies(self, what: _t.Any = None) -> _t.List["Node"]:
        return [n for n in self._inputs if n is not None]

    def parent(self) -> _t.Optional["Group"]:
        return self._parent

    def error(self) -> bool:
        return False

    def hasError(self) -> bool:
        return False


class Group(Node):
    """A node holding a node graph; ``with group:`` makes it the context for new nodes."""

    def __init__(self, node_class: str = "Group", parent: _t.Optional["Group"] = None) -> None:
        Node.__init__(self, node_class, parent)
        self._children: _t.List[Node] = []
        self._add_default_knob(_knobs.String_Knob, "help", "")

    def nodes(self) -> _t.List[Node]:
        return list(self._children)

    def numNodes(self) -> int:
        return len(self._children)

    def node(self, s: str) -> _t.Optional[Node]:
        head, _, rest = s.partition(".")
        for child in self._children:
            if child.name() == head:
                if not rest:
                    return child
                return child.node(rest) if isinstance(child, Group) else None
        return None

    def begin(self) -> "Group":
        _standin.state.group_stack.append(self)
        return self

    def end(self) -> None:
        stack = _standin.state.group_stack
        if len(stack) < 2 or stack[-1] is not self:
            raise RuntimeError("end() without begin() for {}".format(self.fullName()))
        stack.pop()

    def __enter__(self, *args: _t.Any, **kwargs: _t.Any) -> "Group":
        return self.begin()

    def __exit__(self, *args: _t.Any, **kwargs: _t.Any) -> None:
        self.end()

    def run(self, callable: _t.Callable[[], _t.Any]) -> _t.Any:
        with self:
            return callable()

    def output(self) -> _t.Optional[Node]:
        outputs = [n for n in self._children if n.Class() == "Output"]
        return outputs[0] if outputs else None


class Gizmo(Group):
    """A node made from a .gizmo file on the plug-in path."""

    def __init__(self, node_class: str, parent: _t.Optional[Group], path: str) -> None:
        Group.__init__(self, node_class, parent)
        self._path = path

    def filename(self) -> str:
        return self._path

    def command(self) -> str:
        return self._class


# Project Settings > Color (Root knobs; Foundry's Root reference and "OCIO Color Management"):
# 'color management' Nuke (Nuke's own LUTs) or OCIO; the 'OpenColorIO config' (a config shipped in
# <install>/plugins/OCIOConfigs/configs/<name>/config.ocio, or custom: customOCIOConfigPath); the
# working space (only changeable with OCIO) and the default colourspace per file type. Nuke lists
# the config's colourspaces in these knobs; the stand-in takes any name. The shipped config names
# past nuke-default and the aces_1.x ones are unverified (docs/nuke.md, "to verify in Nuke").
STOCK_OCIO_CONFIGS = ("nuke-default", "aces_1.0.3", "aces_1.1", "aces_1.2",
                      "fn-nuke_cg-config-v1.0.0_aces-v1.3_ocio-v2.1", "custom")
COLOUR_KNOBS = [(_knobs.Enumeration_Knob, "colorManagement", ("Nuke", "OCIO")),
                (_knobs.Enumeration_Knob, "OCIO_config", STOCK_OCIO_CONFIGS),
                (_knobs.File_Knob, "customOCIOConfigPath", ""),
                (_knobs.String_Knob, "workingSpaceLUT", "linear"), (_knobs.String_Knob, "monitorLut", "sRGB"),
                (_knobs.String_Knob, "int8Lut", "sRGB"), (_knobs.String_Knob, "int16Lut", "sRGB"),
                (_knobs.String_Knob, "logLut", "Cineon"), (_knobs.String_Knob, "floatLut", "linear")]


class _StockConfigPath(_knobs.File_Knob):
    """Root's OCIOConfigPath: the file of the shipped config 'OCIO_config' names (Nuke fills it in)."""

    def value(self, oc: _t.Any = None) -> str:
        import nuke

        choice = self._node["OCIO_config"].value()
        if choice == "custom":
            return ""
        return "{}/plugins/OCIOConfigs/configs/{}/config.ocio".format(os.path.dirname(nuke.EXE_PATH), choice)

    def evaluate(self) -> str:
        return self.value()


class Root(Group):
    """The script's top-level group and project settings."""

    def __init__(self) -> None:
        Group.__init__(self, "Root", None)
        self._knobs["name"].setValue("")
        for cls, name, default in [(_knobs.Int_Knob, "first_frame", 1), (_knobs.Int_Knob, "last_frame", 100),
                                   (_knobs.Double_Knob, "fps", 24.0), (_knobs.File_Knob, "project_directory", ""),
                                   (_knobs.Boolean_Knob, "proxy", False), (_knobs.Double_Knob, "proxy_scale", 0.5)
                                   ] + COLOUR_KNOBS:
            self._add_default_knob(cls, name, default)
        self._add_default_knob(_knobs.MultiView_Knob, "views", "main")
        stock = _StockConfigPath("OCIOConfigPath")
        stock.setFlag(_knobs.FLAGS["INVISIBLE"] | _knobs.FLAGS["DO_NOT_WRITE"])
        self._add_knob(stock)
        self._modified = False

    def fullName(self) -> str:
        return "root"

    def firstFrame(self) -> int:
        return self["first_frame"].value()

    def lastFrame(self) -> int:
        return self["last_frame"].value()

    def fps(self) -> int:
        return int(self["fps"].value())

    def modified(self) -> bool:
        return self._modified

    def setModified(self, b: bool) -> None:
        self._modified = bool(b)


# --- creation ----------------------------------------------------------------------------------------

def current_group() -> Group:
    return _standin.state.group_stack[-1]


def _unique(group: Group, base: str) -> str:
    taken = {n.name() for n in group.nodes()}
    index = 1
    while "{}{}".format(base, index) in taken:
        index += 1
    return "{}{}".format(base, index)


def gizmo_path(node_class: str) -> _t.Optional[str]:
    for folder in _standin.state.plugin_path:
        path = os.path.join(folder, node_class + ".gizmo")
        if os.path.isfile(path):
            return path
    return None


def make_node(node_class: str, knob_values: _t.Sequence[_t.Tuple[str, str]] = (),
              user_knobs: _t.Sequence[_t.Any] = ()) -> Node:
    """Create a node in the current group (no callbacks yet): built-in class or gizmo."""
    from . import _nkfile

    group = current_group()
    path = None if node_class in _BUILTIN else gizmo_path(node_class)
    if node_class in _BUILTIN:
        node: Node = Node(node_class, group)
    elif path is not None:
        node = Gizmo(node_class, group, path)
    elif node_class == "Group":
        node = Group("Group", group)
    else:
        raise RuntimeError("{}: unknown command".format(node_class))
    node._knobs["name"].setValue(_unique(group, node_class))
    group._children.append(node)
    if path is not None:
        _nkfile.load_gizmo(node, path)  # type: ignore[arg-type]
    for spec in user_knobs:
        node._add_knob(spec)
    for name, text in knob_values:
        set_from_text(node, name, text)
    return node


def set_from_text(node: Node, name: str, text: str) -> None:
    knob = node.knob(name)
    if knob is None:
        raise RuntimeError("{}: no knob named {!r}".format(node.name(), name))
    if name == "name":
        node.setName(text)
    else:
        knob._parse(text)


def created(node: Node) -> None:
    """After a node is made (and, for a script, after every node is loaded): onCreate."""
    run_python(node["onCreate"].value(), node, None)
    _callbacks.run("onCreate", node)


def run_python(code: str, node: _t.Optional[Node], knob: _t.Optional[_knobs.Knob]) -> None:
    """Run a knob's Python (button, knobChanged, onCreate) as Nuke does: nuke imported,
    thisNode()/thisKnob() set, and inside the node's group when it is a Group."""
    if not code:
        return
    import nuke

    state = _standin.state
    state.this_stack.append((node, knob))
    inside = isinstance(node, Group)
    if inside:
        node.begin()  # type: ignore[union-attr]
    try:
        exec(compile(code, "<{} {}>".format(node.fullName() if node else "", knob.name() if knob else ""), "exec"),
             {"nuke": nuke, "__name__": "__main__"})
    finally:
        if inside:
            node.end()  # type: ignore[union-attr]
        state.this_stack.pop()


for _cls in (Node, Group, Gizmo, Root):
    _cls.__module__ = "nuke"
del _cls


# Graph changes belong to Nuke's main thread (../shared/NUKE.md, "Threading and re-entrancy").
def _main_only(method: _t.Callable[..., _t.Any]) -> _t.Callable[..., _t.Any]:
    import functools

    @functools.wraps(method)
    def guarded(self: Node, *args: _t.Any, **kwargs: _t.Any) -> _t.Any:
        if not _standin.on_main_thread():
            _standin.require_main("{}.{}".format(self.fullName(), method.__name__))
        return method(self, *args, **kwargs)
    return guarded


for _cls, _names in ((Node, ("setInput", "connectInput", "setName", "addKnob", "removeKnob")),
                     (Group, ("begin", "end")), (Root, ("setModified",))):
    for _name in _names:
        setattr(_cls, _name, _main_only(_cls.__dict__[_name]))
del _cls, _names, _name
