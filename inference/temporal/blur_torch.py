"""Gaussian blurs of ``(B, C, H, W)`` tensors on any torch device that give OpenCV's numbers:
:func:`gaussian_blur` is ``cv2.GaussianBlur`` with ``BORDER_REFLECT`` (OpenCV's kernel, separable,
TF32 off); :func:`coarse_blur` is :func:`inference.temporal.local_deflicker._blur` (large sigmas
computed on a copy downscaled by an integer factor)."""
from __future__ import annotations

import contextlib

import cv2
import numpy as np
import torch
import torch.nn.functional as F


def _no_tf32():
    """Context: cuDNN convolutions in full fp32 (no TF32)."""
    if not torch.cuda.is_available():
        return contextlib.nullcontext()
    cudnn = torch.backends.cudnn
    return cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark,
                       deterministic=cudnn.deterministic, allow_tf32=False)


_KERNELS: dict = {}
_INDICES: dict = {}


def _gaussian_kernel(sigma: float, device, dtype) -> torch.Tensor:
    """OpenCV's Gaussian kernel for a sigma-only call on a float image."""
    key = (float(sigma), str(device), dtype)
    if key not in _KERNELS:
        ksize = int(round(sigma * 4 * 2 + 1)) | 1
        kernel = cv2.getGaussianKernel(ksize, float(sigma), cv2.CV_32F).reshape(-1)
        _KERNELS[key] = torch.from_numpy(np.ascontiguousarray(kernel)).to(device=device, dtype=dtype)
    return _KERNELS[key]


def _reflect_index(n: int, r: int, device) -> torch.Tensor:
    """Indices of ``arange(-r, n + r)`` under cv2's BORDER_REFLECT (any r, even r >= n)."""
    key = (n, r, str(device))
    if key not in _INDICES:
        idx = torch.arange(-r, n + r, dtype=torch.int64)
        if n == 1:
            idx = torch.zeros_like(idx)
        else:
            idx = torch.remainder(idx, 2 * n)
            idx = torch.where(idx >= n, 2 * n - 1 - idx, idx)
        _INDICES[key] = idx.to(device)
    return _INDICES[key]


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """``cv2.GaussianBlur(x, (0, 0), sigma, borderType=BORDER_REFLECT)`` of ``(B, C, H, W)``."""
    if sigma <= 0:
        return x
    b, c, h, w = x.shape
    kernel = _gaussian_kernel(sigma, x.device, x.dtype)
    r = kernel.numel() // 2
    # one depthwise convolution over all planes (torch's direct depthwise kernel on CUDA,
    # much faster than cuDNN's implicit GEMM for a 1-D kernel; never TF32)
    y = x.reshape(1, b * c, h, w)
    with _no_tf32():
        y = F.conv2d(y.index_select(3, _reflect_index(w, r, x.device)),
                     kernel.view(1, 1, 1, -1).expand(b * c, 1, 1, -1), groups=b * c)
        y = F.conv2d(y.index_select(2, _reflect_index(h, r, x.device)),
                     kernel.view(1, 1, -1, 1).expand(b * c, 1, -1, 1), groups=b * c)
    return y.reshape(b, c, h, w)


def coarse_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """The numpy module's ``_blur``: large sigmas on a copy downscaled by an integer factor."""
    if sigma <= 0:
        return x
    h, w = x.shape[-2:]
    factor = int(max(1, min(sigma // 4, min(h, w) // 8)))
    if factor <= 1:
        return gaussian_blur(x, sigma)
    sh, sw = max(1, round(h / factor)), max(1, round(w / factor))
    if sh * factor == h and sw * factor == w:
        small = F.avg_pool2d(x, factor)  # INTER_AREA at an integer factor: box average
    else:
        small = F.interpolate(x, size=(sh, sw), mode="area")  # (approximates cv2's INTER_AREA)
    small = gaussian_blur(small, sigma / factor)
    return F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
