"""How big should a farm task be? One GPU rendering a shot as tasks of N frames, one after another.

Each farm task is a fresh ``restyle render`` process over its chunk: it pays the process start
(imports, CUDA, model load) and restyles its handles (the deflicker's and the colour lock's frames
each side, which the neighbouring tasks restyle again). Generates a shot like the pipeline
benchmark, then for each ``--chunks`` size renders the whole shot as tasks of that size in turn on
one GPU (as one farm worker takes them) and records fps over the wall time, over the renders alone,
and seconds per task. Writes bench/results/farm_chunks.json.

    python -m bench.bench_farm_chunks --label h100 [--size 2048x1080] [--frames 96] [--chunks 8,32,96]
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from .bench_multigpu import parts, render_command, run_workers, timing
from .bench_pipeline import make_shot
from .common import bench_parser, machine, merge_result


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--size", default="2048x1080", help="plate resolution WxH (default 2048x1080)")
    parser.add_argument("--frames", type=int, default=96, help="frames in the shot (default 96)")
    parser.add_argument("--chunks", default="8,32,96", help="task sizes in frames, comma list (default 8,32,96)")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda", help="cuda (default); cpu for a smoke test")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.chunks.split(",")]
    if min(sizes) < 1:
        sys.exit("--chunks: task sizes must be at least 1 frame")
    width, height = (int(v) for v in args.size.lower().split("x"))
    runs = {}
    with tempfile.TemporaryDirectory(prefix="restyle_farm_chunks_") as scratch:
        work = Path(scratch)
        print(f"making a {args.size} shot of {args.frames} frames and training its look", flush=True)
        plate, model, reference = make_shot(work, args.frames, width, height)
        for size in sizes:
            out = work / f"tasks{size}" / "out.####.exr"
            workers = [worker for i, (first, last) in enumerate(parts(args.frames, -(-args.frames // size)))
                       for worker in run_workers([(render_command(plate, model, reference, first, last, out,
                                                                  work / f"qc{size}" / f"chunk.{first}", args.device),
                                                   "0", None)], work / f"logs{size}_{i}")]
            result = timing(workers, args.frames, sequential=True)
            runs[str(size)] = {"tasks": len(workers), "seconds_per_task": round(result["wall_s"] / len(workers), 2),
                               **{k: v for k, v in result.items() if k != "workers"}}
            print(f"  tasks of {size} frames: {len(workers)} tasks, {result['fps']} fps "
                  f"({result['render_fps']} rendering), {runs[str(size)]['seconds_per_task']} s per task", flush=True)
    record = {"machine": machine(), "device": args.device, "resolution": [width, height], "frames": args.frames,
              "chain": "restyle + deflicker both (radius 4, Nuke vectors) + colour lock; restyle render defaults",
              "runs": runs}
    print(f"wrote {merge_result('farm_chunks', args.label, record)}")


if __name__ == "__main__":
    main()
