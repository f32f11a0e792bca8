"""Errors the engine raises on bad input, each mapped to a process exit code.

Every error message names what to fix (file, frame, channel or manifest field).
Exit codes follow BSD sysexits so farm wrappers can tell input faults from crashes.
"""
from __future__ import annotations

EX_QC_FAILED = 3     # colourlock QC failed: a swatch off its target, a repainted one, NaN/Inf (a farm QC gate)
EX_USAGE = 64        # bad flag or manifest field
EX_DATAERR = 65      # input data is wrong (corrupt, NaN, mismatched)
EX_NOINPUT = 66      # input file or frame missing
EX_UNAVAILABLE = 69  # the farm cannot be reached or refused the job
EX_SOFTWARE = 70     # internal error, or the GPU out of memory with nothing left to shrink
EX_CANTCREAT = 73    # cannot create output


class RestyleError(Exception):
    """Base of every error the engine reports to a user."""

    exit_code = EX_DATAERR


class UsageError(RestyleError):
    """A flag, pattern or frame range that cannot be understood."""

    exit_code = EX_USAGE


class KeyCheckError(UsageError):
    """Training ended with a model that does not reproduce its painted keys (written, marked failed)."""


class ManifestError(UsageError):
    """A job-manifest field is missing or invalid; the message names the field."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"manifest field '{field}': {problem}")
        self.field = field


class MissingFramesError(RestyleError):
    """Frames of a requested range are not on disk."""

    exit_code = EX_NOINPUT


class MissingFileError(RestyleError):
    """A file or folder the job names (comp script, model, QC reports) is not there."""

    exit_code = EX_NOINPUT


class FarmError(RestyleError):
    """The farm's submission tool is missing, or the farm refused the job."""

    exit_code = EX_UNAVAILABLE


class ImageReadError(RestyleError):
    """A file exists but cannot be decoded (truncated, corrupt, wrong format)."""


class ChannelError(RestyleError):
    """A required channel or layer is missing from a file."""


class NonFiniteError(RestyleError):
    """NaN or infinite values in channels that must hold finite pixels."""


class ResolutionMismatchError(RestyleError):
    """Frames of one sequence do not share one data window size."""


class ColourspaceMismatchError(RestyleError):
    """Frames of one sequence record different colourspaces in their headers."""


class OutputError(RestyleError):
    """An output location cannot be written."""

    exit_code = EX_CANTCREAT


class ModelError(RestyleError):
    """A model file is missing, damaged, or lacks what the engine needs to run it."""


class GpuMemoryError(RestyleError):
    """The GPU ran out of memory even at the smallest batch and tile the engine falls back to."""

    exit_code = EX_SOFTWARE
