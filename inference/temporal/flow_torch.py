"""DIS optical flow (Kroeger, Timofte, Dai & Van Gool, "Fast Optical Flow using Dense Inverse
Search", ECCV 2016) in batched torch ops, for any torch device: the GPU twin of
:func:`inference.temporal.flow.compute_flow` (OpenCV's DIS), same conventions (flow a -> b in
pixels, x right, y down; sRGB-encoded 0-1 frames in).

Per pyramid level, coarse to fine:

1. inverse search: patches of ``PATCH`` pixels on a grid of stride ``STRIDE`` each find their
   translation into frame b by inverse-compositional Gauss-Newton on the mean-normalised patch
   (the template's gradients and 2x2 Hessian computed once); between rounds of iterations each
   patch also tries its four grid neighbours' translations and keeps the one that matches best
   (a batched stand-in for DIS's sequential spatial propagation); a patch keeps the best
   translation it met;
2. densification: each pixel's flow is the average of the translations of the patches covering
   it, weighted by 1 / max(1, |I1(x + u) - I0(x)|) (intensities 0-255), as in the paper;
3. variational refinement: a few fixed-point iterations of Brox et al.'s energy (brightness and
   gradient constancy, normalised as Zimmer et al., robust smoothness), each solved by red-black
   SOR sweeps.

Everything is tensor ops over the whole batch (unfold, fold, grid_sample, conv): the only Python
loops are over pyramid levels and iterations. On CUDA with RESTYLE_TORCH_COMPILE=1 each Gauss-Newton
step (sampling, residual, the patch sums and the 2x2 solve), each patch error and each SOR sweep
of the refinement is compiled (fused kernels instead of dozens of small ones).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .local_deflicker_torch import fused

_LUMA = (0.2126, 0.7152, 0.0722)  # Rec.709 on the display-encoded values, as flow.to_gray_u8


@dataclass(frozen=True)
class DisParams:
    """The algorithm's tuning: patch size and refinement as OpenCV's medium preset; a sparser grid
    (stride 4, not 3) and half its Gauss-Newton steps, which the propagation and the full-size finest
    level more than make up for (bench/README.md, Flow)."""

    patch: int = 8  # patch side (px)
    stride: int = 4  # patch grid step (px)
    iterations: int = 12  # Gauss-Newton steps per level, in ``rounds`` rounds with propagation between
    rounds: int = 2
    reaches: tuple[int, ...] = (16, 4, 1)  # grid distances (patches) propagation looks at, in turn
    polish: int = 4  # plain Gauss-Newton steps from each patch's best match, for sub-pixel accuracy
    finest: int = 0  # finest pyramid level computed (0 = full size; 1 = half, then upsampled, as OpenCV's medium)
    refine: int = 5  # variational refinement: fixed-point iterations per level
    sor: int = 5  # red-black SOR sweeps per fixed-point iteration
    alpha: float = 20.0  # smoothness weight
    delta: float = 5.0  # brightness constancy weight
    gamma: float = 10.0  # gradient constancy weight


MEDIUM = DisParams()  # the default: no worse than OpenCV's medium preset (bench/README.md, "Flow")
HALF = DisParams(finest=1)  # about 4x less work, computed at half size as OpenCV's medium is
_ZETA2, _EPS2, _OMEGA = 0.01, 1e-6, 1.6  # refinement: data-term normaliser, robust epsilon^2, SOR relaxation
_POLISH_TOLERANCE = 1.1  # polished patch kept unless its error exceeds its best match's by this factor


def luma255(frames: torch.Tensor) -> torch.Tensor:
    """``(B, 1, H, W)`` float32 Rec.709 luma in 0-255 of ``(B, C, H, W)`` sRGB-encoded 0-1 frames
    (grey when C is 1; channels past 3, e.g. alpha, ignored)."""
    x = frames.float()
    if x.shape[1] >= 3:
        x = _LUMA[0] * x[:, :1] + _LUMA[1] * x[:, 1:2] + _LUMA[2] * x[:, 2:3]
    elif x.shape[1] != 1:
        raise ValueError(f"expected frames (B, 1 or >=3, H, W), got {tuple(frames.shape)}")
    return x.clamp(0, 1) * 255.0


def coarsest_level(height: int, width: int, patch: int) -> int:
    """OpenCV's choice: the level where the larger side is about four patches."""
    return max(0, int(math.log(max(height, width) / (4.0 * patch)) / math.log(2.0) + 0.5))


