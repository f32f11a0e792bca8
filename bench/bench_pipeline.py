"""``restyle bench`` and ``python -m bench.bench_pipeline``: each stage alone and the whole
``restyle render`` on generated frames, into bench/results/pipeline.json.

    python -m bench.bench_pipeline --label h100 [--sizes 2048x1080,3840x2160] [--frames 64]

is ``restyle bench --label h100 --out bench/results/pipeline.json``.

Generates a procedural plate (``inference.demo.plate``: beauty, depth and Nuke forward/backward
vectors, half EXR, ZIP) at each size, trains a small look on its first frame for a few steps
(speed does not depend on how well it is trained), then measures

- each stage alone on frames already in memory: read (EXR decode), restyle (input building,
  model, batches), deflicker (``both``, supplied Nuke vectors), colour lock (fit, apply, QC),
  write (EXR encode, atomic);
- ``render_shot`` end to end over the range: restyle only, + deflicker, + colour lock, with the
  wall seconds each stage took inside the render (the profile: which stage limits it).

Records frames/s, peak GPU memory per measurement, peak host memory (RSS), device, dtype,
backend, batch and chunk, a torch profile of the full chain (GPU time per stage, the ops with the
most own GPU and CPU time), how often the full chain made the host wait for the GPU (on CUDA),
and appends them under ``--label`` to ``--out`` (JSON).
"""
from __future__ import annotations

import os
import resource
import tempfile
import threading
import time
import warnings
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from inference import colour
from inference.colourlock.lock import LockTarget, fit_transforms, qc_entries
from inference.colourlock.settings import ColourLockSettings, HoldSettings
from inference.demo.paint import paint
from inference.demo.plate import PLATE_COLOURSPACE, render_frame
from inference.devices import resolve_device
from inference.image import Image, exr_codec, read_image, write_image
from inference.pipeline import DeviceFrames, HostFrames, frames_stay_on_device, render_shot
from inference.render_settings import RenderBenchSettings, RenderSettings
from inference.restyle.apply import default_batch
from inference.restyle.backends import select_backend
from inference.restyle.model_file import load_model
from inference.restyle.settings import RuntimeSettings, TrainColourspaces
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern
from inference.sequence_io import SequenceWriter, read_sequence
from inference.temporal.settings import DeflickerSettings

from .common import RESULTS, bench_parser
from .record import machine, store_result

DEFLICKER = DeflickerSettings("both", 1.0, 4, "nuke")


def _write_frame(args: tuple[str, int, int, int, str]) -> None:
    path, index, width, height, compression = args
    write_image(path, render_frame(index, width, height), compression=compression, colourspace=PLATE_COLOURSPACE)


def make_shot(root: Path, frames: int, width: int, height: int, compression: str = "zip"
              ) -> tuple[SequencePattern, str, str]:
    """Plate frames 1..N (EXR with ``compression``), a trained look and a reference image, under ``root``."""
    plate = SequencePattern.parse(str(root / "plate" / "plate.####.exr"))
    plate.directory.mkdir(parents=True)
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_write_frame, [(plate.path(i + 1), i, width, height, compression) for i in range(frames)]))
    view = colour.convert(read_image(plate.path(1)).beauty(alpha=False).as_float32(), PLATE_COLOURSPACE,
                          colour.WORKING_ENCODING)
    key, reference = root / "key.png", root / "reference.png"
    for path, pixels in ((key, paint(view)), (reference, view)):
        write_image(path, Image.from_array(np.clip(pixels, 0, 1), ("R", "G", "B")), colourspace=colour.WORKING_ENCODING)
    settings = TrainSettings(steps=50, plateau=False, seed=0, key_psnr=0)
    model = train(plate, {1: str(key)}, root / "look.onnx", settings=settings,
                  spaces=TrainColourspaces(plate=PLATE_COLOURSPACE), progress_mode="none").model
    return plate, str(model), str(reference)


