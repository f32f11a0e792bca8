"""Two GPUs as two farm chunks: how much faster does a shot render on G workers than on one?

Generates a shot (``bench_pipeline.make_shot``: procedural half-EXR plate with Nuke vectors, a look
trained for a few steps, a reference frame), then times the full ``restyle render`` chain (restyle,
deflicker both with the plate's Nuke vectors, colour lock) as farm tasks run it, one process each:
``single``: one worker rendering all N frames with CUDA_VISIBLE_DEVICES=0 and every core;
``single_pinned``: the same on worker 0's share of the cores (how host-bound the chain is);
``chunked``: G workers at once, worker i rendering the i-th contiguous part of the range (a farm
chunk) with CUDA_VISIBLE_DEVICES=i, into one output as farm chunks do; ``chunked_pinned``: the
same with each worker on its own share of the cores, as a farm runs one worker per GPU;
``sequential``: the chunked run's tasks one after another on GPU 0 (the same work on one GPU:
``throughput_speedup`` = chunked fps / sequential fps is the farm's throughput scaling, with each
task's process start and handles in both). ``--rounds N`` repeats the chunked and sequential
runs N times in turn: the host's load from other guests changes from minute to minute, so the
throughput is the median of the rounds' ratios, each run next to the hypervisor's ``steal``
time (CPU seconds it gave to other guests during that run). ``--runs`` picks which; ``--env``
sets variables for every worker, e.g. RESTYLE_TORCH_COMPILE=1; ``--scratch`` puts the shot and its renders on another
disk, e.g. /dev/shm; ``--compression`` sets the renders' output codec, ``--plate-compression`` the
plate's. A zlib probe records how the host's CPUs scale from one worker's share to all (``host_cpu``).
A first short task per GPU fills torch.compile's kernel cache beforehand, as a worker's first task
does. Records fps over the wall time (process starts included: imports, CUDA, model load, as a farm
task pays them) and over the render alone (``render_fps``, from each render's own time), each
worker's start/end, how long all G ran at once, the speed-ups over the single worker and the
largest difference between the chunked and the single-worker frames. Writes bench/results/multigpu.json.

    python -m bench.bench_multigpu --label h100x2 [--size 2048x1080] [--frames 96] [--gpus 2] [--runs ...]
    python -m bench.bench_multigpu --label smoke --device cpu --size 256x144 --frames 8   (a CPU smoke test)
"""
from __future__ import annotations

import multiprocessing
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Callable

import numpy as np

from inference.demo.plate import PLATE_COLOURSPACE
from inference.errors import UsageError
from inference.image import exr_codec, read_image
from inference.sequence import SequencePattern

from .bench_pipeline import make_shot
from .common import bench_parser, machine, merge_result
from .record import physical_cores


def render_command(plate: SequencePattern, model: str, reference: str, first: int, last: int, out: Path,
                   report: Path, device: str, compression: str = "zip", vectors: str = "nuke") -> list[str]:
    """The full chain, as the farm's render tasks run it (see inference/farm/shot.py); ``vectors``:
    the plate's own (``nuke``) or flow measured on it (``dis``, as for live action)."""
    return [sys.executable, "-m", "inference.cli", "render", "--model", model, "--plate", plate.hashes,
            "--plate-colourspace", PLATE_COLOURSPACE, "--frames", f"{first}-{last}", "--out", str(out),
            "--deflicker", "both", "--vectors", vectors, "--reference", reference, "--report", str(report),
            "--device", device, "--compression", compression, "--progress", "none"]


RUNS = ("single", "single_pinned", "chunked", "chunked_pinned", "sequential")
RENDERED = re.compile(r"wrote (\d+) frame\(s\) to .* in ([\d.]+) s \([\d.]+ frames/s, ([\d.]+) CPU s/frame\)")
STAGES = re.compile(r"^time per stage: (.*)$", re.MULTILINE)


