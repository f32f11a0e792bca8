"""Nuke-style image sequence patterns and frame ranges.

A pattern names every frame of a sequence with one frame token:
``plate.####.exr`` (one ``#`` per digit), ``plate.%04d.exr`` (printf, as Nuke writes it)
or ``plate.@@@@.exr`` (one ``@`` per digit). Frames wider than the padding print all their
digits, negative frames keep the sign in front of the padding (``-001``), as Nuke does.

Frame ranges use Nuke's syntax: ``1001``, ``1001-1100``, ``1001-1100x2`` and
comma-separated lists of those (``1001-1010,1020``).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import UsageError

_TOKEN = re.compile(r"(#+)|(@+)|%(0?)(\d*)d")
_RANGE_PART = re.compile(r"^\s*(-?\d+)(?:\s*-\s*(-?\d+)(?:\s*x\s*(\d+))?)?\s*$")


@dataclass(frozen=True)
class SequencePattern:
    """A parsed sequence pattern: ``prefix`` + zero-padded frame + ``suffix``."""

    prefix: str
    padding: int
    suffix: str

    @classmethod
    def parse(cls, text: str) -> "SequencePattern":
        """Parse ``name.####.exr``, ``name.%04d.exr`` or ``name.@@@@.exr``.

        Raises:
            UsageError: the pattern has no frame token or more than one.
        """
        text = str(text)
        name = os.path.basename(text)  # '' for a folder ('shots/#/')
        matches = list(_TOKEN.finditer(name))
        if text and not name:
            raise UsageError(
                f"sequence pattern '{text}' names a folder, not files: add the file name with its frame "
                f"token, e.g. {text}plate.####.exr")
        if not matches:
            raise UsageError(
                f"sequence pattern '{text}' has no frame token: write the frame number as "
                "#### (one # per digit), %04d or @@@@, e.g. plate.####.exr")
        if len(matches) > 1:
            raise UsageError(f"sequence pattern '{text}' has {len(matches)} frame tokens; use exactly one")
        match = matches[0]
        hashes, ats, _zero, width = match.groups()
        padding = len(hashes or ats or "") or (int(width) if width else 1)
        offset = len(text) - len(name)
        return cls(text[: offset + match.start()], padding, text[offset + match.end():])

    def path(self, frame: int) -> str:
        """File name of one frame."""
        sign = "-" if frame < 0 else ""
        return f"{self.prefix}{sign}{abs(frame):0{self.padding}d}{self.suffix}"

    @property
    def printf(self) -> str:
        """The pattern as Nuke's Read/Write ``file`` knob writes it (``name.%04d.exr``)."""
        return f"{self.prefix}%0{self.padding}d{self.suffix}"

    @property
    def hashes(self) -> str:
        return f"{self.prefix}{'#' * self.padding}{self.suffix}"

    @property
    def extension(self) -> str:
        return file_extension(self.suffix)

    @property
    def directory(self) -> Path:
        return Path(self.prefix).parent

    def existing_frames(self) -> list[int]:
        """Frames of this sequence that exist on disk, sorted."""
        name_prefix = Path(self.prefix).name
        regex = re.compile(re.escape(name_prefix) + r"(-?\d+)" + re.escape(self.suffix) + "$")
        if not self.directory.is_dir():
            return []
        frames = []
        for entry in self.directory.iterdir():
            match = regex.match(entry.name)
            if match and len(match.group(1).lstrip("-")) >= self.padding:
                frames.append(int(match.group(1)))
        return sorted(frames)

    def missing_frames(self, frames: list[int]) -> list[int]:
        return [f for f in frames if not Path(self.path(f)).is_file()]

    def __str__(self) -> str:
        return self.printf


def file_extension(path: str) -> str:
    """Lower-case extension without the dot; works on bare suffixes such as ``.exr``."""
    name = Path(str(path)).name
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


MAX_FRAMES = 1_000_000  # a range longer than any shot is a typo, not a render (and would exhaust memory)


def parse_frame_range(text: str | int) -> list[int]:
    """Frames named by a Nuke-style range string, in the order given, without repeats.

    Raises:
        UsageError: the text is not a range, a range runs backwards or has step 0.
    """
    if isinstance(text, int):
        return [text]
    frames: list[int] = []
    seen: set[int] = set()
    for part in str(text).split(","):
        match = _RANGE_PART.match(part)
        if not match:
            raise UsageError(
                f"frame range '{text}': cannot read '{part.strip()}'; use e.g. 1001, 1001-1100 or 1001-1100x2")
        first, last, step = match.groups()
        first_i = int(first)
        last_i = int(last) if last is not None else first_i
        step_i = int(step) if step is not None else 1
        if last_i < first_i:
            raise UsageError(f"frame range '{text}': '{part.strip()}' ends before it starts")
        if step_i < 1:
            raise UsageError(f"frame range '{text}': step must be 1 or more")
        if (last_i - first_i) // step_i + 1 + len(frames) > MAX_FRAMES:
            raise UsageError(f"frame range '{text}': more than {MAX_FRAMES:,} frames; check the numbers")
        for frame in range(first_i, last_i + 1, step_i):
            if frame not in seen:
                seen.add(frame)
                frames.append(frame)
    return frames


def format_frame_range(frames: list[int]) -> str:
    """Compact Nuke-style text for a list of frames (``1001-1005,1010``)."""
    parts: list[str] = []
    ordered = sorted(set(frames))
    start = prev = None
    for frame in ordered + [None]:
        if start is not None and frame == prev + 1:
            prev = frame
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = frame
    return ",".join(parts)
