"""A strict stand-in for Foundry Nuke's ``nuke`` module, for tests run without Nuke.

Only names that exist in Foundry's API (``../shared/nuke_api.json``, the Nuke 15.0v1 interpreter dump)
are exposed, with their documented signatures; anything not implemented raises AttributeError, and a
wrong call shape raises TypeError as Nuke's C extension does. Grow it as the plug-in needs more API.

Test-only controls (process mode, version, start-up emulation) live in ``nuke._standin``; they are
not part of Nuke's API. Imports are underscored so they do not pose as ``nuke`` attributes.
"""
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
    if type(args) != tuple and type(args) != list:
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
    if type(args) != tuple and type(args) != list:
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


for _cls in (MenuItem, Menu, MenuBar, ToolBar):
    _cls.__module__ = "nuke"
del _cls

_standin.reset()
