"""Deflicker's settings: the one copy of their defaults (the CLI's help, the manifest's job and
every deflicker entry point read them here). Imports nothing heavy: the CLI reads it at start-up."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError

MODES = ("global", "local", "both")
VECTORS = ("dis", "blender", "nuke")  # where the plate's motion comes from: DIS optical flow, or its own vectors


@dataclass(frozen=True)
class DeflickerSettings:
    """How a sequence is deflickered (``restyle deflicker`` and the render's deflicker stage)."""

    mode: str = "both"  # global, local, or both (global, then local)
    strength: float = 1.0  # 0-1: how much of the correction is applied
    radius: int = 4  # frames each side an output frame averages (one pass)
    vectors: str = "dis"  # one of VECTORS
    handles: int | None = None  # frames read each side of a range; None: what an output frame depends on
    device: str = "auto"  # standalone runs: cpu (numpy/OpenCV), cuda (torch) or auto; a render runs it where it restyles

    @property
    def reach(self) -> int:
        """Frames each side an output frame depends on ("both" chains two passes of radius r)."""
        return self.radius * (2 if self.mode == "both" else 1)

    @property
    def context(self) -> int:
        """Frames read each side of a range: ``handles``, else :attr:`reach` (a chunk then equals
        a whole-shot pass)."""
        return self.reach if self.handles is None else self.handles

    def check(self) -> None:
        """Raises UsageError (naming the flags) for a mode, vectors, strength or radius out of range."""
        if self.mode not in MODES or self.vectors not in VECTORS:
            raise UsageError(f"--mode {self.mode} / --vectors {self.vectors}: choose from {MODES} / {VECTORS}")
        if not 0.0 <= self.strength <= 1.0 or self.radius < 1:
            raise UsageError("--strength must be within 0-1 and --radius at least 1")