def _sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(frames: int, fn: Callable[[], Any]) -> tuple[dict[str, Any], Any]:
    """Run ``fn`` once: frames/s over ``frames``, seconds, CPU seconds per frame (this process,
    every thread: the host work) and peak GPU memory; and its result."""
    import torch

    gpu = torch.cuda.is_available()
    if gpu:
        torch.cuda.reset_peak_memory_stats()
    _sync()
    start, cpu = time.perf_counter(), time.process_time()
    result = fn()
    _sync()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"frames": frames, "seconds": round(seconds, 3), "fps": round(frames / seconds, 2),
            "cpu_s_per_frame": round(cpu / frames, 4),
            "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 1e9, 3) if gpu else None}, result


def stage_speeds(plate: SequencePattern, model_path: str, reference: str, numbers: list[int], work: Path,
                 device: str, compressions: list[str]) -> dict[str, Any]:
    """Each stage alone with the hand-over the render uses (frames on the GPU with the torch
    backend): read and write on disk, the others on frames already in memory. The restyle and the
    deflicker upload the plates themselves here (as a 4K render does); a 2K render has its reading
    threads copy them (``DevicePlates``), which only the end-to-end figures include."""
    n = len(numbers)
    figures, images = timed(n, lambda: list(read_sequence(plate, numbers)))
    result = {"read": figures}
    model = load_model(model_path)
    runner = select_backend(model, "auto", device, "auto", log=lambda _: None)
    frames = DeviceFrames(runner.device) if frames_stay_on_device(runner, None) else HostFrames(device)
    result["hand_over"] = type(frames).__name__
    batch = default_batch(*images[0][1].size)

    def restyle() -> list:
        return [look for i in range(0, n, batch)
                for look in frames.looks(model, runner, images[i:i + batch], PLATE_COLOURSPACE, None, batch, print)]

    restyle()  # warm-up (cudnn autotune), then timed
    result["restyle"], looks = timed(n, restyle)
    plates = [image for _, image in images]

    def settle() -> list:
        return frames.settle(looks, plates, PLATE_COLOURSPACE, list(range(n)), numbers, DEFLICKER)

    settle()  # warm-up (torch.compile of the fused steps)
    result["deflicker"], settled = timed(n, settle)
    target, fit = LockTarget(reference), ColourLockSettings(reference, str(work / "qc"))

    def lock() -> list:
        transforms = fit_transforms(dict(zip(numbers, settled)), target, fit)
        locked, holds = frames.lock(settled, [transforms[f] for f in numbers], target.swatches, HoldSettings())
        qc_entries(settled, locked, target, holds)
        return locked

    lock()  # warm-up (colour-science's first import)
    result["colourlock"], locked = timed(n, lock)
    result["output_conversion_download"], rgb = timed(n, lambda: frames.output(locked, PLATE_COLOURSPACE, half=True))

    def write(compression: str) -> None:
        out = SequencePattern.parse(str(work / f"write_{compression}" / "w.####.exr"))
        with SequenceWriter(out, compression=compression, colourspace=PLATE_COLOURSPACE) as writer:
            for (frame, image), x in zip(images, rgb):
                writer.write(frame, image.with_rgb(x))

    for index, compression in enumerate(compressions):
        result["write" if index == 0 else f"write_{compression}"], _ = timed(n, lambda: write(compression))
    return result


