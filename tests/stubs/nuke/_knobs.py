"""Knob classes of the stand-in, with the method names and parameters of Nuke 15.0v1's.

Each class also knows its TCL type id (the number ``addUserKnob {ID name ...}`` uses in .nk and
.gizmo files) and how to read its value from .nk text (``_parse``) and write it (``_script``).
"""
from __future__ import annotations

import functools as _functools
import typing as _t

_FLAG_NAMES = {"STARTLINE": 4096, "INVISIBLE": 1024, "DISABLED": 128, "READ_ONLY": 268435456, "DO_NOT_WRITE": 512}


class Knob(object):
    """A modifiable control that appears (unless hidden) in the panel for a node."""

    _tcl_id = -1
    _default: _t.Any = ""

    def __init__(self, name: str, label: _t.Optional[str] = None, *args: _t.Any) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError("knob name must be a non-empty str")
        self._name = name
        self._label = name if label is None else label
        self._tooltip = ""
        self._flags = 0
        self._value = self._default
        self._node: _t.Any = None

    def Class(self) -> str:
        return type(self).__name__

    def name(self) -> str:
        return self._name

    def label(self) -> str:
        return self._label

    def setLabel(self, s: str) -> None:
        self._label = s

    def tooltip(self) -> str:
        return self._tooltip

    def setTooltip(self, s: str) -> None:
        self._tooltip = s

    def node(self) -> _t.Any:
        return self._node

    def setFlag(self, f: int) -> None:
        self._flags |= f

    def clearFlag(self, f: int) -> None:
        self._flags &= ~f

    def getFlag(self, f: int) -> bool:
        return bool(self._flags & f)

    def setVisible(self, visible: bool) -> None:
        if visible:
            self.clearFlag(_FLAG_NAMES["INVISIBLE"])
        else:
            self.setFlag(_FLAG_NAMES["INVISIBLE"])

    def visible(self) -> bool:
        return not self.getFlag(_FLAG_NAMES["INVISIBLE"])

    def setEnabled(self, enabled: bool) -> None:
        if enabled:
            self.clearFlag(_FLAG_NAMES["DISABLED"])
        else:
            self.setFlag(_FLAG_NAMES["DISABLED"])

    def enabled(self) -> bool:
        return not self.getFlag(_FLAG_NAMES["DISABLED"])

    def value(self, *args: _t.Any, **kwargs: _t.Any) -> _t.Any:
        return self._value

    def getValue(self, *args: _t.Any, **kwargs: _t.Any) -> _t.Any:
        return self.value()

    def setValue(self, val: _t.Any, chan: _t.Any = None) -> bool:
        self._value = val
        return True

    # --- .nk text (not API) ---
    def _parse(self, text: str) -> None:
        self._value = text

    def _script(self) -> str:
        return str(self._value)

    def __repr__(self) -> str:
        return "<{} {!r}>".format(type(self).__name__, self._name)


class String_Knob(Knob):
    """A knob which holds a string value."""

    _tcl_id = 1

    def __init__(self, name: str, label: _t.Optional[str] = None, value: _t.Optional[str] = None) -> None:
        Knob.__init__(self, name, label)
        if value is not None:
            self.setValue(value)

    def value(self, oc: _t.Any = None) -> str:
        return self._value

    def getText(self, oc: _t.Any = None) -> str:
        return self._value

    def setValue(self, val: str, view: str = "default") -> None:
        if not isinstance(val, str):
            raise TypeError("value must be str, not {}".format(type(val).__name__))
        self._value = val


class EvalString_Knob(String_Knob):
    """A string knob whose value is a TCL expression: evaluate() substitutes the TCL the stand-in
    models (``_tcl``: ``[value ...]``, ``[file dirname ...]``, ``[getenv ...]``, ``$env(...)``)."""

    def evaluate(self) -> str:
        from . import _tcl
        return _tcl.evaluate(self._value, self._node)


class File_Knob(EvalString_Knob):
    """A file name."""

    _tcl_id = 2

    def __init__(self, name: str, label: _t.Optional[str] = None) -> None:
        EvalString_Knob.__init__(self, name, label)

    def getEvaluatedValue(self) -> str:
        return self.evaluate()

    def getValue(self, oc: _t.Any = None) -> str:
        return self._value

    def fromUserText(self, s: str) -> None:
        self.setValue(s)

    def fromScript(self, s: str) -> None:
        self.setValue(s)


