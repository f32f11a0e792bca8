"""Train a restyle model from painted keyframes of the plate (``restyle train``).

Patches are cut at random from each keyframe's plate frame (+ guides) and from the painting
at the same place; the network learns plate -> painting with an L1 loss on colour and on
image gradients (no pretrained network involved). Training stops at ``steps``, after
``seconds``, or when the loss has stopped improving, whichever comes first.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from .. import colour
from ..devices import resolve_device
from ..errors import UsageError
from ..image import Image, read_image
from ..progress import Progress
from ..sequence import SequencePattern
from ..sequence_io import ensure_writable_folder
from . import guides as guide_mod
from .model_file import checkpoint_path, export_onnx, load_checkpoint, load_model, save_checkpoint, sha256_file
from .network import RECEPTIVE_MARGIN, SIZE_MULTIPLE, NetworkConfig, RestyleNet


@dataclass
class TrainSettings:
    """Training knobs; the defaults suit a shot of a few hundred frames."""

    steps: int = 4000
    seconds: float | None = None
    plateau: bool = True
    patch: int = 64
    batch: int = 16
    lr: float = 1e-3
    width: int = 16
    res_blocks: int = 3
    seed: int = 0
    device: str = "auto"
    # Gaussian blur (sigma, px) of the plate's colour before the network, in training and in
    # every run: grain and render noise then cannot become brushwork that changes every frame.
    input_smoothing: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass
class TrainResult:
    model: Path
    steps: int
    seconds: float
    loss: float
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (step, seconds, loss)


def seed_everything(seed: int, device: torch.device) -> None:
    """Same inputs + seed on the same kind of device -> the same weights."""
    torch.set_flush_denormal(True)
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
    # On CUDA a kernel without a deterministic variant warns instead of stopping the shot.
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    torch.manual_seed(seed)


def load_training_pairs(plate: SequencePattern, keys: dict[int, str], plate_space: str | None,
                        key_space: str | None, working: str, guides: list[str], smoothing: float = 0.0
                        ) -> tuple[list[np.ndarray], list[np.ndarray], float]:
    """(inputs, targets, depth scale): per key, (H, W, C) network input and (H, W, 3) painting."""
    plates: list[Image] = [read_image(plate.path(frame)) for frame in sorted(keys)]
    for image in plates:
        image.check_finite(image.beauty().channels)
    plate_space = plate_space or colour.default_colourspace(plate.printf)
    scale = guide_mod.depth_scale(plates) if "depth" in guides else 1.0
    inputs, targets = [], []
    for index, (frame, image) in enumerate(zip(sorted(keys), plates)):
        painting = read_image(keys[frame])
        if painting.size != image.size:
            raise UsageError(f"keyframe {keys[frame]} is {painting.size[0]}x{painting.size[1]} but plate "
                             f"frame {frame} is {image.size[0]}x{image.size[1]}; paint over the full frame")
        painting.check_finite(painting.beauty().channels)
        space = key_space or colour.default_colourspace(keys[frame])
        targets.append(colour.convert(painting.beauty(alpha=False).as_float32(), space, working))
        x = guide_mod.build_input(image, plate_space, working, guides, scale, smoothing)
        inputs.append(np.concatenate([x, guide_mod.key_planes(x.shape[:2], len(keys), index)], axis=-1))
    return inputs, targets, scale


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def restyle_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 on colour plus L1 on horizontal/vertical gradients (keeps brushwork crisp)."""
    (ox, oy), (tx, ty) = _gradients(output), _gradients(target)
    return F.l1_loss(output, target) + 0.5 * (F.l1_loss(ox, tx) + F.l1_loss(oy, ty))


