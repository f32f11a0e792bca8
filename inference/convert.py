"""Convert a sequence between file types, bit depths and colourspaces.

Pipeline glue as much as a stage: bring painted PNG keyframes into linear EXR, or
write a plate's sRGB view for review. Only the colour channels are converted; other
channels (depth, vectors, AOVs) pass through untouched.
"""
from __future__ import annotations

from dataclasses import replace

from . import colour
from .image import Image
from .progress import Progress
from .sequence import SequencePattern
from .sequence_io import SequenceWriter, check_frames_exist, read_sequence


def convert_image(image: Image, src: str, dst: str) -> Image:
    """``image`` with its beauty channels moved from colourspace ``src`` to ``dst``."""
    beauty = image.beauty(alpha=False)
    rgb = colour.convert(beauty.as_float32(), src, dst)
    pixels = image.pixels.copy()
    for i, name in enumerate(beauty.channels):
        pixels[:, :, image.channels.index(name)] = rgb[:, :, i]
    return replace(image, pixels=pixels)


def convert_sequence(src_pattern: SequencePattern, frames: list[int], out_pattern: SequencePattern, *,
                     src_space: str | None = None, dst_space: str | None = None,
                     dtype: str | None = None, compression: str | None = None,
                     threads: int | None = None, progress_mode: str = "text") -> list[int]:
    """Convert ``frames`` of ``src_pattern`` into ``out_pattern``; returns frames written.

    The input's colourspace is the one its frames record, else the default by file type; the
    output's defaults as :func:`colour.output_colourspace` says, and each file records it. Every
    input frame is checked before it is used; a bad frame stops the run with its name and frame,
    and frames already written stay complete.
    """
    src_space = colour.file_colourspace(src_pattern.path(frames[0]), src_space)
    dst_space = colour.resolve_colourspace(dst_space or colour.output_colourspace(out_pattern.printf, src_space))
    check_frames_exist(src_pattern, frames)
    progress = Progress("convert", len(frames), progress_mode)
    with SequenceWriter(out_pattern, dtype=dtype, compression=compression, colourspace=dst_space,
                        threads=threads) as writer:
        for frame, image in read_sequence(src_pattern, frames, threads=threads, on_format=False):
            writer.write(frame, convert_image(image, src_space, dst_space))
            progress.advance()
    return sorted(writer.written)