def stage_seconds(log: str) -> dict[str, float]:
    """A render's seconds per stage, from its ``time per stage:`` line (empty if it printed none)."""
    found = STAGES.search(log)
    if not found:
        return {}
    return {name: float(seconds) for name, seconds, _ in (item.rsplit(" ", 2) for item in found.group(1).split(", "))}


def core_shares(count: int) -> list[set[int]]:
    """This process's CPUs in ``count`` shares of whole physical cores (both hardware threads of a
    core in one share): worker i's cores when pinned, as a farm worker per GPU is given its part
    of the host (Deadline's CPU affinity per worker)."""
    allowed = os.sched_getaffinity(0)
    groups = [sorted(set(cpus) & allowed) for cpus in physical_cores().values()]
    groups = [g for g in groups if g] or [[c] for c in sorted(allowed)]
    bounds = np.linspace(0, len(groups), count + 1).round().astype(int)
    return [{cpu for group in groups[a:b] for cpu in group} for a, b in zip(bounds[:-1], bounds[1:])]


def _compress_for(cpu: int, seconds: float, counts) -> None:
    """One probe process: pinned to ``cpu``, zlib-compress 1 MB of half-float-like bytes (the
    work of an EXR ZIP encode) for ``seconds``; adds the MB done to ``counts``."""
    os.sched_setaffinity(0, {cpu})
    data = np.random.default_rng(cpu).normal(0.5, 0.1, 1 << 19).astype(np.float16).tobytes()
    done, end = 0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        zlib.compress(data, 4)
        done += 1
    with counts.get_lock():
        counts.value += done


def cpu_scaling(shares: list[set[int]], seconds: float = 3.0) -> dict:
    """Host CPU probe: MB/s of zlib on one process per CPU of the first share, then on every
    share's CPUs at once. ``scaling`` near the number of shares means the shares compute
    independently; much less means they share physical cores (hardware threads the guest
    reports as cores), caches or memory bandwidth: host work then slows each GPU worker when
    another runs."""
    context = multiprocessing.get_context("fork")

    def rate(cpus: list[int]) -> float:
        counts = context.Value("q", 0)
        procs = [context.Process(target=_compress_for, args=(cpu, seconds, counts)) for cpu in cpus]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
        return counts.value / seconds

    one, every = rate(sorted(shares[0])), rate(sorted(set().union(*shares)))
    return {"probe": "zlib level 4 on 1 MB, one process per CPU", "share0_cpus": len(shares[0]),
            "share0_mb_s": round(one, 1), "all_cpus": len(set().union(*shares)), "all_mb_s": round(every, 1),
            "scaling": round(every / one, 3)}


def steal_seconds() -> float | None:
    """CPU seconds this guest's CPUs have waited for the hypervisor since boot (``steal`` in
    /proc/stat, every CPU); None where the kernel does not report it."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else None


def with_steal(run: Callable[[], dict]) -> dict:
    """``run()``'s record with the steal time during it (``steal_s``) when the kernel reports it."""
    before = steal_seconds()
    result = run()
    after = steal_seconds()
    if before is not None and after is not None:
        result["steal_s"] = round(after - before, 2)
    return result


def throughput_rounds(rounds: list[dict[str, dict]], best: str) -> list[float]:
    """Per round, the best chunked run's fps over the sequential run's (the farm's throughput scaling)."""
    return [round(r[best]["fps"] / r["sequential"]["fps"], 3) for r in rounds]


def exit_times(processes: list[subprocess.Popen], poll_s: float = 0.01) -> list[float]:
    """Each process's end (epoch s), read when that process exits: waiting on them in turn would
    stamp one that ended first with the end of those before it."""
    ends: dict[int, float] = {}
    while len(ends) < len(processes):
        for i, process in enumerate(processes):
            if i not in ends and process.poll() is not None:
                ends[i] = time.time()
        time.sleep(poll_s)
    return [ends[i] for i in range(len(processes))]


