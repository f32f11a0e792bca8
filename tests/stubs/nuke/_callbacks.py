"""Callback registries with the semantics of Nuke 15's nuke_internal/callbacks.py.

``add`` stores (call, args, kwargs, node) under nodeClass, de-duplicating (remove, then append);
``run`` calls the class-specific list (``nuke.thisClass()``) and then the ``'*'`` list, keeping
entries whose node is None or the node itself.
"""
from __future__ import annotations

import typing as _t

from . import _standin

Entry = _t.Tuple[_t.Callable[..., _t.Any], tuple, dict, _t.Any]


def _registry(kind: str) -> _t.Dict[str, _t.List[Entry]]:
    return _standin.state.callbacks.setdefault(kind, {})


def add(kind: str, call: _t.Any, args: _t.Any, kwargs: _t.Any, nodeClass: str, node: _t.Any = None) -> None:
    if not callable(call):
        raise ValueError("call must be a callable")
    if type(args) is not tuple:
        args = (args,)
    if type(kwargs) is not dict:
        raise ValueError("kwargs must be a dictionary")
    entries = _registry(kind).setdefault(nodeClass, [])
    entry = (call, args, kwargs, node)
    if entry in entries:
        entries.remove(entry)
    entries.append(entry)


def remove(kind: str, call: _t.Any, args: _t.Any, kwargs: _t.Any, nodeClass: str, node: _t.Any = None) -> None:
    if type(args) is not tuple:
        args = (args,)
    entries = _registry(kind).get(nodeClass, [])
    entry = (call, args, kwargs, node)
    if entry in entries:
        entries.remove(entry)


def run(kind: str, node: _t.Any, knob: _t.Any = None) -> None:
    """Dispatch ``kind`` for ``node`` with nuke.thisNode()/thisKnob() set; exceptions propagate
    (Nuke aborts a render when a render callback raises)."""
    registry = _registry(kind)
    entries = list(registry.get(node.Class(), [])) + list(registry.get("*", []))
    state = _standin.state
    state.this_stack.append((node, knob))
    try:
        for call, args, kwargs, owner in entries:
            if owner is None or owner is node:
                call(*args, **kwargs)
    finally:
        state.this_stack.pop()
