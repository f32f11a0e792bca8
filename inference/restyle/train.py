"""Train a restyle model from painted keyframes of the plate (``restyle train``).

Patches are cut at random from each keyframe's plate frame (+ guides) and from the painting
at the same place (tiles of each key held back); the network learns plate -> painting with an
L1 loss on colour and on image gradients (no pretrained network involved). Training stops at
``steps``, after ``seconds``, or when the look is learnt, whichever comes first; it checks that
the network gives its keys back before it stops or writes, and rolls back from a divergence
(:mod:`.key_check`). The key check is recorded in the model, and a model that failed it is refused.
"""
from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .. import colour
from ..devices import resolve_device
from ..errors import KeyCheckError, UsageError
from ..image import Image, read_frame
from ..progress import Progress
from ..sequence import SequencePattern
from ..sequence_io import ensure_writable_folder, read_sequence
from ..temporal.deflicker_device import VIEW
from . import guides as guide_mod
from . import watch
from .adversarial import Adversary
from .key_check import (
    KEY_CHECK_EVERY,
    PATCH_TRIES,
    TEXTURE_CHECK_EVERY,
    FarTexture,
    Guard,
    KeyCheck,
    KeyScore,
    Learnt,
    far_frame,
    held_back_tiles,
)
from .model_file import (
    checkpoint_path,
    encode_painting,
    export_onnx,
    load_checkpoint,
    load_model,
    save_checkpoint,
    sha256_file,
)
from .network import RECEPTIVE_MARGIN, SIZE_MULTIPLE, NetworkConfig, RestyleNet
from .paintings import read_painting, teaching
from .settings import TrainColourspaces, TrainSettings, TrainStart
from .temporal_loss import CHECK_EVERY, Stability, TemporalSampler, pair_frames, temporal_loss


@dataclass
class TrainResult:
    model: Path
    steps: int
    seconds: float
    loss: float
    history: list[tuple[int, float, float]] = field(default_factory=list)  # (step, seconds, loss)
    key_check: dict[str, Any] = field(default_factory=dict)  # as recorded in the model's metadata


def _keeps_torch_flags(fn: Callable) -> Callable:
    """``fn`` with torch's determinism flags and the CPU's flush-to-zero given back as they were
    when it returns or fails: training sets them for itself, and a render later in the same
    process (``restyle bench``, the benchmarks) would otherwise run in deterministic mode, which
    fills every new tensor with NaN before use (one more GPU kernel per allocation), and any later
    float work in the process (a host application's, hypothesis in the tests) would see
    subnormal numbers flushed to zero."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        cudnn = torch.backends.cudnn
        saved = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                 cudnn.benchmark, cudnn.deterministic, _flushes_denormals())
        try:
            return fn(*args, **kwargs)
        finally:
            torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
            cudnn.benchmark, cudnn.deterministic = saved[2], saved[3]
            torch.set_flush_denormal(saved[4])

    return call


def _flushes_denormals() -> bool:
    """Whether this thread's CPU flushes subnormal floats to zero (torch has no getter)."""
    return bool(torch.tensor([1e-310], dtype=torch.float64).mul(1.0).item() == 0.0)


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


@dataclass
class TrainingPairs:
    """What the keys teach: per key the network's input, the target and its per-pixel loss weight
    (None: 1 everywhere), and the depth guide's scale."""

    inputs: list[np.ndarray]
    targets: list[np.ndarray]
    weights: list[np.ndarray | None]
    scale: float


