"""Restyle validation over every shared sequence with per-frame style references, EbSynth beside it.

For each sequence: ONE painted keyframe in the middle of the clip (the style reference at that
frame), default ``restyle train`` (``TrainSettings()``, the plateau rule on), then every method
on every frame; the evaluator measures the frames away from the key (``held``: all but the key;
``far``: 10 or more frames away):

- ``restyle``: the network alone (``restyle run``);
- ``texture``: ``restyle run --texture`` (the keyframe's patches synthesised onto every frame);
- ``texture_deflicker``: that, then the toolset's Deflicker (the node chain a compositor builds);
- ``detail``: ``restyle run``'s default (the keyframe's fine detail carried along the plate's
  motion: DIS flow, finer than 8 px, on live action; the render's own vectors, finer than 48 px,
  on the render, whose EXRs, beauty and vectors, are its plate here as in a comp);
- ``detail_deflicker``: that, then the toolset's Deflicker (its defaults: the render's vectors too);
- ``warped_key``: the keyframe warped along the plate's DIS flow chained to the key (baseline);
- ``ebsynth``: frames made by ``python -m bench.ebsynth_peer`` (open-source EbSynth driven with
  the plate, positional and temporal guides), read from ``--peer DIR/<sequence>/``.

Measures (inference.metrics, on the sRGB view in [0, 1]): PSNR and SSIM to the per-frame
references, the texture multiple (multi-scale sliced Wasserstein distance of 7x7
Laplacian-pyramid patches to the references, over the painted key's own distance to them), and
E_warp as a multiple of the plate's with two flow algorithms (OpenCV DIS and Farneback): the
texture pass, the detail on live action and the warped key move pixels along DIS flow, so
Farneback judges them; on the Blender render, also with its own motion vectors
(``e_warp_vectors_multiple``), which the detail and Deflicker follow there, so DIS and Farneback
judge those.

Tuning and checking: the texture pass's defaults were chosen on TUNING only; CHECKING is never
looked at while tuning and is reported apart. Writes bench/results/restyle_validation.json.

    python -m bench.bench_restyle_validation --label h200 --peer /path/to/ebsynth_frames
"""
from __future__ import annotations

import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from inference import metrics
from inference.errors import UsageError
from inference.restyle.settings import DetailSettings, TrainColourspaces
from inference.restyle.train import TrainSettings, train
from inference.sequence import SequencePattern
from inference.temporal.deflicker import deflicker_sequence
from inference.temporal.flow import warp

from .bench_restyle_quality import SRGB, flows_to_first, load
from .common import RESULTS, bench_parser, machine, merge_result

# name: (plate, per-frame style references, frames); ../shared/data/PROVENANCE.md sections 1-3 and 5
SEQUENCES = {
    "sceneA_painting": ("render_sceneA/png/sceneA_beauty.####.png", "style/sceneA_painting.####.png", range(1001, 1025)),
    "bikes_kuwahara": ("live_bikes/bikes.####.png", "style/bikes_kuwahara.####.png", range(1001, 1033)),
    "shot2_pencil": ("live_bikes_shot2/bikes_shot2.####.png", "style/bikes_shot2_pencil.####.png", range(1001, 1025)),
    "shot2_painting": ("live_bikes_shot2/bikes_shot2.####.png", "style/bikes_shot2_painting.####.png", range(1001, 1025)),
    "shot3_pencil": ("live_bikes_shot3/bikes_shot3.####.png", "style/bikes_shot3_pencil.####.png", range(1001, 1025)),
    "shot3_painting": ("live_bikes_shot3/bikes_shot3.####.png", "style/bikes_shot3_painting.####.png", range(1001, 1025)),
}
# the renders' EXRs: their own motion vectors (Blender Vector pass), E_warp's third judge, and the
# plate `restyle run` and Deflicker get (as a compositor has it: beauty and vectors in one file)
VECTORS = {"sceneA_painting": "render_sceneA/exr/sceneA.####.exr"}
RENDER_SPACE = "Linear Rec.709 (sRGB)"  # their beauty (Blender's linear; its PNGs are this with the sRGB curve)
TUNING = ("sceneA_painting", "bikes_kuwahara", "shot2_pencil", "shot2_painting")
CHECKING = ("shot3_pencil", "shot3_painting")
METHODS = ("restyle", "texture", "texture_deflicker", "detail", "detail_deflicker", "warped_key", "ebsynth")
TRAINED = ("restyle", "texture", "texture_deflicker", "detail", "detail_deflicker")  # the methods that need the trained model
FAR = 10
# restyle run's options per method: the network alone, its default (the keys' detail), the texture pass
RUN_OPTIONS = {"restyle": {"px": 0.0}, "detail": {}, "texture": {"texture": True}}
FLOWS = ("dis", "farneback")