def _pyramid(img: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """Level k is ``img`` area-downscaled by 2**k (sizes rounded as OpenCV's DIS does)."""
    h, w = img.shape[-2:]
    out = [img]
    for k in range(1, levels + 1):
        size = (max(1, int(h / 2 ** k + 0.5)), max(1, int(w / 2 ** k + 0.5)))
        out.append(F.interpolate(out[-1], size=size, mode="area"))
    return out


@functools.lru_cache(maxsize=8)
def _sobel(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(2, 1, 3, 3) Sobel d/dx, d/dy kernels over 8, made once per device (no upload per call)."""
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=dtype) / 8
    return torch.stack([k, k.t()])[:, None].to(device)


def _gradients(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sobel derivatives d/dx, d/dy (scaled to per-pixel units), border replicated."""
    g = F.conv2d(F.pad(img, (1, 1, 1, 1), mode="replicate"), _sobel(img.device, img.dtype))
    return g[:, :1], g[:, 1:]


def _normalise(x: torch.Tensor, y: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Pixel positions -> grid_sample's [-1, 1] (align_corners=True), stacked on the last axis."""
    return torch.stack([x * (2.0 / max(w - 1, 1)) - 1.0, y * (2.0 / max(h - 1, 1)) - 1.0], dim=-1)


def _sample(img: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Bilinear ``img`` (B, C, H, W) at pixel positions x, y (B, P, N), border replicated -> (B, C, P, N)."""
    h, w = img.shape[-2:]
    return F.grid_sample(img, _normalise(x, y, h, w), mode="bilinear", padding_mode="border", align_corners=True)


def warp(img: torch.Tensor, flow: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """Backward warp ``out(x) = img(x + flow(x))`` (B, C, H, W) by (B, 2, H, W), bilinear (or
    ``mode``: ``bicubic``, OpenCV's INTER_CUBIC kernel), border replicated."""
    h, w = img.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype, device=flow.device),
                            torch.arange(w, dtype=flow.dtype, device=flow.device), indexing="ij")
    grid = _normalise(xs + flow[:, 0], ys + flow[:, 1], h, w)
    return F.grid_sample(img, grid, mode=mode, padding_mode="border", align_corners=True)


# --------------------------------------------------------------------------- inverse search
def _residual(i1: torch.Tensor, x: torch.Tensor, y: torch.Tensor, u: torch.Tensor, template: torch.Tensor
              ) -> torch.Tensor:
    """Mean-normalised ``I1(x + u) - I0(x)`` over each patch (B, P*P, N): patch pixels at ``x, y``
    (1, P*P, N), translations ``u`` (B, 2, N), mean-normalised templates (B, P*P, N)."""
    warped = _sample(i1, x + u[:, :1], y + u[:, 1:])[:, 0]
    return warped - warped.mean(1, keepdim=True) - template


@fused
def _patch_error(i1: torch.Tensor, x: torch.Tensor, y: torch.Tensor, u: torch.Tensor, template: torch.Tensor
                 ) -> torch.Tensor:
    """Mean squared :func:`_residual` per patch (B, N)."""
    return _residual(i1, x, y, u, template).square().mean(1)


@fused
def _gauss_newton(i1: torch.Tensor, x: torch.Tensor, y: torch.Tensor, u: torch.Tensor, template: torch.Tensor,
                  gx: torch.Tensor, gy: torch.Tensor, hessian: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One inverse-compositional step, ``u - H^-1 sum(grad I0 * residual)``, and ``u``'s error."""
    diff = _residual(i1, x, y, u, template)
    bx, by = (gx * diff).sum(1), (gy * diff).sum(1)
    hxx, hxy, hyy, det = hessian
    step = torch.stack([(hyy * bx - hxy * by) / det, (hxx * by - hxy * bx) / det], 1)
    return u - step, diff.square().mean(1)


class _Patches:
    """The level's patch grid over frame a: templates, their gradients and Hessians, and the
    pixel positions of every patch (unfolded: (B, P*P, N) with N patches)."""

    def __init__(self, i0: torch.Tensor, params: DisParams):
        p, s = params.patch, params.stride
        h, w = i0.shape[-2:]
        # pad right/bottom so the grid ends on the last row/column (replicated pixels)
        self.pad = ((-(h - p)) % s if h > p else p - h, (-(w - p)) % s if w > p else p - w)
        self.size = (h + self.pad[0], w + self.pad[1])
        self.grid = ((self.size[0] - p) // s + 1, (self.size[1] - p) // s + 1)
        padded = self.padded(i0)
        gx, gy = _gradients(padded)
        unfold = lambda t: F.unfold(t, p, stride=s)  # noqa: E731
        self.raw = unfold(padded)
        self.template = self.raw - self.raw.mean(1, keepdim=True)
        self.gx, self.gy = unfold(gx), unfold(gy)
        hxx, hxy, hyy = (self.gx * self.gx).sum(1), (self.gx * self.gy).sum(1), (self.gy * self.gy).sum(1)
        reg = 1e-3 * p * p  # keeps flat patches' steps finite (they barely move)
        hxx, hyy = hxx + reg, hyy + reg
        self.hessian = torch.stack([hxx, hxy, hyy, hxx * hyy - hxy * hxy])  # (4, B, N): its terms and determinant
        ys, xs = torch.meshgrid(torch.arange(self.size[0], dtype=i0.dtype, device=i0.device),
                                torch.arange(self.size[1], dtype=i0.dtype, device=i0.device), indexing="ij")
        self.x, self.y = unfold(xs[None, None]), unfold(ys[None, None])  # (1, P*P, N)
        self.params = params

    def padded(self, t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, self.pad[1], 0, self.pad[0]), mode="replicate")

    def search(self, i1: torch.Tensor, init: torch.Tensor) -> torch.Tensor:
        """Patch translations (B, 2, N) from ``init``: rounds of Gauss-Newton steps with a
        propagation before each but the first, keeping the best match met; then a few plain steps
        from it for sub-pixel accuracy (kept unless they match clearly worse)."""
        u, best, best_err = init, init, torch.full_like(init[:, 0], float("inf"))
        per_round = max(1, self.params.iterations // max(1, self.params.rounds))
        for it in range(self.params.iterations):
            if it and it % per_round == 0:
                for reach in self.params.reaches:
                    best = self.propagate(i1, best, reach)
                u = best  # its error is judged against the best met before (keeps propagated values)
            step, err = _gauss_newton(i1, self.x, self.y, u, self.template, self.gx, self.gy, self.hessian)
            better = err < best_err
            best = torch.where(better[:, None], u, best)
            best_err = torch.where(better, err, best_err)
            u = step
        u = best
        for _ in range(self.params.polish):
            u = _gauss_newton(i1, self.x, self.y, u, self.template, self.gx, self.gy, self.hessian)[0]
        worse = self.error(i1, u) > best_err * _POLISH_TOLERANCE
        return torch.where(worse[:, None], best, u)

    def error(self, i1: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Mean squared mean-normalised difference per patch (B, N)."""
        return _patch_error(i1, self.x, self.y, u, self.template)

    def propagate(self, i1: torch.Tensor, u: torch.Tensor, r: int) -> torch.Tensor:
        """Each patch's translation or one of its four grid neighbours' ``r`` patches away, whichever
        matches best."""
        b = u.shape[0]
        grid = u.view(b, 2, *self.grid)
        padded = F.pad(grid, (r, r, r, r), mode="replicate")
        gh, gw = self.grid
        candidates = [grid, padded[:, :, r:r + gh, :gw], padded[:, :, r:r + gh, 2 * r:], padded[:, :, :gh, r:r + gw],
                      padded[:, :, 2 * r:, r:r + gw]]
        stacked = torch.stack([c.reshape(b, 2, -1) for c in candidates])  # (5, B, 2, N)
        errs = torch.stack([self.error(i1, c) for c in stacked])  # (5, B, N)
        pick = errs.argmin(0)  # (B, N)
        return torch.gather(stacked, 0, pick[None, :, None].expand(1, b, 2, gh * gw))[0]

    def densify(self, i1: torch.Tensor, u: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Dense (B, 2, h, w) flow: per pixel the patches' translations weighted by their fit there."""
        p, s = self.params.patch, self.params.stride
        warped = _sample(i1, self.x + u[:, :1], self.y + u[:, 1:])[:, 0]
        weight = 1.0 / (warped - self.raw).abs().clamp(min=1.0)
        b = u.shape[0]
        cols = torch.cat([weight * u[:, :1], weight * u[:, 1:], weight], 1)  # (B, 3*P*P, N)
        sums = F.fold(cols, self.size, p, stride=s).view(b, 3, *self.size)
        return (sums[:, :2] / sums[:, 2:].clamp(min=1e-12))[:, :, :h, :w]


# --------------------------------------------------------------------------- variational refinement
def _edges(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x and y (B, C, H, W), zero at the last column / row."""
    dx = F.pad(f[..., :, 1:] - f[..., :, :-1], (0, 1))
    dy = F.pad(f[..., 1:, :] - f[..., :-1, :], (0, 0, 0, 1))
    return dx, dy


def _neighbour_sum(f: torch.Tensor, wx: torch.Tensor, wy: torch.Tensor) -> torch.Tensor:
    """sum over the 4 neighbours n of weight(edge to n) * f(n); weights on forward edges (0 at the border)."""
    right = F.pad(f[..., :, 1:], (0, 1)) * wx
    left = F.pad((f * wx)[..., :, :-1], (1, 0))
    down = F.pad(f[..., 1:, :], (0, 0, 0, 1)) * wy
    up = F.pad((f * wy)[..., :-1, :], (0, 0, 1, 0))
    return right + left + down + up


def _weight_sum(wx: torch.Tensor, wy: torch.Tensor) -> torch.Tensor:
    return wx + F.pad(wx[..., :, :-1], (1, 0)) + wy + F.pad(wy[..., :-1, :], (0, 0, 1, 0))


def _linearise(i0: torch.Tensor, g0x: torch.Tensor, g0y: torch.Tensor, g1: torch.Tensor, flow: torch.Tensor,
               params: DisParams) -> torch.Tensor:
    """The data terms around ``flow``, stacked (B, 10, H, W): Ix, Iy, Iz, Ixx, Ixy, Iyy, Ixz, Iyz (spatial
    derivatives averaged over frame a and frame b warped, temporal ones as b warped minus a) and the
    brightness and gradient terms' weights over their normalisers (Zimmer et al.)."""
    i1w, g1x, g1y = warp(g1, flow).split(1, 1)
    ix, iy = (0.5 * (a + b) for a, b in zip((g0x, g0y), _gradients(i1w)))
    ixx, ixy = (0.5 * (a + b) for a, b in zip(_gradients(g0x), _gradients(g1x)))
    iyx, iyy = (0.5 * (a + b) for a, b in zip(_gradients(g0y), _gradients(g1y)))
    ixy = 0.5 * (ixy + iyx)
    norm_c = params.delta / (ix * ix + iy * iy + _ZETA2)
    norm_g = params.gamma / (ixx * ixx + ixy * ixy + iyy * iyy + _ZETA2)
    return torch.cat([ix, iy, i1w - i0, ixx, ixy, iyy, g1x - g0x, g1y - g0y, norm_c, norm_g], 1)


@fused
def _sor_sweep(flow: torch.Tensor, d: torch.Tensor, terms: torch.Tensor, red: torch.Tensor, inner_x: torch.Tensor,
               inner_y: torch.Tensor, alpha: float) -> torch.Tensor:
    """One red-black SOR sweep for the increment ``d`` (B, 2, H, W) of ``flow``, the robust weights
    taken at ``flow + d`` (lagged nonlinearity). ``red``: (H, W) 1 on the red pixels; ``inner_x``,
    ``inner_y``: 1 where a pixel has a right / lower neighbour."""
    ix, iy, iz, ixx, ixy, iyy, ixz, iyz, norm_c, norm_g = terms.split(1, 1)
    du, dv = d[:, :1], d[:, 1:]
    rc = iz + ix * du + iy * dv
    wc = norm_c / torch.sqrt(rc * rc + _EPS2)
    rgx, rgy = ixz + ixx * du + ixy * dv, iyz + ixy * du + iyy * dv
    wg = norm_g / torch.sqrt(rgx * rgx + rgy * rgy + _EPS2)
    ex, ey = _edges(flow + d)
    sx = alpha / torch.sqrt((ex * ex).sum(1, keepdim=True) + _EPS2) * inner_x
    sy = alpha / torch.sqrt((ey * ey).sum(1, keepdim=True) + _EPS2) * inner_y
    a12 = wc * ix * iy + wg * (ixx * ixy + ixy * iyy)
    b = -torch.cat([wc * ix * iz + wg * (ixx * ixz + ixy * iyz), wc * iy * iz + wg * (ixy * ixz + iyy * iyz)], 1)
    total = _weight_sum(sx, sy)
    m11 = wc * ix * ix + wg * (ixx * ixx + ixy * ixy) + total
    m22 = wc * iy * iy + wg * (ixy * ixy + iyy * iyy) + total
    det = m11 * m22 - a12 * a12
    base = b + _neighbour_sum(flow, sx, sy) - total * flow  # data and the smoothness pull of the current flow
    for colour in (red, 1 - red):
        rhs = base + _neighbour_sum(d, sx, sy)
        solved = torch.cat([m22 * rhs[:, :1] - a12 * rhs[:, 1:], m11 * rhs[:, 1:] - a12 * rhs[:, :1]], 1) / det
        d = d + colour * _OMEGA * (solved - d)
    return d


def refine(i0: torch.Tensor, i1: torch.Tensor, flow: torch.Tensor, params: DisParams) -> torch.Tensor:
    """Variational refinement of ``flow`` (B, 2, H, W) between luma levels i0, i1 (B, 1, H, W):
    ``params.refine`` fixed-point iterations of ``params.sor`` red-black SOR sweeps each."""
    h, w = i0.shape[-2:]
    rows, cols = torch.arange(h, device=i0.device), torch.arange(w, device=i0.device)
    red = ((rows[:, None] + cols[None]) % 2 == 0).to(i0.dtype)
    inner_x, inner_y = (cols < w - 1).to(i0.dtype), (rows < h - 1).to(i0.dtype)[:, None]
    g0x, g0y = _gradients(i0)
    g1 = torch.cat([i1, *_gradients(i1)], 1)
    for _ in range(params.refine):
        terms = _linearise(i0, g0x, g0y, g1, flow, params)
        d = torch.zeros_like(flow)
        for _ in range(params.sor):
            d = _sor_sweep(flow, d, terms, red, inner_x, inner_y, params.alpha)
        flow = flow + d
    return flow


# --------------------------------------------------------------------------- the flow
def _resize_flow(flow: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``flow`` (B, 2, h', w') resized bilinearly to (h, w), its vectors scaled with it."""
    sx, sy = w / flow.shape[-1], h / flow.shape[-2]
    resized = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
    return torch.cat([resized[:, :1] * sx, resized[:, 1:] * sy], 1)


def dis_flow(a: torch.Tensor, b: torch.Tensor, params: DisParams = MEDIUM) -> torch.Tensor:
    """Dense flow a -> b for a batch of frame pairs.

    Args:
        a, b: ``(B, C, H, W)`` sRGB-encoded 0-1 frames (C = 1 grey or >= 3 RGB), same shape, any device.
        params: the tuning (:data:`MEDIUM`).
    Returns:
        ``(B, 2, H, W)`` float32 flow a -> b (x right, y down, pixels) on the frames' device.
    """
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"frames must be two (B, C, H, W) tensors of one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    h, w = a.shape[-2:]
    coarsest = coarsest_level(h, w, params.patch)
    finest = min(params.finest, coarsest)
    with torch.no_grad():
        p0, p1 = _pyramid(luma255(a), coarsest), _pyramid(luma255(b), coarsest)
        flow = torch.zeros((a.shape[0], 2, *p0[coarsest].shape[-2:]), dtype=torch.float32, device=a.device)
        for level in range(coarsest, finest - 1, -1):
            i0, i1 = p0[level], p1[level]
            lh, lw = i0.shape[-2:]
            if flow.shape[-2:] != (lh, lw):
                flow = _resize_flow(flow, lh, lw)
            patches = _Patches(i0, params)
            init = F.avg_pool2d(patches.padded(flow), params.patch, stride=params.stride).flatten(2)
            u = patches.search(i1, init)
            flow = patches.densify(i1, u, lh, lw)
            if params.refine:
                flow = refine(i0, i1, flow, params)
        if finest:
            flow = _resize_flow(flow, h, w)
    return flow


def dis_flows(a: torch.Tensor, b: torch.Tensor, params: DisParams = MEDIUM) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward (a -> b) and backward (b -> a) flows of a batch of pairs, computed in one batch."""
    both = dis_flow(torch.cat([a, b]), torch.cat([b, a]), params)
    return both[:a.shape[0]], both[a.shape[0]:]


def occlusion_mask(fw: torch.Tensor, bw: torch.Tensor, motion_boundaries: bool = True) -> torch.Tensor:
    """:func:`inference.temporal.flow.occlusion_mask` of ``(B, 2, H, W)`` flows a -> b (``fw``) and
    b -> a (``bw``): ``(B, 1, H, W)`` bool, True where a's pixel is visible in b (forward-backward
    test, motion boundaries when asked, target inside the frame)."""
    bw_at = warp(bw, fw)
    fw_sq = (fw ** 2).sum(1, keepdim=True)
    occluded = ((fw + bw_at) ** 2).sum(1, keepdim=True) > 0.01 * (fw_sq + (bw_at ** 2).sum(1, keepdim=True)) + 0.5
    if motion_boundaries:  # forward differences, 0 on the last row/column
        du = F.pad(fw[..., :-1] - fw[..., 1:], (0, 1))
        dv = F.pad(fw[..., :-1, :] - fw[..., 1:, :], (0, 0, 0, 1))
        occluded |= (du ** 2 + dv ** 2).sum(1, keepdim=True) > 0.01 * fw_sq + 0.002
    h, w = fw.shape[-2:]
    xs = torch.arange(w, dtype=fw.dtype, device=fw.device) + fw[:, :1]
    ys = torch.arange(h, dtype=fw.dtype, device=fw.device)[:, None] + fw[:, 1:]
    return ~occluded & (xs >= 0) & (xs <= w - 1) & (ys >= 0) & (ys <= h - 1)