class PatchSampler:
    """Random aligned patches of (input, target) across all keyframes, from a seeded generator."""

    def __init__(self, inputs: list[np.ndarray], targets: list[np.ndarray], patch: int, seed: int,
                 device: torch.device):
        self.inputs = [torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).to(device) for x in inputs]
        self.targets = [torch.from_numpy(np.ascontiguousarray(t.transpose(2, 0, 1))).to(device) for t in targets]
        self.patch = min(patch, *(min(x.shape[1:]) // SIZE_MULTIPLE * SIZE_MULTIPLE for x in self.inputs))
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ts = [], []
        for _ in range(size):
            k = int(self.rng.integers(len(self.inputs)))
            _, h, w = self.inputs[k].shape
            y = int(self.rng.integers(0, h - self.patch + 1))
            x = int(self.rng.integers(0, w - self.patch + 1))
            xs.append(self.inputs[k][:, y:y + self.patch, x:x + self.patch])
            ts.append(self.targets[k][:, y:y + self.patch, x:x + self.patch])
        return torch.stack(xs), torch.stack(ts)


class Plateau:
    """Stops when the smoothed loss improved less than ``tolerance`` over the last ``window`` steps."""

    def __init__(self, window: int = 400, tolerance: float = 0.01, min_steps: int = 600):
        self.window, self.tolerance, self.min_steps = window, tolerance, min_steps
        self.ema: float | None = None
        self.marks: list[float] = []

    def update(self, step: int, loss: float) -> bool:
        self.ema = loss if self.ema is None else 0.98 * self.ema + 0.02 * loss
        if step % self.window:
            return False
        self.marks.append(self.ema)
        if step < self.min_steps or len(self.marks) < 2:
            return False
        return (self.marks[-2] - self.marks[-1]) < self.tolerance * self.marks[-2]


def _initial_weights(path: str, net: RestyleNet) -> dict[str, torch.Tensor]:
    """Weights of an earlier model, checked to fit ``net`` (same inputs and architecture)."""
    earlier = load_model(path)
    if earlier.network_config != net.config:
        raise UsageError(f"--init {path}: its network {earlier.network_config} differs from this training's "
                         f"{net.config} (different guides or key count?)")
    return earlier.torch_module().state_dict()


def train(plate: SequencePattern, keys: dict[int, str], out: str | os.PathLike, *,
          settings: TrainSettings | None = None, guides: list[str] | None = None,
          plate_space: str | None = None, key_space: str | None = None,
          working: str = colour.WORKING_ENCODING, resume: bool = False, init: str | None = None,
          progress_mode: str = "text",
          monitor: Callable[[int, float, RestyleNet], None] | None = None) -> TrainResult:
    """Train on ``keys`` ({plate frame: painting path}) and export ``out`` (ONNX) + checkpoint.

    ``init``: start from the weights of an earlier model of this shot (same inputs), so an
    updated keyframe changes the look's colour without reshuffling its brushwork.

    ``monitor(step, seconds, net)``, if given, is called every 100 steps (benchmarks use it to
    follow quality over time); training time excludes the time spent in it.
    """
    settings = settings or TrainSettings()
    guides = guide_mod.check_guides(guides or [])
    if not keys:
        raise UsageError("restyle train needs at least one --key FRAME=IMAGE")
    working = colour.resolve_colourspace(working)
    ensure_writable_folder(Path(out).parent)
    device = torch.device(resolve_device(settings.device))
    seed_everything(settings.seed, device)
    inputs, targets, scale = load_training_pairs(plate, keys, plate_space, key_space, working, guides,
                                                 settings.input_smoothing)
    net = RestyleNet(NetworkConfig(in_channels=inputs[0].shape[2], width=settings.width,
                                   res_blocks=settings.res_blocks)).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    step = 0
    ckpt = checkpoint_path(out)
    if init:
        net.load_state_dict(_initial_weights(init, net))
    if resume and ckpt.exists():
        state = load_checkpoint(ckpt)
        net.load_state_dict(state["state"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
    sampler = PatchSampler(inputs, targets, settings.patch, settings.seed + step, device)
    progress = Progress("train", settings.steps, progress_mode, min_interval_s=2.0)
    progress.note(f"{len(keys)} key(s), {inputs[0].shape[1]}x{inputs[0].shape[0]}, "
                  f"{inputs[0].shape[2]} input channels, device {device}, seed {settings.seed}")
    plateau, history = Plateau(), []
    started = time.monotonic()
    loss_value = float("nan")
    net.train()
    while step < settings.steps:
        x, t = sampler.batch(settings.batch)
        loss = restyle_loss(net(x), t)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
        step += 1
        loss_value = float(loss.detach())
        elapsed = time.monotonic() - started
        if step % 50 == 0 or step == settings.steps:
            history.append((step, round(elapsed, 2), round(loss_value, 5)))
        if monitor and step % 100 == 0:
            paused = time.monotonic()
            net.eval()
            with torch.no_grad():
                monitor(step, elapsed, net)
            net.train()
            started += time.monotonic() - paused
        progress.advance(message=f"loss {loss_value:.4f}, {elapsed:.0f}s")
        if settings.seconds is not None and elapsed >= settings.seconds:
            progress.note(f"stopped after {settings.seconds:g} s at step {step}")
            break
        if settings.plateau and plateau.update(step, loss_value):
            progress.note(f"loss plateaued at step {step}")
            break
    net.eval()
    plate_space = colour.resolve_colourspace(plate_space or colour.default_colourspace(plate.printf))
    meta = {
        "encoding": working, "plate_colourspace": plate_space,
        "input_channels": guide_mod.channel_names(guides, len(keys)), "output_channels": ["R", "G", "B"],
        "guides": guides, "size_multiple": SIZE_MULTIPLE, "receptive_margin": RECEPTIVE_MARGIN,
        "keyframes": {str(f): sha256_file(keys[f]) for f in sorted(keys)}, "depth_scale": scale,
        "input_smoothing": settings.input_smoothing,
        "training": {**settings.to_dict(), "steps_done": step, "seconds": round(time.monotonic() - started, 2),
                     "final_loss": loss_value, "loss": "L1 + 0.5 L1(gradients)", "init": init, "device_used": str(device),
                     "torch": torch.__version__},
    }
    save_checkpoint(ckpt, net.cpu(), optimizer, step, meta)
    model = export_onnx(net, meta, out)
    progress.note(f"wrote {model} ({step} steps, loss {loss_value:.4f}) and {ckpt.name}")
    return TrainResult(model, step, time.monotonic() - started, loss_value, history)
