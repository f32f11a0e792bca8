"""How far Deflicker's own knobs can take per-frame paint-overs: steadiness against likeness.

For every shared sequence with per-frame G'MIC stylisations, the local pass
(:func:`inference.temporal.local_deflicker.deflicker_local`, DIS flows of the plate, on the sRGB
view) runs over a grid of the node's knobs (``strength`` x ``radius``); each setting's E_warp
(as a multiple of the plate's, judged with DIS and with Farneback) is reported next to the mean
SSIM of its output to its input. The issue's goal is a point with E_warp <= 1.2x the plate's by
both flows AND SSIM(out, in) >= 0.85; per sequence the record names the steadiest setting that
keeps SSIM >= 0.85, and the likeness of consecutive input frames to each other (SSIM of frame
t to frame t-1 carried onto it along the plate's DIS flow, visible pixels only): a sequence
whose own consecutive frames are that unlike cannot be made steady and stay that like each of
them. Also the "floor" of a perfectly DIS-consistent sequence with the paint-over's contrast:
the middle frame's paint-over carried along the plate's DIS flow to every frame, judged by
Farneback. Writes bench/results/deflicker_frontier.json.

    python -m bench.bench_deflicker_frontier --label dev-2core
"""
from __future__ import annotations

import itertools

import numpy as np

from inference import metrics
from inference.measure import srgb_views
from inference.sequence import SequencePattern
from inference.temporal import local_deflicker
from inference.temporal.flow import occlusion_mask, warp

from .bench_restyle_validation import SEQUENCES
from .common import bench_parser, machine, merge_result, per_sequence

SRGB = "sRGB - Texture"
FLOWS = ("dis", "farneback")
STRENGTHS = (0.5, 0.75, 1.0)
RADII = (2, 4, 8)
SSIM_GOAL, E_WARP_GOAL = 0.85, 1.2


def consecutive_likeness(style: list[np.ndarray], judge: list) -> float:
    """Mean SSIM of frame t to frame t-1 warped onto it (DIS judge flows, ``(t -> t-1, t-1 -> t)``
    pairs), over the pixels visible in both (the rest taken from frame t)."""
    values = []
    for t in range(1, len(style)):
        to_prev, from_prev = judge[t - 1]
        visible = occlusion_mask(to_prev, from_prev)[:, :, None]
        values.append(metrics.ssim(np.where(visible, warp(style[t - 1], to_prev), style[t]), style[t]))
    return float(np.mean(values))


def carried_key(style: list[np.ndarray], flows: list) -> list[np.ndarray]:
    """The middle frame's paint-over carried to every frame along consecutive DIS flows (pairs
    ``(k -> k+1, k+1 -> k)``): steady by construction along DIS, with the paint-over's contrast."""
    key = len(style) // 2
    out = {key: style[key]}
    for t in range(key + 1, len(style)):
        out[t] = warp(out[t - 1], flows[t - 1][1])
    for t in range(key - 1, -1, -1):
        out[t] = warp(out[t + 1], flows[t][0])
    return [out[t] for t in range(len(style))]


def frontier(data, name: str, _work) -> dict:
    plate_text, style_text, frame_range = SEQUENCES[name]
    frames = list(frame_range)
    plate = srgb_views(SequencePattern.parse(str(data / plate_text)), frames, SRGB)
    style = srgb_views(SequencePattern.parse(str(data / style_text)), frames, SRGB)
    flows = local_deflicker.neighbour_flows(plate)
    judges = {flow: metrics.plate_flows(plate, flow) for flow in FLOWS}
    own = {flow: metrics.e_warp(plate, plate, judge)["e_warp"] for flow, judge in judges.items()}

    def measured(frames_out: list[np.ndarray]) -> dict:
        clipped = [np.clip(f, 0, 1) for f in frames_out]
        row = {f"e_warp_{flow}_multiple": metrics.e_warp(clipped, plate, judge)["e_warp"] / own[flow]
               for flow, judge in judges.items()}
        row["ssim_to_input"] = float(np.mean([metrics.ssim(o, s) for o, s in zip(clipped, style)]))
        return row

    settings = []
    for strength, radius in itertools.product(STRENGTHS, RADII):
        out = local_deflicker.deflicker_local(style, plate, flows=flows, radius=radius, strength=strength)
        settings.append({"strength": strength, "radius": radius, **measured(out)})
    likeable = [s for s in settings if s["ssim_to_input"] >= SSIM_GOAL]
    steadiest = min(likeable, key=lambda s: s["e_warp_dis_multiple"], default=None)
    return {"frames": f"{frames[0]}-{frames[-1]}", "size": list(plate[0].shape[1::-1]),
            "input": measured(style), "settings": settings,
            "steadiest_with_ssim_ge_0_85": steadiest,
            "goal_met_by_any_setting": any(s["ssim_to_input"] >= SSIM_GOAL and all(
                s[f"e_warp_{flow}_multiple"] <= E_WARP_GOAL for flow in FLOWS) for s in settings),
            "consecutive_input_ssim": consecutive_likeness(style, judges["dis"]),
            "carried_key_floor": {k: v for k, v in measured(carried_key(style, flows)).items() if k != "ssim_to_input"}}


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--sequences", default=",".join(SEQUENCES), help="comma list (default: all)")
    args = parser.parse_args(argv)
    results = per_sequence(args.sequences.split(","), lambda name, work: frontier(args.data, name, work))
    record = {"machine": machine(), "backend": "numpy/OpenCV (CPU), local pass, DIS medium flows of the plate",
              "dtype": "float32", "strengths": list(STRENGTHS), "radii": list(RADII), "sequences": results}
    print(f"wrote {merge_result('deflicker_frontier', args.label, record)}")


if __name__ == "__main__":
    main()