def middle(frames: list[int]) -> int:
    """The keyframe: the middle of the clip (1012 of 1001-1024)."""
    return frames[(len(frames) - 1) // 2]


def restyled(model: Path, plate: SequencePattern, keys: dict[int, str], frames: list[int], folder: Path,
             plate_space: str = SRGB, **options) -> dict[int, np.ndarray]:
    """``restyle run`` of ``model`` over ``frames`` (``options``: DetailSettings' px / texture, with
    the painted ``keys``; the rest its defaults), as sRGB views."""
    from inference.restyle.apply import restyle_sequence

    out = SequencePattern.parse(str(folder / "f.####.exr"))
    restyle_sequence(str(model), plate, frames, out, detail=DetailSettings(keys=keys, key_space=SRGB, **options),
                     plate_space=plate_space, out_space=SRGB, progress_mode="none")
    return load(out, frames)


def deflickered(source: Path, plate: SequencePattern, frames: list[int], folder: Path,
                plate_space: str = SRGB) -> dict[int, np.ndarray]:
    """The toolset's Deflicker (defaults) over an EXR sequence written by :func:`restyled`."""
    out = SequencePattern.parse(str(folder / "d.####.exr"))
    deflicker_sequence(SequencePattern.parse(str(source / "f.####.exr")), plate, frames, out,
                       source_space=SRGB, guide_space=plate_space, progress_mode="none")
    return load(out, frames)


def run_plate(data: Path, name: str, frames: list[int]) -> tuple[SequencePattern, str]:
    """The plate ``restyle run`` and Deflicker get, and its colourspace: a render's EXRs (with its
    motion vectors) where ``data`` holds them, else the sequence's sRGB plate."""
    if name in VECTORS and Path(SequencePattern.parse(str(data / VECTORS[name])).path(frames[0])).is_file():
        return SequencePattern.parse(str(data / VECTORS[name])), RENDER_SPACE
    return SequencePattern.parse(str(data / SEQUENCES[name][0])), SRGB


class Evaluator:
    """The measures of one sequence: references, the plate's flows by each algorithm."""

    def __init__(self, plates: dict[int, np.ndarray], refs: dict[int, np.ndarray], key: int,
                 true_flows: list | None = None):
        self.frames, self.refs, self.key = sorted(plates), refs, key
        self.plates = [plates[f] for f in self.frames]
        self.held = [f for f in self.frames if f != key]
        self.far = [f for f in self.held if abs(f - key) >= FAR]
        self.flows = {name: metrics.plate_flows(self.plates, name) for name in FLOWS}
        if true_flows is not None:  # a render's own motion vectors: the judge no flow algorithm biases
            self.flows["vectors"] = true_flows
        self.plate_e_warp = {name: metrics.e_warp(self.plates, self.plates, flows)["e_warp"]
                             for name, flows in self.flows.items()}
        self.key_swd = metrics.sliced_wasserstein([refs[key]] * len(self.held), [refs[f] for f in self.held])

    def __call__(self, images: dict[int, np.ndarray]) -> dict[str, float]:
        sequence = [images[f] for f in self.frames]
        figures = {
            "psnr_db": _mean(metrics.psnr(images[f], self.refs[f]) for f in self.held),
            "psnr_db_far": _mean(metrics.psnr(images[f], self.refs[f]) for f in self.far),
            "ssim": _mean(metrics.ssim(images[f], self.refs[f]) for f in self.held),
            "ssim_far": _mean(metrics.ssim(images[f], self.refs[f]) for f in self.far),
            "texture_multiple": metrics.sliced_wasserstein([images[f] for f in self.held],
                                                           [self.refs[f] for f in self.held]) / self.key_swd,
        }
        for name, flows in self.flows.items():
            figures[f"e_warp_{name}_multiple"] = (metrics.e_warp(sequence, self.plates, flows)["e_warp"]
                                                  / self.plate_e_warp[name])
        return figures


def _mean(values) -> float:
    return float(np.mean(list(values)))


def render_flows(data: Path, name: str, frames: list[int]) -> list | None:
    """The (t -> t-1, t-1 -> t) flows of the render's own motion vectors, for a sequence in
    VECTORS; None for live action, and where ``data`` holds no vectors (a copy carried without the
    render's EXRs: the row then has no vectors judge)."""
    exrs, space = run_plate(data, name, frames)
    if space != RENDER_SPACE:
        return None
    from inference.measure import flows_of

    return flows_of("blender", exrs, frames, [], None)


def warped_key(refs: dict[int, np.ndarray], key: int, frames: list[int], evaluator: Evaluator) -> dict[int, np.ndarray]:
    """The keyframe warped onto every frame along the plate's DIS flow chained to the key."""
    forward = [f for f in frames if f >= key]
    backward = [f for f in frames if f <= key][::-1]
    out = {}
    for run in (forward, backward):
        pairs = [(evaluator.flows["dis"][min(a, b) - frames[0]]) for a, b in zip(run, run[1:])]
        # plate_flows gives (t -> t-1, t-1 -> t); walking backwards the step is t -> t+1
        steps = [p[0] if run is forward else p[1] for p in pairs]
        for frame, to_key in zip(run, flows_to_first([(s, None) for s in steps])):
            out[frame] = warp(refs[key], to_key)
    return out


def evaluate(data: Path, name: str, work: Path, methods: tuple[str, ...], settings: TrainSettings,
             peer: Path | None) -> dict:
    plate_text, ref_text, frame_range = SEQUENCES[name]
    frames = list(frame_range)
    key = middle(frames)
    plate = SequencePattern.parse(str(data / plate_text))
    refs = load(SequencePattern.parse(str(data / ref_text)), frames)
    painting = str(data / ref_text.replace("####", str(key)))
    evaluator = Evaluator(load(plate, frames), refs, key, render_flows(data, name, frames))
    result = {"frames": f"{frames[0]}-{frames[-1]}", "key": key, "held_out": len(evaluator.held),
              "far_frames": len(evaluator.far), "set": "tuning" if name in TUNING else "checking",
              "resolution": [evaluator.plates[0].shape[1], evaluator.plates[0].shape[0]],
              "plate_e_warp": evaluator.plate_e_warp, "keyframe_swd": evaluator.key_swd, "methods": {}}
    model = work / f"{name}.onnx"
    if set(methods) & set(TRAINED):
        started = time.perf_counter()
        try:
            trained = train(plate, {key: painting}, model, settings=settings, spaces=TrainColourspaces(plate=SRGB),
                            frames=frames, progress_mode="none")
        except UsageError as refused:  # a refused training (key check, divergence) is a result: no look
            result["training_refused"] = str(refused)
            methods = tuple(m for m in methods if m not in TRAINED)
        else:
            result["train_steps"] = trained.steps
        result["train_seconds"] = round(time.perf_counter() - started, 1)
    source, space = run_plate(data, name, frames)
    outputs = {
        **{method: (lambda method=method: restyled(model, source, {key: painting}, frames, work / f"{name}_{method}",
                                                   space, **RUN_OPTIONS[method])) for method in RUN_OPTIONS},
        "texture_deflicker": lambda: deflickered(work / f"{name}_texture", source, frames, work / f"{name}_td", space),
        "detail_deflicker": lambda: deflickered(work / f"{name}_detail", source, frames, work / f"{name}_dd", space),
        "warped_key": lambda: warped_key(refs, key, frames, evaluator),
        "ebsynth": lambda: _peer_frames(peer, name, frames),
    }
    for method in methods:
        if method == "ebsynth" and peer is None:
            continue
        if method.endswith("_deflicker") and method.removesuffix("_deflicker") not in methods:
            continue
        started = time.perf_counter()
        images = outputs[method]()
        result["methods"][method] = {**evaluator(images), "seconds": round(time.perf_counter() - started, 1)}
    return result


def _peer_frames(peer: Path, name: str, frames: list[int]) -> dict[int, np.ndarray]:
    """EbSynth's frames of ``name`` (``DIR/<name>/<name>.####.png``; grey files read as grey RGB)."""
    return load(SequencePattern.parse(str(peer / name / f"{name}.####.png")), frames)


def goals(sequence: dict) -> dict[str, bool]:
    """The issue's goals judged on one sequence's row of the default chain (``restyle render``:
    the keys' detail then Deflicker; else ``detail``, else ``restyle``); none without one of ours."""
    rows = sequence["methods"]
    ours = rows.get("detail_deflicker") or rows.get("detail") or rows.get("restyle")
    if ours is None or "warped_key" not in rows:
        return {}
    judged = {
        "texture_le_1_5x_key": ours["texture_multiple"] <= 1.5,
        "psnr_far_ge_warped_key_plus_1db": ours["psnr_db_far"] >= rows["warped_key"]["psnr_db_far"] + 1.0,
        "e_warp_le_1_5x_plate_both_flows": all(ours[f"e_warp_{f}_multiple"] <= 1.5 for f in FLOWS),
        **({"e_warp_le_1_5x_plate_true_vectors": ours["e_warp_vectors_multiple"] <= 1.5}
           if "e_warp_vectors_multiple" in ours else {}),
    }
    if "ebsynth" in rows:
        peer = rows["ebsynth"]
        judged.update({"texture_le_ebsynth": ours["texture_multiple"] <= peer["texture_multiple"],
                       "psnr_ge_ebsynth": ours["psnr_db"] >= peer["psnr_db"], "ssim_ge_ebsynth": ours["ssim"] >= peer["ssim"]})
    return judged


def summary(results: dict[str, dict]) -> dict:
    """Per method and measure: median and worst over the sequences (worst = lowest PSNR/SSIM,
    highest texture and E_warp multiples)."""
    out = {}
    methods = sorted({m for r in results.values() for m in r["methods"]})
    for method in methods:
        rows = [r["methods"][method] for r in results.values() if method in r["methods"]]
        out[method] = {}
        for measure in sorted({m for row in rows for m in row}):  # the render's vectors: some rows only
            values = [row[measure] for row in rows if measure in row]
            worst = min(values) if measure.startswith(("psnr", "ssim")) else max(values)
            out[method][measure] = {"median": float(np.median(values)), "worst": float(worst)}
    return out


MULTIKEY = ("bikes_kuwahara", 12)  # the shared live clip, a painted key every 12 frames


def multikey(data: Path, work: Path, settings: TrainSettings, methods: tuple[str, ...]) -> dict:
    """Keys every 12 frames on the shared live clip: the E_warp of each frame pair (both flows)
    next to the plate's, and the spike where a key takes over (pairs touching a key frame, where
    the looks' crossfade changes direction) against the pairs in between."""
    name, every = MULTIKEY
    plate_text, ref_text, frame_range = SEQUENCES[name]
    frames = list(frame_range)
    keys = {f: str(data / ref_text.replace("####", str(f))) for f in frames[::every]}
    plate = SequencePattern.parse(str(data / plate_text))
    plates = [load(plate, frames)[f] for f in frames]
    model = train(plate, keys, work / "multikey.onnx", settings=settings, spaces=TrainColourspaces(plate=SRGB),
                  frames=frames, progress_mode="none").model
    result = {"sequence": name, "keys": sorted(keys), "methods": {}}
    for method in [m for m in RUN_OPTIONS if m in methods]:
        images = restyled(model, plate, keys, frames, work / f"multikey_{method}", **RUN_OPTIONS[method])
        sequence, row = [images[f] for f in frames], {}
        for flow in FLOWS:
            flows = metrics.plate_flows(plates, flow)
            ours = metrics.e_warp(sequence, plates, flows)["per_frame"]
            own = metrics.e_warp(plates, plates, flows)["per_frame"]
            ratio = [o / max(p, 1e-12) for o, p in zip(ours, own)]  # pair (t-1, t) for t = 1..N-1
            at_key = [r for t, r in enumerate(ratio, 1) if frames[t] in keys or frames[t - 1] in keys]
            between = [r for t, r in enumerate(ratio, 1) if frames[t] not in keys and frames[t - 1] not in keys]
            row[flow] = {"e_warp_multiple_per_pair": ratio, "at_key_mean": _mean(at_key),
                         "between_mean": _mean(between), "spike": _mean(at_key) / max(_mean(between), 1e-12)}
        result["methods"][method] = row
    return result


def table(record: dict) -> str:
    """A stored record as the markdown table bench/README.md shows: per sequence and method,
    PSNR (all held-out / far), SSIM, texture multiple, E_warp multiples (DIS / Farneback
    [/ the render's vectors])."""
    lines = ["| sequence (set) | method | PSNR dB (far) | SSIM | texture | E_warp DIS / Farneback [/ vectors] |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, result in record["sequences"].items():
        if "training_refused" in result:
            lines.append(f"| {name} ({result['set']}) | restyle: training refused | {result['training_refused']} |||")
        for method, row in result["methods"].items():
            warps = " / ".join(f"{row[key]:.2f}x" for key in
                               [f"e_warp_{f}_multiple" for f in (*FLOWS, "vectors")] if key in row)
            lines.append(f"| {name} ({result['set']}) | {method} | {row['psnr_db']:.2f} ({row['psnr_db_far']:.2f}) | "
                         f"{row['ssim']:.3f} | {row['texture_multiple']:.2f}x | {warps} |")
    return "\n".join(lines)


def _one_thread() -> None:
    """A worker process's torch uses one core (the processes share the machine's)."""
    import torch

    torch.set_num_threads(1)


def _evaluate_alone(data: Path, name: str, methods: tuple[str, ...], settings: TrainSettings,
                    peer: Path | None) -> dict:
    """:func:`evaluate` in a scratch folder of its own (one worker process per sequence)."""
    with tempfile.TemporaryDirectory(prefix=f"restyle_validation_{name}_") as work:
        return evaluate(data, name, Path(work), methods, settings, peer)


def record(results: dict[str, dict], settings: TrainSettings, jobs: int, scale: float = 1.0) -> dict:
    """The stored record: per sequence (with its goals, its size), summaries over all and over CHECKING."""
    for result in results.values():
        result["goals"] = goals(result)
    return {"machine": machine(), "training": settings.to_dict(), "parallel_sequences": jobs, "scale": scale,
            "colour": "measured on sRGB-encoded values in [0,1]",
            "tuning": [n for n in results if n in TUNING], "checking": [n for n in results if n in CHECKING],
            "sequences": results, "summary": summary(results),
            "summary_checking": summary({n: r for n, r in results.items() if n in CHECKING})}


def scaled_data(data: Path, names: list[str], scale: float, folder: Path) -> Path:
    """A copy of ``names``' plates and style frames ``scale`` times the size (bicubic, each file's
    channels and bit depth kept) under ``folder``, laid out as ``data``: training and the chain at
    a production size. No EXRs are copied: the render runs on its PNG plate there (DIS flow, no vectors)."""
    for name in names:
        plate_text, ref_text, frame_range = SEQUENCES[name]
        for text in (plate_text, ref_text):
            source, target = SequencePattern.parse(str(data / text)), SequencePattern.parse(str(folder / text))
            target.directory.mkdir(parents=True, exist_ok=True)
            for frame in frame_range:
                if Path(target.path(frame)).exists():
                    continue
                pixels = cv2.imread(source.path(frame), cv2.IMREAD_UNCHANGED)
                size = (round(pixels.shape[1] * scale), round(pixels.shape[0] * scale))
                # (cv2.resize saturates integer pixels: no clip needed, none that would cut 16-bit files)
                cv2.imwrite(target.path(frame), cv2.resize(pixels, size, interpolation=cv2.INTER_CUBIC))
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--sequences", default=",".join(SEQUENCES), help="comma list (default: all)")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma list of {', '.join(METHODS)}")
    parser.add_argument("--peer", type=Path, help="EbSynth's frames, DIR/<sequence>/<sequence>.####.png "
                                                  "(python -m bench.ebsynth_peer)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where to train")
    parser.add_argument("--steps", type=int, default=TrainSettings.steps,
                        help="training's step limit (default: restyle train's); its other stopping rules stay on")
    parser.add_argument("--jobs", type=int, default=1,
                        help="sequences measured at once, each in a process of its own with one torch thread "
                             "(default 1: one process, torch's own threads)")
    parser.add_argument("--multikey", action="store_true",
                        help=f"instead: keys every {MULTIKEY[1]} frames on {MULTIKEY[0]}, the E_warp spike where "
                             "a key takes over (stored under LABEL-multikey)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="measure on copies of the sequences this many times the size (e.g. 3.2: 640x360 -> "
                             "2048x1152; the render then without its EXRs); default 1")
    parser.add_argument("--table", action="store_true",
                        help="instead: print the stored record LABEL as bench/README.md's markdown table")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads((RESULTS / "restyle_validation.json").read_text())["runs"][args.label]))
        return
    settings = TrainSettings(device=args.device, steps=args.steps)
    if args.multikey:
        with tempfile.TemporaryDirectory(prefix="restyle_multikey_") as work:
            found = multikey(args.data, Path(work), settings, tuple(args.methods.split(",")))
        print(found)
        print("wrote", merge_result("restyle_validation", f"{args.label}-multikey",
                                    {"machine": machine(), "training": settings.to_dict(), "multikey": found}))
        return
    methods, names = tuple(args.methods.split(",")), args.sequences.split(",")
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="restyle_scaled_") as scaled:
        data = args.data if args.scale == 1 else scaled_data(args.data, names, args.scale, Path(scaled))
        for name, result in measured(names, args.jobs, data, methods, settings, args.peer):
            results[name] = result
            print(name, result, flush=True)
            # stored as each sequence completes: a run stopped part-way keeps what it measured
            path = merge_result("restyle_validation", args.label,
                                record({n: results[n] for n in names if n in results}, settings, args.jobs, args.scale))
    print(f"wrote {path}")


def measured(names: list[str], jobs: int, *args) -> Iterator[tuple[str, dict]]:
    """(name, :func:`evaluate` result) as each sequence completes: in this process, or in ``jobs``
    worker processes of one torch thread each."""
    if jobs <= 1:
        yield from ((name, _evaluate_alone(args[0], name, *args[1:])) for name in names)
        return
    with ProcessPoolExecutor(jobs, mp_context=get_context("spawn"), initializer=_one_thread) as pool:
        pending = {pool.submit(_evaluate_alone, args[0], name, *args[1:]): name for name in names}
        for done in as_completed(pending):
            yield pending[done], done.result()


if __name__ == "__main__":
    main()
