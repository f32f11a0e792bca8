"""A strict stand-in for Foundry Nuke's ``nuke`` module, for tests run without Nuke.

Only names that exist in Foundry's API (``tests/fixtures/nuke_api.json``, the Nuke 15.0v1 interpreter dump)
are exposed, with their documented signatures; anything not implemented raises AttributeError, and a
wrong call shape raises TypeError as Nuke's C extension does. Grow it as the plug-in needs more API.

Test-only controls (process mode, version, start-up emulation) live in ``nuke._standin``; they are
not part of Nuke's API. Imports are underscored so they do not pose as ``nuke`` attributes.
"""
import os as _os
import re as _re
import sys as _sys
import typing as _t

from . import _standin

# Set by _standin.reset(): what a Nuke process decides at launch.
GUI = True
env: _t.Dict[str, _t.Any] = {}
EXE_PATH = ""
NUKE_VERSION_MAJOR = 0
NUKE_VERSION_MINOR = 0
NUKE_VERSION_RELEASE = 0
NUKE_VERSION_PHASE = ""
NUKE_VERSION_PHASENUMBER = 0
NUKE_VERSION_STRING = ""
NUKE_VERSION_DATE = ""


# --- plug-in path (semantics of nuke_internal/overrides.py, Nuke 15.0v1) -------------------------

def pluginAddPath(args: _t.Union[str, _t.List[str], _t.Tuple[str, ...]], addToSysPath: bool = True) -> None:
    """Prefix paths to the plug-in path (an existing one moves to the front).

    Relative paths resolve against the directory of the start-up script being run. Called from an
    init.py during start-up, the added directory's own init.py runs at once. New paths are also
    put at the front of sys.path when addToSysPath is true.
    """
    if type(args) is not tuple and type(args) is not list:
        args = [args]
    args = [_re.sub(r"[/\\]+$", "", arg) for arg in args]  # TypeError for non-str, as in Nuke
    args = [arg for arg in args if arg]
    old = tuple(pluginPath())
    for arg in args:
        _standin.add_plugin_path(arg, prepend=True)
    if addToSysPath:
        for path in [p for p in pluginPath() if p not in old]:
            if path not in _sys.path:
                _sys.path.insert(0, path)


def pluginAppendPath(args: _t.Union[str, _t.List[str], _t.Tuple[str, ...]],
                     addToSysPath: bool = True) -> None:
    """Append paths to the plug-in path (an existing one keeps its place); also to sys.path."""
    if type(args) is not tuple and type(args) is not list:
        args = [args]
    old = tuple(pluginPath())
    for arg in args:
        _standin.add_plugin_path(arg, prepend=False)
    if addToSysPath:
        for path in [p for p in pluginPath() if p not in old]:
            if path not in _sys.path:
                _sys.path.append(path)


def pluginPath() -> _t.List[str]:
    """The plug-in directories, highest priority first."""
    return list(_standin.state.plugin_path)


# --- output ---------------------------------------------------------------------------------------

def tprint(*value: _t.Any, sep: str = " ", end: str = "\n", file: _t.Optional[_t.TextIO] = None) -> None:
    """Print to the terminal (stdout), not the Script Editor; same arguments as print()."""
    print(*value, sep=sep, end=end, file=_sys.stdout if file is None else file)


# --- menus ----------------------------------------------------------------------------------------

def _check(value: _t.Any, types: _t.Tuple[type, ...], what: str) -> None:
    """Reject a wrong argument type with TypeError, as Nuke's C argument parsing does."""
    if value is not None and not isinstance(value, types):
        raise TypeError("{} must be {}, not {}".format(
            what, " or ".join(t.__name__ for t in types), type(value).__name__))


def _parts(name: str) -> _t.List[str]:
    """'A/B/C' -> ['A', 'B', 'C']: Nuke menu paths use '/' between submenus."""
    if not isinstance(name, str):
        raise TypeError("name must be str, not {}".format(type(name).__name__))
    parts = [p for p in name.split("/") if p]
    if not parts:
        raise ValueError("empty menu item name: {!r}".format(name))
    return parts


