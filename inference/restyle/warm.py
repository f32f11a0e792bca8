"""Looks kept loaded between the jobs of one engine process (``restyle serve``): reading and
checking a model file, and opening its backend (an onnxruntime session, or the network on the
GPU), are paid once per look version, not once per job.

A look is known by its file (path, size, modification time, inode), so a retrained or replaced
file is loaded afresh; the last :data:`LOOKS_KEPT` looks are kept. Jobs run one at a time in a
process (the lock only guards the tables).
"""
from __future__ import annotations

import collections
import os
import threading
from typing import Callable

from .backends import Backend, select_backend
from .model_file import RestyleModel, load_model, require_key_check
from .settings import RuntimeSettings

LOOKS_KEPT = 2  # looks (model + backend) kept loaded: the one rendered now and the one before

_lock = threading.Lock()
_models: collections.OrderedDict[tuple, RestyleModel] = collections.OrderedDict()
_backends: collections.OrderedDict[tuple, tuple[RestyleModel, Backend]] = collections.OrderedDict()


def _file_key(path: str) -> tuple:
    stat = os.stat(path)
    return os.path.realpath(path), stat.st_size, stat.st_mtime_ns, stat.st_ino


def _keep(table: collections.OrderedDict, key: tuple, value) -> None:
    table[key] = value
    while len(table) > LOOKS_KEPT:
        table.popitem(last=False)


def checked_model(path: str) -> RestyleModel:
    """:func:`~.model_file.load_model` and :func:`~.model_file.require_key_check`, kept for the
    next job (a refused model is never kept: the error is raised each time)."""
    key = _file_key(path) if os.path.isfile(path) else None
    with _lock:
        model = _models.get(key) if key else None
        if model is not None:
            _models.move_to_end(key)
            return model
    model = require_key_check(load_model(path))
    if key:
        with _lock:
            _keep(_models, key, model)
    return model


def backend_for(model: RestyleModel, runtime: RuntimeSettings, log: Callable[[str], None]) -> Backend:
    """:func:`~.backends.select_backend` for the runtime's choice, kept with its model."""
    key = (id(model), runtime.backend, runtime.device, runtime.dtype)
    with _lock:
        kept = _backends.get(key)
        if kept is not None and kept[0] is model:  # the id of a model no longer kept may be reused
            _backends.move_to_end(key)
            log(f"backend {kept[1].name} {kept[1].dtype} already loaded for {model.path}")
            return kept[1]
    runner = select_backend(model, runtime.backend, runtime.device, runtime.dtype, log=log)
    with _lock:
        _keep(_backends, key, (model, runner))
    return runner
