"""``restyle demo``'s settings: the one copy of its defaults (the demo and its help read them).
Light on purpose: the command line imports it for every command."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoSettings:
    """The generated shot and how long its look trains."""

    out: str = "restyle_demo"  # folder of everything the demo writes
    frames: int = 24  # frames of procedural plate
    size: str = "640x360"  # WIDTHxHEIGHT
    seed: int = 7  # seed of the procedural textures
    train_seconds: float = 60.0  # training time of the restyle stage
