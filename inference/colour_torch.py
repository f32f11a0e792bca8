"""OpenColorIO conversions applied to torch tensors on the GPU, so frames need not leave it.

OCIO's own GPU path writes shader code for OpenGL/Metal; it cannot run on CUDA tensors. So the
conversion's *optimised* op list, as OCIO itself reports it (``createGroupTransform``), is
evaluated here with torch, for the ops camera, ACES and display spaces reduce to: matrices,
sRGB-style exponents with a linear segment, pure exponents, and log/camera-log curves. A
conversion holding any other op (a LUT, a fixed function, ...) runs through OCIO's CPU
processor instead (one download and upload per call). Tests hold every supported op to OCIO's
CPU result.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

import numpy as np
import PyOpenColorIO as ocio
import torch

from . import colour

Op = Callable[[torch.Tensor], torch.Tensor]  # (..., 3, H, W) channel-first
FLT_MIN = float(np.finfo(np.float32).tiny)


def _channels(values, device: str, n: int = 3) -> torch.Tensor:
    """A per-channel constant ``(3, 1, 1)`` on ``device``. Ops hold their constants where they
    run: a CPU constant moved to a GPU at each call would wait for the GPU's queue to empty."""
    return torch.tensor(list(values)[:n], dtype=torch.float32, device=device).view(3, 1, 1)


def _matrix(t: ocio.MatrixTransform, device: str) -> Op:
    m = np.array(t.getMatrix(), np.float64).reshape(4, 4)[:3, :3]
    offset = np.array(t.getOffset(), np.float64)[:3]
    if t.getDirection() == ocio.TRANSFORM_DIR_INVERSE:
        m = np.linalg.inv(m)
        offset = -m @ offset
    matrix, add = torch.tensor(m, dtype=torch.float32, device=device), _channels(offset, device)

    def apply(x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ij,...jhw->...ihw", matrix, x) + add
    return apply


def _mirrored(curve: Callable[[torch.Tensor], torch.Tensor], style) -> Op:
    """Apply ``curve`` on x >= 0; below zero clamp, mirror or pass through per OCIO's NegativeStyle."""
    def apply(x: torch.Tensor) -> torch.Tensor:
        if style == ocio.NEGATIVE_MIRROR:
            return torch.sign(x) * curve(x.abs())
        if style == ocio.NEGATIVE_PASS_THRU:
            return torch.where(x < 0, x, curve(x.clamp_min(0)))
        return curve(x.clamp_min(0))
    return apply


def _exponent(t: ocio.ExponentTransform, device: str) -> Op:
    gamma = _channels(t.getValue(), device)
    if t.getDirection() == ocio.TRANSFORM_DIR_INVERSE:
        gamma = 1 / gamma
    return _mirrored(lambda x: x.pow(gamma), t.getNegativeStyle())


def _exponent_with_linear(t: ocio.ExponentWithLinearTransform, device: str) -> Op:
    """OCIO's "moncurve": forward decodes (encoded -> linear), inverse encodes."""
    g, o = np.array(t.getGamma(), np.float64)[:3], np.array(t.getOffset(), np.float64)[:3]
    x_break = o / (g - 1)
    slope = ((x_break + o) / (1 + o)) ** g / x_break  # linear segment, continuous at the break
    y_break = x_break * slope
    g_, o_, k, xb, yb = (_channels(v, device) for v in (g, o, slope, x_break, y_break))
    if t.getDirection() == ocio.TRANSFORM_DIR_FORWARD:
        def curve(x: torch.Tensor) -> torch.Tensor:
            return torch.where(x > xb, ((x + o_) / (1 + o_)).clamp_min(0).pow(g_), x * k)
    else:
        def curve(x: torch.Tensor) -> torch.Tensor:
            return torch.where(x > yb, (1 + o_) * x.clamp_min(0).pow(1 / g_) - o_, x / k)
    style = t.getNegativeStyle()
    if style == ocio.NEGATIVE_LINEAR:
        return curve
    return _mirrored(curve, style)


def _log(t, device: str) -> Op:
    """LogAffineTransform and LogCameraTransform (the latter with its linear toe below the break)."""
    base = float(t.getBase())
    log_slope, log_offset, lin_slope, lin_offset = (_channels(v, device) for v in (
        t.getLogSideSlopeValue(), t.getLogSideOffsetValue(), t.getLinSideSlopeValue(), t.getLinSideOffsetValue()))
    camera = isinstance(t, ocio.LogCameraTransform)
    if camera:
        brk = _channels(t.getLinSideBreakValue(), device)
        if t.isLinearSlopeValueSet():
            toe_slope = _channels(t.getLinearSlopeValue(), device)
        else:  # the log curve's derivative at the break
            toe_slope = log_slope * lin_slope / ((lin_slope * brk + lin_offset) * math.log(base))
        log_brk = log_slope * torch.log(lin_slope * brk + lin_offset) / math.log(base) + log_offset
        toe_offset = log_brk - toe_slope * brk
    forward = t.getDirection() == ocio.TRANSFORM_DIR_FORWARD

    def apply(x: torch.Tensor) -> torch.Tensor:
        if forward:  # linear -> log
            y = log_slope * torch.log((lin_slope * x + lin_offset).clamp_min(FLT_MIN)) / math.log(base) + log_offset
            return torch.where(x <= brk, toe_slope * x + toe_offset, y) if camera else y
        lin = (torch.pow(base, (x - log_offset) / log_slope) - lin_offset) / lin_slope
        if camera:
            return torch.where(x <= log_brk, (x - toe_offset) / toe_slope, lin)
        return lin
    return apply


_OPS: dict[type, Callable[..., Op]] = {
    ocio.MatrixTransform: _matrix, ocio.ExponentTransform: _exponent,
    ocio.ExponentWithLinearTransform: _exponent_with_linear, ocio.LogAffineTransform: _log,
    ocio.LogCameraTransform: _log,
}


@lru_cache(maxsize=64)
def _ops(source: str, src: str, dst: str, device: str = "cpu") -> list[Op] | None:
    """The conversion as torch ops with their constants on ``device``, or None when it holds an
    op not evaluated here."""
    processor = colour.processor(src, dst).getOptimizedProcessor(ocio.OPTIMIZATION_DEFAULT)
    transforms = list(processor.createGroupTransform())
    if not all(type(t) in _OPS for t in transforms):
        return None
    return [_OPS[type(t)](t, device) for t in transforms]


def supported(src: str, dst: str) -> bool:
    """Whether ``src -> dst`` runs as torch ops (else through OCIO's CPU processor)."""
    return _ops(colour.config_source(), colour.resolve_colourspace(src), colour.resolve_colourspace(dst)) is not None


def convert(x: torch.Tensor, src: str, dst: str) -> torch.Tensor:
    """Convert ``(..., 3, H, W)`` float tensors from ``src`` to ``dst`` where they are (float32)."""
    src, dst = colour.resolve_colourspace(src), colour.resolve_colourspace(dst)
    x = x.float()
    if src == dst:
        return x
    ops = _ops(colour.config_source(), src, dst, str(x.device))
    if ops is None:
        flat = x.reshape(-1, *x.shape[-3:]).permute(0, 2, 3, 1).cpu().numpy()
        done = np.stack([colour.convert(f, src, dst) for f in flat])
        return torch.from_numpy(done).permute(0, 3, 1, 2).reshape(x.shape).to(x.device)
    for op in ops:
        x = op(x)
    return x
