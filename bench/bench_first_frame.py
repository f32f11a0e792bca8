"""First-frame latency: from asking the engine for frame N, as the Nuke node asks (a one-frame
``render`` job through ``nuke_plugin.engine.run``), to that frame's file on disk.

Three ways, on generated material (``bench_pipeline.make_shot``: procedural plate, a look trained
for a few steps; speed does not depend on how well) at each ``--sizes``:

- ``cold``: an engine process of its own for the job (imports, model load, first use), as every
  job ran before the warm engine and as it still runs when the warm engine cannot start;
- ``warm_new_look``: the session's warm engine (``restyle serve``, already started), first job of a
  look: the model is read, checked and its backend opened;
- ``warm``: the warm engine with the look loaded.

Each is timed ``--repeats`` times on a different frame (median kept) for the restyle alone (the
RestyleLook node: deflicker off, keyframe detail off) and, at ``--deflicker-sizes``, for the render
with its deflicker on (``both``, radius 4: the frames it reaches each side are restyled too).
The time is to the moment the file appears (polled every 2 ms), and to the job's end.
Stores bench/results/first_frame.json under ``--label``.

    OMP_NUM_THREADS=1 python -m bench.bench_first_frame --label dev-2core-cpu --device cpu
    python -m bench.bench_first_frame --label gpu-h100 --sizes 960x540,2048x1080 --deflicker-sizes 2048x1080
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from inference.sequence import SequencePattern
from inference.temporal.settings import VECTORS, DeflickerSettings
from nuke_plugin import engine

from .bench_pipeline import make_shot
from .common import bench_parser, machine, merge_result

ROOT = Path(__file__).resolve().parents[1]
DEFLICKER = DeflickerSettings(mode="both")  # the Deflicker node's default mode, the engine's radius


def time_to_file(manifest: Path, target: Path, cold: bool) -> dict[str, float]:
    """Run the one-frame job; seconds until ``target`` exists and until the job ended."""
    seen: list[float] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set() and not seen:
            if target.exists():
                seen.append(time.perf_counter())
            time.sleep(0.002)

    watcher = threading.Thread(target=poll, daemon=True)
    start = time.perf_counter()
    watcher.start()
    # an ``env`` (here an empty one) keeps a job off the warm engine: a process of its own
    engine.run("render", str(manifest), lambda event: None, lambda: False, env={} if cold else None)
    ended = time.perf_counter()
    done.set()
    watcher.join()
    if not target.exists():
        raise RuntimeError(f"{target} was not written")
    return {"to_file_s": round((seen[0] if seen else ended) - start, 3), "job_s": round(ended - start, 3)}


def one_frame_job(folder: Path, shot: dict[str, Any], frame: int, deflicker: bool, device: str,
                  vectors: str) -> tuple[Path, Path]:
    """The Restyle node's render manifest for one frame (a new output folder each time); ``vectors``:
    the deflicker's plate motion (``dis``: a live-action plate's optical flow, though it has vectors)."""
    folder.mkdir(parents=True)
    out = SequencePattern.parse(str(folder / "restyle.####.exr"))
    manifest = {"version": 1, "stage": "render", "model": shot["model"], "plate": shot["plate"],
                "frames": f"{frame}-{frame}", "out": str(out), "detail": 0, "device": device,
                "deflicker": DEFLICKER.mode if deflicker else "off", "vectors": vectors}
    (folder / "job.json").write_text(json.dumps(manifest))
    return folder / "job.json", Path(out.path(frame))


def measure(scratch: Path, shot: dict[str, Any], frames: list[int], deflicker: bool, device: str,
            vectors: str) -> dict[str, Any]:
    """Cold, warm with a new look, warm: each on its own frames of ``frames``."""
    runs = iter(range(10 ** 6))

    def timed(frame: int, cold: bool) -> dict[str, float]:
        manifest, target = one_frame_job(scratch / f"job{next(runs)}", shot, frame, deflicker, device, vectors)
        return time_to_file(manifest, target, cold)

    repeats = (len(frames) - 1) // 2
    cold = [timed(f, True) for f in frames[:repeats]]
    engine.stop_warm_engine()
    started = time.perf_counter()
    if engine.warm_engine() is None:
        raise RuntimeError("the warm engine did not start")
    start_s = time.perf_counter() - started
    new_look = timed(frames[repeats], False)
    warm = [timed(f, False) for f in frames[repeats + 1:]]
    return {"cold": summary(cold), "warm_engine_start_s": round(start_s, 3), "warm_new_look": new_look,
            "warm": summary(warm)}


def summary(runs: list[dict[str, float]]) -> dict[str, Any]:
    return {"median_to_file_s": round(statistics.median(r["to_file_s"] for r in runs), 3),
            "median_job_s": round(statistics.median(r["job_s"] for r in runs), 3), "runs": runs}


def main() -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--sizes", default="960x540,2048x1080", help="frame sizes, WxH comma list")
    parser.add_argument("--deflicker-sizes", default="960x540",
                        help="sizes also measured with the render's deflicker on (comma list; '' for none)")
    parser.add_argument("--repeats", type=int, default=3, help="frames timed per way (median kept)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="the jobs' --device")
    parser.add_argument("--vectors", default=DEFLICKER.vectors, choices=VECTORS,
                        help="the deflicker's plate motion (the generated plate carries Nuke vectors, which "
                             f"{DEFLICKER.vectors!r} takes; dis times a live-action plate's optical flow)")
    args = parser.parse_args()
    os.environ.setdefault("RESTYLE_PYTHON", sys.executable)  # the engine on this Python and this tree
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    handles = DEFLICKER.context  # plate frames read each side
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="restyle_first_frame_") as work:
        for size in args.sizes.split(","):
            width, height = (int(v) for v in size.split("x"))
            with_deflicker = size in args.deflicker_sizes.split(",")
            count = 2 * args.repeats + 1 + (2 * handles if with_deflicker else 0)
            plate, model, _ = make_shot(Path(work) / size, count, width, height)
            shot = {"plate": str(plate), "model": model}
            frames = list(range(1 + (handles if with_deflicker else 0), 2 * args.repeats + 2 + (
                handles if with_deflicker else 0)))
            results[size] = {"restyle_only": measure(Path(work) / size / "restyle", shot, frames, False, args.device,
                                                     args.vectors)}
            print(size, "restyle only", json.dumps(results[size]["restyle_only"]), flush=True)
            if with_deflicker:
                results[size]["with_deflicker"] = measure(Path(work) / size / "deflicker", shot, frames, True,
                                                          args.device, args.vectors)
                print(size, "with deflicker", json.dumps(results[size]["with_deflicker"]), flush=True)
    engine.stop_warm_engine()
    merge_result("first_frame", args.label, {
        "machine": machine(), "device": args.device, "repeats": args.repeats,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "deflicker": {"mode": DEFLICKER.mode,
                                                                            "radius": DEFLICKER.radius,
                                                                            "vectors": args.vectors},
        "sizes": results})


if __name__ == "__main__":
    main()
