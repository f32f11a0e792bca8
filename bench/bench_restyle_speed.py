"""Restyle inference speed and GPU memory, and how fast training reaches its plateau.

Inference: the default network (torch backend, fp16, channels-last on CUDA; fp32 on CPU),
frames already on the device ("model") and with the host->device->host copies of a
pipeline ("with copies"), several batch sizes, at 2048x1080 and 3840x2160 (GPU) or
960x540 (CPU). Training: PSNR of the model's output against the painted keyframe, over time,
from one keyframe of the shared live-action clip; reports the time to come within 0.5 dB of
the final (plateau) PSNR; trained as ``restyle train`` trains, with the shot's frames (so the
temporal loss of ``--stability`` is on). The keyframe detail's walk: ``bench.bench_detail_walk``.
Writes bench/results/restyle_speed.json.

    python -m bench.bench_restyle_speed --label gpu-h100 --data DIR
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from inference import colour
from inference.restyle.network import NetworkConfig, RestyleNet
from inference.restyle.settings import TrainColourspaces
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern

from .common import bench_parser, machine, merge_result

SIZES_GPU = ((2048, 1080), (3840, 2160))
SIZES_CPU = ((960, 540),)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def inference_speed(device: torch.device, width: int, height: int, batch: int, seconds: float = 3.0) -> dict:
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    net = RestyleNet(NetworkConfig(in_channels=3)).to(device, dtype).eval()
    x = torch.rand(batch, 3, height, width, device=device, dtype=dtype)
    net = net.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.cuda.reset_peak_memory_stats()
    # A pipeline's frames arrive as half EXR: upload half, download into a reused pinned buffer.
    host_in = torch.rand(batch, 3, height, width).to(dtype)
    host_out = torch.empty_like(host_in)
    if device.type == "cuda":
        host_in, host_out = host_in.pin_memory(), host_out.pin_memory()

    def with_copies() -> None:
        y = net(host_in.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last))
        host_out.copy_(y, non_blocking=True)

    result = {"width": width, "height": height, "batch": batch, "dtype": str(dtype).replace("torch.", "")}
    with torch.inference_mode():
        for label, step in (("model_fps", lambda: net(x)), ("with_copies_fps", with_copies)):
            for _ in range(3):
                step()
            _sync(device)
            count, start = 0, time.perf_counter()
            while time.perf_counter() - start < seconds:
                step()
                count += 1
            _sync(device)
            result[label] = round(count * batch / (time.perf_counter() - start), 1)
    if device.type == "cuda":
        result["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated() / 1e9, 3)
    return result


def training_to_plateau(data: Path, device: str, seconds: float, out: Path) -> dict:
    """PSNR (working encoding) of the whole keyframe over training time."""
    plate = SequencePattern.parse(str(data / "live_bikes" / "bikes.####.png"))
    key_path = str(data / "style" / "bikes_kuwahara.1001.png")
    from inference.image import read_image
    from inference.restyle import guides

    image = read_image(plate.path(1001))
    x = torch.from_numpy(guides.build_input(image, "sRGB - Texture", colour.WORKING_ENCODING, []).transpose(2, 0, 1))[None]
    target = torch.from_numpy(read_image(key_path).beauty(alpha=False).as_float32().transpose(2, 0, 1))[None]
    curve: list[tuple[float, float]] = []

    def monitor(step: int, elapsed: float, net: torch.nn.Module) -> None:
        dev = next(net.parameters()).device
        h, w = x.shape[2] // 4 * 4, x.shape[3] // 4 * 4
        y = net(x[..., :h, :w].to(dev)).clamp(0, 1).cpu()
        mse = float(((y - target[..., :h, :w]) ** 2).mean())
        curve.append((round(elapsed, 2), round(10 * np.log10(1 / max(mse, 1e-12)), 3)))

    settings = TrainSettings(steps=1_000_000, seconds=seconds, plateau=False, device=device,
                             batch=32 if device == "cuda" else 16)
    result = train(plate, {1001: key_path}, out, settings=settings, spaces=TrainColourspaces(plate="sRGB - Texture"),
                   progress_mode="none", monitor=monitor, frames=plate.existing_frames())
    final = max(p for _, p in curve[-5:])
    reached = next(t for t, p in curve if p >= final - 0.5)
    return {"sequence": "live_bikes + bikes_kuwahara.1001", "device": device, "seconds_trained": seconds,
            "steps": result.steps, "batch": settings.batch, "patch": settings.patch, "stability": settings.stability,
            "plateau_psnr_db": final, "seconds_to_within_0_5_db": reached, "curve_s_psnr": curve[::5]}


def repass_identical(data: Path, device: str, steps: int = 300) -> bool:
    """Two trainings with the same inputs and seed on this device give the same weights."""
    import onnx
    from onnx import numpy_helper

    plate = SequencePattern.parse(str(data / "live_bikes" / "bikes.####.png"))
    key = {1001: str(data / "style" / "bikes_kuwahara.1001.png")}
    settings = TrainSettings(steps=steps, plateau=False, device=device)
    paths = [train(plate, key, f"/tmp/restyle_bench/repass{i}.onnx", settings=settings,
                   spaces=TrainColourspaces(plate="sRGB - Texture"), progress_mode="none").model for i in range(2)]
    weights = [{t.name: numpy_helper.to_array(t) for t in onnx.load(str(p)).graph.initializer} for p in paths]
    return all(np.array_equal(weights[0][k], weights[1][k]) for k in weights[0])


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--train-seconds", type=float, default=120.0, help="training run length")
    parser.add_argument("--batches", default="1,4,8", help="inference batch sizes")
    parser.add_argument("--skip-training", action="store_true", help="measure inference only")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sizes = SIZES_GPU if device.type == "cuda" else SIZES_CPU
    runs = []
    for width, height in sizes:
        for batch in (int(b) for b in args.batches.split(",")):
            runs.append(inference_speed(device, width, height, batch))
            print(runs[-1], flush=True)
    record = {"machine": machine(), "backend": f"torch {torch.__version__} ({device.type}), channels-last",
              "network": NetworkConfig(in_channels=3).to_dict(), "inference": runs}
    if not args.skip_training:
        training = training_to_plateau(args.data, device.type, args.train_seconds, Path("/tmp/restyle_bench/look.onnx"))
        training["repass_identical_weights"] = repass_identical(args.data, device.type)
        print({k: v for k, v in training.items() if k != "curve_s_psnr"}, flush=True)
        record["training"] = training
    path = merge_result("restyle_speed", args.label, record)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
