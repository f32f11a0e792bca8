"""``restyle render``'s settings: its stages' settings and how it chunks and writes, the one copy of
their defaults. Imports nothing heavy: the CLI reads it at start-up."""
from __future__ import annotations

from dataclasses import dataclass

from .colourlock.settings import ColourLockSettings
from .restyle.settings import DetailSettings, RuntimeSettings
from .temporal.settings import DeflickerSettings


@dataclass(frozen=True)
class RenderSettings:
    """One streaming pass: restyle (``runtime``, ``detail``), then deflicker and colour lock when
    set (None: the stage is off; their ``device`` is the restyle's), in chunks."""

    runtime: RuntimeSettings = RuntimeSettings()
    detail: DetailSettings = DetailSettings()
    deflicker: DeflickerSettings | None = None
    colourlock: ColourLockSettings | None = None
    chunk: int = 32  # output frames per chunk: memory holds a chunk and its handles
    # ... but the first chunk is this small, so the first frames land after a few frames' work
    # (with the keys' detail, every frame a chunk restyles is walked to first)
    first_chunk: int = 4
    compression: str | None = None  # the output EXR's; None: zip
    skip_existing: bool = False  # keep frames already in the output that decode at the plate's size


@dataclass(frozen=True)
class RenderBenchSettings:
    """What ``restyle bench`` (``bench/bench_pipeline.py``) measures of the render by default."""

    sizes: str = "2048x1080,3840x2160"  # frame sizes, WIDTHxHEIGHT comma list
    frames: int = 64  # frames generated per size
    compression: str = "zip"  # output EXR compressions, comma list
    plate_compression: str = "zip"  # the generated plate's EXR compression
