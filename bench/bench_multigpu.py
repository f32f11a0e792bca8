"""Two GPUs as two farm chunks: how much faster does a shot render on G workers than on one?

Generates a shot (``bench_pipeline.make_shot``: procedural half-EXR plate with Nuke vectors, a look
trained for a few steps, a reference frame), then times the full ``restyle render`` chain (restyle,
deflicker both with the plate's Nuke vectors, colour lock) as farm tasks run it, one process each:
(a) one worker rendering all N frames with CUDA_VISIBLE_DEVICES=0; (b) G workers at once, worker i
rendering the i-th contiguous part of the range (a farm chunk) with CUDA_VISIBLE_DEVICES=i, into one
output as farm chunks do. Wall times include each process's start (imports, CUDA, model load), as
a farm task pays them; a first short task per GPU fills torch.compile's kernel cache beforehand,
as a worker's first task does, so neither run pays compilation. Records fps of both, speed-up = fps_b / fps_a, each worker's start/end
(seconds after the first start) and how long all G ran at once, and the largest difference
between the chunked and the single-worker frames. Writes bench/results/multigpu.json.

    python -m bench.bench_multigpu --label h100x2 [--size 2048x1080] [--frames 96] [--gpus 2]
    python -m bench.bench_multigpu --label smoke --device cpu --size 256x144 --frames 8   (a CPU smoke test)
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from inference.demo.plate import PLATE_COLOURSPACE
from inference.image import read_image
from inference.pipeline_bench import make_shot
from inference.sequence import SequencePattern

from .common import bench_parser, machine, merge_result


def render_command(plate: SequencePattern, model: str, reference: str, first: int, last: int, out: Path,
                   report: Path, device: str) -> list[str]:
    """The full chain, as the farm's render tasks run it (see inference/farm/shot.py)."""
    return [sys.executable, "-m", "inference.cli", "render", "--model", model, "--plate", plate.hashes,
            "--plate-colourspace", PLATE_COLOURSPACE, "--frames", f"{first}-{last}", "--out", str(out),
            "--deflicker", "both", "--vectors", "nuke", "--reference", reference, "--report", str(report),
            "--device", device, "--progress", "none"]


def run_workers(commands: list[tuple[list[str], str]], logs: Path) -> list[dict]:
    """Start every (command, CUDA_VISIBLE_DEVICES) at once, wait for all; each one's start/end (epoch s)."""
    logs.mkdir(parents=True, exist_ok=True)
    running = []
    for i, (command, gpu) in enumerate(commands):
        log = open(logs / f"worker{i}.log", "w")
        env = dict(os.environ, CUDA_VISIBLE_DEVICES=gpu)
        running.append((subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env), log, time.time(),
                        command, gpu))
    workers = []
    for i, (process, log, start, command, gpu) in enumerate(running):
        code = process.wait()
        end = time.time()
        log.close()
        if code != 0:
            tail = (logs / f"worker{i}.log").read_text().splitlines()[-15:]
            sys.exit(f"worker {i} (CUDA_VISIBLE_DEVICES={gpu}) failed with exit {code}:\n" + "\n".join(tail))
        frames = command[command.index("--frames") + 1]
        workers.append({"cuda_visible_devices": gpu, "frames": frames, "start": start, "end": end})
    return workers


def timing(workers: list[dict], frames: int) -> dict:
    """fps over the wall time from the first start to the last end; per worker start/end relative to
    the first start; ``all_running_s``: how long every worker ran at the same time (overlap proof)."""
    t0 = min(w["start"] for w in workers)
    wall = max(w["end"] for w in workers) - t0
    return {"frames": frames, "wall_s": round(wall, 2), "fps": round(frames / wall, 3),
            "all_running_s": round(min(w["end"] for w in workers) - max(w["start"] for w in workers), 2),
            "workers": [{"cuda_visible_devices": w["cuda_visible_devices"], "frames": w["frames"],
                         "start_s": round(w["start"] - t0, 2), "end_s": round(w["end"] - t0, 2),
                         "wall_s": round(w["end"] - w["start"], 2)} for w in workers]}