def chain_speeds(plate: SequencePattern, model: str, reference: str, numbers: list[int], chunk: int,
                 work: Path, device: str, compressions: list[str]) -> dict[str, Any]:
    """``render_shot`` end to end: restyle only, + deflicker, + colour lock with the first of
    ``compressions`` for the output (restyle only and the full chain again with each other one,
    named ``..._<compression>``); stage seconds inside each."""
    restyle = RenderSettings(RuntimeSettings(device=device), chunk=chunk)
    chains = {"restyle": restyle, "restyle_deflicker": replace(restyle, deflicker=DEFLICKER),
              "restyle_deflicker_colourlock": replace(restyle, deflicker=DEFLICKER,
                                                      colourlock=ColourLockSettings(reference, str(work / "qc")))}
    chains = {**{name: replace(settings, compression=compressions[0]) for name, settings in chains.items()},
              **{f"{name}_{c}": replace(chains[name], compression=c) for c in compressions[1:]
                 for name in ("restyle", "restyle_deflicker_colourlock")}}
    results = {}
    for index, (name, settings) in enumerate(chains.items()):
        out = SequencePattern.parse(str(work / f"render{index}" / "out.####.exr"))
        figures, summary = timed(len(numbers), lambda: render_shot(
            model, plate, numbers, out, settings, plate_space=PLATE_COLOURSPACE, progress_mode="none"))
        results[name] = {**figures, "stage_seconds": summary["stages"]}
        if "stage_peak_gpu_gb" in summary:  # the render resets torch's peak counter per stage
            results[name]["stage_peak_gpu_gb"] = summary["stage_peak_gpu_gb"]
            results[name]["peak_gpu_memory_gb"] = summary["stage_peak_gpu_gb"]["overall"]
        print(name, results[name], flush=True)
    out = SequencePattern.parse(str(work / "profiled" / "out.####.exr"))
    full = chains["restyle_deflicker_colourlock"]
    results["restyle_deflicker_colourlock"]["torch_profile"] = torch_profile(lambda: render_shot(
        model, plate, numbers, out, full, plate_space=PLATE_COLOURSPACE, progress_mode="none"))
    waits = device_waits(lambda: render_shot(
        model, plate, numbers, SequencePattern.parse(str(work / "waits" / "out.####.exr")), full,
        plate_space=PLATE_COLOURSPACE, progress_mode="none"))
    if waits is not None:
        results["restyle_deflicker_colourlock"]["device_waits"] = {
            **waits, "render_thread_per_frame": round(waits["render_thread"] / len(numbers), 2)}
    return results


def device_waits(fn: Callable[[], Any]) -> dict[str, int] | None:
    """How many times ``fn`` (run again) made the host wait for the GPU, as torch's synchronising
    operations it reports: on the calling thread (the render's, where a wait leaves the GPU idle
    while the thread catches up) and on other threads (the reading threads wait for their own
    plate uploads by design). None off CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    counts = Counter(render_thread=0, other_threads=0)
    caller = threading.get_ident()

    def count(message, *_args, **_kwargs) -> None:
        if "synchronizing" in str(message):
            counts["render_thread" if threading.get_ident() == caller else "other_threads"] += 1

    with warnings.catch_warnings():  # restores the filters and showwarning
        warnings.simplefilter("always")
        warnings.showwarning = count
        torch.cuda.set_sync_debug_mode("warn")
        try:
            fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return dict(counts)


def torch_profile(fn: Callable[[], Any], count: int = 15) -> dict[str, Any]:
    """``fn`` (a render, run again: the profiler slows it) under torch's profiler: the GPU
    milliseconds of each stage of the render that used the GPU (its ``stage:`` ranges; the wall
    seconds are the render's ``stages``), and the ``count`` ops with the most own GPU time and
    own CPU time (every thread)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    gpu = torch.cuda.is_available()
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])) as prof:
        fn()
    events = prof.key_averages()

    def line(e) -> str:
        return (f"{e.key}: self CPU {e.self_cpu_time_total / 1e3:.1f} ms, self GPU {e.self_device_time_total / 1e3:.1f} "
                f"ms, calls {e.count}")

    ops = [e for e in events if not e.key.startswith("stage:")]
    return {"stages_gpu_ms": {e.key[len("stage:"):]: round(e.device_time_total / 1e3, 1)
                              for e in events if e.key.startswith("stage:") and e.device_time_total > 0},
            "top_self_gpu": [line(e) for e in sorted(ops, key=lambda e: -e.self_device_time_total)[:count]] if gpu else [],
            "top_self_cpu": [line(e) for e in sorted(ops, key=lambda e: -e.self_cpu_time_total)[:count]]}


