"""The painted keyframe's own texture, synthesised onto every frame from its patches (``--texture``).

A network trained on one painting paints its flat colour patches, dark outlines and strokes soft:
L1 rewards their average. This pass rebuilds each frame from the painting's own patches instead
(:mod:`.patch_synthesis`, the method of EbSynth), guided by

- the network's look of the frame against its look of the key (the look's shapes and colours,
  steady from frame to frame, so patches are picked by what the network learnt),
- the plate against the key's plate (what is where),
- the frame's previous output carried along the plate's optical flow, against the painting
  (a temporal guide, EbSynth's: a patch is kept unless the guides say otherwise),

walking away from the key one frame at a time; each frame's search starts from the previous
frame's patch choices carried along the same flow (and, where the flow fails, from the key's
pixels the chained flow points at), so the brushwork sticks to the plate. What is added to the
network's look is the difference (synthesised minus look): at the key it is the painting's
residual, so the key comes back as painted.

Frames before a key are walked backwards from it; with several keys each key's texture is
weighted as the look is. Like :mod:`.detail`, a walk depends only on the plate, the keys and the
model, so a frame range gives the frames a whole-shot run gives.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Generator

import numpy as np
import torch

from ..temporal.flow import occlusion_mask, warp
from ..temporal.plate_flow import both_flows
from .patch_synthesis import Guides, SynthesisSettings, identity_nnf, synthesize


@dataclass(frozen=True)
class TextureSettings:
    """Weights of the texture pass's guides and of the output's own texture (texture optimisation:
    the current estimate against the painting). Above about 0.5 the estimate's weight locks in
    whatever patches the first search picked (tests/test_restyle_texture.py)."""

    look_weight: float = 1.0
    plate_weight: float = 0.5
    temporal_weight: float = 1.0
    style_weight: float = 0.5
    synthesis: SynthesisSettings = field(default_factory=SynthesisSettings)


def _planar(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """``(H, W, C)`` float array as a ``(C, H, W)`` float32 tensor on ``device``."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32)).to(device)


def carried_nnf(previous: torch.Tensor, back: np.ndarray, visible: np.ndarray, to_key: np.ndarray) -> torch.Tensor:
    """The previous frame's NNF brought onto this frame: each pixel takes the source of the pixel
    it came from (flow ``back``, nearest) where ``visible``; elsewhere the key's pixel that the
    chained flow ``to_key`` lands on. ``(2, H, W)`` int64 on ``previous``'s device."""
    h, w = back.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    from_y = np.clip(np.rint(ys + back[..., 1]), 0, h - 1).astype(np.int64)
    from_x = np.clip(np.rint(xs + back[..., 0]), 0, w - 1).astype(np.int64)
    carried = previous.cpu().numpy()[:, from_y, from_x]
    on_key = np.stack([np.rint(ys + to_key[..., 1]), np.rint(xs + to_key[..., 0])]).astype(np.int64)
    return torch.from_numpy(np.where(visible[None], carried, on_key)).to(previous.device)


def walk_texture(view: Callable[[int], np.ndarray], look: Callable[[int], np.ndarray], key: int,
                 painting: np.ndarray, last: int, settings: TextureSettings, device: torch.device
                 ) -> Generator[tuple[int, np.ndarray], None, None]:
    """(frame, synthesised minus look) from ``key`` one frame at a time to ``last``, either way.

    Args:
        view: frame -> the plate's ``(H, W, 3)`` sRGB-encoded view in [0, 1] (guide and flows).
        look: frame -> the network's ``(H, W, 3)`` look in its working encoding.
        key: the keyframe; ``painting``: its ``(H, W, 3)`` painting in the working encoding.
        last: the walk's last frame (before or after ``key``).
    """
    s = settings
    step = 1 if last >= key else -1
    key_look, before = look(key), view(key)
    style = _planar(painting, device)
    source = Guides(torch.cat([s.look_weight * _planar(key_look, device), s.plate_weight * _planar(before, device),
                               s.temporal_weight * style]), style)
    yield key, painting - key_look
    output, nnf = style, identity_nnf(*painting.shape[:2], device)
    to_key = np.zeros((*painting.shape[:2], 2), np.float32)
    for frame in range(key + step, last + step, step):
        now, frame_look = view(frame), look(frame)
        back, ahead = both_flows(now, before, device)
        to_key = back + warp(to_key, back)  # chained: frame -> previous -> ... -> key
        visible = occlusion_mask(back, ahead)
        previous = warp(output.permute(1, 2, 0).cpu().numpy(), back)
        temporal = _planar(np.where(visible[..., None], previous, frame_look), device)
        target = Guides(torch.cat([s.look_weight * _planar(frame_look, device), s.plate_weight * _planar(now, device),
                                   s.temporal_weight * temporal]))
        output, nnf = synthesize(source, target, s.style_weight, s.synthesis,
                                 start=carried_nnf(nnf, back, visible, to_key), estimate=temporal)
        yield frame, output.permute(1, 2, 0).cpu().numpy() - frame_look
        before = now