def run_workers(commands: list[tuple[list[str], str, set[int] | None]], logs: Path,
                env: dict[str, str] | None = None) -> list[dict]:
    """Start every (command, CUDA_VISIBLE_DEVICES, cores or None) at once, wait for all; each one's
    start/end (epoch s) and the render's own seconds (from its log: the process start excluded)."""
    logs.mkdir(parents=True, exist_ok=True)
    running = []
    for i, (command, gpu, cores) in enumerate(commands):
        log = open(logs / f"worker{i}.log", "w")
        pin = (lambda share=cores: os.sched_setaffinity(0, share)) if cores else None
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pin,
                                   env={**os.environ, **(env or {}), "CUDA_VISIBLE_DEVICES": gpu})
        running.append((process, log, time.time(), command, gpu, cores))
    ends = exit_times([process for process, *_ in running])
    workers = []
    for i, ((process, log, start, command, gpu, cores), end) in enumerate(zip(running, ends)):
        code = process.returncode
        log.close()
        text = (logs / f"worker{i}.log").read_text()
        if code != 0:
            sys.exit(f"worker {i} (CUDA_VISIBLE_DEVICES={gpu}) failed with exit {code}:\n"
                     + "\n".join(text.splitlines()[-15:]))
        rendered = RENDERED.search(text)
        workers.append({"cuda_visible_devices": gpu, "frames": command[command.index("--frames") + 1],
                        "cores": len(cores) if cores else len(os.sched_getaffinity(0)), "start": start, "end": end,
                        "render_s": float(rendered.group(2)) if rendered else None,
                        "cpu_s_per_frame": float(rendered.group(3)) if rendered else None,
                        "stage_s": stage_seconds(text)})
    return workers


def timing(workers: list[dict], frames: int, sequential: bool = False) -> dict:
    """fps over the wall time from the first start to the last end (``fps``, process starts included,
    as a farm task pays them) and over the renders alone (``render_fps``: the longest one, or their
    sum for workers run one after another); per worker start/end relative to the first start;
    ``all_running_s``: how long every worker ran at the same time (overlap proof; not for workers
    run one after another)."""
    t0 = min(w["start"] for w in workers)
    wall = max(w["end"] for w in workers) - t0
    renders = [w["render_s"] or 0.0 for w in workers]
    render = sum(renders) if sequential else max(renders)
    cpu = [w["cpu_s_per_frame"] for w in workers if w["cpu_s_per_frame"] is not None]
    overlap = {} if sequential else {
        "all_running_s": round(min(w["end"] for w in workers) - max(w["start"] for w in workers), 2)}
    return {"frames": frames, "wall_s": round(wall, 2), "fps": round(frames / wall, 3),
            "render_fps": round(frames / render, 3) if render else None,
            "cpu_s_per_frame": round(float(np.mean(cpu)), 3) if cpu else None, **overlap,
            "workers": [{"cuda_visible_devices": w["cuda_visible_devices"], "frames": w["frames"], "cores": w["cores"],
                         "start_s": round(w["start"] - t0, 2), "end_s": round(w["end"] - t0, 2),
                         "wall_s": round(w["end"] - w["start"], 2), "render_s": w["render_s"],
                         "cpu_s_per_frame": w["cpu_s_per_frame"], "stage_s": w.get("stage_s", {})}
                        for w in workers]}