def load_training_pairs(plate: SequencePattern, keys: dict[int, str], plate_space: str | None,
                        key_space: str | None, working: str, guides: list[str], smoothing: float = 0.0,
                        unpainted_weight: float = TrainSettings.unpainted_weight,
                        log: Callable[[str], None] = lambda _: None) -> TrainingPairs:
    """Per key, the (H, W, C) network input, what it teaches (:func:`.paintings.teaching`: the
    painting, leaning to the plate outside its alpha) and the depth scale. A painting of another
    size than the plate's format is resized to it (``log`` warns)."""
    plates: list[Image] = [read_frame(plate.path(frame)) for frame in sorted(keys)]
    plate_space = colour.file_colourspace(plate.path(min(keys)), plate_space)
    scale = guide_mod.depth_scale(plates) if "depth" in guides else 1.0
    pairs = TrainingPairs([], [], [], scale)
    for frame, image in zip(sorted(keys), plates):
        painting = read_painting(keys[frame], image.size, colour.file_colourspace(keys[frame], key_space), working, log)
        target, weight = teaching(painting, colour.convert(image.straight_rgb(), plate_space, working), unpainted_weight)
        pairs.targets.append(target)
        pairs.weights.append(weight)
        pairs.inputs.append(network_input(image, frame, sorted(keys), plate_space, working, guides, scale, smoothing))
    return pairs


def network_input(image: Image, frame: int, key_frames: list[int], plate_space: str, working: str,
                  guides: list[str], scale: float, smoothing: float) -> np.ndarray:
    """The network's (H, W, C) input for plate ``frame``: colour, guides, and the nearest key's plane."""
    x = guide_mod.build_input(image, plate_space, working, guides, scale, smoothing)
    nearest = min(range(len(key_frames)), key=lambda i: abs(key_frames[i] - frame))
    return np.concatenate([x, guide_mod.key_planes(x.shape[:2], len(key_frames), nearest)], axis=-1)


def _temporal_sampler(plate: SequencePattern, frames: list[int], keys: dict[int, str], plate_space: str | None,
                     working: str, guides: list[str], scale: float, settings: TrainSettings, patch: int,
                     rng: np.random.Generator, device: torch.device) -> TemporalSampler | None:
    """Consecutive plate frame pairs of the shot for the temporal loss (None: fewer than two frames).

    Raises:
        MissingFramesError, ImageReadError, ResolutionMismatchError, NonFiniteError: naming the frame.
    """
    pairs = pair_frames(sorted(set(frames)))
    if not pairs:
        return None
    space = colour.file_colourspace(plate.path(min(keys)), plate_space)
    prepared = {}
    for frame, image in read_sequence(plate, sorted({f for pair in pairs for f in pair})):
        view = np.clip(colour.convert(image.beauty(alpha=False).as_float32(), space, VIEW), 0, 1)
        prepared[frame] = (network_input(image, frame, sorted(keys), space, working, guides, scale,
                                         settings.input_smoothing), view)
    return TemporalSampler([(prepared[a], prepared[b]) for a, b in pairs], patch, rng, device)


def far_texture(plate: SequencePattern, frames: list[int], keys: dict[int, str], targets: list[np.ndarray],
                plate_space: str | None, working: str, guides: list[str], scale: float, smoothing: float,
                device: torch.device) -> FarTexture | None:
    """The stopping rule's texture check on the shot frame farthest from the keys (None without one).

    Raises:
        MissingFramesError, ImageReadError, NonFiniteError: naming the frame.
    """
    frame = far_frame(frames, sorted(keys))
    if frame is None:
        return None
    image = next(iter(read_sequence(plate, [frame])))[1]
    space = colour.file_colourspace(plate.path(min(keys)), plate_space)
    x = network_input(image, frame, sorted(keys), space, working, guides, scale, smoothing)
    nearest = min(range(len(keys)), key=lambda i: abs(sorted(keys)[i] - frame))
    return FarTexture(frame, x, targets[nearest], device)