class MultiView_Knob(Knob):
    """The project's views (Root ▸ views): one view a line, its name then an optional colour, as
    Foundry's nukescripts.stereo.setViewsForStereo sets them:
    ``nuke.root().knob('views').fromScript('left #ff0000\\nright #00ff00')``. A new script has
    the one view ``main``."""

    _default = "main"

    def fromScript(self, s: str) -> None:
        self._value = str(s)

    def toScript(self, quote: bool = False, context: _t.Any = None) -> str:
        return self._value

    def _names(self) -> _t.List[str]:
        """The view names, in order (not API: behind nuke.views())."""
        return [line.split()[0] for line in self._value.splitlines() if line.strip()]


class Multiline_Eval_String_Knob(EvalString_Knob):
    _tcl_id = 1  # saved like a string knob


class PythonKnob(String_Knob):
    """Python code of a node callback knob (knobChanged, onCreate...)."""


class Script_Knob(String_Knob):
    """A button; PyScript_Knob runs Python."""

    _tcl_id = 21

    def __init__(self, name: str, label: _t.Optional[str] = None, command: _t.Optional[str] = None) -> None:
        String_Knob.__init__(self, name, label, command or "")

    def command(self) -> str:
        return self._value

    def value(self) -> str:
        return self._value

    def setCommand(self, cmd: str) -> None:
        self.setValue(cmd)

    def setValue(self, cmd: str) -> None:
        String_Knob.setValue(self, cmd)

    def execute(self) -> None:
        """Press the button: run the command with thisNode/thisKnob set, as Nuke does. The stand-in
        records how long the command held the main thread (``_standin.state.holds``)."""
        import time

        from . import _nodes, _standin
        start = time.perf_counter()
        try:
            _nodes.run_python(self._value, self._node, self)
        finally:
            _standin.record_hold(self._node, self, time.perf_counter() - start)


class PyScript_Knob(Script_Knob):
    _tcl_id = 22


class Text_Knob(Knob):
    """Text (or a divider line) shown in the panel."""

    _tcl_id = 26

    def __init__(self, name: str, label: _t.Optional[str] = None, text: _t.Optional[str] = None) -> None:
        Knob.__init__(self, name, label)
        self._value = text or ""

    def value(self, *args: _t.Any, **kwargs: _t.Any) -> str:
        return self._value

    def setValue(self, val: str, chan: _t.Any = None) -> bool:
        self._value = str(val)
        return True


class Tab_Knob(Knob):
    _tcl_id = 20

    def __init__(self, name: str, label: _t.Optional[str] = None, type: _t.Any = None) -> None:
        Knob.__init__(self, name, label)


class Array_Knob(Knob):
    """One or more numbers (the stand-in keeps one), optionally animated.

    Animation as in Nuke: setValueAt keys a frame; value() is the value at the current frame;
    setValue on an animated knob keys the current frame. The stand-in holds the previous key's
    value between keys and the nearest key's outside them (Nuke interpolates smoothly between keys:
    code that needs exact values keys every frame it reads)."""

    _tcl_id = 7
    _default: _t.Any = 0.0
    _cast: _t.Callable[[_t.Any], _t.Any] = float
    _keys: _t.Optional[_t.Dict[float, _t.Any]] = None

    def value(self, index: _t.Any = None, view: _t.Any = None, time: _t.Any = None) -> _t.Any:
        return self._now() if time is None else self.valueAt(time)

    def setValue(self, value: _t.Any, index: _t.Any = None, time: _t.Any = None, view: _t.Any = None) -> bool:
        self._set_now(self._cast(value))
        return True

    def _now(self) -> _t.Any:
        from . import _standin
        return self._value if self._keys is None else self.valueAt(_standin.state.frame)

    def _set_now(self, value: _t.Any) -> None:
        from . import _standin
        if self._keys is None:
            self._value = value
        else:
            self._keys[float(_standin.state.frame)] = value

    def setAnimated(self, index: _t.Any = None, view: _t.Any = None) -> bool:
        """Animate the knob: its current value becomes a key at the current frame."""
        from . import _standin
        if self._keys is None:
            self._keys = {float(_standin.state.frame): self._value}
        return True

    def isAnimated(self, index: _t.Any = None, view: _t.Any = None) -> bool:
        return self._keys is not None

    def clearAnimated(self, index: _t.Any = None, view: _t.Any = None) -> bool:
        """Remove the animation; the knob keeps its value at the current frame."""
        self._value = self._now()
        self._keys = None
        return True

    def setValueAt(self, value: _t.Any, time: _t.Any, index: _t.Any = None, view: _t.Any = None) -> bool:
        """A key at frame ``time`` (the knob becomes animated)."""
        self.setAnimated()
        self._keys[float(time)] = self._cast(value)  # type: ignore[index]
        return True

    def hasExpression(self, index: _t.Any = None) -> bool:
        """The stand-in evaluates no TCL expressions, so no knob has one."""
        return False

    def valueAt(self, time: _t.Any, index: _t.Any = None, view: _t.Any = None) -> _t.Any:
        if self._keys is None:
            return self._value
        times = sorted(self._keys)
        before = [t for t in times if t <= float(time)]
        return self._keys[before[-1] if before else times[0]]

    def _parse(self, text: str) -> None:
        self._value = self._cast(float(text))


