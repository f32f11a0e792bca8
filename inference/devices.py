"""The ``--device`` flag shared by every stage: ``auto``, ``cpu`` or ``cuda``."""
from __future__ import annotations

from .errors import UsageError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str) -> str:
    """``cpu`` or ``cuda`` for a ``--device`` value (``auto``: CUDA when torch sees a GPU)."""
    import torch

    if device not in DEVICES:
        raise UsageError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is visible to torch here; use --device cpu")
    return device
