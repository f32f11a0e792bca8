"""End-to-end ``restyle render`` speed on generated half-float EXR frames, and where the time goes.

Generates a procedural plate (``inference.demo.plate``: beauty, depth and Nuke forward/backward
vectors, half EXR, ZIP) at each size, trains a small look on its first frame for a few steps
(speed does not depend on how well it is trained), then times ``render_shot`` over the range:
restyle only, restyle + deflicker (supplied Nuke vectors), and the full chain with ColourLock.
Records frames/s, peak GPU memory and peak host memory (RSS), device, dtype, backend, batch and
chunk, and a cProfile summary of the full chain (the functions with the most own time).
Writes bench/results/pipeline.json.

    python -m bench.bench_pipeline --label h100 [--sizes 2048x1080,3840x2160] [--frames 64]
"""
from __future__ import annotations

import cProfile
import io
import os
import pstats
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from inference import colour
from inference.demo.paint import paint
from inference.demo.plate import PLATE_COLOURSPACE, render_frame
from inference.image import Image, read_image, write_image
from inference.pipeline import DEFAULT_CHUNK, ColourLockStage, DeflickerStage, render_shot
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern

from .common import bench_parser, machine, merge_result


def _write_frame(args: tuple[str, int, int, int]) -> None:
    path, index, width, height = args
    write_image(path, render_frame(index, width, height))


def make_shot(root: Path, frames: int, width: int, height: int) -> tuple[SequencePattern, str, str]:
    """Plate frames 1..N, a trained look and a reference image, under ``root``."""
    plate = SequencePattern.parse(str(root / "plate" / "plate.####.exr"))
    plate.directory.mkdir(parents=True)
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        list(pool.map(_write_frame, [(plate.path(i + 1), i, width, height) for i in range(frames)]))
    view = colour.convert(read_image(plate.path(1)).beauty(alpha=False).as_float32(), PLATE_COLOURSPACE,
                          colour.WORKING_ENCODING)
    key, reference = root / "key.png", root / "reference.png"
    write_image(key, Image.from_array(np.clip(paint(view), 0, 1), ("R", "G", "B")))
    write_image(reference, Image.from_array(np.clip(view, 0, 1), ("R", "G", "B")))
    settings = TrainSettings(steps=50, plateau=False, seed=0)
    model = train(plate, {1: str(key)}, root / "look.onnx", settings=settings, plate_space=PLATE_COLOURSPACE,
                  progress_mode="none").model
    return plate, str(model), str(reference)


def _gpu_peak_gb() -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated() / 1e9, 3) if torch.cuda.is_available() else None


def _reset_gpu_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def run_chain(plate, model, reference, root: Path, name: str, frames: list[int], chunk: int, profile: bool = False,
              **stages) -> dict:
    out = SequencePattern.parse(str(root / name / "out.####.exr"))
    _reset_gpu_peak()
    profiler = cProfile.Profile() if profile else None
    start = time.perf_counter()
    if profiler:
        profiler.enable()
    render_shot(model, plate, frames, out, plate_space=PLATE_COLOURSPACE, chunk=chunk, progress_mode="none", **stages)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - start
    result = {"frames": len(frames), "seconds": round(seconds, 2), "fps": round(len(frames) / seconds, 2),
              "peak_gpu_memory_gb": _gpu_peak_gb()}
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
        result["profile_top_tottime"] = [line.strip() for line in text.getvalue().splitlines()
                                         if line.strip() and line.strip()[0].isdigit()][:15]
    return result


def measure(size: str, frames: int, chunk: int, work: Path) -> dict:
    width, height = (int(v) for v in size.lower().split("x"))
    plate, model, reference = make_shot(work, frames, width, height)
    numbers = list(range(1, frames + 1))
    deflicker = DeflickerStage("both", 1.0, 4, "nuke")
    lock = ColourLockStage(reference, str(work / "qc"))
    runs = {
        "restyle": run_chain(plate, model, reference, work, "a", numbers, chunk),
        "restyle_deflicker": run_chain(plate, model, reference, work, "b", numbers, chunk, deflicker=deflicker),
        "restyle_deflicker_colourlock": run_chain(plate, model, reference, work, "c", numbers, chunk, profile=True,
                                                  deflicker=deflicker, colourlock=lock),
    }
    for run in runs.values():
        print(size, {k: v for k, v in run.items() if k != "profile_top_tottime"}, flush=True)
    return {"resolution": [width, height], "input": "half EXR (ZIP), beauty + depth + Nuke vectors",
            "chunk": chunk, "deflicker": "both, radius 4, supplied Nuke vectors", **runs}


def main(argv: list[str] | None = None) -> None:
    import torch

    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--sizes", default="2048x1080", help="comma-separated WxH list")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--chunk", type=int, default=DEFAULT_CHUNK)
    args = parser.parse_args(argv)
    results = {}
    for size in args.sizes.split(","):
        with tempfile.TemporaryDirectory(prefix="restyle_pipeline_") as work:
            results[size] = measure(size, args.frames, args.chunk, Path(work))
    record = {"machine": machine(), "torch": torch.__version__,
              "device": "cuda" if torch.cuda.is_available() else "cpu",
              "dtype": "fp16 model on CUDA (fp32 on CPU); deflicker and colour lock fp32",
              "backend": "auto (torch CUDA on a GPU host without onnxruntime-gpu, else onnxruntime CPU)",
              "batch": "engine default (4 up to 2K, 1 above)",
              "peak_host_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3),
              "sizes": results}
    print(f"wrote {merge_result('pipeline', args.label, record)}")


if __name__ == "__main__":
    main()
