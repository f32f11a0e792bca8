"""Training you can watch: the look so far, written while ``restyle train`` runs.

With ``$RESTYLE_TRAIN_WATCH`` set to a folder, training (every 100 steps, through its
``monitor`` hook) writes there:

- ``strip.png``: a contact strip, plate above the look so far, at each key frame and at the
  plate frame farthest from any key (``$RESTYLE_TRAIN_WATCH_FAR``, else none), each at most
  :data:`THUMB` pixels on its longest side, sRGB-encoded as the model works, and under them the
  curves (:data:`CURVE_ROW` pixels high, their last values written on it), so the one picture the
  node shows has both;
- ``curve.png``: full-frame L1 between the look and the painting at the keys, per step, and (in
  another colour, on its own scale) the look's flicker as a multiple of the plate's, where training
  measures it (its flicker target, ``--stability``);
- ``watch.json``: ``{"step", "seconds", "steps_per_s", "l1": [[step, value], ...], "flicker":
  [[step, ratio], ...], "frames", "strip", "curve"}``, written last (a reader that sees it finds
  both images complete).

The Nuke plug-in sets the variable for a node's Train and shows the strip in the node.
Everything is written atomically (temporary file, then rename).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch

ENV_WATCH = "RESTYLE_TRAIN_WATCH"
ENV_FAR = "RESTYLE_TRAIN_WATCH_FAR"
THUMB = 320  # longest side of each frame in the strip
CURVE_SIZE = (480, 160)  # width, height of the curve image
CURVE_ROW = 96  # height of the curve under the strip


def _thumb(array: np.ndarray) -> np.ndarray:
    h, w = array.shape[:2]
    scale = min(1.0, THUMB / max(h, w))
    size = (max(8, int(round(w * scale))), max(8, int(round(h * scale))))
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else array


def _write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an (H, W, 3) 0-1 float picture as 8-bit PNG, atomically."""
    tmp = path.with_name("." + path.name + ".tmp.png")
    bgr = (np.clip(rgb, 0.0, 1.0)[..., ::-1] * 255.0 + 0.5).astype(np.uint8)
    if not cv2.imwrite(str(tmp), bgr):
        raise OSError(f"cannot write {tmp}")
    os.replace(tmp, path)


L1_COLOUR, FLICKER_COLOUR = (0.95, 0.85, 0.35), (0.35, 0.8, 0.95)  # RGB of the two curves


def curve_picture(points: list[tuple[int, float]], size: tuple[int, int] = CURVE_SIZE,
                  colour: tuple[float, float, float] = L1_COLOUR, picture: np.ndarray | None = None,
                  until: int | None = None) -> np.ndarray:
    """A line plot of ``points`` (step, value) in ``colour`` on a dark ground (or drawn onto
    ``picture``), (H, W, 3) in 0-1: steps from 0 to ``until`` (default: the last point's) across,
    values scaled to their own range."""
    width, height = size
    picture = np.full((height, width, 3), 0.12, np.float32) if picture is None else picture
    if len(points) < 2:
        return picture
    steps = np.array([p[0] for p in points], np.float64)
    values = np.array([p[1] for p in points], np.float64)
    low, high = values.min(), values.max()
    span_v = max(high - low, 1e-9)
    xs = (8 + steps / max(until or steps.max(), 1) * (width - 16)).astype(np.int32)
    ys = (height - 8 - (values - low) / span_v * (height - 16)).astype(np.int32)
    for (x0, y0), (x1, y1) in zip(zip(xs[:-1], ys[:-1]), zip(xs[1:], ys[1:])):
        cv2.line(picture, (int(x0), int(y0)), (int(x1), int(y1)), colour, 2)
    return picture


