"""Deflicker's settings: the one copy of their defaults (the CLI's help, the manifest's job and
every deflicker entry point read them here). Imports nothing heavy: the CLI reads it at start-up."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError

MODES = ("global", "local", "both")
# where the plate's motion comes from: DIS optical flow, its own vectors, or auto (its own vectors
# when its first frame carries a Blender Vector pass or Nuke forward/backward layers, else DIS)
VECTORS = ("dis", "blender", "nuke", "auto")
FLOW_BACKENDS = ("auto", "torch", "opencv")  # who computes the DIS flow (FlowSettings)

# The local pass's tuning, shared by its numpy (local_deflicker) and torch (local_deflicker_torch) paths.
# Temporal Gaussian of the neighbour weights: sigma = radius (flat-ish window; 0.5 * radius
# leaves sceneA_painting at 1.46x the plate's E_warp instead of 1.15x).
TIME_SIGMA_PER_RADIUS = 1.0
# Gaussian (pixels) over which the plate's squared mismatch is averaged (patch distance).
PATCH_BLUR = 1.0
# tau^2 = tolerance^2 + (NOISE_FACTOR)^2 * median mismatch of the immediate neighbours.
NOISE_FACTOR = 6.0
# Without a plate the frames themselves are the guide, blurred (pixels) against their flicker.
FRAME_GUIDE_BLUR = 2.0
# Motion-boundary clause of the occlusion test in the chained visibility (local_deflicker's doc).
MOTION_BOUNDARIES = False


@dataclass(frozen=True)
class LocalWeights:
    """How the local pass weighs and splits what its neighbours bring (local_deflicker's doc)."""

    sigma: float = 16.0  # spatial scale (px) below which frequencies come from the temporal average whatever detail
    detail: float = 1.0  # fraction in [0, 1] of the fine (above-sigma) flicker also removed
    tolerance: float = 0.05  # sRGB difference of the warped plate at which a neighbour's weight falls to exp(-1/2)


@dataclass(frozen=True)
class FlowSettings:
    """Which DIS optical flow measures a plate's motion where it carries no vectors (deflicker's
    device path, the keys' detail walk, training's temporal pairs): ``torch`` (the batched torch
    DIS of :mod:`.flow_torch`, on the work's device) or ``opencv`` (OpenCV's DIS medium, CPU)."""

    # auto: opencv. The torch DIS is the more accurate but, on an H100 with 16 vCPUs, the slower
    # (0.56 s for both 2K flows against OpenCV's 0.29 s; bench/results/flow.json, label gpu), and
    # a fresh render's first frame came later with it (fresh_render.json, gpu-2k-torchflow).
    backend: str = "auto"

    def resolve(self) -> str:
        """``"torch"`` or ``"opencv"`` (the torch DIS runs on the work's device).

        Raises:
            UsageError: a backend not in FLOW_BACKENDS.
        """
        if self.backend not in FLOW_BACKENDS:
            raise UsageError(f"flow backend {self.backend!r}: choose from {FLOW_BACKENDS}")
        return "opencv" if self.backend == "auto" else self.backend


@dataclass(frozen=True)
class DeflickerSettings:
    """How a sequence is deflickered (``restyle deflicker`` and the render's deflicker stage)."""

    mode: str = "both"  # global, local, or both (global, then local)
    strength: float = 1.0  # 0-1: how much of the correction is applied
    radius: int = 4  # frames each side an output frame averages (one pass)
    vectors: str = "auto"  # one of VECTORS
    handles: int | None = None  # frames read each side of a range; None: what an output frame depends on
    device: str = "auto"  # standalone runs: cpu (numpy/OpenCV), cuda (torch) or auto; a render runs it where it restyles
    flow: FlowSettings = FlowSettings()  # DIS flow's backend on the device path (vectors "dis")

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
