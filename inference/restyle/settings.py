"""Restyle's settings: how a model runs and how the keys' brushwork is carried, the one copy of
their defaults (the CLI's help, the manifest's job and every restyle entry point read them here).
Imports nothing heavy: the CLI reads it at start-up."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# ``--detail`` (pixels) when the keys' paintings are at hand (carried in the model, or --key): the
# keys' brushwork finer than this rides the plate's motion. The best row of the restyle
# validation on the shared live clips (bench/README.md, Restyle validation): above the network
# alone in PSNR and texture on every sequence measured, steadier again after Deflicker.
DEFAULT_DETAIL_PX = 8.0


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
