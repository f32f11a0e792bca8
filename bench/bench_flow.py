"""Optical-flow accuracy: the torch DIS (inference.temporal.flow_torch) against OpenCV's DIS
medium (the engine's CPU flow) and against exact motion.

Average endpoint error (EPE, px) of both flows of each pair (a -> b and b -> a) over the pixels
whose true target lies inside the other frame, on

- generated plates with known motion: a multi-scale texture translated by a sub-pixel amount,
  rotated and zoomed about the centre, and the demo plate (inference.demo.plate: a panning
  background with three textured objects moving across it, exact per-layer vectors);
- the shared Blender render ../shared/data/render_sceneA (its Vector pass, read as the engine
  reads it: inference.measure.flows_of("blender", ...)), every consecutive pair.

Also times both on this machine (the CPU: no GPU figure unless run on one). Writes
bench/results/flow.json.

    python -m bench.bench_flow --label cpu-2core
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np
import torch

from inference import colour
from inference.demo.plate import PLATE_COLOURSPACE, render_frame
from inference.devices import resolve_device
from inference.image import read_image
from inference.sequence import SequencePattern
from inference.temporal.flow import compute_flow, flow_from_nuke_vectors
from inference.temporal.flow_torch import HALF, MEDIUM, DisParams, dis_flows

from .common import bench_parser, machine, merge_result

SIZE = (360, 640)  # generated plates' (height, width)
SCENE = ("render_sceneA/png/sceneA_beauty.####.png", "render_sceneA/exr/sceneA.####.exr", range(1001, 1025))
Pair = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # a, b, exact a -> b, exact b -> a


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """Multi-scale random RGB texture in [0, 1] (fine grain over larger blotches)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((height, width, 3), np.float32)
    for sigma, gain in ((1.0, 0.3), (3.0, 0.6), (10.0, 1.0)):
        out += gain * cv2.GaussianBlur(rng.random((height, width, 3)).astype(np.float32), (0, 0), sigma)
    return (out - out.min()) / (out.max() - out.min())


def _affine_pair(matrix: np.ndarray, seed: int, size: tuple[int, int] = SIZE) -> Pair:
    """Frame a (a texture) and frame b = a moved by ``matrix`` (2x3, pixels) with both exact flows."""
    h, w = size
    a = texture(h, w, seed)
    inverse = cv2.invertAffineTransform(matrix)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    # b(q) = a(M^-1 q): remap samples a at M^-1 q; texture outside a is replicated (out of the scored area)
    b = cv2.remap(a, *_apply(inverse, xs, ys), cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    fx, fy = _apply(matrix, xs, ys)
    bx, by = _apply(inverse, xs, ys)
    return a, np.clip(b, 0, 1), np.stack([fx - xs, fy - ys], 2), np.stack([bx - xs, by - ys], 2)


def _apply(matrix: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return ((matrix[0, 0] * xs + matrix[0, 1] * ys + matrix[0, 2]).astype(np.float32),
            (matrix[1, 0] * xs + matrix[1, 1] * ys + matrix[1, 2]).astype(np.float32))


def translation(dx: float = 3.4, dy: float = -2.7, seed: int = 1, size: tuple[int, int] = SIZE) -> Pair:
    return _affine_pair(np.array([[1, 0, dx], [0, 1, dy]], np.float32), seed, size)


def rotation_zoom(degrees: float = 3.0, zoom: float = 1.04, seed: int = 2, size: tuple[int, int] = SIZE) -> Pair:
    h, w = size
    return _affine_pair(cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), degrees, zoom).astype(np.float32), seed, size)


def objects(frame: int = 3, size: tuple[int, int] = SIZE) -> Pair:
    """Frames ``frame`` and ``frame + 1`` of the demo plate (panning background, three moving
    objects) as sRGB views, with their exact forward / backward vectors."""
    h, w = size
    images = [render_frame(frame + i, w, h) for i in (0, 1)]
    views = [np.clip(colour.convert(im.beauty(alpha=False).as_float32(), PLATE_COLOURSPACE, colour.SRGB_VIEW), 0, 1)
             for im in images]
    fw = flow_from_nuke_vectors(images[0].select(["forward.u", "forward.v"]).pixels.astype(np.float32))
    bw = flow_from_nuke_vectors(images[1].select(["backward.u", "backward.v"]).pixels.astype(np.float32))
    return views[0], views[1], fw, bw


GENERATED: dict[str, Callable[[], Pair]] = {"translation": translation, "rotation_zoom": rotation_zoom,
                                            "objects": objects}