class MenuItem(object):
    """One entry of a menu: a command, or a separator (empty name)."""

    def __init__(self, name: str, command: _t.Any = None, icon: _t.Optional[str] = None) -> None:
        self._name = name
        self._command = command
        self._icon = icon or ""

    def name(self) -> str:
        return self._name

    def icon(self) -> str:
        return self._icon

    def script(self) -> str:
        """The command text; empty when the command is a Python callable or absent."""
        return self._command if isinstance(self._command, str) else ""

    def __repr__(self) -> str:
        return "<{} {!r}>".format(type(self).__name__, self._name)


class _Items(object):
    """The item list shared by Menu, MenuBar and ToolBar (private: not an API class)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._items: _t.List[MenuItem] = []

    def _child(self, name: str, kind: type = MenuItem) -> _t.Optional[MenuItem]:
        for item in self._items:
            if item.name() == name and isinstance(item, kind):
                return item
        return None

    def _insert(self, item: MenuItem, index: _t.Optional[int]) -> None:
        if index is None or index < 0:
            self._items.append(item)
        else:
            self._items.insert(index, item)

    def _submenu(self, parts: _t.List[str], icon: _t.Optional[str] = None,
                 index: _t.Optional[int] = None) -> "Menu":
        """Walk parts, adding the submenus that are missing; the last one gets icon and index."""
        parent: _t.Any = self
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            sub = parent._child(part, Menu)
            if sub is None:
                sub = Menu(part)
                parent._insert(sub, index if last else None)
            if last and icon is not None:
                sub._icon = icon
            parent = sub
        return parent

    def _add_command(self, name: str, command: _t.Any, shortcut: _t.Any, icon: _t.Any,
                     tooltip: _t.Any, index: _t.Any) -> MenuItem:
        parts = _parts(name)
        if command is not None and not (isinstance(command, str) or callable(command)):
            raise TypeError("command must be str or callable, not {}".format(type(command).__name__))
        _check(shortcut, (str,), "shortcut")
        _check(icon, (str,), "icon")
        _check(tooltip, (str,), "tooltip")
        _check(index, (int,), "index")
        parent: _t.Any = self._submenu(parts[:-1]) if len(parts) > 1 else self
        item = MenuItem(parts[-1], command, icon)
        old = parent._child(parts[-1])
        if old is not None and not isinstance(old, Menu):  # same name: Nuke replaces the command
            parent._items[parent._items.index(old)] = item
        else:
            parent._insert(item, index)
        return item

    def addMenu(self, name: str, icon: _t.Optional[str] = None, tooltip: _t.Optional[str] = None,
                index: _t.Optional[int] = None, tag: _t.Any = None) -> "Menu":
        """Add a submenu, or return the existing one of that name; 'A/B' nests submenus."""
        _check(icon, (str,), "icon")
        _check(tooltip, (str,), "tooltip")
        _check(index, (int,), "index")
        return self._submenu(_parts(name), icon, index)

    def addSeparator(self, *, index: _t.Optional[int] = None) -> MenuItem:
        _check(index, (int,), "index")
        item = MenuItem("")
        self._insert(item, index)
        return item

    def findItem(self, name: str) -> _t.Optional[MenuItem]:
        """The item at path 'A/B/C', or None."""
        node: _t.Any = self
        for part in _parts(name):
            if not isinstance(node, _Items):
                return None
            node = node._child(part)
        return node

    def menu(self, name: str) -> _t.Optional["Menu"]:
        item = self.findItem(name)
        return item if isinstance(item, Menu) else None

    def items(self) -> _t.List[MenuItem]:
        return list(self._items)

    def removeItem(self, name: str) -> None:
        parts = _parts(name)
        parent = self.findItem("/".join(parts[:-1])) if len(parts) > 1 else self
        if isinstance(parent, _Items):
            item = parent._child(parts[-1])
            if item is not None:
                parent._items.remove(item)

    def name(self) -> str:
        return self._name


class Menu(MenuItem, _Items):
    """A menu or submenu (submenus of the Nodes toolbar included)."""

    def __init__(self, name: str) -> None:
        MenuItem.__init__(self, name)
        _Items.__init__(self, name)

    def addCommand(self, name: str, command: _t.Any = None, shortcut: _t.Optional[str] = None,
                   icon: _t.Optional[str] = None, tooltip: _t.Optional[str] = None,
                   index: _t.Optional[int] = None, readonly: _t.Any = None,
                   shortcutContext: _t.Any = None, tag: _t.Any = None, tagTarget: _t.Any = None,
                   nodeClass: str = "") -> MenuItem:
        """Add a command; 'A/B' puts command B in submenu A. The same name replaces a command."""
        return self._add_command(name, command, shortcut, icon, tooltip, index)


class MenuBar(_Items):
    """The main menu bar: nuke.menu('Nuke')."""

    def addCommand(self, name: str, command: _t.Any = None, shortcut: _t.Optional[str] = None,
                   icon: _t.Optional[str] = None, tooltip: _t.Optional[str] = None,
                   index: _t.Optional[int] = None, readonly: _t.Any = None,
                   shortcutContext: _t.Any = None, tag: _t.Any = None, tagTarget: _t.Any = None,
                   nodeClass: str = "") -> MenuItem:
        return self._add_command(name, command, shortcut, icon, tooltip, index)


class ToolBar(_Items):
    """A toolbar: nuke.toolbar('Nodes') is the same object as nuke.menu('Nodes')."""

    def addCommand(self, name: str, command: _t.Any = None, shortcut: _t.Optional[str] = None,
                   icon: _t.Optional[str] = None, tooltip: _t.Optional[str] = None,
                   index: _t.Optional[int] = None, readonly: _t.Any = None,
                   shortcutContext: _t.Any = None, tag: _t.Any = None, tagTarget: _t.Any = None,
                   node: _t.Any = None) -> MenuItem:
        return self._add_command(name, command, shortcut, icon, tooltip, index)


def menu(name: str) -> _t.Union[Menu, MenuBar, ToolBar, None]:
    """A built-in menu ('Nuke', 'Nodes', 'Pane', 'Viewer', 'Node Graph', 'Properties',
    'Animation'); None for an unknown name, and None for every name without the GUI."""
    if not isinstance(name, str):
        raise TypeError("name must be str, not {}".format(type(name).__name__))
    return _standin.state.menus.get(name)


def toolbar(name: str, create: bool = True) -> _t.Optional[ToolBar]:
    """The named toolbar, made if missing and create is true; None without the GUI."""
    if not isinstance(name, str):
        raise TypeError("name must be str, not {}".format(type(name).__name__))
    bars = _standin.state.toolbars
    if name not in bars and create and GUI:
        bars[name] = ToolBar(name)
    return bars.get(name)


# --- knobs, nodes, the script ----------------------------------------------------------------------

from ._knobs import (Array_Knob, Boolean_Knob, Double_Knob, Enumeration_Knob, EvalString_Knob,  # noqa: E402,F401
                     File_Knob, Int_Knob, Knob, Multiline_Eval_String_Knob, PyScript_Knob, PythonKnob,
                     Script_Knob, String_Knob, Tab_Knob, Text_Knob, Unsigned_Knob)
from ._nodes import Gizmo, Group, Node, Root  # noqa: E402,F401
from . import _callbacks, _nkfile, _nodes, _render  # noqa: E402

STARTLINE = 4096
INVISIBLE = 1024
DISABLED = 128
READ_ONLY = 268435456
DO_NOT_WRITE = 512


def _tcl_pairs(knobs: str) -> _t.List[_t.Tuple[str, str]]:
    words = [t[1] for t in _nkfile.tokenize(knobs)]
    if len(words) % 2:
        raise ValueError("knobs must be name/value pairs: {!r}".format(knobs))
    return list(zip(words[::2], words[1::2]))


def createNode(node: str, knobs: str = "", inpanel: bool = True) -> Node:
    """Create a node (built-in class or gizmo on the plug-in path) in the current group; its
    onCreate runs, then onUserCreate callbacks. RuntimeError '<Class>: unknown command' if none."""
    if not isinstance(node, str) or not isinstance(knobs, str):
        raise TypeError("createNode(str, str, bool)")
    _standin.require_idle("nuke.createNode")
    made = _nodes.make_node(node, _tcl_pairs(knobs))
    _nodes.created(made)
    _callbacks.run("onUserCreate", made)
    return made


class NodeConstructor(object):
    """nuke.nodes.<Class>(knob=value, ..., inputs=[...]): create without UI side effects."""

    def __init__(self, node_class: str) -> None:
        self._class = node_class

    def __call__(self, *args: _t.Any, **kwargs: _t.Any) -> Node:
        _standin.require_idle("nuke.nodes.{}".format(self._class))
        inputs = kwargs.pop("inputs", [])
        made = _nodes.make_node(self._class)
        for name, value in kwargs.items():
            knob = made.knob(name)
            if knob is None:
                raise TypeError("{} has no knob named {!r}".format(self._class, name))
            knob.setValue(value)
        for index, upstream in enumerate(inputs):
            made.setInput(index, upstream)
        _nodes.created(made)
        return made


class Nodes(object):
    """The nuke.nodes factory namespace."""

    def __getattr__(self, name: str) -> NodeConstructor:
        if name.startswith("_"):
            raise AttributeError(name)
        return NodeConstructor(name)


nodes = Nodes()


def root() -> Root:
    return _standin.state.root


def toNode(s: str) -> _t.Optional[Node]:
    """The node with this full name ('Group1.Read1'), or None."""
    if not isinstance(s, str):
        raise TypeError("toNode(str)")
    if s == "root":
        return root()
    return root().node(s)


def thisNode() -> _t.Any:
    """The node whose callback or button is running; else the current group (root at top level).
    What it gives on another thread is undocumented: the stand-in refuses that."""
    _standin.require_main("nuke.thisNode")
    stack = _standin.state.this_stack
    return stack[-1][0] if stack else _standin.state.group_stack[-1]


def thisKnob() -> _t.Any:
    _standin.require_main("nuke.thisKnob")
    stack = _standin.state.this_stack
    return stack[-1][1] if stack else None


def thisGroup() -> Group:
    return _standin.state.group_stack[-1]



def allNodes(filter: _t.Optional[str] = None, group: _t.Optional[Group] = None) -> _t.List[Node]:
    found = (group or thisGroup()).nodes()
    return [n for n in found if filter is None or n.Class() == filter]



def execute(nameOrNode: _t.Any, start: _t.Any = None, end: _t.Any = None, incr: _t.Any = None,
            views: _t.Any = None, continueOnError: bool = False) -> None:
    """Render a Write over start..end (default: the root range) in ``views`` (default: every view
    of the script) with the render callbacks; in the GUI a cancel raises RuntimeError('Cancelled').
    Main thread only; while a render executes (e.g. from a render callback) RuntimeError "I'm
    already executing something else". A view the script does not have is refused (undocumented:
    the stand-in's safe choice)."""
    _standin.require_idle("nuke.execute")
    node = toNode(nameOrNode) if isinstance(nameOrNode, str) else nameOrNode
    if not isinstance(node, Node):
        raise ValueError("no such node: {!r}".format(nameOrNode))
    first = root().firstFrame() if start is None else int(start)
    last = root().lastFrame() if end is None else int(end)
    names = _script_views() if views is None else [str(v) for v in views]
    unknown = [v for v in names if v not in _script_views()]
    if unknown:
        raise RuntimeError("{}: no view {} in this script".format(node.fullName(), ", ".join(unknown)))
    _render.execute(node, range(first, last + 1, int(incr or 1)), names)


