"""Restyle's settings: how a look is trained (where it starts, which colourspaces it reads), how a
model runs and how the keys' brushwork is carried; the one copy of their defaults (the CLI's help,
the manifest's job and every restyle entry point read them here). Imports nothing heavy: the CLI
reads it at start-up."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# ``--detail`` (pixels) when the keys' paintings are at hand (carried in the model, or --key): the
# keys' brushwork finer than this rides the plate's motion. The best row of the restyle
# validation on the shared live clips (bench/README.md, Restyle validation): above the network
# alone in PSNR and texture on every sequence measured, steadier again after Deflicker.
DEFAULT_DETAIL_PX = 8.0
# ... and when it rides the plate's own motion vectors (a render's: exact where optical flow is lost
# on flat sky and ground), where coarser brushwork stays steady: the render of the restyle
# validation (sceneA_painting, the one shared plate with vectors) reaches the key's texture at 48.
DEFAULT_DETAIL_PX_VECTORS = 48.0


@dataclass(frozen=True)
class RuntimeSettings:
    """Where and how a model runs (``restyle run`` and ``render``)."""

    backend: str = "auto"  # auto: onnxruntime with TensorRT/CUDA if it has them, else torch CUDA, else onnxruntime CPU
    device: str = "auto"  # auto: CUDA when torch sees a GPU
    dtype: str = "auto"  # torch backend precision (auto: fp16 on CUDA)
    tile: int | None = None  # px square tiles for frames larger than GPU memory; None: whole frames
    batch: int | None = None  # frames per model call; None: restyle.apply.default_batch of the frame size


@dataclass(frozen=True)
class DetailSettings:
    """The keys' own brushwork added to the network's look (``--detail``, ``--texture``)."""

    px: float | None = None  # brushwork finer than this is carried; None: DEFAULT_DETAIL_PX when paintings are at hand
    texture: bool = False  # rebuild every frame from the keys' patches instead
    keys: Mapping[int, str] | None = None  # the paintings (frame -> image) when the model does not carry them
    key_space: str | None = None  # their colourspace; None: what they record, else by file type
    vectors: str = "auto"  # the plate motion the brushwork rides (temporal.settings.VECTORS): auto = its own vectors if it has them


@dataclass(frozen=True)
class TrainSettings:
    """Training knobs; the defaults suit a shot of a few hundred frames."""

    # Caps: a GPU makes about a minute of 2K training in 4000 steps; a 2-core CPU stops at ten minutes.
    steps: int = 4000
    seconds: float | None = 600.0
    # Stop earlier once the look is learnt (key_check.Learnt): every key reproduced at key_psnr or
    # better and neither the keys' PSNR nor that of tiles of the keys held back from training still
    # improving, by learnt_tolerance dB over learnt_window steps, nor the texture of the frame farthest
    # from the keys (key_check.FarTexture). Never stops a run whose keys fail.
    plateau: bool = True
    learnt_window: int = 500
    learnt_tolerance: float = 0.1
    # Key check (dB): the model's full-frame output at each key against the painting must reach this
    # PSNR to be recorded as usable (restyle run/render refuse a model that failed); 0 = any finite look.
    # Issue 23's broken looks gave their keys back at 4-10 dB, learnt ones of the same
    # high-contrast paintings at 14-15.5 dB (a mild look reaches 30).
    key_psnr: float = 12.0
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
    # Weight of a patch discriminator trained from scratch alongside (0 = off): texture with the
    # painting's statistics instead of the blur that L1 rewards. Starts after ADVERSARIAL_WARMUP steps.
    adversarial: float = 0.0
    # Flicker target: the output's change between frames along the plate's motion, at most this
    # many times the plate's own (E_warp ratio); a temporal loss on consecutive plate frames of the
    # shot, weighted as much as it takes, holds it there (0 = off). See temporal_loss.Stability.
    stability: float = 1.2
    # Where a painting's alpha is below 1 its key teaches the plate's own colour there, at this
    # share of a painted pixel's weight (restyle.paintings.teaching): paint only the hero and the
    # rest follows the plate, or another key that paints it. 0: unpainted pixels teach nothing.
    unpainted_weight: float = 0.25
    # Steps between resumable checkpoints (MODEL.ckpt, written atomically); 0 = only at the end.
    checkpoint_every: int = 250
    # Precision of the written ONNX model (model_file.export_onnx): fp32, or fp16 (half the file,
    # within model_file.FP16_TOLERANCE of fp32); the checkpoint keeps fp32 weights either way.
    onnx_dtype: str = "fp32"

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))


@dataclass(frozen=True)
class TrainStart:
    """Where training starts: from scratch, from its own checkpoint (``resume``), or from an
    earlier, approved model of the shot (``init``, re-passed as ``repass`` says)."""

    resume: bool = False  # continue from MODEL.ckpt beside the output if it exists
    init: str | None = None  # an earlier model of this shot to start from
    repass: str = "auto"  # with init: colour (refit the output grade only), full (fine-tune all), auto (colour when it explains the edit)


@dataclass(frozen=True)
class TrainColourspaces:
    """The colourspaces training reads and learns in (None: what a file records, else by file type)."""

    plate: str | None = None
    key: str | None = None  # the painted keyframes'
    working: str | None = None  # the encoding the model works in; None: colour.WORKING_ENCODING
