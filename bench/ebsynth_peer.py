"""EbSynth peer method for the side-by-side restyle quality table.

EbSynth (Jamriška, github.com/jamriska/ebsynth) is patch-based example synthesis: it
rebuilds a target image out of patches of a *style* exemplar, choosing for every target
patch the style patch whose *guide* channels match best. "Stylizing Video by Example"
(Jamriška, Sochorová, Texler, Lukáč, Fišer, Lu, Shechtman, Sýkora; ACM TOG 38(4) 107,
SIGGRAPH 2019) uses it to carry one painted keyframe through a video shot. This module
reproduces that use from ONE painted keyframe:

- The key frame's output is the painting itself.
- Frames are then synthesised outward from the key, one after another, in both
  directions (k+1, k+2, ... and k-1, k-2, ...). For a target frame ``t`` whose
  already-stylised neighbour towards the key is ``p`` (``t-1`` going forward, ``t+1``
  going backward), EbSynth gets ``-style painting(k)`` and three guide pairs:

  (a) colour:     plate(k)                 -> plate(t)
  (b) positional: coordinate image of k    -> that image advected along the plate's
                  optical flow chained from k to t (R = x/W, G = y/H, B = 0)
  (c) temporal:   painting(k)              -> output(p) warped onto t along the plate flow

  Flow is DIS optical flow (OpenCV, "medium" preset) between consecutive plate frames,
  computed from ``t`` to ``p`` so that the positional and temporal images are carried
  by backward warping (``inference.temporal.flow.warp``): the positional chain is
  ``pos(t) = warp(pos(p), flow(t -> p))`` and starts at the identity image at the key.
  The chain is kept in float and only quantised to 8 bits when written as a PNG guide.

Only the keyframe's painting is an input; the other painted frames of a sequence are the
evaluator's references. Guides are 8-bit sRGB RGB PNGs without alpha (EbSynth would count
an alpha channel as an extra guide channel), written into a temporary folder. Grey
images (pencil drawings) are expanded to RGB; EbSynth then treats them as one channel
and writes a grey PNG, which is expanded back to RGB for the output sequence.

The EbSynth binary is NOT part of this repository: build it yourself from the public
source of github.com/jamriska/ebsynth (CPU backend) and pass its path with ``--ebsynth``
or the ``EBSYNTH`` environment variable.

Usage::

    python -m bench.ebsynth_peer --ebsynth BIN --plate plate.####.png \\
        --painting painting.####.png --key 1012 --frames 1001-1024 --out DIR

writes ``DIR/<name>.####.png`` (``<name>`` = ``--name`` or the folder's name) and
``DIR/ebsynth_timing.json`` (seconds per EbSynth call and the exact arguments).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from inference.sequence import SequencePattern, parse_frame_range
from inference.temporal.flow import compute_flow, warp

# --------------------------------------------------------------------------- parameters
# Guide weights. The three guides are those of "Stylizing Video by Example" (Jamriška et
# al. 2019, Sec. 4: G_col / appearance, G_pos, G_temp; the paper's edge and mask guides
# are not used here). The values follow the open re-implementation of that paper's guides
# on top of this same CLI in Rerender-A-Video (Yang et al., SIGGRAPH Asia 2023,
# video_blend.py: weights colour 6, edge 0.5, temporal 0.5, positional 2), and the
# ebsynth README's advice to weight guides above the style (default style weight 1.0;
# the FaceStyle example uses appearance 2.0 / positional 1.5). Each weight is split evenly
# over the guide's channels by EbSynth.
COLOUR_WEIGHT = 6.0
POSITIONAL_WEIGHT = 2.0
TEMPORAL_WEIGHT = 0.5
STYLE_WEIGHT = 1.0  # EbSynth's default for -style

# Synthesis settings: EbSynth's CLI defaults (src/ebsynth.cpp: uniformity 3500, patch 5,
# all pyramid levels, stop threshold 5) except the iteration counts. The paper's synthesis
# also uses 5x5 patches and the uniformity term of Jamriška et al. 2015. The CLI defaults
# of 6 search-vote and 4 PatchMatch iterations per pyramid level took 44.5 s for one
# 640x360 frame on the shared 2-core CPU of the benchmark host (load ~9); 4 and 2 took
# 21.4 s (3 and 2: 16.2 s), so the table's EbSynth runs use 4 / 2 (override with
# --searchvoteiters / --patchmatchiters).
UNIFORMITY = 3500.0
PATCH_SIZE = 5
DEFAULT_SEARCH_VOTE_ITERS = 6  # EbSynth CLI default
DEFAULT_PATCHMATCH_ITERS = 4  # EbSynth CLI default
SEARCH_VOTE_ITERS = 4
PATCHMATCH_ITERS = 2
EXTRA_PASS_3X3 = False
BACKEND = "cpu"

FlowFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


def dis_flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """DIS optical flow (OpenCV, MEDIUM preset) from ``a`` to ``b``; 0-1 sRGB RGB images."""
    return compute_flow(a, b, preset="medium")


# --------------------------------------------------------------------------- images
def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An 8-bit PNG (grey, RGB or RGBA) as ``(H, W, 3)`` float32 sRGB in [0, 1]."""
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"{path}: cannot read image")
    if img.dtype != np.uint8:
        raise ValueError(f"{path}: expected an 8-bit image, got {img.dtype}")
    if img.ndim == 2:
        rgb = np.repeat(img[:, :, None], 3, axis=2)
    elif img.shape[2] == 1:
        rgb = np.repeat(img, 3, axis=2)
    else:
        rgb = cv2.cvtColor(img[:, :, :3], cv2.COLOR_BGR2RGB)
    return rgb.astype(np.float32) / 255.0


