"""Restyle quality on the shared sequences that have per-frame style references.

For each sequence: train on one keyframe, restyle every frame, and on the held-out frames
report PSNR / SSIM against the reference, the texture distance (multi-scale sliced
Wasserstein, Karras et al. 2018) next to the painted keyframe's own distance to those
references, E_warp next to the plate's, and the same for the baseline "keyframe warped
along the plate's optical flow", and for Restyle followed by the toolset's Deflicker (the
node chain a compositor builds), and for ``restyle run --detail PX`` (the keyframe's brushwork
carried along the plate's motion), each with every goal judged. Re-pass stability: retraining with the same inputs and
seed must give identical frames; a re-pass from the approved model (``--init``, ``--repass
auto``) after a saturation tweak of the keyframe must keep the brushwork (SSIM of luma; a full
fine-tune is measured beside it). Writes bench/results/restyle_quality.json.

    python -m bench.bench_restyle_quality --label dev-2core-cpu
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from inference import colour, metrics
from inference.image import Image, read_image, write_image
from inference.restyle.apply import restyle_sequence
from inference.restyle.model_file import load_model
from inference.restyle.settings import DEFAULT_DETAIL_PX, DetailSettings, TrainColourspaces, TrainStart
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern
from inference.temporal.deflicker import deflicker_sequence
from inference.temporal.flow import warp

from .common import bench_parser, machine, merge_result

SRGB = "sRGB - Texture"
SEQUENCES = {
    "sceneA_painting": ("render_sceneA/png/sceneA_beauty.####.png", "style/sceneA_painting.####.png", range(1001, 1025)),
    "bikes_kuwahara": ("live_bikes/bikes.####.png", "style/bikes_kuwahara.####.png", range(1001, 1033)),
}
KEY = 1001
FAR = 10  # "frames 10+ away from the key"


def load(pattern: SequencePattern, frames) -> dict[int, np.ndarray]:
    """``frames`` as sRGB views in [0, 1], from the colourspace each file records (a deflickered EXR is
    scene-linear) or its type's default."""
    def view(path: str) -> np.ndarray:
        rgb = read_image(path).beauty(alpha=False).as_float32()
        return np.clip(colour.convert(rgb, colour.file_colourspace(path), SRGB), 0, 1)

    return {f: view(pattern.path(f)) for f in frames}


def saturate(path: str, out: Path, factor: float = 1.15) -> str:
    """The keyframe with its saturation raised (a small colour edit an artist might make)."""
    rgb = read_image(path).beauty(alpha=False).as_float32()
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hsv[..., 1] = np.clip(hsv[..., 1] * factor, 0, 1)
    write_image(out, Image.from_array(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB), ("R", "G", "B")))
    return str(out)


def flows_to_first(flows: list) -> list[np.ndarray]:
    """Flow from every frame to the first (the key), chained along consecutive plate flows:
    F(t -> 0)(x) = F(t -> t-1)(x) + F(t-1 -> 0)(x + F(t -> t-1)(x))."""
    to_first = [np.zeros_like(flows[0][0])]
    for to_prev, _ in flows:
        to_first.append(to_prev + warp(to_first[-1], to_prev))
    return to_first


def run(model: Path, plate: SequencePattern, key: str, frames: list[int], work: Path, name: str,
        detail: float = 0.0) -> dict[int, np.ndarray]:
    """``restyle run`` of ``model`` over ``frames`` (with the key's carried ``detail`` when > 0)."""
    out = SequencePattern.parse(str(work / name / f"{name}.####.exr"))
    restyle_sequence(str(model), plate, frames, out, detail=DetailSettings(px=detail, keys={KEY: key}, key_space=SRGB),
                     plate_space=SRGB, out_space=SRGB, progress_mode="none")
    return load(out, frames)


