"""The keys' detail walk (``restyle run``/``render``'s default ``--detail``): seconds per frame.

A panning textured plate (4 px a frame) whose views are already in memory (no file reads), a
random painting, the walk from the key at frame 0 over ``--frames`` frames, each step's detail
brought back to the host as the render stores it. Two kinds of plate motion:

- ``supplied``: the plate's own vectors (no flow measured; the walk's own work);
- ``dis``: OpenCV DIS flows of the plate views on the host (a live-action plate).

On ``--device cpu`` the walk runs on OpenCV/numpy, on ``cuda`` on torch (the render's GPU).
Writes bench/results/detail_walk.json.

    python -m bench.bench_detail_walk --label LABEL [--device cpu|cuda] [--size 2048x1080] [--frames 8]
"""
from __future__ import annotations

import time

import cv2
import numpy as np

from inference.restyle.detail import walk
from inference.restyle.settings import DEFAULT_DETAIL_PX, DEFAULT_DETAIL_PX_VECTORS
from inference.temporal.plate_flow import neighbour_motion

from .common import bench_parser, machine, merge_result

PAN = 4  # px a frame


def timed_walk(width: int, height: int, frames: int, motion: str, device: str) -> dict:
    """Seconds of the key's step and per later frame of one walk."""
    rng = np.random.default_rng(0)
    world = cv2.GaussianBlur(rng.random((height, width + PAN * frames, 3)).astype(np.float32), (0, 0), 2.0)
    painting = rng.random((height, width, 3)).astype(np.float32)

    def view(t: int) -> np.ndarray:
        return np.ascontiguousarray(world[:, PAN * t:PAN * t + width])

    if motion == "dis":
        flows, px = neighbour_motion(None, "dis", view), DEFAULT_DETAIL_PX
    else:
        pan = np.zeros((height, width, 2), np.float32)
        pan[..., 0] = PAN

        def flows(frame: int, other: int) -> tuple[np.ndarray, np.ndarray]:  # (frame -> other, other -> frame)
            return (pan, -pan) if other > frame else (-pan, pan)
        px = DEFAULT_DETAIL_PX_VECTORS
    steps = walk(view, flows, 0, painting, frames, px, device)
    start = time.perf_counter()
    next(steps)
    key_s = time.perf_counter() - start
    start = time.perf_counter()
    walked = [frame for frame, _ in steps]
    return {"motion": motion, "detail_px": px, "frames_walked": walked, "key_s": round(key_s, 4),
            "seconds_per_frame": round((time.perf_counter() - start) / frames, 4)}


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where the walk runs (default cpu)")
    parser.add_argument("--size", default="2048x1080", help="WxH (default 2048x1080)")
    parser.add_argument("--frames", type=int, default=8, help="frames walked after the key (default 8)")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    timed_walk(256, 128, 2, "supplied", args.device)  # (warm-up: kernels, OpenCV's threads)
    runs = [timed_walk(width, height, args.frames, motion, args.device) for motion in ("supplied", "dis")]
    for run in runs:
        print(run, flush=True)
    record = {"machine": machine(), "device": args.device, "resolution": [width, height], "dtype": "float32",
              "backend": "torch" if args.device == "cuda" else "OpenCV/numpy", "frames": args.frames, "runs": runs}
    print("wrote", merge_result("detail_walk", args.label, record))


if __name__ == "__main__":
    main()