class Double_Knob(Array_Knob):
    def __init__(self, name: str, label: _t.Optional[str] = None) -> None:
        Array_Knob.__init__(self, name, label)


class Int_Knob(Array_Knob):
    _tcl_id = 3
    _default = 0
    _cast = int

    def __init__(self, name: str, label: _t.Optional[str] = None) -> None:
        Array_Knob.__init__(self, name, label)

    def value(self) -> int:
        return self._now()

    def setValue(self, val: _t.Any) -> bool:
        if isinstance(val, bool) or not isinstance(val, (int, float)):
            raise TypeError("an integer is required, not {}".format(type(val).__name__))
        self._set_now(int(val))
        return True


class Boolean_Knob(Array_Knob):
    _tcl_id = 6
    _default = False

    def __init__(self, name: str, label: _t.Optional[str] = None, value: _t.Any = None) -> None:
        Array_Knob.__init__(self, name, label)
        self._value = bool(value)

    def value(self) -> bool:
        return self._value

    def setValue(self, b: _t.Any) -> bool:
        self._value = bool(b)
        return True

    def _parse(self, text: str) -> None:
        self._value = text.lower() in ("true", "1")

    def _script(self) -> str:
        return "true" if self._value else "false"


class Unsigned_Knob(Array_Knob):
    _default = 0

    def value(self) -> _t.Any:
        return self._value

    def setValue(self, val: _t.Any) -> bool:
        self._value = int(val)
        return True


class Enumeration_Knob(Unsigned_Knob):
    """A choice among named items; value() is the item's name."""

    _tcl_id = 4

    def __init__(self, name: str, label: str, items: _t.Sequence[str]) -> None:
        Unsigned_Knob.__init__(self, name, label)
        self._items = [str(i) for i in items]
        self._value = 0

    def values(self) -> _t.List[str]:
        return list(self._items)

    def numValues(self) -> int:
        return len(self._items)

    def enumName(self, n: int) -> str:
        return self._items[n]

    def value(self) -> str:
        return self._items[self._value] if self._items else ""

    def setValue(self, item: _t.Any) -> None:
        if isinstance(item, str):
            if item not in self._items:
                raise ValueError("{}: no item {!r} (items: {})".format(self._name, item, self._items))
            self._value = self._items.index(item)
        else:
            self._value = int(item)

    def setValues(self, items: _t.Sequence[str]) -> None:
        current = self.value()
        self._items = [str(i) for i in items]
        self._value = self._items.index(current) if current in self._items else 0

    def _parse(self, text: str) -> None:
        self.setValue(text if text in self._items else int(text))

    def _script(self) -> str:
        return self.value()


BY_TCL_ID = {k._tcl_id: k for k in (String_Knob, File_Knob, Script_Knob, PyScript_Knob, Text_Knob, Tab_Knob,
                                    Double_Knob, Int_Knob, Boolean_Knob, Enumeration_Knob)}
FLAGS = _FLAG_NAMES


# Knob changes (and pressing a button) belong to Nuke's main thread (../shared/NUKE.md, "Threading").
_MUTATORS = ("setValue", "setValues", "setCommand", "setLabel", "setTooltip", "setFlag", "clearFlag", "setVisible",
             "setEnabled", "fromUserText", "fromScript", "execute", "setAnimated", "clearAnimated", "setValueAt")


def _main_only(method: _t.Callable[..., _t.Any]) -> _t.Callable[..., _t.Any]:
    @_functools.wraps(method)
    def guarded(self: Knob, *args: _t.Any, **kwargs: _t.Any) -> _t.Any:
        from . import _standin
        if not _standin.on_main_thread():
            owner = self._node.fullName() + "." if self._node is not None else ""
            _standin.require_main("{}{}.{}".format(owner, self._name, method.__name__))
        return method(self, *args, **kwargs)
    return guarded


for _cls in list(globals().values()):
    if isinstance(_cls, type) and issubclass(_cls, Knob):
        for _name in _MUTATORS:
            if _name in _cls.__dict__:
                setattr(_cls, _name, _main_only(_cls.__dict__[_name]))
del _cls