def write_guide(path: str | os.PathLike, rgb: np.ndarray) -> Path:
    """Write ``(H, W, 3)`` 0-1 RGB (or ``(H, W)`` grey, expanded) as an 8-bit RGB PNG."""
    img = np.asarray(rgb, dtype=np.float32)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"guide must be (H, W) or (H, W, 3), got {img.shape}")
    u8 = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
    path = Path(path)
    if not cv2.imwrite(str(path), cv2.cvtColor(u8, cv2.COLOR_RGB2BGR)):
        raise OSError(f"{path}: cannot write PNG")
    return path


def coordinate_image(height: int, width: int) -> np.ndarray:
    """Identity positional guide: R = x / W, G = y / H, B = 0; ``(H, W, 3)`` float32."""
    xs = np.arange(width, dtype=np.float32) / width
    ys = np.arange(height, dtype=np.float32) / height
    out = np.zeros((height, width, 3), np.float32)
    out[:, :, 0] = xs[None, :]
    out[:, :, 1] = ys[:, None]
    return out


def advect(image: np.ndarray, flow_to_previous: np.ndarray) -> np.ndarray:
    """Carry ``image`` (on the previous frame's grid) onto the current frame.

    ``flow_to_previous`` is the flow from the current frame to the previous one (the
    neighbour towards the key), so ``out(x) = image(x + flow(x))`` (bilinear, border
    replicated)."""
    return warp(image, flow_to_previous)


def chain_positional(height: int, width: int, flows: list[np.ndarray]) -> list[np.ndarray]:
    """Positional guides along one propagation direction.

    Args:
        flows: ``flows[i]`` is the flow from frame ``i + 1`` steps away from the key to
            the frame ``i`` steps away (towards the key).
    Returns:
        ``len(flows) + 1`` coordinate images; element 0 is the key's identity image.
    """
    out = [coordinate_image(height, width)]
    for flow in flows:
        out.append(advect(out[-1], flow))
    return out


# --------------------------------------------------------------------------- EbSynth
def ebsynth_command(binary: str | os.PathLike, style: Path, guides: list[tuple[Path, Path, float]],
                    output: Path, search_vote_iters: int = SEARCH_VOTE_ITERS,
                    patchmatch_iters: int = PATCHMATCH_ITERS, backend: str = BACKEND) -> list[str]:
    """The EbSynth CLI call for one frame."""
    cmd = [str(binary), "-style", str(style), "-weight", f"{STYLE_WEIGHT:g}"]
    for source, target, weight in guides:
        cmd += ["-guide", str(source), str(target), "-weight", f"{weight:g}"]
    cmd += ["-uniformity", f"{UNIFORMITY:g}", "-patchsize", str(PATCH_SIZE),
            "-searchvoteiters", str(search_vote_iters), "-patchmatchiters", str(patchmatch_iters),
            "-backend", backend]
    if EXTRA_PASS_3X3:
        cmd.append("-extrapass3x3")
    cmd += ["-output", str(output)]
    return cmd