def views() -> _t.List[str]:
    """The script's views (Root ▸ views), in order: ['main'] in a new script."""
    return _script_views()


def _script_views() -> _t.List[str]:
    return root()["views"]._names()



def frame(f: _t.Optional[int] = None) -> int:
    """The current frame (the Viewer's playhead); frame(f) moves it (main thread only)."""
    if f is not None:
        _standin.require_main("nuke.frame(f)")
        _standin.state.frame = int(f)
    return _standin.state.frame


def scriptName() -> str:
    """The script's file name; RuntimeError 'No script name' while it is untitled (as Nuke)."""
    name = root()["name"].value()
    if not name:
        raise RuntimeError("No script name")
    return name


def scriptOpen(*args: _t.Any, **kwargs: _t.Any) -> None:
    """Open the named .nk file as the script (its nodes, their onCreate, then onScriptLoad).
    Main thread only, never while a render executes. The stand-in takes the file name only."""
    if len(args) != 1 or kwargs or not isinstance(args[0], str):
        raise TypeError("scriptOpen(filename): one file name")
    _standin.require_idle("nuke.scriptOpen")
    if not _os.path.isfile(args[0]):
        raise RuntimeError("{}: No such file or directory".format(args[0]))
    _standin.open_script(args[0])


def scriptSaveAs(filename: _t.Optional[str] = None, overwrite: int = -1) -> None:
    if filename is None:
        filename = scriptName()
    root()["name"].setValue(filename)
    with open(filename, "w", encoding="utf-8") as f:
        f.write(_nkfile.write_script(root()))
    root().setModified(False)



