"""Memory of the render's deflicker over one window of a shot, measured on the CPU.

Generates ``--frames`` plate frames (``inference.demo.plate``: beauty and Nuke vectors) at
``--size`` and noisy looks of them, then runs
:func:`inference.temporal.deflicker_device.deflicker_tensors` (mode both, radius 4, supplied
vectors) for the middle targets of one window, the way ``restyle render`` does on the GPU. On
the CPU the same tensors live in host memory, so the process's peak resident memory above what
it held before (Linux ``VmHWM``, reset through ``/proc/self/clear_refs``) stands in for the
stage's device working set where no GPU is at hand. Writes bench/results/deflicker_memory.json
under ``--label``.

    python -m bench.bench_deflicker_memory --label dev-2core [--size 3840x2160] [--frames 12]
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from inference import colour
from inference.demo.plate import PLATE_COLOURSPACE, render_frame
from inference.temporal.deflicker_device import deflicker_tensors, window_sizes
from inference.temporal.settings import DeflickerSettings

from .common import bench_parser, machine, merge_result

RADIUS = 4


def _status_gb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1e6
    raise RuntimeError(f"/proc/self/status has no {field} (Linux only)")


def measure(width: int, height: int, frames: int) -> dict:
    plates = [render_frame(i, width, height) for i in range(frames)]
    rng = np.random.default_rng(0)
    looks = [torch.from_numpy(np.clip(p.beauty(alpha=False).as_float32()
                                      + rng.normal(0, 0.02, (height, width, 3)).astype(np.float32), 0, 1))
             .permute(2, 0, 1).half() for p in plates]
    _, window = window_sizes(height, width)
    targets = list(range(RADIUS, min(frames - RADIUS, RADIUS + window)))
    held = _status_gb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    start = time.perf_counter()
    deflicker_tensors(looks, colour.WORKING_ENCODING, plates, PLATE_COLOURSPACE, targets, list(range(frames)),
                      DeflickerSettings("both", radius=RADIUS, vectors="nuke"))
    return {"resolution": [width, height], "frames": frames, "targets": len(targets),
            "seconds": round(time.perf_counter() - start, 1), "held_gb": round(held, 2),
            "peak_above_held_gb": round(_status_gb("VmHWM") - held, 2)}


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--size", default="3840x2160", help="frame size WxH (default 3840x2160)")
    parser.add_argument("--frames", type=int, default=12, help="frames of the shot (default 12: one 4K window)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    figures = measure(width, height, args.frames)
    record = {"machine": machine(), "torch": torch.__version__, "device": "cpu", "dtype": "looks half, working float32",
              "method": "peak resident memory above what the process held before (VmHWM)", **figures}
    print(record)
    print(f"wrote {merge_result('deflicker_memory', args.label, record)}")


if __name__ == "__main__":
    main()