def parts(frames: int, count: int) -> list[tuple[int, int]]:
    """1..frames in ``count`` contiguous parts, as equal as they come (a farm's chunks of one shot)."""
    bounds = np.linspace(0, frames, count + 1).round().astype(int)
    return [(int(a) + 1, int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--size", default="2048x1080", help="plate resolution WxH (default 2048x1080)")
    parser.add_argument("--frames", type=int, default=96, help="frames in the shot (default 96)")
    parser.add_argument("--gpus", type=int, default=2, help="workers (GPUs) in run (b) (default 2)")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                        help="cuda (default); cpu for a smoke test, where CUDA_VISIBLE_DEVICES does nothing")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.device == "cuda":
        import torch

        if torch.cuda.device_count() < args.gpus:
            sys.exit(f"--gpus {args.gpus} but this machine has {torch.cuda.device_count()} CUDA device(s)")
    with tempfile.TemporaryDirectory(prefix="restyle_multigpu_") as scratch:
        work = Path(scratch)
        print(f"[1/4] making a {args.size} shot of {args.frames} frames and training its look", flush=True)
        plate, model, reference = make_shot(work, args.frames, width, height)
        for gpu in range(args.gpus):  # a worker's first task compiles the deflicker's fused kernels (cached after)
            run_workers([(render_command(plate, model, reference, 1, 8, work / "warm" / f"w{gpu}.####.exr",
                                         work / "warm_qc", args.device), str(gpu))], work / "logs_warm")

        print(f"[2/4] (a) one worker, frames 1-{args.frames}, CUDA_VISIBLE_DEVICES=0", flush=True)
        single_out = work / "single" / "out.####.exr"
        single = timing(run_workers([(render_command(plate, model, reference, 1, args.frames, single_out,
                                                     work / "single_qc", args.device), "0")], work / "logs_a"),
                        args.frames)
        print(f"      {single['fps']} fps, {single['wall_s']} s", flush=True)

        chunks = parts(args.frames, args.gpus)
        print(f"[3/4] (b) {len(chunks)} workers at once, chunks {chunks}", flush=True)
        multi_out = work / "multi" / "out.####.exr"
        commands = [(render_command(plate, model, reference, first, last, multi_out,
                                    work / "multi_qc" / f"chunk.{first}", args.device), str(i))
                    for i, (first, last) in enumerate(chunks)]
        multi = timing(run_workers(commands, work / "logs_b"), args.frames)
        print(f"      {multi['fps']} fps, {multi['wall_s']} s; all running together for {multi['all_running_s']} s",
              flush=True)

        print("[4/4] comparing the chunked frames with the single worker's", flush=True)
        a, b = SequencePattern.parse(str(single_out)), SequencePattern.parse(str(multi_out))
        diff = max(float(np.abs(read_image(a.path(f)).as_float32() - read_image(b.path(f)).as_float32()).max())
                   for f in range(1, args.frames + 1))
    speedup = round(multi["fps"] / single["fps"], 3)
    record = {"machine": machine(), "device": args.device, "resolution": [width, height], "gpus": len(chunks),
              "chain": "restyle + deflicker both (radius 4, Nuke vectors) + colour lock; restyle render defaults",
              "command_worker0_b": shlex.join(commands[0][0][1:]),
              "single": single, "multi": multi, "speedup": speedup,
              "efficiency": round(speedup / len(chunks), 3), "max_abs_diff_chunked_vs_single": diff}
    print(f"speed-up {speedup} on {len(chunks)} workers; chunked vs single max diff {diff:.2e}", flush=True)
    print(f"wrote {merge_result('multigpu', args.label, record)}")


if __name__ == "__main__":
    main()
