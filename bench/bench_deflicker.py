"""Deflicker quality on the shared flickering stylisations, and speed.

Quality: for every shared sequence with per-frame G'MIC stylisations (they flicker like a
frame-by-frame stylizer; the validation bench's list), deflicker the stylised sequence guided by
its plate and report E_warp of input, output and plate with two optical flows (DIS, which the
deflicker moves along, and Farneback, suffixed ``_farneback``), and mean SSIM(output, input)
(the look is kept). Goal on both flows: E_warp(output) <= 1.2 x E_warp(plate) with mean
SSIM(output, input) >= 0.85.
Speed: frames/s of the deflicker on generated frames (CPU path here; the torch path on a
GPU machine). Writes bench/results/deflicker.json.

    python -m bench.bench_deflicker --label dev-2core
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from inference import metrics
from inference.measure import srgb_views
from inference.sequence import SequencePattern
from inference.temporal.deflicker import deflicker_sequence
from inference.temporal.settings import DeflickerSettings

from .bench_restyle_validation import SEQUENCES
from .common import bench_parser, machine, merge_result, per_sequence

SRGB = "sRGB - Texture"
FLOWS = ("dis", "farneback")  # E_warp judged with two optical-flow algorithms (the deflicker moves along DIS)


def quality(data: Path, name: str, radius: int, work: Path) -> dict:
    """Run ``restyle deflicker`` (mode both) on the stylised PNGs and measure its EXR output."""
    plate_text, style_text, frame_range = SEQUENCES[name]
    frames = list(frame_range)
    plate_seq, style_seq = SequencePattern.parse(str(data / plate_text)), SequencePattern.parse(str(data / style_text))
    out = SequencePattern.parse(str(work / name / f"{name}.####.exr"))
    start = time.perf_counter()
    deflicker_sequence(style_seq, plate_seq, frames, out, DeflickerSettings(radius=radius), source_space=SRGB,
                       guide_space=SRGB, progress_mode="none")
    seconds = time.perf_counter() - start
    plate, style = srgb_views(plate_seq, frames, SRGB), srgb_views(style_seq, frames, SRGB)
    output = srgb_views(out, frames, SRGB)
    similarity = float(np.mean([metrics.ssim(o, s) for o, s in zip(output, style)]))
    result = {"frames": f"{frames[0]}-{frames[-1]}", "size": list(plate[0].shape[1::-1]), "mode": "both",
              "radius": radius, "mean_ssim_output_input": similarity, "goal_ssim_ge_0_85": similarity >= 0.85,
              "seconds_end_to_end": round(seconds, 2), "fps_end_to_end": round(len(frames) / seconds, 2)}
    for flow in FLOWS:
        flows = metrics.plate_flows(plate, flow)
        e_in, e_out, e_plate = (metrics.e_warp(x, plate, flows)["e_warp"] for x in (style, output, plate))
        suffix = "" if flow == "dis" else f"_{flow}"
        result.update({f"e_warp_input{suffix}": e_in, f"e_warp_output{suffix}": e_out, f"e_warp_plate{suffix}": e_plate,
                       f"output_to_plate_ratio{suffix}": e_out / e_plate,
                       f"goal_e_warp_le_1_2x_plate{suffix}": e_out <= 1.2 * e_plate})
    return result


def cpu_speed(width: int = 960, height: int = 540, count: int = 16) -> dict:
    """Local deflicker frames/s on the numpy/OpenCV path, DIS flow on the plate included."""
    from inference.demo.plate import render_frame
    from inference.temporal import local_deflicker

    rng = np.random.default_rng(0)
    plate = [np.clip(render_frame(i, width, height).beauty(alpha=False).as_float32(), 0, 1) for i in range(count)]
    frames = [np.clip(p * rng.uniform(0.8, 1.2, 3).astype(np.float32), 0, 1) for p in plate]
    start = time.perf_counter()
    local_deflicker.deflicker_local(frames, plate)
    seconds = time.perf_counter() - start
    return {"resolution": [width, height], "frames": count, "fps_including_flow": round(count / seconds, 2),
            "backend": "numpy/OpenCV (CPU), DIS medium"}


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--radius", type=int, default=4)
    parser.add_argument("--sequences", default=",".join(SEQUENCES), help="comma list (default: all)")
    parser.add_argument("--no-speed", dest="speed", action="store_false", help="skip the speed measure")
    args = parser.parse_args(argv)
    results = per_sequence(args.sequences.split(","), lambda name, work: quality(args.data, name, args.radius, work))
    speed = cpu_speed() if args.speed else "not measured in this run (--no-speed)"
    print(speed)
    print(f"wrote {merge_result('deflicker', args.label, {'machine': machine(), 'backend': 'numpy/OpenCV (CPU), restyle deflicker end to end (EXR half out)', 'quality': results, 'speed': speed})}")


if __name__ == "__main__":
    main()