def scene_pairs(data: Path) -> Iterator[Pair]:
    """Consecutive pairs of the Blender render: sRGB beauty and the Vector pass's exact flows."""
    from inference.measure import flows_of

    beauty_text, exr_text, frame_range = SCENE
    frames = list(frame_range)
    beauty = SequencePattern.parse(str(data / beauty_text))
    views = [read_image(beauty.path(f)).beauty(alpha=False).as_float32() for f in frames]
    flows = flows_of("blender", SequencePattern.parse(str(data / exr_text)), frames, [], None)
    for t in range(1, len(frames)):
        to_prev, from_prev = flows[t - 1]  # (t -> t-1, t-1 -> t)
        yield views[t - 1], views[t], from_prev, to_prev


def epe(flow: np.ndarray, exact: np.ndarray) -> float:
    """Mean endpoint error over the pixels whose exact target lies inside the frame."""
    h, w = exact.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    tx, ty = xs + exact[..., 0], ys + exact[..., 1]
    inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
    return float(np.linalg.norm(flow - exact, axis=2)[inside].mean())


VARIANTS = {"torch_dis": MEDIUM, "torch_dis_half": HALF}  # the default, and the half-size variant


def torch_pair(a: np.ndarray, b: np.ndarray, device: str = "cpu", params: DisParams = MEDIUM
               ) -> tuple[np.ndarray, np.ndarray]:
    """Both flows of one pair from the torch DIS, as (H, W, 2) arrays."""
    ta, tb = (torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(device) for x in (a, b))
    fw, bw = dis_flows(ta, tb, params)
    return fw[0].permute(1, 2, 0).cpu().numpy(), bw[0].permute(1, 2, 0).cpu().numpy()


def score(pairs: Iterator[Pair], device: str = "cpu") -> dict[str, float]:
    """Mean EPE over ``pairs`` (both directions) of OpenCV DIS medium and of each torch variant,
    and each variant's mean endpoint distance to OpenCV's flow."""
    errors: dict[str, list[float]] = {"opencv_dis_medium": []}
    for a, b, fw, bw in pairs:
        cv_fw, cv_bw = compute_flow(a, b), compute_flow(b, a)
        errors["opencv_dis_medium"] += [epe(cv_fw, fw), epe(cv_bw, bw)]
        for name, params in VARIANTS.items():
            t_fw, t_bw = torch_pair(a, b, device, params)
            errors.setdefault(name, []).extend([epe(t_fw, fw), epe(t_bw, bw)])
            errors.setdefault(f"{name}_to_opencv", []).extend(
                [float(np.linalg.norm(t - c, axis=2).mean()) for t, c in ((t_fw, cv_fw), (t_bw, cv_bw))])
    return {**{f"epe_{k}": round(float(np.mean(v)), 4) for k, v in errors.items()},
            "flows": len(errors["opencv_dis_medium"])}


def speed(device: str, height: int = 1080, width: int = 2048, reps: int = 3) -> dict[str, float]:
    """Seconds for both flows of one 2K pair: OpenCV DIS medium (this CPU) and each torch variant
    on ``device``."""
    a, b = (texture(height, width, s) for s in (3, 4))
    start = time.perf_counter()
    compute_flow(a, b), compute_flow(b, a)
    out = {"opencv_dis_medium_cpu_s": round(time.perf_counter() - start, 4)}
    ta, tb = (torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(device) for x in (a, b))
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for name, params in VARIANTS.items():
        dis_flows(ta, tb, params)
        sync()
        start = time.perf_counter()
        for _ in range(reps):
            dis_flows(ta, tb, params)
        sync()
        out[f"{name}_{device}_s"] = round((time.perf_counter() - start) / reps, 4)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--device", default="auto", help="torch device for the torch DIS (auto: cuda when present)")
    parser.add_argument("--reps", type=int, default=10, help="timed repetitions of the 2K speed figure (after one warm-up)")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    record: dict = {"machine": machine(), "device": device,
                    "params": {name: asdict(params) for name, params in VARIANTS.items()}, "generated": {}}
    for name, make in GENERATED.items():
        record["generated"][name] = score(iter([make()]), device)
        print(name, record["generated"][name], flush=True)
    if (args.data / SCENE[1]).parent.is_dir():
        record["render_sceneA"] = score(scene_pairs(args.data), device)
        print("render_sceneA", record["render_sceneA"], flush=True)
    record["speed_2k_both_flows"] = speed(device, reps=args.reps)
    print(record["speed_2k_both_flows"])
    print(f"wrote {merge_result('flow', args.label, record)}")


if __name__ == "__main__":
    main()