# --- dialogs (GUI) and the terminal ------------------------------------------------------------------

def _dialog(kind: str, text: str) -> None:
    if not isinstance(text, str):
        raise TypeError("prompt must be str")
    _standin.require_idle("nuke.message" if kind == "message" else "nuke.Panel.show")  # modal dialogs
    _standin.state.dialogs.append((kind, text, _standin.state.mode))


def message(prompt: str) -> None:
    """A message box in the GUI (the stand-in records it)."""
    _dialog("message", prompt)




def executing() -> bool:
    """True while nuke.execute renders (its render callbacks included)."""
    return bool(_standin.state.executing)


def executeInMainThread(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {}) -> None:
    """Run ``call`` on Nuke's main thread and return at once (nuke_internal/executeInMain.py).
    From the main thread itself Nuke hangs; the stand-in raises RuntimeError instead."""
    if type(args) is not tuple:
        args = (args,)
    _standin.post(call, args, kwargs, "nuke.executeInMainThread")


def executeInMainThreadWithResult(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {}) -> _t.Any:
    """Run ``call`` on Nuke's main thread and wait for its result (None when it raised: Nuke prints
    the traceback). From the main thread itself Nuke hangs; the stand-in raises RuntimeError."""
    if type(args) is not tuple:
        args = (args,)
    item = _standin.post(call, args, kwargs, "nuke.executeInMainThreadWithResult")
    item.done.wait()
    return item.result


