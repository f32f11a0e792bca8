"""A farm task's truth: ``restyle render`` started cold, plates not in the page cache, time to first frame.

Generates a shot (as the pipeline benchmark: EXR plates with Nuke motion vectors, a trained look,
a colour reference), then for each plate kind runs the full chain as ONE fresh ``restyle render``
process over the whole shot, as a farm task starts it:

- ``render``: a CG render, the plate's own motion vectors (``--vectors nuke``);
- ``live``: live action, no vectors: flow measured on the plate (``--vectors dis``).

Before each run every plate file is dropped from the page cache (``posix_fadvise`` DONTNEED after
an fsync, which needs no root), so the render reads from disk as a farm task on a fresh node does.
Figures: ``first_frame_s`` (process start to the first finished output frame on disk: imports,
CUDA start, model load, first reads and kernels), ``wall_s``/``fps`` (process start to exit),
``render_fps`` (the render's own, process start excluded), CPU s per frame, seconds per stage.
Writes bench/results/fresh_render.json.

    python -m bench.bench_fresh_render --label LABEL [--size 2048x1080] [--frames 48] [--kinds render,live]
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inference.sequence import SequencePattern

from .bench_multigpu import RENDERED, render_command, stage_seconds
from .bench_pipeline import make_shot
from .common import bench_parser, machine, merge_result

KINDS = {"render": "nuke", "live": "dis"}  # plate kind: --vectors


def drop_from_page_cache(paths: list[str]) -> None:
    """Ask the kernel to forget the cached pages of ``paths`` (written back first)."""
    for path in paths:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def first_file(process: subprocess.Popen, out: SequencePattern, first: int, poll_s: float = 0.005) -> float | None:
    """Seconds until ``out``'s frame ``first`` exists (the writer renames finished frames into place),
    or None if the process ended without writing it."""
    start = time.perf_counter()
    target = out.path(first)
    while not os.path.exists(target):
        if process.poll() is not None:
            return None
        time.sleep(poll_s)
    return time.perf_counter() - start


def fresh_run(command: list[str], out: SequencePattern, first: int, frames: int, log: Path) -> dict:
    """One cold ``restyle render`` process: its figures (see the module docstring)."""
    with open(log, "w") as sink:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
        first_frame = first_file(process, out, first)
        code = process.wait()
        wall = time.perf_counter() - start
    text = log.read_text()
    if code != 0:
        sys.exit(f"restyle render failed with exit {code}:\n" + "\n".join(text.splitlines()[-15:]))
    rendered = RENDERED.search(text)
    return {"first_frame_s": round(first_frame, 3) if first_frame is not None else None, "wall_s": round(wall, 2),
            "fps": round(frames / wall, 2), "render_fps": round(frames / float(rendered.group(2)), 2) if rendered else None,
            "cpu_s_per_frame": float(rendered.group(3)) if rendered else None, "stage_s": stage_seconds(text)}


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--size", default="2048x1080", help="plate resolution WxH (default 2048x1080)")
    parser.add_argument("--frames", type=int, default=48, help="frames in the shot (default 48)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma list of {', '.join(KINDS)} (default both)")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cuda (default); cpu for a smoke test")
    parser.add_argument("--scratch", help="folder for the shot and its renders (default: the system's temp folder; "
                                          "on a farm node, its local disk)")
    args = parser.parse_args(argv)
    kinds = args.kinds.split(",")
    if unknown := set(kinds) - set(KINDS):
        sys.exit(f"--kinds: unknown {', '.join(sorted(unknown))}; choose from {', '.join(KINDS)}")
    width, height = (int(v) for v in args.size.lower().split("x"))
    runs = {}
    with tempfile.TemporaryDirectory(prefix="restyle_fresh_", dir=args.scratch) as scratch:
        work = Path(scratch)
        print(f"making a {args.size} shot of {args.frames} frames and training its look", flush=True)
        plate, model, reference = make_shot(work, args.frames, width, height)
        for kind in kinds:
            out = SequencePattern.parse(str(work / kind / "out.####.exr"))
            command = render_command(plate, model, reference, 1, args.frames, Path(out.path(1)).parent / "out.####.exr",
                                     work / f"qc_{kind}", args.device, vectors=KINDS[kind])
            drop_from_page_cache([plate.path(f) for f in range(1, args.frames + 1)] + [model])
            runs[kind] = {"vectors": KINDS[kind], **fresh_run(command, out, 1, args.frames, work / f"{kind}.log")}
            print(f"  {kind}: first frame {runs[kind]['first_frame_s']} s, {runs[kind]['fps']} fps "
                  f"({runs[kind]['render_fps']} rendering)", flush=True)
    record = {"machine": machine(), "device": args.device, "resolution": [width, height], "frames": args.frames,
              "dtype": "half-float ZIP EXR in and out", "page_cache": "plates and model dropped (posix_fadvise) before each run",
              "chain": "restyle + deflicker both (radius 4) + colour lock; restyle render defaults", "runs": runs}
    print(f"wrote {merge_result('fresh_render', args.label, record)}")


if __name__ == "__main__":
    main()
