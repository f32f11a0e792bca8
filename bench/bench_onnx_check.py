"""The exported ONNX model on onnxruntime (CPU) against the same weights in torch.

Trains briefly on the shared live-action clip, runs one full frame through both backends
and stores the largest absolute difference under "onnx_check" in
bench/results/restyle_quality.json.

    python -m bench.bench_onnx_check --label dev-2core-cpu
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from inference import colour
from inference.image import read_image
from inference.restyle import guides
from inference.restyle.apply import pad_to_multiple
from inference.restyle.backends import OrtBackend, TorchBackend
from inference.restyle.model_file import load_model
from inference.restyle.settings import TrainColourspaces
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern

from .common import RESULTS, bench_parser, machine, merge_result


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    args = parser.parse_args(argv)
    plate = SequencePattern.parse(str(args.data / "live_bikes" / "bikes.####.png"))
    with tempfile.TemporaryDirectory() as work:
        path = train(plate, {1001: str(args.data / "style" / "bikes_kuwahara.1001.png")}, Path(work) / "m.onnx",
                     settings=TrainSettings(steps=200, device="cpu"), spaces=TrainColourspaces(plate="sRGB - Texture"),
                     progress_mode="none").model
        model = load_model(path)
        x = guides.build_input(read_image(plate.path(1010)), "sRGB - Texture", colour.WORKING_ENCODING, [])
        batch = pad_to_multiple(x.transpose(2, 0, 1), 4)[None]
        ort_out = OrtBackend(model, log=print, providers=("CPUExecutionProvider",)).run(batch)
        torch_out = TorchBackend(model, "cpu").run(batch)
    diff = float(np.abs(ort_out - torch_out).max())
    print(f"max |onnxruntime - torch| = {diff:.3g}")
    existing = RESULTS / "restyle_quality.json"
    record = {"machine": machine(), "onnx_check": {
        "frame": "bikes.1010 (640x272)", "onnxruntime": ort.__version__, "torch": torch.__version__,
        "provider": "CPUExecutionProvider", "max_abs_diff": diff}}
    if existing.exists():
        import json
        current = json.loads(existing.read_text())["runs"].get(args.label, {})
        record = {**current, **record}
    merge_result("restyle_quality", args.label, record)


if __name__ == "__main__":
    main()
