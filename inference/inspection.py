"""Check a whole image sequence before slow work starts and summarise what it holds."""
from __future__ import annotations

from typing import Any

from .colour import default_colourspace, file_colourspace
from .image import Image
from .progress import Progress
from .sequence import SequencePattern, format_frame_range
from .sequence_io import read_sequence


def inspect_sequence(pattern: SequencePattern, frames: list[int], *, threads: int | None = None,
                     progress_mode: str = "text") -> dict[str, Any]:
    """Decode every frame and report size, windows, channels and layers.

    Raises:
        MissingFramesError, ImageReadError, ResolutionMismatchError, ChannelError,
        NonFiniteError: the first problem found, naming the file and frame.
    """
    progress = Progress("inspect", len(frames), progress_mode)
    first: Image | None = None
    for _frame, image in read_sequence(pattern, frames, threads=threads, on_format=False):
        first = first or image
        progress.advance()
    assert first is not None
    return {
        "pattern": pattern.printf,
        "frames": format_frame_range(frames),
        "frame_count": len(frames),
        "size": list(first.size),
        "data_window": list(vars(first.data_window).values()),
        "display_window": list(vars(first.display_window).values()),
        "pixel_type": first.file_format,
        "channels": list(first.channels),
        "layers": {k or "(rgba)": v for k, v in first.layers().items()},
        "beauty": list(dict.fromkeys(first.beauty_channels())),
        "colourspace": file_colourspace(pattern.path(frames[0])),
        "default_colourspace": default_colourspace(pattern.suffix),
    }
