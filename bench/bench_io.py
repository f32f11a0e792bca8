"""EXR read/write frames per second at 2048x1080 half RGBA (ZIP and PIZ), 1 and N threads.

Writes bench/results/io.json (one entry per machine label). Run::

    python -m bench.bench_io --label dev-2core
    python -m bench.bench_io --label gpu-h100 --frames 96 --dir /dev/shm/io

Each run names ``pool`` (frames in flight on the engine's thread pool, the path the
pipeline uses) and ``library`` (OpenImageIO/OpenEXR's own threads inside one frame; 0 = auto).
"1 thread" is pool 1, library 1.

``--coders openexr,engine`` also measures the engine's own ZIP/ZIPS coder (``inference.exr_zip``):
on a CUDA machine with ``nvidia-nvcomp-cu12`` installed, nvCOMP on the GPU (``--device``); on a CPU,
its zlib twin (a check that it runs, not a contender). Each run records the coder that did the
work (``coder``: openexr, nvcomp or zlib; PIZ always goes through OpenEXR). Reads with the engine's
coder include the decoded frame's download to host memory (what ``read_image`` returns)::

    python -m bench.bench_io --label gpu-h100-zip --compressions zip --coders openexr,engine --dir /dev/shm/io
Frames go through the engine's own reader and atomic, fsync'd writer (EXR: OpenEXR bindings). Reads come from the page cache
(files were just written), so they measure decode, not the disk.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import OpenEXR
import OpenImageIO as oiio

from inference.demo.plate import render_frame
from inference.devices import DEVICES, resolve_device
from inference.image import Image, use_exr_coder
from inference.sequence import SequencePattern
from inference.sequence_io import default_threads, read_sequence, write_sequence

from .common import bench_parser, machine, merge_result

WIDTH, HEIGHT = 2048, 1080


def make_frames(count: int, seed: int = 3) -> list[Image]:
    """A few distinct plate frames with film grain (grain is what makes real plates compress poorly)."""
    rng = np.random.default_rng(seed)
    base = []
    for index in range(min(count, 4)):
        rgba = render_frame(index * 4, WIDTH, HEIGHT).select(["R", "G", "B", "A"]).as_float32()
        rgba[..., :3] *= 1 + rng.normal(0, 0.02, rgba[..., :3].shape).astype(np.float32)
        base.append(Image.from_array(rgba.astype(np.float16)))
    return [base[i % len(base)] for i in range(count)]


def set_library_threads(n: int) -> None:
    """Threads inside one file's encode/decode; 0 = one per core, 1 = in the calling thread."""
    oiio.attribute("threads", n)
    # OpenEXR: 0 means no pool (work in the caller); 1 would funnel every file through one worker.
    OpenEXR.set_global_thread_count(0 if n == 1 else (n or os.cpu_count() or 1))


def measure(folder: Path, frames: list[Image], compression: str, threads: int, library: int,
            coder: str = "openexr") -> dict:
    """Write then read ``frames``; ``coder`` is the coder in use (:func:`use_exr_coder`'s answer)."""
    pattern = SequencePattern.parse(str(folder / f"io_{compression}_{threads}_{library}_{coder}.####.exr"))
    numbers = list(range(1, len(frames) + 1))
    set_library_threads(library)
    start = time.perf_counter()
    write_sequence(pattern, zip(numbers, frames), compression=compression, threads=threads)
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in read_sequence(pattern, numbers, threads=threads):
        pass
    read_s = time.perf_counter() - start
    size = sum(Path(pattern.path(f)).stat().st_size for f in numbers) / len(numbers)
    return {"compression": compression, "coder": coder if compression.lower() in ("zip", "zips") else "openexr",
            "pool": threads, "library": library, "frames": len(frames),
            "write_fps": round(len(frames) / write_s, 1), "read_fps": round(len(frames) / read_s, 1),
            "mb_per_frame": round(size / 1e6, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--frames", type=int, default=24, help="frames per measurement (default 24)")
    parser.add_argument("--configs", default=f"1:1,{default_threads()}:1,{default_threads()}:0,1:0",
                        help="comma-separated POOL:LIBRARY thread pairs to measure "
                             "(default: 1:1,<cores>:1,<cores>:0,1:0)")
    parser.add_argument("--compressions", default="zip,piz", help="EXR compressions (default zip,piz)")
    parser.add_argument("--dir", type=Path, default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--coders", default="openexr",
                        help="comma-separated EXR coders to measure: openexr, engine (the engine's ZIP coder: "
                             "nvCOMP on CUDA, its zlib twin on a CPU), auto (default openexr)")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="where the engine's coder runs (default auto: CUDA when torch sees a GPU)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    folder = Path(tempfile.mkdtemp(prefix="restyle_io_", dir=args.dir))
    try:
        frames = make_frames(args.frames)
        configs = [tuple(int(v) for v in pair.split(":")) for pair in args.configs.split(",")]
        runs = [measure(folder, frames, compression, pool, library, use_exr_coder(choice, device))
                for choice in args.coders.split(",")
                for compression in args.compressions.split(",") for pool, library in configs]
    finally:
        use_exr_coder("openexr")
        shutil.rmtree(folder, ignore_errors=True)
    for run in runs:
        print(run)
    path = merge_result("io", args.label, {
        "machine": machine(), "resolution": [WIDTH, HEIGHT], "dtype": "half", "channels": "RGBA",
        "backend": f"OpenEXR {OpenEXR.__version__} Python bindings (EXR); OpenImageIO {oiio.__version__} (other types)", "scratch": str(args.dir or tempfile.gettempdir()),
        "atomic_fsync_writes": True, "device": device, "runs": runs})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