class ProgressTask(object):
    """A progress bar with a cancel button (GUI); the stand-in records every update. Foundry's
    examples make and update it from worker threads, so any thread may."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.updates: _t.List[_t.Tuple[str, _t.Any]] = []
        _standin.state.tasks.append(self)

    def setProgress(self, i: int) -> None:
        if not isinstance(i, int):
            raise TypeError("setProgress takes an int, not {}".format(type(i).__name__))
        self.updates.append(("progress", i))
        if _standin.state.on_progress is not None:
            _standin.state.on_progress(self)

    def setMessage(self, s: str) -> None:
        if not isinstance(s, str):
            raise TypeError("setMessage takes a str")
        self.updates.append(("message", s))

    def isCancelled(self) -> bool:
        check = _standin.state.cancel_task
        return bool(check is not None and check(self))


class Panel(object):
    """A simple modal dialog of named fields (nuke.Panel); show() returns 1 for OK.

    What the user types comes from ``_standin.state.panel_answers`` (field -> value); a pulldown
    answer must be one of its items, a check box answer a bool."""

    def __init__(self, title: str) -> None:
        self._title = title
        self._fields: _t.Dict[str, _t.Any] = {}
        self._items: _t.Dict[str, _t.List[str]] = {}  # pulldown -> its items

    def title(self) -> str:
        return self._title

    def addFilenameSearch(self, name: str, value: str) -> bool:
        self._fields[name] = str(value)
        return True

    def addSingleLineInput(self, name: str, value: str) -> bool:
        self._fields[name] = str(value)
        return True

    def addBooleanCheckBox(self, name: str, value: bool) -> bool:
        self._fields[name] = bool(value)
        return True

    def addEnumerationPulldown(self, name: str, value: str) -> bool:
        """``value``: the items, space-separated; the first is selected."""
        self._items[name] = str(value).split()
        self._fields[name] = self._items[name][0] if self._items[name] else ""
        return True

    def show(self) -> int:
        state = _standin.state
        _dialog("panel", self._title)
        for name in self._fields:
            if name in state.panel_answers:
                answer = state.panel_answers[name]
                if name in self._items and answer not in self._items[name]:
                    raise ValueError("panel {!r}: {!r} is not one of {}".format(name, answer, self._items[name]))
                if isinstance(self._fields[name], bool) and not isinstance(answer, bool):
                    raise TypeError("panel {!r} is a check box: answer True or False".format(name))
                self._fields[name] = answer
        return 1 if state.panel_ok else 0

    def value(self, name: str) -> _t.Any:
        return self._fields.get(name)


# --- callbacks (nuke_internal/callbacks.py) ----------------------------------------------------------

def addOnCreate(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {}, nodeClass: str = "*") -> None:
    _callbacks.add("onCreate", call, args, kwargs, nodeClass)



def addOnUserCreate(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {}, nodeClass: str = "*") -> None:
    """Code to run when the user creates a node (createNode in the GUI), not when a script loads."""
    _callbacks.add("onUserCreate", call, args, kwargs, nodeClass)


def addFilenameFilter(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {}, nodeClass: str = "*") -> None:
    """A function that maps a file name before Nuke hands it to the operating system (Reads and
    Writes use it); it returns the new name, None for unchanged. Filters run newest first."""
    _callbacks.add("filenameFilter", call, args, kwargs, nodeClass)


def removeFilenameFilter(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {}, nodeClass: str = "*") -> None:
    _callbacks.remove("filenameFilter", call, args, kwargs, nodeClass)


def filenameFilter(filename: str) -> str:
    """``filename`` through the registered filters (nuke_internal/callbacks.py: the class-specific
    ones of the current node's class, then the '*' ones, each list newest first). With none
    registered Nuke runs the TCL ``filename_fix``, which returns the name unchanged."""
    registry = _standin.state.callbacks.get("filenameFilter", {})
    everyone = registry.get("*", [])
    chains = [everyone]
    if len(registry) > 1 or not everyone:
        stack = _standin.state.this_stack
        chains.insert(0, registry.get(stack[-1][0].Class(), []) if stack else [])
    for chain in chains:
        for call, args, kwargs, _node in chain[::-1]:
            mapped = call(filename, *args, **kwargs)
            if mapped is not None:
                filename = mapped
    return filename


def tcl(s: str, *args: _t.Any) -> str:
    """Run a TCL command (``nuke.tcl("value", "root.name")``); the stand-in runs the commands
    nuke/_tcl.py models and raises RuntimeError for any other."""
    from . import _tcl

    if not args:
        return _tcl.command(s, None)
    return _tcl.run([s] + [str(a) for a in args], None)


def addOnScriptLoad(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {}, nodeClass: str = "Root") -> None:
    _callbacks.add("onScriptLoad", call, args, kwargs, nodeClass)


def addKnobChanged(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {}, nodeClass: str = "*",
                   node: _t.Any = None) -> None:
    _callbacks.add("knobChanged", call, args, kwargs, nodeClass, node)



def addBeforeRender(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {}, nodeClass: str = "Write") -> None:
    _callbacks.add("beforeRender", call, args, kwargs, nodeClass)



def addBeforeFrameRender(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {}, nodeClass: str = "Write") -> None:
    _callbacks.add("beforeFrameRender", call, args, kwargs, nodeClass)


def removeBeforeFrameRender(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {},
                            nodeClass: str = "Write") -> None:
    _callbacks.remove("beforeFrameRender", call, args, kwargs, nodeClass)


def addAfterFrameRender(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {}, nodeClass: str = "Write") -> None:
    _callbacks.add("afterFrameRender", call, args, kwargs, nodeClass)


def addAfterRender(call: _t.Any, args: _t.Any = (), kwargs: _t.Any = {}, nodeClass: str = "Write") -> None:
    _callbacks.add("afterRender", call, args, kwargs, nodeClass)


for _cls in (MenuItem, Menu, MenuBar, ToolBar, NodeConstructor, Nodes, ProgressTask, Panel):
    _cls.__module__ = "nuke"
del _cls

_standin.reset()