def train_and_run(plate: SequencePattern, key: str, frames: list[int], work: Path, name: str,
                  settings: TrainSettings, detail: float, init: str | None = None, repass: str = "auto"
                  ) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], float]:
    """(network alone, with carried detail, training seconds) for a model trained on ``key``."""
    start = time.perf_counter()
    model = train(plate, {KEY: key}, work / f"{name}.onnx", settings=settings,
                  start=TrainStart(init=init, repass=repass), spaces=TrainColourspaces(plate=SRGB), frames=frames,
                  progress_mode="none").model
    seconds = time.perf_counter() - start
    alone = run(model, plate, key, frames, work, name)
    return alone, run(model, plate, key, frames, work, f"{name}_detail", detail) if detail else alone, seconds


def mean(values) -> float:
    return float(np.mean(list(values)))


def evaluate(data: Path, name: str, settings: TrainSettings, work: Path, detail: float, repass: bool = True) -> dict:
    plate_text, ref_text, frame_range = SEQUENCES[name]
    frames = list(frame_range)
    plate = SequencePattern.parse(str(data / plate_text))
    refs = load(SequencePattern.parse(str(data / ref_text)), frames)
    plates = load(plate, frames)
    key = str(data / ref_text.replace("####", str(KEY)))
    held = [f for f in frames if f != KEY]
    far = [f for f in held if abs(f - KEY) >= FAR]

    output, with_detail, train_s = train_and_run(plate, key, frames, work, f"{name}_a", settings, detail)
    # The toolset's chain: the Deflicker node after Restyle, guided by the same plate.
    settled = SequencePattern.parse(str(work / f"{name}_a_deflicker" / "d.####.exr"))
    deflicker_sequence(SequencePattern.parse(str(work / f"{name}_a" / f"{name}_a.####.exr")), plate, frames, settled,
                       source_space=SRGB, guide_space=SRGB, progress_mode="none")
    chain = load(settled, frames)
    repeat = train_and_run(plate, key, frames, work, f"{name}_b", settings, detail)[:2] if repass else None
    # The re-pass workflow: start from the approved model with the artist's updated keyframe
    # (auto: a colour edit keeps the brushwork); a full fine-tune for comparison.
    fine_tune = TrainSettings(**{**settings.to_dict(), "steps": max(1, settings.steps // 5)})
    tweaked_key = saturate(key, work / f"{name}_key_sat.png")
    approved = str(work / f"{name}_a.onnx")
    tweaked = train_and_run(plate, tweaked_key, frames, work, f"{name}_c", fine_tune, detail, init=approved)[:2]
    repass_mode = load_model(work / f"{name}_c.onnx").meta["training"]["repass"]
    tuned = train_and_run(plate, tweaked_key, frames, work, f"{name}_d", fine_tune, 0.0, init=approved, repass="full")[0]
    flows = metrics.plate_flows([plates[f] for f in frames])
    baseline = {f: warp(refs[KEY], to_key) for f, to_key in zip(frames, flows_to_first(flows))}
    key_swd = metrics.sliced_wasserstein([refs[KEY]] * len(held), [refs[f] for f in held])
    plate_ewarp = metrics.e_warp([plates[f] for f in frames], [plates[f] for f in frames], flows)["e_warp"]

    def quality(images: dict[int, np.ndarray]) -> dict:
        return {"psnr_db": mean(metrics.psnr(images[f], refs[f]) for f in held),
                "psnr_db_far": mean(metrics.psnr(images[f], refs[f]) for f in far),
                "ssim": mean(metrics.ssim(images[f], refs[f]) for f in held),
                "ssim_far": mean(metrics.ssim(images[f], refs[f]) for f in far),
                "swd": metrics.sliced_wasserstein([images[f] for f in held], [refs[f] for f in held]),
                "e_warp": metrics.e_warp([images[f] for f in frames], [plates[f] for f in frames], flows)["e_warp"]}

    base = quality(baseline)

    def judged(images: dict[int, np.ndarray], again: dict[int, np.ndarray] | None, after_tweak: dict[int, np.ndarray]
               ) -> dict:
        """One output's quality with every goal of the issue judged on it."""
        ours = quality(images)
        tweak_ssim = mean(metrics.ssim_luma(images[f], after_tweak[f]) for f in frames)
        return {**ours, "psnr_gain_far_db": ours["psnr_db_far"] - base["psnr_db_far"],
                "goal_psnr_gain_far_ge_1db": ours["psnr_db_far"] - base["psnr_db_far"] >= 1.0,
                "e_warp_ratio_to_plate": ours["e_warp"] / plate_ewarp,
                "goal_e_warp_le_1_5x_plate": ours["e_warp"] <= 1.5 * plate_ewarp,
                "swd_ratio_to_keyframe": ours["swd"] / key_swd, "goal_swd_le_1_5x_keyframe": ours["swd"] <= 1.5 * key_swd,
                "repass_identical_max_abs_diff": (float(max(np.abs(images[f] - again[f]).max() for f in frames))
                                                  if again else "not run for this setting"),
                "key_saturation_tweak_ssim_luma": tweak_ssim, "goal_tweak_ssim_luma_ge_0_95": tweak_ssim >= 0.95}

    chained = quality(chain)
    result = {
        "frames": f"{frames[0]}-{frames[-1]}", "key": KEY, "held_out": len(held), "far_frames": len(far),
        "size": list(plates[KEY].shape[1::-1]), "train_seconds": round(train_s, 1),
        "restyle": judged(output, repeat and repeat[0], tweaked[0]), "baseline_flow_warp": base,
        "restyle_then_deflicker": chained,
        "restyle_then_deflicker_e_warp_ratio_to_plate": chained["e_warp"] / plate_ewarp,
        "restyle_then_deflicker_swd_ratio_to_keyframe": chained["swd"] / key_swd,
        "plate_e_warp": plate_ewarp, "keyframe_swd": key_swd,
        "reference_e_warp": metrics.e_warp([refs[f] for f in frames], [plates[f] for f in frames], flows)["e_warp"],
        "key_saturation_tweak_repass": repass_mode,
        "key_saturation_tweak_ssim_luma_full_finetune": mean(metrics.ssim_luma(output[f], tuned[f]) for f in frames),
    }
    if detail:
        result[f"restyle_detail_{detail:g}px"] = judged(with_detail, repeat and repeat[1], tweaked[1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--steps", type=int, default=2500, help="training steps (fixed, for re-pass identity)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--sequences", default=",".join(SEQUENCES))
    parser.add_argument("--smoothing", default=str(TrainSettings.input_smoothing),
                        help="comma list of input smoothing sigmas to compare (the first is the reported default)")
    parser.add_argument("--adversarial", type=float, default=TrainSettings.adversarial,
                        help="weight of the patch discriminator loss (0 = off)")
    parser.add_argument("--stability", type=float, default=TrainSettings.stability,
                        help="flicker target of training (E_warp ratio to the plate; 0 = no temporal loss)")
    parser.add_argument("--detail", type=float, default=DEFAULT_DETAIL_PX,
                        help="also measure restyle run --detail PX (carried keyframe brushwork); 0 = skip")
    args = parser.parse_args(argv)
    sweep = {}
    for i, sigma in enumerate(float(v) for v in args.smoothing.split(",")):
        settings = TrainSettings(steps=args.steps, plateau=False, device=args.device, seed=0, input_smoothing=sigma,
                                 adversarial=args.adversarial, stability=args.stability)
        results = {}
        with tempfile.TemporaryDirectory(prefix="restyle_quality_") as work:
            for name in args.sequences.split(","):
                results[name] = evaluate(args.data, name, settings, Path(work), args.detail, repass=i == 0)
                print(sigma, name, results[name], flush=True)
        sweep[f"input_smoothing={sigma:g}"] = {"training": settings.to_dict(), "sequences": results}
    path = merge_result("restyle_quality", args.label, {
        "machine": machine(), "colour": "metrics on sRGB-encoded values in [0,1]", "settings": sweep})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
