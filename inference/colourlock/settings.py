"""ColourLock's settings: the one copy of their defaults (the CLI's help, the manifest's job and
every colour-lock entry point read them here). Imports nothing heavy: the CLI reads it at start-up."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import UsageError

if TYPE_CHECKING:
    from .swatches import Swatch

METHODS = ("mkl", "lstsq")


@dataclass(frozen=True)
class HoldSettings:
    """How brand swatches are held on their targets (the one copy of these defaults)."""

    feather: float = 8.0  # pixels over which a swatch's correction fades out
    iterations: int = 2  # passes that settle overlapping swatches
    max_hold: float = 3.0  # furthest a hold may move a swatch, in multiples of its tolerance (ΔE00)

    def __post_init__(self):
        if not (isinstance(self.max_hold, (int, float)) and math.isfinite(self.max_hold) and self.max_hold > 0):
            raise UsageError(f"--max-hold must be a number of swatch tolerances greater than 0, got {self.max_hold!r}")
        if not (math.isfinite(self.feather) and self.feather >= 0):
            raise UsageError(f"swatch feather must be 0 or more pixels, got {self.feather!r}")

    def limit(self, swatch: Swatch) -> float:
        """The largest correction (ΔE00) a hold may make to ``swatch``."""
        return self.max_hold * swatch.tolerance


@dataclass(frozen=True)
class ColourLockSettings:
    """A colour lock (``restyle colourlock`` and the render's colour-lock stage): what to lock to,
    where its QC report goes, and how it fits."""

    reference: str  # the approved frame
    report: str  # folder of the QC report
    swatches: str | None = None  # brand swatches (JSON)
    reference_colourspace: str | None = None  # None: what the reference records, else by file type
    method: str = "mkl"  # mkl: match colour distributions; lstsq: pixel-aligned least squares
    sigma: float = 2.0  # temporal smoothing of the correction, in frames
    lut: bool = False  # also fit a 3D LUT per frame
    lut_size: int = 33  # its points per side
    hold: HoldSettings = HoldSettings()
    device: str = "cpu"  # standalone runs: where the per-pixel lock runs (torch); a render locks where it restyles
