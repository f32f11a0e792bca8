"""Local deflicker speed on the GPU (torch port), with supplied vectors, data on the GPU.

Generates N textured frames (a plate moved by a constant translation plus a small rotation,
and a flickering "stylisation" of it) and the exact flows of that motion, as tensors
already on the device (CUDA if available, else CPU), then times
:func:`inference.temporal.local_deflicker_torch.deflicker_local_torch` for the middle
frames (targets with a full ``[t - radius, t + radius]`` window) after a warm-up. No optical
flow is computed (vectors are supplied); host<->device copies are not included.
Writes bench/results/deflicker.json under ``--label``.

    python -m bench.bench_deflicker_speed --label h100 [--sizes 2048x1080,3840x2160]
"""
from __future__ import annotations

import math
import os
import time

import torch
import torch.nn.functional as F

from inference.temporal.local_deflicker_torch import COMPILE_ENV, DEFAULT_BATCH, deflicker_local_torch

from .common import bench_parser, machine, merge_result


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _motion(h: int, w: int, k: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact flow pair (k -> k+1, k+1 -> k): rotation about the centre plus translation."""
    angle = 0.002 * (1 + (k % 3))
    tx, ty = 1.3 + 0.2 * math.sin(k), -0.7 + 0.1 * math.cos(k)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=device),
                            torch.arange(w, dtype=torch.float32, device=device), indexing="ij")
    cx, cy = (w - 1) / 2, (h - 1) / 2
    c, s = math.cos(angle), math.sin(angle)
    fx = c * (xs - cx) - s * (ys - cy) + cx + tx - xs
    fy = s * (xs - cx) + c * (ys - cy) + cy + ty - ys
    # inverse: x = R^-1 (y - c - t) + c
    ux, uy = xs - cx - tx, ys - cy - ty
    bx = c * ux + s * uy + cx - xs
    by = -s * ux + c * uy + cy - ys
    return torch.stack([fx, fy]), torch.stack([bx, by])


def make_data(n: int, h: int, w: int, device, seed: int = 0):
    """(frames, plate, flows) on ``device``: (n,3,h,w), (n,3,h,w), (n-1,2,2,h,w) float32."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    # texture: coarse + fine random structure, a margin around the frame for the motion
    th, tw = h + 128, w + 128
    coarse = torch.rand((1, 3, th // 16 + 1, tw // 16 + 1), generator=gen)
    fine = torch.rand((1, 3, th // 2 + 1, tw // 2 + 1), generator=gen)
    texture = (0.7 * F.interpolate(coarse, size=(th, tw), mode="bicubic", align_corners=False)
               + 0.3 * F.interpolate(fine, size=(th, tw), mode="bilinear", align_corners=False))
    texture = texture.clamp(0, 1).to(device)
    flows = torch.empty((n - 1, 2, 2, h, w), dtype=torch.float32, device=device)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32, device=device),
                            torch.arange(w, dtype=torch.float32, device=device), indexing="ij")
    # position in the texture of each pixel of frame k (follow the backward flows)
    pos = torch.stack([xs + 64, ys + 64], dim=-1)
    plate = torch.empty((n, 3, h, w), dtype=torch.float32, device=device)
    for k in range(n):
        grid = torch.stack([(2 * pos[..., 0] + 1) / tw - 1, (2 * pos[..., 1] + 1) / th - 1], dim=-1)
        plate[k] = F.grid_sample(texture, grid[None], mode="bilinear", padding_mode="border",
                                 align_corners=False)[0]
        if k < n - 1:
            fw, bw = _motion(h, w, k, device)
            flows[k, 0], flows[k, 1] = fw, bw
            # frame k+1 pixel y came from frame k at y + bw(y): texture position there
            src = torch.stack([xs + bw[0], ys + bw[1]], dim=-1)
            grid = torch.stack([(2 * src[..., 0] + 1) / w - 1, (2 * src[..., 1] + 1) / h - 1], dim=-1)
            pos = F.grid_sample(pos.permute(2, 0, 1)[None], grid[None], mode="bilinear",
                                padding_mode="border", align_corners=False)[0].permute(1, 2, 0)
    gains = 1.0 + 0.1 * (torch.rand((n, 3, 1, 1), generator=gen) - 0.5)
    noise = 0.03 * torch.randn((n, 3, h // 2, w // 2), generator=gen)
    frames = (plate * gains.to(device)
              + F.interpolate(noise.to(device), size=(h, w), mode="bilinear", align_corners=False))
    return frames.contiguous(), plate, flows


def run_size(w: int, h: int, n: int, radius: int, batch: int, reps: int, device) -> dict:
    frames, plate, flows = make_data(n, h, w, device)
    targets = list(range(radius, n - radius)) or list(range(n))
    _sync(device)
    deflicker_local_torch(frames, plate, flows, radius=radius, targets=targets, batch=batch)  # warm-up
    _sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(reps):
        out = deflicker_local_torch(frames, plate, flows, radius=radius, targets=targets, batch=batch)
    _sync(device)
    seconds = time.perf_counter() - start
    fps = reps * len(targets) / seconds
    peak = torch.cuda.max_memory_allocated(device) / 1e9 if device.type == "cuda" else None
    change = float((out - frames[targets]).abs().mean())
    fused = device.type == "cuda" and os.environ.get(COMPILE_ENV, "0") == "1"
    if fused:  # the fused kernels against the unfused ops, same inputs
        os.environ[COMPILE_ENV] = "0"
        eager = deflicker_local_torch(frames, plate, flows, radius=radius, targets=targets, batch=batch)
        os.environ[COMPILE_ENV] = "1"
        fused_diff = float((out - eager).abs().max())
        del eager
    del out, frames, plate, flows
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return {"resolution": [w, h], "frames_in": n, "targets": len(targets), "radius": radius,
            "batch": batch, "reps": reps, "fps": round(fps, 2),
            "ms_per_frame": round(1000 / fps, 3),
            "peak_gpu_memory_gb": round(peak, 3) if peak is not None else None,
            "mean_abs_change": round(change, 5), "torch_compile": fused,
            "max_abs_diff_fused_vs_unfused": fused_diff if fused else None}


def profile(w: int, h: int, n: int, radius: int, batch: int, device) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile
    frames, plate, flows = make_data(n, h, w, device)
    targets = list(range(radius, n - radius)) or list(range(n))
    deflicker_local_torch(frames, plate, flows, radius=radius, targets=targets, batch=batch)
    _sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities) as prof:
        deflicker_local_torch(frames, plate, flows, radius=radius, targets=targets, batch=batch)
        _sync(device)
    key = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=25), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--sizes", default="2048x1080", help="comma-separated WxH list")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--radius", type=int, default=4)
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--profile", action="store_true", help="print the top kernels (first size)")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    runs = []
    if args.profile:
        w, h = (int(v) for v in args.sizes.split(",")[0].lower().split("x"))
        profile(w, h, args.frames, args.radius, args.batch, device)
    for size in args.sizes.split(","):
        w, h = (int(v) for v in size.lower().split("x"))
        figures = run_size(w, h, args.frames, args.radius, args.batch, args.reps, device)
        print(figures, flush=True)
        runs.append(figures)
    first = runs[0]
    record = {"machine": machine(), "backend": "torch", "device": str(device),
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
              "torch": torch.__version__, "dtype": "float32",
              "torch_compile": first["torch_compile"],
              "resolution": first["resolution"], "radius": args.radius, "fps": first["fps"],
              "peak_gpu_memory_gb": first["peak_gpu_memory_gb"],
              "note": ("deflicker_local_torch with supplied vectors, data on the GPU "
                       "(no optical flow, no host<->device copies); targets = middle frames "
                       f"of {args.frames}, batch {args.batch}; occlusion masks included; elementwise chains "
                       "fused with torch.compile on CUDA"),
              "by_resolution": runs}
    if not args.no_write:
        print(f"wrote {merge_result('deflicker', args.label, record)}")


if __name__ == "__main__":
    main()
