"""Reading and writing whole frame ranges with a thread pool.

OpenImageIO releases the GIL while it decodes and encodes, so a pool of threads keeps
several frames in flight. Reads stay in frame order and hold at most ``prefetch`` frames
in memory; every frame is checked (present, decodable, same size, same recorded colourspace,
finite colour) and a failure names the file and frame.
"""
from __future__ import annotations

import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .colour import COLOURSPACE_ATTRIBUTE, INTEROP_ATTRIBUTE
from .errors import ColourspaceMismatchError, MissingFramesError, OutputError, ResolutionMismatchError
from .image import Image, read_frame, read_image, write_image
from .sequence import SequencePattern, format_frame_range
from .workers import usable_cores


def default_threads() -> int:
    """Worker threads for file I/O: every core this process may use, at least two."""
    return usable_cores()


def check_frames_exist(pattern: SequencePattern, frames: list[int]) -> None:
    """Raise MissingFramesError listing every frame of ``frames`` not on disk."""
    missing = pattern.missing_frames(frames)
    if missing:
        raise MissingFramesError(
            f"{pattern}: {len(missing)} of {len(frames)} frame(s) missing: "
            f"{format_frame_range(missing)} (first expected file: {pattern.path(missing[0])})")


def _recorded(image: Image) -> str:
    """The colourspace ``image``'s file records in its header (``none`` when it records none)."""
    return image.attributes.get(COLOURSPACE_ATTRIBUTE) or image.attributes.get(INTEROP_ATTRIBUTE) or "none"


def _read_checked(path: str, check: Callable[[Image], None] | None, on_format: bool) -> Image:
    image = read_frame(path) if on_format else read_image(path)
    if check:
        check(image)
    return image


def read_sequence(pattern: SequencePattern, frames: list[int], *,
                  check: Callable[[Image], None] | None = None,
                  threads: int | None = None, prefetch: int | None = None, on_format: bool = True
                  ) -> Iterator[tuple[int, Image]]:
    """Yield ``(frame, image)`` in order, decoding ahead on a thread pool.

    Args:
        on_format: each frame on its display window (:meth:`~.image.Image.on_format`), so a bbox that
            changes from frame to frame or overscan is no error (False: the data window as stored).
        check: called on each image on the reading thread (e.g. ``lambda im: im.check_finite(...)``);
            may raise, which surfaces when that frame's turn comes.
        prefetch: frames decoded ahead of the consumer (bounds memory); default 2 x threads.

    Raises:
        MissingFramesError: before any decoding, if any frame is absent.
        ImageReadError / NonFiniteError / ResolutionMismatchError / ColourspaceMismatchError (frames
        recording different colourspaces, as a resumed render of another colourspace would leave) /
        whatever ``check`` raises, naming the frame.
    """
    check_frames_exist(pattern, frames)
    threads = threads or default_threads()
    prefetch = prefetch or 2 * threads
    first: Image | None = None
    with ThreadPoolExecutor(threads, thread_name_prefix="restyle-read") as pool:
        pending: deque[tuple[int, Future[Image]]] = deque()
        todo = iter(frames)
        try:
            for frame in todo:
                pending.append((frame, pool.submit(_read_checked, pattern.path(frame), check, on_format)))
                if len(pending) >= prefetch:
                    break
            while pending:
                frame, future = pending.popleft()
                image = future.result()
                first = first or image
                if image.size != first.size:
                    raise ResolutionMismatchError(
                        f"{image.source} (frame {frame}) is {image.size[0]}x{image.size[1]} but "
                        f"frame {frames[0]} is {first.size[0]}x{first.size[1]}; every frame of a "
                        "sequence must have one size")
                if _recorded(image) != _recorded(first):
                    raise ColourspaceMismatchError(
                        f"{image.source} (frame {frame}) records colourspace '{_recorded(image)}' but frame "
                        f"{frames[0]} records '{_recorded(first)}'; every frame of a sequence must be in one "
                        "colourspace: render the odd frames again, or convert them")
                next_frame = next(todo, None)
                if next_frame is not None:
                    pending.append((next_frame, pool.submit(_read_checked, pattern.path(next_frame), check, on_format)))
                yield frame, image
        finally:
            for _, future in pending:
                future.cancel()


def prepare_output(pattern: SequencePattern) -> None:
    """Create the output sequence's folder and prove it is writable, before any work starts."""
    ensure_writable_folder(pattern.directory)


def ensure_writable_folder(folder: Path) -> None:
    """Create ``folder`` if needed and prove it is writable.

    Raises:
        OutputError: naming the folder and why it cannot be written.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".restyle-write-test-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(
            f"output folder '{folder}' cannot be written ({exc.strerror or exc}); "
            "choose another --out or fix its permissions") from exc


class SequenceWriter:
    """Writes frames of one output pattern in the background, atomically, in parallel.

    Use as a context manager; leaving the block waits for every write and re-raises
    the first failure. ``colourspace``: the frames' OCIO colourspace, recorded in each file. Frames already written stay complete; none is left half-written.
    """

    def __init__(self, pattern: SequencePattern, *, dtype: str | None = None,
                 compression: str | None = None, colourspace: str | None = None, threads: int | None = None,
                 max_pending: int | None = None):
        prepare_output(pattern)
        self.pattern = pattern
        self._options = {"dtype": dtype, "compression": compression, "colourspace": colourspace}
        self._threads = threads or default_threads()
        self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="restyle-write")
        self._pending: deque[Future[None]] = deque()
        self._max_pending = max_pending or 2 * self._threads
        self.written: list[int] = []

    def write(self, frame: int, image: Image) -> None:
        """Queue one frame; blocks while ``max_pending`` writes are still running."""
        while len(self._pending) >= self._max_pending:
            self._pending.popleft().result()
        future = self._pool.submit(write_image, self.pattern.path(frame), image, **self._options)
        future.add_done_callback(lambda f, frame=frame: self._done(f, frame))
        self._pending.append(future)

    def _done(self, future: Future[None], frame: int) -> None:
        """Count a frame once its write finished; a cancelled (after an earlier failure) or failed
        write is not counted (its error is raised by close or write)."""
        if not future.cancelled() and future.exception() is None:
            self.written.append(frame)

    def close(self) -> None:
        """Wait for all queued writes; raise the first error."""
        try:
            while self._pending:
                self._pending.popleft().result()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "SequenceWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        self._pool.shutdown(wait=True, cancel_futures=True)


def write_sequence(pattern: SequencePattern, frames: Iterable[tuple[int, Image]], **options) -> list[int]:
    """Write ``(frame, image)`` pairs; returns the frames written."""
    with SequenceWriter(pattern, **options) as writer:
        for frame, image in frames:
            writer.write(frame, image)
    return sorted(writer.written)