def parts(frames: int, count: int) -> list[tuple[int, int]]:
    """1..frames in ``count`` contiguous parts, as equal as they come (a farm's chunks of one shot)."""
    bounds = np.linspace(0, frames, count + 1).round().astype(int)
    return [(int(a) + 1, int(b)) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


def max_difference(a: SequencePattern, b: SequencePattern, frames: int) -> float:
    return max(float(np.abs(read_image(a.path(f)).as_float32() - read_image(b.path(f)).as_float32()).max())
               for f in range(1, frames + 1))


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--size", default="2048x1080", help="plate resolution WxH (default 2048x1080)")
    parser.add_argument("--frames", type=int, default=96, help="frames in the shot (default 96)")
    parser.add_argument("--gpus", type=int, default=2, help="workers (GPUs) in the chunked runs (default 2)")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                        help="cuda (default); cpu for a smoke test, where CUDA_VISIBLE_DEVICES does nothing")
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma list of {', '.join(RUNS)} (default all)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the chunked and sequential runs this many times in turn; the throughput "
                             "is the median of the rounds (default 1)")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="environment variable for every worker (repeatable)")
    parser.add_argument("--scratch", help="folder for the shot and its renders (default: the system's temp folder)")
    parser.add_argument("--compression", default="zip", help="the renders' output EXR compression (default zip)")
    parser.add_argument("--plate-compression", default="zip", help="the generated plate's EXR compression (default zip)")
    args = parser.parse_args(argv)
    runs_wanted = args.runs.split(",")
    if not set(runs_wanted) <= set(RUNS) or not {"single"} & set(runs_wanted):
        sys.exit(f"--runs: choose from {', '.join(RUNS)}, including single (the baseline)")
    env = dict(item.split("=", 1) for item in args.env)
    for flag, name in (("--compression", args.compression), ("--plate-compression", args.plate_compression)):
        try:
            exr_codec(name, flag)  # refused by name before the shot is made
        except UsageError as error:
            sys.exit(str(error))
    width, height = (int(v) for v in args.size.lower().split("x"))
    if args.device == "cuda":
        import torch

        if torch.cuda.device_count() < args.gpus:
            sys.exit(f"--gpus {args.gpus} but this machine has {torch.cuda.device_count()} CUDA device(s)")
    shares = core_shares(args.gpus)
    chunks = parts(args.frames, args.gpus)
    host_cpu = cpu_scaling(shares)
    print(f"host CPU: {host_cpu['all_cpus']} CPUs do {host_cpu['scaling']}x the zlib work of "
          f"{host_cpu['share0_cpus']} (one worker's share)", flush=True)
    with tempfile.TemporaryDirectory(prefix="restyle_multigpu_", dir=args.scratch) as scratch:
        work = Path(scratch)
        print(f"making a {args.size} shot of {args.frames} frames and training its look", flush=True)
        plate, model, reference = make_shot(work, args.frames, width, height, args.plate_compression)

        def single(name: str, cores: set[int] | None = None) -> dict:
            out = work / name / "out.####.exr"
            result = timing(run_workers([(render_command(plate, model, reference, 1, args.frames, out, work / f"{name}_qc",
                                                         args.device, args.compression), "0", cores)], work / f"logs_{name}", env),
                            args.frames)
            print(f"  {name}: one worker, {result['fps']} fps ({result['render_fps']} rendering, "
                  f"{result['cpu_s_per_frame']} CPU s/frame)", flush=True)
            return {**result, "output": SequencePattern.parse(str(out))}

        def chunked(name: str, pinned: bool) -> dict:
            out = work / name / "out.####.exr"
            commands = [(render_command(plate, model, reference, first, last, out, work / f"{name}_qc" / f"chunk.{first}",
                                        args.device, args.compression), str(i), shares[i] if pinned else None)
                        for i, (first, last) in enumerate(chunks)]
            result = timing(run_workers(commands, work / f"logs_{name}", env), args.frames)
            print(f"  {name}: {len(chunks)} workers, {result['fps']} fps ({result['render_fps']} rendering, "
                  f"{result['cpu_s_per_frame']} CPU s/frame), "
                  f"all running together {result['all_running_s']} s", flush=True)
            return {**result, "output": SequencePattern.parse(str(out)), "command_worker0": shlex.join(commands[0][0][1:])}

        def sequential() -> dict:
            """The chunked run's tasks one after another on GPU 0: the same work, one GPU."""
            out = work / "sequential" / "out.####.exr"
            workers = [worker for i, (first, last) in enumerate(chunks) for worker in run_workers(
                [(render_command(plate, model, reference, first, last, out, work / "sequential_qc" / f"chunk.{first}",
                                 args.device, args.compression), "0", None)], work / f"logs_sequential{i}", env)]
            result = timing(workers, args.frames, sequential=True)
            print(f"  sequential: {len(chunks)} tasks one after another on one GPU, {result['fps']} fps "
                  f"({result['render_fps']} rendering, {result['cpu_s_per_frame']} CPU s/frame)", flush=True)
            return {**result, "output": SequencePattern.parse(str(out))}

        for gpu in range(args.gpus):  # a worker's first task compiles the deflicker's fused kernels (cached after)
            run_workers([(render_command(plate, model, reference, 1, 8, work / "warm" / f"w{gpu}.####.exr",
                                         work / "warm_qc", args.device), str(gpu), None)], work / "logs_warm", env)

        start = {"single": lambda: single("single"), "single_pinned": lambda: single("single_pinned", shares[0]),
                 "sequential": sequential,
                 "chunked": lambda: chunked("chunked", pinned=False),
                 "chunked_pinned": lambda: chunked("chunked_pinned", pinned=True)}
        runs = {name: with_steal(start[name]) for name in RUNS if name in runs_wanted}
        repeated = [name for name in ("chunked", "chunked_pinned", "sequential") if name in runs]
        rounds = [runs] + [{name: with_steal(start[name]) for name in repeated} for _ in range(args.rounds - 1)]
        for name in ("single_pinned", "chunked", "chunked_pinned", "sequential"):
            if name in runs:
                run, one = runs[name], runs["single"]
                run["speedup"] = round(run["fps"] / one["fps"], 3)
                run["speedup_rendering"] = round(run["render_fps"] / one["render_fps"], 3) if run["render_fps"] else None
                run["max_abs_diff_vs_single"] = max_difference(run["output"], one["output"], args.frames)
                print(f"  {name} vs single: speed-up {run['speedup']} ({run['speedup_rendering']} rendering), "
                      f"max diff {run['max_abs_diff_vs_single']:.2e}", flush=True)
    for run in [run for each in rounds for run in each.values()]:
        run.pop("output", None)
    best = max((n for n in ("chunked", "chunked_pinned") if n in runs), key=lambda n: runs[n]["speedup"], default=None)
    record = {"machine": machine(), "device": args.device, "resolution": [width, height], "gpus": len(chunks),
              "chain": "restyle + deflicker both (radius 4, Nuke vectors) + colour lock; restyle render defaults",
              "env": env, "scratch": args.scratch or tempfile.gettempdir(), "compression": args.compression,
              "plate_compression": args.plate_compression, "host_cpu": host_cpu,
              "cores_per_pinned_worker": [len(c) for c in shares], "runs": runs, "best": best,
              "speedup": runs[best]["speedup"] if best else None,
              "efficiency": round(runs[best]["speedup"] / len(chunks), 3) if best else None}
    if best and "sequential" in runs:  # farm throughput: the same tasks on G GPUs at once vs on one
        record["throughput_speedup_rendering"] = round(runs[best]["render_fps"] / runs["sequential"]["render_fps"], 3)
        record["throughput_rounds"] = throughput_rounds(rounds, best)
        record["throughput_speedup"] = round(float(np.median(record["throughput_rounds"])), 3)
        record["rounds"] = [{name: {key: run.get(key) for key in ("fps", "render_fps", "wall_s", "steal_s")}
                             for name, run in each.items()} for each in rounds[1:]]
        print(f"throughput: {record['throughput_speedup']}x (rounds {record['throughput_rounds']}; first round "
              f"{record['throughput_speedup_rendering']}x rendering) for the same {len(chunks)} tasks on "
              f"{len(chunks)} GPUs at once vs one after another", flush=True)
    print(f"speed-up {record['speedup']} ({best}) on {len(chunks)} workers", flush=True)
    print(f"wrote {merge_result('multigpu', args.label, record)}")


if __name__ == "__main__":
    main()
