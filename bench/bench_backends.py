"""The restyle network on each backend this machine has: frames per second, warm, in-process.

Default network (random weights: speed does not depend on them), 960x540 and 2048x1080 unless
``--sizes``, batch 1, fp32 and fp16 ONNX models. Every path is tried; a path this machine lacks
(no CUDA device for torch, no CUDA/TensorRT provider in onnxruntime) is recorded as
``"not run"`` with the reason, never with a figure. ``run``: numpy in and out (host copies);
``run_tensor``: torch tensors in and out (onnxruntime through IO binding on torch's buffers).
Paths are interleaved over rounds and the median kept, per wall second and per CPU second of the
process (the latter steadier on a shared machine).
Stores bench/results/backends.json under ``--label``.

    OMP_NUM_THREADS=1 python -m bench.bench_backends --label dev-2core-cpu --threads 1
    python -m bench.bench_backends --label gpu-h100 --sizes 2048x1080,3840x2160
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import onnxruntime as ort
import torch

from inference import colour
from inference.restyle.backends import OrtBackend, TorchBackend
from inference.restyle.model_file import export_onnx, load_model
from inference.restyle.network import RECEPTIVE_MARGIN, SIZE_MULTIPLE, NetworkConfig, RestyleNet
from inference.restyle.ort_options import CPU, CUDA, TENSORRT

from .common import bench_parser, machine, merge_result


def rates(call: Callable[[], Any], repeats: int, sync: Callable[[], None]) -> tuple[float, float]:
    """(frames per wall second, frames per CPU second of this process) over ``repeats`` calls."""
    sync()
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(repeats):
        call()
    sync()
    return repeats / (time.perf_counter() - wall), repeats / max(time.process_time() - cpu, 1e-9)


def write_models(folder: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    net = RestyleNet(NetworkConfig(in_channels=3)).eval()
    meta = {"encoding": colour.WORKING_ENCODING, "input_channels": ["R", "G", "B"], "output_channels": ["R", "G", "B"],
            "guides": [], "size_multiple": SIZE_MULTIPLE, "receptive_margin": RECEPTIVE_MARGIN,
            "keyframes": {"1": "0" * 64}, "depth_scale": 1.0, "input_smoothing": 0.0, "training": {}}
    return {dtype: export_onnx(net, meta, folder / f"look_{dtype}.onnx", dtype=dtype) for dtype in ("fp32", "fp16")}


def measure(models: dict[str, Path], width: int, height: int, repeats: int, rounds: int,
            threads: int | None) -> dict[str, Any]:
    """Each path's median rate over ``rounds`` interleaved rounds (so a busy shared machine slows
    every path alike), wall and CPU time."""
    x = np.random.default_rng(0).uniform(0, 1, (1, 3, height, width)).astype(np.float32)
    have = ort.get_available_providers()
    cuda = torch.cuda.is_available()
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    rows: dict[str, Any] = {}
    paths: dict[str, Callable[[], Any]] = {}
    for dtype, path in models.items():
        model = load_model(path)
        for provider in (CPU, CUDA, TENSORRT):
            name = f"onnxruntime_{provider.replace('ExecutionProvider', '').lower()}_{dtype}_model"
            if provider not in have:
                rows[name] = {"not run": f"onnxruntime {ort.__version__} here has no {provider}"}
                continue
            chain = (provider, CPU) if provider != CPU else (CPU,)
            backend = OrtBackend(model, lambda _: None, providers=chain, threads=threads, frame_size=(height, width),
                                 batch=1)
            if backend.name != f"onnxruntime:{provider}":
                rows[name] = {"not run": f"{provider} did not start ({backend.name} instead)"}
                continue
            tensor = torch.from_numpy(x).to(backend.device)
            paths[f"{name}/run"] = lambda b=backend: b.run(x)
            paths[f"{name}/run_tensor"] = lambda b=backend, t=tensor: b.run_tensor(t)
    fp32 = load_model(models["fp32"])
    cpu = TorchBackend(fp32, "cpu", "fp32")
    paths["torch_cpu_fp32/run"] = lambda: cpu.run(x)
    paths["torch_cpu_fp32/run_tensor"] = lambda: cpu.run_tensor(torch.from_numpy(x))
    if cuda:
        gpu = TorchBackend(fp32, "cuda", "fp16")
        tensor = torch.from_numpy(x).cuda()
        paths["torch_cuda_fp16/run"] = lambda: gpu.run(x)
        paths["torch_cuda_fp16/run_tensor"] = lambda: gpu.run_tensor(tensor)
    else:
        rows["torch_cuda_fp16"] = {"not run": "torch sees no CUDA device"}
    for call in paths.values():
        call()  # warm-up: sessions, TensorRT engines, allocators
    seen: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, call in paths.items():
            seen[name].append(rates(call, repeats, sync))
    for name, values in seen.items():
        row, call = name.split("/")
        rows.setdefault(row, {})[f"{call}_fps"] = round(float(np.median([v[0] for v in values])), 3)
        rows[row][f"{call}_fps_per_cpu_second"] = round(float(np.median([v[1] for v in values])), 3)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--sizes", default="960x540,2048x1080")
    parser.add_argument("--repeats", type=int, default=3, help="calls per path per round")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (the median is kept)")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime intra-op threads (torch: OMP_NUM_THREADS)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {}
    with tempfile.TemporaryDirectory(prefix="restyle_bench_") as work:
        models = write_models(Path(work))
        for size in args.sizes.split(","):
            width, height = (int(v) for v in size.split("x"))
            results[size] = measure(models, width, height, args.repeats, args.rounds, args.threads)
            print(size, results[size], flush=True)
    record = {"machine": machine(), "torch": torch.__version__, "onnxruntime": ort.__version__,
              "onnxruntime_providers": ort.get_available_providers(), "batch": 1, "threads": args.threads,
              "network": "default (269k parameters), random weights", "repeats": args.repeats,
              "rounds": args.rounds, "sizes": results}
    merge_result("backends", args.label, record)


if __name__ == "__main__":
    main()