def measure(size: str, frames: int, chunk: int, work: Path, device: str, compressions: list[str],
            plate_compression: str = "zip") -> dict[str, Any]:
    width, height = (int(v) for v in size.lower().split("x"))
    start = time.perf_counter()
    plate, model, reference = make_shot(work, frames, width, height, plate_compression)
    print(f"{size}: {frames} plate frames and a look in {time.perf_counter() - start:.1f} s", flush=True)
    numbers = list(range(1, frames + 1))
    stages = stage_speeds(plate, model, reference, numbers, work, device, compressions)
    print(size, "stages alone", stages, flush=True)
    chains = chain_speeds(plate, model, reference, numbers, chunk, work, device, compressions)
    return {"resolution": [width, height], "input": f"half EXR ({plate_compression.upper()}), beauty + depth + Nuke vectors",
            "output": f"half EXR ({compressions[0].upper()}; others where named), RGBA", "chunk": chunk,
            "deflicker": "both, radius 4, supplied Nuke vectors", "stages_alone": stages, "end_to_end": chains}


def run_bench(sizes: list[str], frames: int, chunk: int = RenderSettings.chunk, device: str = "auto",
              label: str | None = None, out: Path | None = None, compressions: list[str] | None = None,
              plate_compression: str = "zip", scratch: str | None = None) -> dict[str, Any]:
    """Measure every size; store the record under ``label`` in ``out`` when given. The output EXR
    is written with each of ``compressions`` (default zip), the first throughout; the plate with
    ``plate_compression``; plates and outputs go to a temporary folder in ``scratch`` (default:
    the system's temporary folder)."""
    import torch

    device = resolve_device(device)
    compressions = compressions or ["zip"]
    for compression in compressions:
        exr_codec(compression, "--compression")
    exr_codec(plate_compression, "--plate-compression")
    results = {}
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="restyle_bench_", dir=scratch) as work:
            results[size] = measure(size, frames, chunk, Path(work), device, compressions, plate_compression)
    record = {"machine": machine(), "torch": torch.__version__, "device": device,
              "dtype": "plate half; model fp16 on CUDA (fp32 on CPU); deflicker and colour lock fp32",
              "backend": "auto (torch CUDA on a GPU host without onnxruntime-gpu, else onnxruntime CPU)",
              "batch": "engine default (4 up to 2K, 1 above)",
              "peak_host_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3),
              "scratch": scratch or tempfile.gettempdir(),
              "sizes": results}
    if out is not None:
        print(f"wrote {store_result(Path(out), 'pipeline', label or machine()['host'], record)}")
    return record


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    default = RenderBenchSettings()  # restyle bench's defaults, the same here
    parser.add_argument("--sizes", default=default.sizes, help="comma-separated WxH list (default %(default)s)")
    parser.add_argument("--frames", type=int, default=default.frames, help="frames per size (default %(default)s)")
    parser.add_argument("--chunk", type=int, default=RenderSettings.chunk, help="render chunk (frames, default %(default)s)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--compression", default=default.compression,
                        help="output EXR compressions, comma list (default %(default)s; renders repeat with each further one)")
    parser.add_argument("--plate-compression", default=default.plate_compression,
                        help="the generated plate's EXR compression (default %(default)s)")
    parser.add_argument("--scratch", help="folder for plates and renders (default the system's temporary folder)")
    args = parser.parse_args(argv)
    run_bench(args.sizes.split(","), args.frames, args.chunk, args.device, args.label, RESULTS / "pipeline.json",
              args.compression.split(","), args.plate_compression, args.scratch)


if __name__ == "__main__":
    main()