def run_ebsynth(cmd: list[str]) -> float:
    """Run one EbSynth call; returns its wall time in seconds."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.perf_counter() - start
    output = Path(cmd[cmd.index("-output") + 1])
    if proc.returncode != 0 or not output.is_file():
        raise RuntimeError(f"ebsynth failed (rc {proc.returncode}): {' '.join(cmd)}\n{proc.stdout}")
    return elapsed


def ebsynth_sequence(binary: str | os.PathLike, plate_frames: dict[int, str | os.PathLike],
                     key_frame: int, key_painting: str | os.PathLike, frames: list[int],
                     out_dir: Path, flow_fn: FlowFn = dis_flow, name: str | None = None,
                     guide_dir: Path | None = None, log: Callable[[str], None] | None = None,
                     search_vote_iters: int = SEARCH_VOTE_ITERS,
                     patchmatch_iters: int = PATCHMATCH_ITERS, backend: str = BACKEND) -> dict[int, Path]:
    """Stylise every frame of ``frames`` from one painted keyframe (see module docstring).

    Args:
        binary: path of an EbSynth executable.
        plate_frames: plate PNG path per frame (must cover ``frames``).
        key_frame: the painted frame (must be in ``frames``).
        key_painting: the painting of ``key_frame`` (the style exemplar).
        frames: contiguous frame numbers to produce.
        out_dir: output folder; files are ``<name>.<frame:04d>.png`` (8-bit RGB).
        flow_fn: ``flow_fn(a, b)`` -> ``(H, W, 2)`` flow a -> b of 0-1 RGB images.
        name: output file prefix (default ``out_dir.name``).
        guide_dir: keep the guide PNGs there (default: a temporary folder, deleted).
        log: progress callback (default: print to stdout).
        search_vote_iters, patchmatch_iters: EbSynth iteration counts per pyramid level.
        backend: EbSynth's ``-backend`` (``cpu``, or ``cuda`` for a build with its CUDA backend).
    Returns:
        Output path per frame. Also writes ``out_dir/ebsynth_timing.json``.
    """
    log = log or (lambda text: print(text, flush=True))
    frames = sorted(frames)
    if key_frame not in frames:
        raise ValueError(f"key frame {key_frame} is not in the range {frames[0]}-{frames[-1]}")
    if frames != list(range(frames[0], frames[-1] + 1)):
        raise ValueError("frames must be a contiguous range (propagation is frame by frame)")
    missing = [f for f in frames if f not in plate_frames]
    if missing:
        raise ValueError(f"no plate for frames {missing}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = name or out_dir.name
    outputs: dict[int, Path] = {}
    timings: dict[int, float] = {}
    commands: dict[int, list[str]] = {}

    def out_path(frame: int) -> Path:
        return out_dir / f"{name}.{frame:04d}.png"

    plates = {f: read_rgb(plate_frames[f]) for f in frames}
    painting = read_rgb(key_painting)
    h, w = plates[key_frame].shape[:2]
    if painting.shape[:2] != (h, w):
        raise ValueError(f"painting {painting.shape[:2]} and plate {(h, w)} sizes differ")

    with tempfile.TemporaryDirectory(prefix="ebsynth_guides_") as tmp:
        gdir = Path(guide_dir) if guide_dir is not None else Path(tmp)
        gdir.mkdir(parents=True, exist_ok=True)
        style = write_guide(gdir / "style_key.png", painting)
        colour_src = write_guide(gdir / "colour_key.png", plates[key_frame])
        pos_src = write_guide(gdir / "pos_key.png", coordinate_image(h, w))

        write_guide(out_path(key_frame), painting)
        outputs[key_frame] = out_path(key_frame)
        log(f"{name}: key {key_frame} = painting")

        for step in (+1, -1):
            pos = coordinate_image(h, w)
            previous_out = painting
            prev = key_frame
            t = key_frame + step
            while frames[0] <= t <= frames[-1]:
                flow = flow_fn(plates[t], plates[prev])  # t -> neighbour towards the key
                pos = advect(pos, flow)
                temporal = advect(previous_out, flow)
                guides = [
                    (colour_src, write_guide(gdir / f"colour_{t:04d}.png", plates[t]), COLOUR_WEIGHT),
                    (pos_src, write_guide(gdir / f"pos_{t:04d}.png", pos), POSITIONAL_WEIGHT),
                    (style, write_guide(gdir / f"temporal_{t:04d}.png", temporal), TEMPORAL_WEIGHT),
                ]
                raw = gdir / f"raw_{t:04d}.png"
                raw.unlink(missing_ok=True)
                cmd = ebsynth_command(binary, style, guides, raw, search_vote_iters, patchmatch_iters, backend)
                timings[t] = run_ebsynth(cmd)
                commands[t] = cmd
                previous_out = read_rgb(raw)  # grey output (grey style) expanded to RGB
                write_guide(out_path(t), previous_out)
                outputs[t] = out_path(t)
                log(f"{name}: frame {t} ({'forward' if step > 0 else 'backward'}) "
                    f"ebsynth {timings[t]:.1f} s")
                prev, t = t, t + step

    seconds = list(timings.values())
    summary = {
        "name": name, "key_frame": key_frame, "frames": [frames[0], frames[-1]], "size": [w, h],
        "weights": {"style": STYLE_WEIGHT, "colour": COLOUR_WEIGHT,
                    "positional": POSITIONAL_WEIGHT, "temporal": TEMPORAL_WEIGHT},
        "settings": {"uniformity": UNIFORMITY, "patchsize": PATCH_SIZE,
                     "searchvoteiters": search_vote_iters, "patchmatchiters": patchmatch_iters,
                     "extrapass3x3": EXTRA_PASS_3X3, "backend": backend},
        "flow": "DIS medium (inference.temporal.flow.compute_flow)" if flow_fn is dis_flow
                else getattr(flow_fn, "__name__", repr(flow_fn)),
        "seconds_per_frame": {str(k): round(v, 3) for k, v in sorted(timings.items())},
        "mean_seconds_per_frame": round(float(np.mean(seconds)), 3) if seconds else None,
        "example_command": commands[min(commands)] if commands else None,
    }
    (out_dir / "ebsynth_timing.json").write_text(json.dumps(summary, indent=2))
    return dict(sorted(outputs.items()))


# --------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ebsynth_peer",
        description="EbSynth peer: propagate one painted keyframe through a plate sequence.")
    parser.add_argument("--ebsynth", default=os.environ.get("EBSYNTH"),
                        help="EbSynth executable (default: $EBSYNTH)")
    parser.add_argument("--plate", required=True, help="plate pattern, e.g. plate.####.png")
    parser.add_argument("--painting", required=True,
                        help="painting pattern; only the key frame's painting is read")
    parser.add_argument("--key", type=int, required=True, help="painted key frame")
    parser.add_argument("--frames", required=True, help="frame range, e.g. 1001-1024")
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--name", help="output file prefix (default: the output folder's name)")
    parser.add_argument("--keep-guides", type=Path, help="keep the guide PNGs in this folder")
    parser.add_argument("--searchvoteiters", type=int, default=SEARCH_VOTE_ITERS,
                        help=f"EbSynth search-vote iterations (default {SEARCH_VOTE_ITERS}; "
                             f"EbSynth's own default {DEFAULT_SEARCH_VOTE_ITERS})")
    parser.add_argument("--patchmatchiters", type=int, default=PATCHMATCH_ITERS,
                        help=f"EbSynth PatchMatch iterations (default {PATCHMATCH_ITERS}; "
                             f"EbSynth's own default {DEFAULT_PATCHMATCH_ITERS})")
    parser.add_argument("--backend", default=BACKEND, choices=["cpu", "cuda"],
                        help=f"EbSynth's backend (default {BACKEND}; cuda needs EbSynth's CPU+CUDA build, "
                             "build-linux-cpu+cuda.sh with -arch set for the GPU)")
    args = parser.parse_args(argv)
    if not args.ebsynth:
        parser.error("give --ebsynth PATH or set EBSYNTH")
    if not (os.path.isfile(args.ebsynth) and os.access(args.ebsynth, os.X_OK)):
        parser.error(f"--ebsynth {args.ebsynth}: not an executable file")
    frames = parse_frame_range(args.frames)
    plate = SequencePattern.parse(args.plate)
    painting = SequencePattern.parse(args.painting)
    start = time.perf_counter()
    ebsynth_sequence(args.ebsynth, {f: plate.path(f) for f in frames}, args.key,
                     painting.path(args.key), frames, args.out, name=args.name,
                     guide_dir=args.keep_guides, search_vote_iters=args.searchvoteiters,
                     patchmatch_iters=args.patchmatchiters, backend=args.backend)
    print(f"done in {time.perf_counter() - start:.1f} s -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
