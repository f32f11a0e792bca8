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


def _channels(values, n: int = 3) -> torch.Tensor:
    return torch.tensor(list(values)[:n], dtype=torch.float32).view(3, 1, 1)


def _matrix(t: ocio.MatrixTransform) -> Op:
    m = np.array(t.getMatrix(), np.float64).reshape(4, 4)[:3, :3]
    offset = np.array(t.getOffset(), np.float64)[:3]
    if t.getDirection() == ocio.TRANSFORM_DIR_INVERSE:
        m = np.linalg.inv(m)
        offset = -m @ offset
    matrix, add = torch.tensor(m, dtype=torch.float32), _channels(offset)

    def apply(x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("ij,...jhw->...ihw", matrix.to(x.device), x) + add.to(x.device)
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


def _exponent(t: ocio.ExponentTransform) -> Op:
    gamma = _channels(t.getValue())
    if t.getDirection() == ocio.TRANSFORM_DIR_INVERSE:
        gamma = 1 / gamma
    return _mirrored(lambda x: x.pow(gamma.to(x.device)), t.getNegativeStyle())


def _exponent_with_linear(t: ocio.ExponentWithLinearTransform) -> Op:
    """OCIO's "moncurve": forward decodes (encoded -> linear), inverse encodes."""
    g, o = np.array(t.getGamma(), np.float64)[:3], np.array(t.getOffset(), np.float64)[:3]
    x_break = o / (g - 1)
    slope = ((x_break + o) / (1 + o)) ** g / x_break  # linear segment, continuous at the break
    y_break = x_break * slope
    g_, o_, k = _channels(g), _channels(o), _channels(slope)
    xb, yb = _channels(x_break), _channels(y_break)
    if t.getDirection() == ocio.TRANSFORM_DIR_FORWARD:
        def curve(x: torch.Tensor) -> torch.Tensor:
            d = x.device
            return torch.where(x > xb.to(d), ((x + o_.to(d)) / (1 + o_.to(d))).clamp_min(0).pow(g_.to(d)), x * k.to(d))
    else:
        def curve(x: torch.Tensor) -> torch.Tensor:
            d = x.device
            return torch.where(x > yb.to(d), (1 + o_.to(d)) * x.clamp_min(0).pow(1 / g_.to(d)) - o_.to(d), x / k.to(d))
    style = t.getNegativeStyle()
    if style == ocio.NEGATIVE_LINEAR:
        return curve
    return _mirrored(curve, style)


def _log(t) -> Op:
    """LogAffineTransform and LogCameraTransform (the latter with its linear toe below the break)."""
    base = float(t.getBase())
    log_slope, log_offset = _channels(t.getLogSideSlopeValue()), _channels(t.getLogSideOffsetValue())
    lin_slope, lin_offset = _channels(t.getLinSideSlopeValue()), _channels(t.getLinSideOffsetValue())
    camera = isinstance(t, ocio.LogCameraTransform)
    if camera:
        brk = _channels(t.getLinSideBreakValue())
        if t.isLinearSlopeValueSet():
            toe_slope = _channels(t.getLinearSlopeValue())
        else:  # the log curve's derivative at the break
            toe_slope = log_slope * lin_slope / ((lin_slope * brk + lin_offset) * math.log(base))
        log_brk = log_slope * torch.log(lin_slope * brk + lin_offset) / math.log(base) + log_offset
        toe_offset = log_brk - toe_slope * brk
    forward = t.getDirection() == ocio.TRANSFORM_DIR_FORWARD

    def apply(x: torch.Tensor) -> torch.Tensor:
        d = x.device
        ls, lo, ms, mo = log_slope.to(d), log_offset.to(d), lin_slope.to(d), lin_offset.to(d)
        if forward:  # linear -> log
            y = ls * torch.log((ms * x + mo).clamp_min(FLT_MIN)) / math.log(base) + lo
            return torch.where(x <= brk.to(d), toe_slope.to(d) * x + toe_offset.to(d), y) if camera else y
        lin = (torch.pow(base, (x - lo) / ls) - mo) / ms
        if camera:
            return torch.where(x <= log_brk.to(d), (x - toe_offset.to(d)) / toe_slope.to(d), lin)
        return lin
    return apply


_OPS: dict[type, Callable[..., Op]] = {
    ocio.MatrixTransform: _matrix, ocio.ExponentTransform: _exponent,
    ocio.ExponentWithLinearTransform: _exponent_with_linear, ocio.LogAffineTransform: _log,
    ocio.LogCameraTransform: _log,
}


@lru_cache(maxsize=64)
def _ops(source: str, src: str, dst: str) -> list[Op] | None:
    """The conversion as torch ops, or None when it holds an op not evaluated here."""
    processor = colour.load_config().getProcessor(src, dst).getOptimizedProcessor(ocio.OPTIMIZATION_DEFAULT)
    transforms = list(processor.createGroupTransform())
    if not all(type(t) in _OPS for t in transforms):
        return None
    return [_OPS[type(t)](t) for t in transforms]


def supported(src: str, dst: str) -> bool:
    """Whether ``src -> dst`` runs as torch ops (else through OCIO's CPU processor)."""
    return _ops(colour.config_source(), colour.resolve_colourspace(src), colour.resolve_colourspace(dst)) is not None


def convert(x: torch.Tensor, src: str, dst: str) -> torch.Tensor:
    """Convert ``(..., 3, H, W)`` float tensors from ``src`` to ``dst`` where they are (float32)."""
    src, dst = colour.resolve_colourspace(src), colour.resolve_colourspace(dst)
    x = x.float()
    if src == dst:
        return x
    ops = _ops(colour.config_source(), src, dst)
    if ops is None:
        flat = x.reshape(-1, *x.shape[-3:]).permute(0, 2, 3, 1).cpu().numpy()
        done = np.stack([colour.convert(f, src, dst) for f in flat])
        return torch.from_numpy(done).permute(0, 3, 1, 2).reshape(x.shape).to(x.device)
    for op in ops:
        x = op(x)
    return x