class TrainWatch:
    """The ``monitor(step, seconds, net)`` of :func:`inference.restyle.train.train`."""

    def __init__(self, folder: str | os.PathLike, frames: list[int], inputs: list[np.ndarray],
                 targets: dict[int, np.ndarray], device: torch.device,
                 flicker: Callable[[], float] | None = None) -> None:
        """``flicker()``: the look's flicker ratio training last measured (nan before it has)."""
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.frames = frames
        self.inputs = [torch.from_numpy(np.ascontiguousarray(_thumb(x).transpose(2, 0, 1), dtype=np.float32))[None]
                       .to(device) for x in inputs]
        self.plates = [_thumb(x)[..., :3] for x in inputs]
        self.targets = {f: _thumb(t) for f, t in targets.items()}
        self.l1: list[tuple[int, float]] = []
        self.flicker = flicker
        self.flicker_ratios: list[tuple[int, float]] = []

    @torch.no_grad()
    def __call__(self, step: int, seconds: float, net: torch.nn.Module) -> None:
        from .key_check import _run_full_frame

        looks = [_run_full_frame(net, x)[0].permute(1, 2, 0).cpu().numpy() for x in self.inputs]
        errors = [float(np.abs(look - self.targets[f]).mean()) for f, look in zip(self.frames, looks)
                  if f in self.targets]
        if errors:
            self.l1.append((step, sum(errors) / len(errors)))
        ratio = self.flicker() if self.flicker else float("nan")
        if np.isfinite(ratio):
            self.flicker_ratios.append((step, float(ratio)))
        gap = np.full((self.plates[0].shape[0], 4, 3), 0.0, np.float32)
        top = np.concatenate([p for plate in self.plates for p in (plate, gap)][:-1], axis=1)
        bottom = np.concatenate([p for look in looks for p in (look, gap)][:-1], axis=1)
        strip, curve = self.folder / "strip.png", self.folder / "curve.png"
        gap_row = np.zeros((4, top.shape[1], 3), np.float32)
        _write_png(strip, np.concatenate([top, gap_row, bottom, gap_row, self._curve_row(top.shape[1], step)], axis=0))
        _write_png(curve, curve_picture(self.flicker_ratios, CURVE_SIZE, FLICKER_COLOUR,
                                        curve_picture(self.l1, until=step), until=step))
        record: dict[str, Any] = {"step": step, "seconds": round(seconds, 2),
                                  "steps_per_s": round(step / seconds, 3) if seconds > 0 else None,
                                  "l1": [[s, round(v, 6)] for s, v in self.l1],
                                  "flicker": [[s, round(v, 4)] for s, v in self.flicker_ratios], "frames": self.frames,
                                  "strip": str(strip), "curve": str(curve)}
        tmp = self.folder / ".watch.json.tmp"
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, self.folder / "watch.json")


    def _curve_row(self, width: int, step: int) -> np.ndarray:
        """The keys' L1 and the flicker curves up to ``step``, ``width`` wide, their latest values on it."""
        size = (width, CURVE_ROW)
        row = curve_picture(self.flicker_ratios, size, FLICKER_COLOUR, curve_picture(self.l1, size, until=step),
                            until=step)
        row = (row * 255.0 + 0.5).astype(np.uint8)  # text is drawn in 8 bits
        for line, (points, text, colour) in enumerate(((self.l1, "keys L1 {:.4f} at step {}", L1_COLOUR),
                                                       (self.flicker_ratios, "flicker {:.2f}x plate at step {}",
                                                        FLICKER_COLOUR))):
            if points:
                step, value = points[-1]
                cv2.putText(row, text.format(value, step), (6, 14 + 14 * line), cv2.FONT_HERSHEY_PLAIN, 0.9,
                            tuple(int(255 * c) for c in colour), 1, cv2.LINE_AA)
        return row.astype(np.float32) / 255.0


def from_environment(plate: Any, keys: dict[int, str], inputs: list[np.ndarray], targets: list[np.ndarray],
                     make_input: Any, device: torch.device,
                     flicker: Callable[[], float] | None = None) -> TrainWatch | None:
    """A :class:`TrainWatch` when ``$RESTYLE_TRAIN_WATCH`` names a folder, else None.
    ``make_input(frame)`` builds the network input of another plate frame (the far frame);
    ``flicker()`` gives the look's flicker ratio training last measured."""
    folder = os.environ.get(ENV_WATCH, "").strip()
    if not folder:
        return None
    frames, shown = sorted(keys), list(inputs)
    far = os.environ.get(ENV_FAR, "").strip()
    if far.lstrip("-").isdigit() and int(far) not in keys and os.path.isfile(plate.path(int(far))):
        frames.append(int(far))
        shown.append(make_input(int(far)))
    return TrainWatch(folder, frames, shown, dict(zip(sorted(keys), targets)), device, flicker)