def _gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def restyle_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 on colour plus L1 on horizontal/vertical gradients (keeps brushwork crisp). A 4th
    target channel is a per-pixel weight (a painting's alpha, :func:`.paintings.teaching`): each
    pixel's error, and each gradient's (the lower weight of its two pixels), counts that much."""
    if target.shape[1] == 3:
        (ox, oy), (tx, ty) = _gradients(output), _gradients(target)
        return F.l1_loss(output, target) + 0.5 * (F.l1_loss(ox, tx) + F.l1_loss(oy, ty))
    target, weight = target[:, :3], target[:, 3:]
    (ox, oy), (tx, ty) = _gradients(output), _gradients(target)
    wx = torch.minimum(weight[..., :, 1:], weight[..., :, :-1])
    wy = torch.minimum(weight[..., 1:, :], weight[..., :-1, :])
    return (((output - target).abs() * weight).mean()
            + 0.5 * (((ox - tx).abs() * wx).mean() + ((oy - ty).abs() * wy).mean()))


def weighted_targets(targets: list[np.ndarray], weights: list[np.ndarray | None]) -> list[np.ndarray]:
    """The targets with their weight as a 4th channel when any key has one (else as they are)."""
    if all(w is None for w in weights):
        return targets
    return [np.concatenate([t, (np.ones(t.shape[:2], np.float32) if w is None else w)[..., None]], -1)
            for t, w in zip(targets, weights)]


class PatchSampler:
    """Random aligned patches of (input, target) across all keyframes, from a seeded generator.

    ``held``: per key, the (H, W) tiles held back from training (:func:`.key_check.held_back_tiles`,
    picked with ``hold_seed``); a patch is redrawn while it touches one (up to ``PATCH_TRIES`` times).
    """

    def __init__(self, inputs: list[np.ndarray], targets: list[np.ndarray], patch: int, seed: int,
                 device: torch.device, hold_seed: int | None = None):
        self.inputs = [torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))).to(device) for x in inputs]
        self.targets = [torch.from_numpy(np.ascontiguousarray(t.transpose(2, 0, 1))).to(device) for t in targets]
        self.patch = min(patch, *(min(x.shape[1:]) // SIZE_MULTIPLE * SIZE_MULTIPLE for x in self.inputs))
        self.rng = np.random.default_rng(seed)
        self.held = [held_back_tiles(*x.shape[:2], self.patch, seed if hold_seed is None else hold_seed)
                     for x in inputs]

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        xs, ts = [], []
        for _ in range(size):
            k, y, x = self._draw()
            xs.append(self.inputs[k][:, y:y + self.patch, x:x + self.patch])
            ts.append(self.targets[k][:, y:y + self.patch, x:x + self.patch])
        return torch.stack(xs), torch.stack(ts)

    def _draw(self) -> tuple[int, int, int]:
        """(key, y, x) of a patch clear of the held-back tiles."""
        p = self.patch
        for _ in range(PATCH_TRIES):
            k = int(self.rng.integers(len(self.inputs)))
            _, h, w = self.inputs[k].shape
            y, x = int(self.rng.integers(0, h - p + 1)), int(self.rng.integers(0, w - p + 1))
            if not self.held[k][y:y + p, x:x + p].any():
                break
        return k, y, x


ADVERSARIAL_WARMUP = 500
REPASS_MODES = ("auto", "colour", "full")
# auto takes the colour re-pass when one colour matrix + offset maps the approved keyframes onto
# the new ones to within this mean error (sRGB-encoded [0, 1]), or removes 3/4 of the change.
COLOUR_EDIT_L1, COLOUR_EDIT_SHARE = 0.01, 0.25
KEY_THUMBNAIL = 512  # longest side of the keyframe copies kept in the checkpoint for re-passes


def _earlier_model(path: str, net: RestyleNet):
    """An earlier model of this shot, checked to fit ``net`` (same inputs and architecture)."""
    earlier = load_model(path)
    if earlier.network_config != net.config:
        raise UsageError(f"--init {path}: its network {earlier.network_config} differs from this training's "
                         f"{net.config} (different guides or key count?)")
    return earlier


def key_thumbnail(target: np.ndarray) -> torch.Tensor:
    """A keyframe (H, W, 3) shrunk to KEY_THUMBNAIL (area filter), as a (3, h, w) tensor."""
    h, w = target.shape[:2]
    scale = min(1.0, KEY_THUMBNAIL / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(target, size, interpolation=cv2.INTER_AREA) if scale < 1 else target
    return torch.from_numpy(np.ascontiguousarray(small.transpose(2, 0, 1), dtype=np.float32))


def fit_colour_edit(old: list[torch.Tensor], new: list[torch.Tensor]) -> tuple[torch.Tensor, float, float]:
    """Least-squares (4, 3) colour matrix + offset taking old keyframes to new ones; mean abs
    difference before and after it."""
    a = torch.cat([k.reshape(3, -1).T for k in old]).double()
    b = torch.cat([k.reshape(3, -1).T for k in new]).double()
    solution = torch.linalg.lstsq(torch.cat([a, torch.ones_like(a[:, :1])], dim=1), b).solution
    after = a @ solution[:3] + solution[3]
    return solution, float((a - b).abs().mean()), float((after - b).abs().mean())


@torch.no_grad()
def _compose_grade(net: RestyleNet, edit: torch.Tensor) -> None:
    """Follow the network's output grade by the colour edit (rows: matrix.T, then offset)."""
    matrix, offset = edit[:3].T.to(net.grade.weight), edit[3].to(net.grade.weight)
    weight = net.grade.weight[:, :, 0, 0]
    net.grade.bias.copy_(matrix @ net.grade.bias + offset)
    net.grade.weight.copy_((matrix @ weight)[:, :, None, None])


def _repass(net: RestyleNet, init: str, mode: str, targets: list[np.ndarray], progress: Progress) -> str:
    """Start from an approved model; returns ``colour`` (grade follows the keyframe's colour edit,
    no training) or ``full`` (fine-tune every weight)."""
    net.load_state_dict(_earlier_model(init, net).torch_module().state_dict())
    if mode == "full":
        return "full"
    ckpt = checkpoint_path(init)
    approved = load_checkpoint(ckpt).get("keys") if ckpt.exists() else None
    if not approved or len(approved) != len(targets):
        if mode == "colour":
            raise UsageError(f"--repass colour: {ckpt} with the approved keyframes is missing; use --repass full")
        progress.note(f"full re-pass: no approved keyframes in {ckpt}")
        return "full"
    new = [key_thumbnail(t) for t in targets]
    if any(o.shape != n.shape for o, n in zip(approved, new)):
        raise UsageError(f"--init {init}: its keyframes were {tuple(approved[0].shape[1:])}, these "
                         f"{tuple(new[0].shape[1:])}; re-pass with keyframes of the same size")
    edit, before, after = fit_colour_edit(approved, new)
    if mode == "auto" and after > max(COLOUR_EDIT_L1, COLOUR_EDIT_SHARE * before):
        progress.note(f"full re-pass: the keyframes changed beyond a colour edit (mean error {after:.4f} "
                      f"after the best colour matrix, {before:.4f} before)")
        return "full"
    _compose_grade(net, edit)
    progress.note(f"colour re-pass: brushwork of {Path(init).name} kept, its grade follows the keyframe edit "
                  f"(mean error {after:.4f} after, {before:.4f} before)")
    return "colour"


def _resumed_weight(state: dict[str, Any] | None) -> float:
    """The temporal loss's weight where a resumed training stopped (0 for a fresh one)."""
    meta = json.loads(state["meta"]) if state else {}
    return float(meta.get("temporal_weight", ((meta.get("training") or {}).get("temporal") or {}).get("final_weight", 0.0)))


def _train_step(net: RestyleNet, optimizer: torch.optim.Optimizer, sampler: PatchSampler, settings: TrainSettings,
                step: int, adversary: Adversary | None, stability: Stability | None,
                pairs: TemporalSampler | None) -> tuple[float, float]:
    """One optimiser step; returns (total loss, the keyframes' own loss)."""
    x, t = sampler.batch(settings.batch)
    y = net(x)
    loss = fit = restyle_loss(y, t)
    t = t[:, :3]
    if adversary is not None and step >= ADVERSARIAL_WARMUP:
        adversary.update(x[:, :3], y, t)
        loss = loss + settings.adversarial * adversary.generator_loss(x[:, :3], y)
    if stability and stability.weight > 0:
        loss = loss + stability.weight * temporal_loss(net, *pairs.batch(max(1, settings.batch // 2)))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    optimizer.step()
    return float(loss.detach()), float(fit.detach())


def _measure_texture(texture: FarTexture, learnt: Learnt, net: RestyleNet, step: int) -> None:
    """Hand the far frame's texture distance to the stopping rule (a non-finite output is the key check's to catch)."""
    distance = texture.measure(net)
    if math.isfinite(distance):
        learnt.texture(step, distance)


def _recover(guard: Guard, step: int, reason: str, progress: Progress) -> None:
    """Roll back after a divergence and say so (raises UsageError when out of recoveries)."""
    back = guard.recover(step, reason)
    lr = guard.optimizer.param_groups[0]["lr"]
    weight = f", temporal weight {guard.stability.weight:g} (at most {guard.stability.ceiling:g})" if guard.stability else ""
    progress.note(f"training diverged at step {step} ({reason}): back to the weights of step {back}, "
                  f"learning rate {lr:.3g}{weight}")


@contextlib.contextmanager
def stop_requests():
    """While training: a Ctrl-C (or the Nuke node's Stop) only asks the loop to stop, which then
    writes the look so far (its key check recorded, marked stopped early); a second one interrupts
    as usual. Yields a list that holds True once asked. Signals reach the main thread only: on
    another thread (a test, a host's own thread) nothing is changed."""
    asked: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield asked
        return
    previous = signal.getsignal(signal.SIGINT)

    def ask(_signum: int, _frame: Any) -> None:
        asked.append(True)
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, ask)
    try:
        yield asked
    finally:
        signal.signal(signal.SIGINT, previous)


def _progress_message(loss: float, stability: Stability | None, step: int, guard: Guard, elapsed: float) -> str:
    flicker = f", flicker {stability.ratio:.2f}x plate" if stability and step >= CHECK_EVERY else ""
    keys = f", keys {guard.last.worst:.1f} dB" if guard.last else ""
    return f"loss {loss:.4f}{keys}{flicker}, {elapsed:.0f}s"


def final_key_check(checker: KeyCheck, guard: Guard, settings: TrainSettings, key_frames: list[int],
                    progress: Progress) -> dict[str, Any]:
    """The key check recorded in the model: PSNR at each key of the weights handed over. Those are
    the last ones unless they diverged or fail the check where earlier (best) ones passed.

    Raises:
        UsageError: nothing finite to hand over (no model is written).
    """
    score = checker.measure(guard.net)
    best = guard.best
    if best and (guard.fell(score) or (score.worst < settings.key_psnr <= best.score.worst)):
        progress.note(f"handing over the weights of step {best.step} (keys {best.score.worst:.1f} dB), "
                      f"not the last ones (keys {score.worst:.1f} dB)")
        guard.restore_best()
        score = best.score
    if not score.finite:
        raise UsageError("training produced no finite look (its output at the keys is NaN/Inf); no model written. "
                         "Try --stability 0 (temporal loss off), a smaller --lr, or check the plate and painting")
    return key_check_record(score, settings.key_psnr, key_frames)


def key_check_record(score: KeyScore, threshold_db: float, key_frames: list[int]) -> dict[str, Any]:
    """The metadata entry ``training.key_check``."""
    return {"psnr_db": round(score.worst, 2), "per_key_db": {str(f): round(v, 2) for f, v in zip(key_frames, score.psnr_db)},
            "held_back_db": None if score.held_db is None else round(score.held_db, 2),
            "threshold_db": threshold_db, "passed": score.finite and score.worst >= threshold_db}


def _failed_key_check_message(model: Path, check: dict[str, Any], ckpt: Path) -> str:
    worst = min(check["per_key_db"], key=check["per_key_db"].get)
    return (f"{model}: the look does not reproduce its painted keys yet (key {worst} comes back at "
            f"{check['psnr_db']:.1f} dB PSNR, below the {check['threshold_db']:g} dB key check); the model is written "
            f"but marked failed, so restyle run/render refuse it. Train longer ('restyle train ... --resume --seconds N' "
            f"continues from {ckpt.name}), or pass --key-psnr 0 to accept this look")


def _resumed_keys_ok(state: dict[str, Any] | None, now: bool) -> bool:
    """Whether the keys passed the last check where a resumed training stopped (``now``: a fresh one's)."""
    meta = json.loads(state["meta"]) if state else {}
    return bool(meta.get("keys_ok", now))


@_keeps_torch_flags
def train(plate: SequencePattern, keys: dict[int, str], out: str | os.PathLike, *,
          settings: TrainSettings | None = None, start: TrainStart = TrainStart(), guides: list[str] | None = None,
          spaces: TrainColourspaces = TrainColourspaces(), frames: list[int] | None = None,
          progress_mode: str = "text", monitor: Callable[[int, float, RestyleNet], None] | None = None) -> TrainResult:
    """Train on ``keys`` ({plate frame: painting path}) and export ``out`` (ONNX) + checkpoint.

    ``start.resume`` goes on from the checkpoint beside ``out``. ``start.init``: start from the
    weights of an earlier model of this shot (same inputs), so an
    updated keyframe changes the look without reshuffling its brushwork. ``start.repass`` then
    says how: ``colour`` keeps every weight and follows the output grade by the keyframes'
    colour edit (frames change proportionately, brushwork identical); ``full`` fine-tunes all
    weights; ``auto`` (default) takes ``colour`` when one colour matrix + offset explains the
    keyframes as a colour edit of the approved ones (kept, shrunk, in its checkpoint); an edit
    that clips a channel is not one matrix, so it takes the full re-pass.

    ``frames``: the shot's frame range; with ``settings.stability`` > 0, pairs of its consecutive
    plate frames teach the network to move with the plate (:mod:`.temporal_loss`).

    ``monitor(step, seconds, net)``, if given, is called every 100 steps (benchmarks use it to
    follow quality over time); training time excludes the time spent in it.
    """
    settings = settings or TrainSettings()
    if settings.key_psnr < 0:
        raise UsageError(f"--key-psnr {settings.key_psnr:g}: the key check is a PSNR in dB, 0 (any look) or more")
    if settings.stability < 0:
        raise UsageError(f"--stability {settings.stability:g}: the flicker target is a ratio to the plate's own "
                         "flicker, 0 (off) or more (default 1.2)")
    guides = guide_mod.check_guides(guides or [])
    if not keys:
        raise UsageError("restyle train needs at least one --key FRAME=IMAGE")
    plate_space, key_space, resume, init, repass = spaces.plate, spaces.key, start.resume, start.init, start.repass
    working = colour.resolve_colourspace(spaces.working or colour.WORKING_ENCODING)
    ensure_writable_folder(Path(out).parent)
    device = torch.device(resolve_device(settings.device))
    seed_everything(settings.seed, device)
    progress = Progress("train", settings.steps, progress_mode, min_interval_s=2.0)
    taught = load_training_pairs(plate, keys, plate_space, key_space, working, guides, settings.input_smoothing,
                                 settings.unpainted_weight, progress.note)
    inputs, targets, scale = taught.inputs, taught.targets, taught.scale
    net = RestyleNet(NetworkConfig(in_channels=inputs[0].shape[2], width=settings.width,
                                   res_blocks=settings.res_blocks)).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    step = 0
    ckpt = checkpoint_path(out)
    if repass not in REPASS_MODES:
        raise UsageError(f"--repass must be one of {', '.join(REPASS_MODES)}, got {repass!r}")
    repass_used = _repass(net, init, repass, targets, progress) if init else None
    state = load_checkpoint(ckpt) if resume and ckpt.exists() else None
    if state:
        net.load_state_dict(state["state"])
        optimizer.load_state_dict(state["optimizer"])
        step = int(state["step"])
    sampler = PatchSampler(inputs, weighted_targets(targets, taught.weights), settings.patch, settings.seed + step,
                           device, hold_seed=settings.seed)
    if state and state.get("sampler"):  # the patch stream goes on where it stopped: same weights as unbroken
        sampler.rng.bit_generator.state = state["sampler"]
    stable_wanted = settings.stability > 0 and repass_used != "colour"
    if stable_wanted:
        progress.note(f"measuring the plate's motion between consecutive frames for the flicker target "
                      f"{settings.stability:g}")
    pairs = (_temporal_sampler(plate, frames or [], keys, plate_space, working, guides, scale, settings,
                              sampler.patch, sampler.rng, device) if stable_wanted else None)
    if stable_wanted and pairs is None:
        progress.note("temporal loss off: it needs --frames with at least two consecutive plate frames")
    stability = Stability(pairs, settings.stability, settings.seed, _resumed_weight(state)) if pairs else None
    thumbnails = [key_thumbnail(t) for t in targets]
    progress.note(f"{len(keys)} key(s), {inputs[0].shape[1]}x{inputs[0].shape[0]}, "
                  f"{inputs[0].shape[2]} input channels, device {device}, seed {settings.seed}")
    adversary = Adversary(device) if settings.adversarial > 0 else None
    guard, checker = Guard(net, optimizer, stability), KeyCheck(inputs, weighted_targets(targets, taught.weights),
                                                                       sampler.held, device)
    if monitor is None:  # $RESTYLE_TRAIN_WATCH: the look so far, for the Nuke node (inference/restyle/watch.py)
        monitor = watch.from_environment(plate, keys, inputs, targets, lambda f: network_input(
            read_frame(plate.path(f)), f, sorted(keys), colour.file_colourspace(plate.path(f), plate_space), working,
            guides, scale, settings.input_smoothing), device,
            (lambda: stability.ratio) if stability else None)
    learnt, history = Learnt(settings.key_psnr, settings.learnt_window, settings.learnt_tolerance), []
    texture = (far_texture(plate, frames or [], keys, targets, plate_space, working, guides, scale,
                           settings.input_smoothing, device) if settings.plateau else None)
    started = time.monotonic()
    loss_value, stop = float("nan"), None
    guard.keep(step, checker.measure(net))  # the start: somewhere to roll back to
    keys_ok = _resumed_keys_ok(state, guard.keys_ok(guard.last, settings.key_psnr))
    net.train()
    with stop_requests() as asked:
        while step < settings.steps and repass_used != "colour":
            loss_value, fit_value = _train_step(net, optimizer, sampler, settings, step, adversary, stability, pairs)
            step += 1
            reason = guard.watch(fit_value, loss_value)
            score = checker.measure(net) if step % KEY_CHECK_EVERY == 0 and not reason else None
            reason = reason or (score and guard.fell(score))
            if reason:
                _recover(guard, step, reason, progress)
                continue
            if score:
                guard.keep(step, score)
                keys_ok = guard.keys_ok(score, settings.key_psnr)
                if texture and step % TEXTURE_CHECK_EVERY == 0:
                    _measure_texture(texture, learnt, net, step)
                if settings.plateau and learnt.update(step, score):
                    stop = (f"look learnt at step {step}: keys at {score.worst:.1f} dB (check {settings.key_psnr:g} dB); "
                            f"they and the held-back tiles gained under {settings.learnt_tolerance:g} dB in "
                            f"{settings.learnt_window} steps" + (f", frame {texture.frame}'s texture settled" if texture else ""))
            if stability and step % CHECK_EVERY == 0:
                stability.check(net, keys_ok)
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
            progress.advance(message=_progress_message(loss_value, stability, step, guard, elapsed))
            if settings.checkpoint_every and step % settings.checkpoint_every == 0 and step < settings.steps:
                save_checkpoint(ckpt, net, optimizer, step,
                                {"partial": True, "temporal_weight": stability.weight if stability else 0.0, "keys_ok": keys_ok},
                                keys=thumbnails,
                                sampler=sampler.rng.bit_generator.state)
            if settings.seconds is not None and elapsed >= settings.seconds:
                stop = f"stopped after {settings.seconds:g} s at step {step}"
            if asked:
                stop = f"stopped early at step {step}, as asked: writing the look so far"
            if stop:
                progress.note(stop)
                break
    net.eval()
    key_check = final_key_check(checker, guard, settings, sorted(keys), progress)
    plate_space = colour.file_colourspace(plate.path(min(keys)), plate_space)
    meta = {
        "encoding": working, "plate_colourspace": plate_space,
        "input_channels": guide_mod.channel_names(guides, len(keys)), "output_channels": ["R", "G", "B"],
        "guides": guides, "size_multiple": SIZE_MULTIPLE, "receptive_margin": RECEPTIVE_MARGIN,
        "keyframes": {str(f): sha256_file(keys[f]) for f in sorted(keys)}, "depth_scale": scale,
        "input_smoothing": settings.input_smoothing,
        "training": {**settings.to_dict(), "steps_done": step, "seconds": round(time.monotonic() - started, 2),
                     "final_loss": loss_value, "loss": "L1 + 0.5 L1(gradients)" + (f" + {settings.adversarial:g} LSGAN(patch)" if adversary else "")
                     + (" + w L1(temporal, plate flow)" if stability else ""), "init": init,
                     "temporal": ({"pairs": len(pairs.pairs), "target": settings.stability, "final_weight": stability.weight,
                                   "flicker_ratio": stability.ratio} if stability else None),
                     "repass": repass_used, "device_used": str(device), "key_check": key_check,
                     "far_texture": ({"frame": texture.frame, "swd": [[s, round(d, 2)] for s, d in learnt.textures]}
                                     if texture else None),
                     "recoveries": guard.recoveries, "torch": torch.__version__, "stopped_early": bool(asked)},
    }
    save_checkpoint(ckpt, net.cpu(), optimizer, step, meta, keys=thumbnails, sampler=sampler.rng.bit_generator.state)
    # the model carries its paintings (not the checkpoint): --detail/--texture need no files beside it
    paintings = {str(f): encode_painting(t) for f, t in zip(sorted(keys), targets)}
    model = export_onnx(net, {**meta, "key_paintings": paintings}, out, dtype=settings.onnx_dtype)
    progress.note(f"wrote {model} ({step} steps, loss {loss_value:.4f}, keys at {key_check['psnr_db']:.1f} dB) "
                  f"and {ckpt.name}")
    if not key_check["passed"]:
        raise KeyCheckError(_failed_key_check_message(model, key_check, ckpt))
    if stability and stability.ratio > settings.stability:
        progress.note(f"flicker {stability.ratio:.2f}x the plate's at the last check, above the target "
                      f"{settings.stability:g}: the temporal weight ({stability.weight:g}) is held where the keys keep "
                      "their PSNR (a high-contrast look multiplies the plate's own change); settle the rest with "
                      "'restyle render' (deflicker on), or train longer (--seconds) for a steadier look")
    return TrainResult(model, step, time.monotonic() - started, loss_value, history, key_check)
