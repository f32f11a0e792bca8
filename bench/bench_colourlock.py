"""ColourLock on the shared stylised sequences with a known, growing colour drift.

Each stylised sequence gets a drift that grows over time (hue rotation, saturation and
exposure, in linear light); it is locked to its undrifted first frame with two brand
swatches taken from that frame. Reports swatch ΔE2000 p95 and max after the lock (goal
<= 1.0 and <= 2.0), the palette ΔE2000 to the reference before and after, fit time, and how
fast the fitted transform (per-frame affine + swatch holds, torch) applies at 2048x1080 on
the GPU when there is one, else the CPU. Writes bench/results/colourlock.json.

    python -m bench.bench_colourlock --label dev-2core
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from inference import colour
from inference.colourlock.fit import Affine
from inference.colourlock.lock import colourlock_sequence
from inference.colourlock.lut import lattice
from inference.colourlock.settings import ColourLockSettings
from inference.colourlock.swatches import load_swatches, swatch_delta_e
from inference.devices import resolve_device
from inference.image import Image, read_image, write_image
from inference.sequence import SequencePattern

from .common import bench_parser, machine, merge_result, per_sequence

LIN = "Linear Rec.709 (sRGB)"
SEQUENCES = {"bikes_kuwahara": ("style/bikes_kuwahara.####.png", range(1001, 1033)),
             "sceneA_painting": ("style/sceneA_painting.####.png", range(1001, 1025))}
SWATCHES = ((0.20, 0.30), (0.65, 0.60))  # swatch centres, fractions of width/height


def drift(srgb: np.ndarray, step: int) -> np.ndarray:
    """Hue +1.5 deg, saturation +3 %, exposure +0.05 stop per frame, applied in linear light."""
    hsv = cv2.cvtColor(np.clip(srgb, 0, 1).astype(np.float32), cv2.COLOR_RGB2HSV)
    hsv[..., 0] = (hsv[..., 0] + 1.5 * step) % 360
    hsv[..., 1] = np.clip(hsv[..., 1] * (1 + 0.03 * step), 0, 1)
    linear = colour.convert(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), "sRGB - Texture", LIN)
    return linear * 2 ** (0.05 * step)


def prepare(data: Path, name: str, work: Path) -> tuple[SequencePattern, Path, Path, list[int]]:
    text, frame_range = SEQUENCES[name]
    frames = list(frame_range)
    source = SequencePattern.parse(str(data / text))
    drifted = SequencePattern.parse(str(work / name / f"{name}.####.exr"))
    drifted.directory.mkdir(parents=True)
    for step, frame in enumerate(frames):
        srgb = read_image(source.path(frame)).beauty(alpha=False).as_float32()
        write_image(drifted.path(frame), Image.from_array(drift(srgb, step).astype(np.float16), ("R", "G", "B")))
    reference = Path(source.path(frames[0]))
    ref = read_image(reference).beauty(alpha=False).as_float32()
    height, width = ref.shape[:2]
    swatches = []
    for i, (fx, fy) in enumerate(SWATCHES):
        x, y, w, h = int(fx * width), int(fy * height), 24, 16
        rgb = ref[y:y + h, x:x + w].reshape(-1, 3).mean(0)
        swatches.append({"name": f"brand {i + 1}", "rgb": [float(v) for v in rgb], "colourspace": "sRGB - Texture",
                         "tolerance": 1.0, "region": [x, y, w, h]})
    swatch_path = work / f"{name}_swatches.json"
    swatch_path.write_text(json.dumps(swatches))
    return drifted, reference, swatch_path, frames


def measure(data: Path, name: str, work: Path, lut: bool = False) -> dict:
    drifted, reference, swatches, frames = prepare(data, name, work)
    out = SequencePattern.parse(str(work / f"{name}_out" / "o.####.exr"))
    start = time.perf_counter()
    lock = ColourLockSettings(str(reference), str(work / f"{name}_report"), str(swatches), lut=lut)
    report = colourlock_sequence(drifted, frames, out, lock, source_space=LIN, progress_mode="none")
    seconds = time.perf_counter() - start
    # Measured again on the frames as written (half-float EXR read back), not on the engine's own numbers.
    targets = load_swatches(str(swatches), read_image(reference).size)
    written = [colour.convert(read_image(out.path(f)).beauty(alpha=False).as_float32(), LIN, colour.WORKING_ENCODING)
               for f in frames]
    after = np.array([swatch_delta_e(frame, s, colour.WORKING_ENCODING) for s in targets for frame in written])
    before = np.concatenate([e["before"] for e in report["swatches"]])
    return {"frames": report["frames"], "drift": "hue +1.5 deg, saturation +3 %, exposure +0.05 stop per frame",
            "swatch_delta_e_before_p95": float(np.percentile(before, 95)), "swatch_delta_e_before_max": float(before.max()),
            "swatch_measured_on": "mean colour of each swatch region in the written EXR frames",
            "swatch_delta_e_after_p95": float(np.percentile(after, 95)), "swatch_delta_e_after_max": float(after.max()),
            "palette_delta_e_mean_before": float(np.mean(report["palette_delta_e_before"])),
            "palette_delta_e_mean_after": float(np.mean(report["palette_delta_e_after"])),
            "goal_p95_le_1": bool(np.percentile(after, 95) <= 1.0), "goal_max_le_2": bool(after.max() <= 2.0),
            "fit_seconds": report["fit_seconds"], "seconds_fit_lock_write_report": round(seconds, 2),
            "passed": report["passed"]}


def apply_speed(device: str, width: int = 2048, height: int = 1080, batch: int = 8, reps: int = 20) -> dict:
    """Frames/s of the fitted lock (per-frame affine + two swatch holds) on frames already on ``device``."""
    import torch

    from inference.colourlock.apply import ColourLockApply

    rng = np.random.default_rng(0)
    swatches = load_swatches([{"name": f"s{i}", "rgb": [0.5, 0.3, 0.2], "region": [int(fx * width), int(fy * height), 96, 64]}
                              for i, (fx, fy) in enumerate(SWATCHES)], (width, height))
    apply = ColourLockApply(swatches, (height, width), colour.WORKING_ENCODING, device=device)
    frames = torch.from_numpy(rng.uniform(0, 1, (batch, height, width, 3)).astype(np.float16)).to(device)
    params = torch.from_numpy(np.tile(Affine(np.eye(3) * 1.1, np.full(3, 0.01)).params(), (batch, 1))).to(device)

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    luts = (torch.from_numpy(np.tile(lattice(33, 0.0, 2.0)[None] * 1.1, (batch, 1, 1, 1, 1))).to(device), 0.0, 2.0)

    def fps(**transform) -> float:
        for _ in range(3):
            apply(frames, **transform)
        sync()
        start = time.perf_counter()
        for _ in range(reps):
            apply(frames, **transform)
        sync()
        return round(reps * batch / (time.perf_counter() - start), 1)

    return {"resolution": [width, height], "backend": f"torch {torch.__version__} ({device})", "batch": batch,
            "dtype": "fp16 frames in, fp32 compute and out", "swatches": len(swatches),
            "frames_resident_on_device": True, "apply_fps": fps(params=params),
            "apply_fps_lut_33": fps(luts=luts)}


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--speed-only", action="store_true", help="measure only the apply speed (no shared data needed)")
    args = parser.parse_args(argv)
    record = {"machine": machine()}
    if not args.speed_only:
        record["quality"] = per_sequence(SEQUENCES, lambda name, work: measure(args.data, name, work))
        record["quality_with_lut"] = per_sequence(SEQUENCES, lambda name, work: measure(args.data, name, work, lut=True))
    record["speed"] = apply_speed(resolve_device("auto"))
    print(record["speed"])
    print(f"wrote {merge_result('colourlock', args.label, record)}")


if __name__ == "__main__":
    main()
