"""Guided patch synthesis on torch (CPU or GPU): a target image made of a source's patches.

The method of EbSynth (Jamriška et al., "Stylizing Video by Example", SIGGRAPH 2019; after
Fišer et al.'s StyLit, 2016): a nearest-neighbour field (NNF) from every target patch to a
source patch is found by PatchMatch (Barnes et al. 2009) on guide channels that both images
have (here: the network's look, the plate, and the target's own current estimate against the
source's style), coarse to fine; the output is the style's patches voted onto the target
(each pixel: the mean of the style pixels its overlapping patches bring). Search and vote
alternate a few times per level (texture optimisation, Kwatra et al. 2005), so the output's
own texture is matched against the painting's.

Two choices make it fast on a GPU and usable on two CPU cores, and are not in EbSynth:

- Patches are compared in a PCA basis of the source's patch descriptors (``dims``
  components of ``channels x patch x patch``, applied as one convolution), so one candidate
  costs a gather of ``dims`` values per pixel instead of ``channels x patch^2``.
- Propagation is parallel (every pixel tries its four neighbours' offsets at once, as in
  jump flooding) instead of PatchMatch's scan order.

Shapes: images ``(C, H, W)`` float32 tensors on one device; an NNF is ``(2, H, W)`` int64
holding, per target pixel, the source pixel's (y, x).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class SynthesisSettings:
    """PatchMatch and voting parameters (defaults: the texture pass's)."""

    patch: int = 5             # patch side (odd)
    levels: int = 3            # pyramid levels, halving from full resolution
    search_vote: int = 2       # search/vote alternations per level
    iterations: int = 3        # PatchMatch iterations per search
    random_tries: int = 4      # random-search radii per iteration (halving from the image size)
    dims: int = 24             # PCA components patches are compared in
    coherence: float = 0.0     # extra cost of leaving the prior (previous frame's) NNF, x its median distance
    seed: int = 0


def pyramid(image: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``(C, H, W)`` image, then area-halved copies; finest first."""
    out = [image]
    for _ in range(1, levels):
        out.append(F.avg_pool2d(out[-1][None], 2, ceil_mode=True)[0])
    return out


def identity_nnf(height: int, width: int, device: torch.device) -> torch.Tensor:
    """The NNF that maps every pixel onto itself, ``(2, H, W)``."""
    ys, xs = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    return torch.stack([ys, xs])


def clamp_nnf(nnf: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``nnf`` with every source coordinate inside a ``height x width`` source."""
    return torch.stack([nnf[0].clamp(0, height - 1), nnf[1].clamp(0, width - 1)])


def upsample_nnf(nnf: torch.Tensor, height: int, width: int, source_size: tuple[int, int]) -> torch.Tensor:
    """A coarse level's NNF carried to the next finer level (``height x width`` target):
    each fine pixel keeps its parent's offset, doubled."""
    fine = identity_nnf(height, width, nnf.device)
    parent = nnf[:, fine[0] // 2, fine[1] // 2]
    return clamp_nnf(parent * 2 + fine % 2, *source_size)


def _padded(features: torch.Tensor, patch: int) -> torch.Tensor:
    """``(1, C, H + patch - 1, W + patch - 1)``: the image with its border replicated."""
    pad = patch // 2
    return F.pad(features[None], (pad, pad, pad, pad), mode="replicate")


def pca_basis(features: torch.Tensor, patch: int, dims: int, generator: torch.Generator, sample: int = 8192
              ) -> torch.Tensor:
    """The ``dims`` principal directions of the source's ``C x patch x patch`` patch descriptors
    (from the covariance of a random sample of patches), as ``(dims, C, patch, patch)`` filters."""
    channels, height, width = features.shape
    padded = _padded(features, patch)[0]
    ys = torch.randint(0, height, (sample,), generator=generator).to(features.device)
    xs = torch.randint(0, width, (sample,), generator=generator).to(features.device)
    steps = torch.arange(patch, device=features.device)
    subset = padded[:, (ys[None, None] + steps[:, None, None]), (xs[None, None] + steps[None, :, None])]
    subset = subset.reshape(channels * patch * patch, -1)  # (C * p * p, sample), in conv-weight order
    centred = subset - subset.mean(dim=1, keepdim=True)
    _, vectors = torch.linalg.eigh(centred @ centred.T)
    k = min(dims, vectors.shape[1])
    return vectors[:, -k:].T.reshape(k, channels, patch, patch).contiguous()


def project(features: torch.Tensor, basis: torch.Tensor) -> torch.Tensor:
    """``(H * W, k)``: every pixel's patch descriptor in the PCA ``basis`` (one convolution; the
    mean is left in, as it cancels in every distance), a row per pixel so a candidate's
    descriptors are gathered as whole rows."""
    return F.conv2d(_padded(features, basis.shape[-1]), basis)[0].flatten(1).T.contiguous()


def patch_costs(target: torch.Tensor, source: torch.Tensor, nnf: torch.Tensor, width: int) -> torch.Tensor:
    """``(H * W)`` squared distances between each target descriptor and its NNF source's.

    ``target``, ``source``: ``(N, k)`` projected descriptors; ``width``: the source's width.
    """
    index = (nnf[0] * width + nnf[1]).reshape(-1)
    diff = target - torch.index_select(source, 0, index)
    return (diff * diff).sum(1)


def _improve(nnf: torch.Tensor, cost: torch.Tensor, candidate: torch.Tensor,
             score: Callable[[torch.Tensor], torch.Tensor], source_size: tuple[int, int]
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Keep ``candidate`` where it scores lower than the current NNF."""
    candidate = clamp_nnf(candidate, *source_size)
    new = score(candidate)
    better = new < cost
    return torch.where(better[None], candidate, nnf), torch.where(better, new, cost)


def patchmatch(target: torch.Tensor, source: torch.Tensor, nnf: torch.Tensor, target_size: tuple[int, int],
               source_size: tuple[int, int], settings: SynthesisSettings, generator: torch.Generator,
               prior: torch.Tensor | None = None) -> torch.Tensor:
    """Refine ``nnf`` by parallel propagation and random search over projected descriptors.

    ``prior``: the NNF carried from the previous frame. It is tried first, and any other source
    costs ``settings.coherence`` times the prior's median patch distance more, so a patch only
    changes where another fits clearly better (EbSynth's temporal guide does this through the
    colours; this does it through the choices, which do not blur).
    """
    h, w = target_size
    penalty = 0.0
    if prior is not None and settings.coherence > 0:
        penalty = settings.coherence * float(patch_costs(target, source, prior, source_size[1]).median())

    def score(candidate: torch.Tensor) -> torch.Tensor:
        cost = patch_costs(target, source, candidate, source_size[1]).view(h, w)
        if penalty:
            cost = cost + penalty * ((candidate - prior).abs().amax(0) > 1)
        return cost

    cost = score(nnf)
    if prior is not None:
        nnf, cost = _improve(nnf, cost, prior, score, source_size)
    for _ in range(settings.iterations):
        for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            # pixel x tries its neighbour x - (dy, dx)'s source, moved by (dy, dx)
            shifted = torch.roll(nnf, shifts=(dy, dx), dims=(1, 2))
            offset = torch.tensor([dy, dx], device=nnf.device).view(2, 1, 1)
            nnf, cost = _improve(nnf, cost, shifted + offset, score, source_size)
        radius = max(source_size) / 2
        for _ in range(settings.random_tries):
            jitter = (torch.rand((2, h, w), generator=generator, device="cpu").to(nnf.device) * 2 - 1) * radius
            nnf, cost = _improve(nnf, cost, nnf + jitter.round().long(), score, source_size)
            radius = max(1.0, radius / 4)
    return nnf


def vote(style: torch.Tensor, nnf: torch.Tensor, patch: int) -> torch.Tensor:
    """``(C, H, W)``: every target pixel the mean of the style pixels its overlapping patches
    bring (the patch at y - o maps y onto its source + o; patches past the frame edge bring none)."""
    _, sh, sw = style.shape
    _, h, w = nnf.shape
    pad = patch // 2
    total = torch.zeros((style.shape[0], h, w), device=style.device)
    count = torch.zeros((1, h, w), device=style.device)
    for oy in range(-pad, pad + 1):
        for ox in range(-pad, pad + 1):
            rows, cols = slice(max(0, oy), min(h, h + oy)), slice(max(0, ox), min(w, w + ox))
            owner = nnf[:, rows.start - oy:rows.stop - oy, cols.start - ox:cols.stop - ox]
            total[:, rows, cols] += style[:, (owner[0] + oy).clamp(0, sh - 1), (owner[1] + ox).clamp(0, sw - 1)]
            count[:, rows, cols] += 1
    return total / count


@dataclass
class Guides:
    """One side's guide channels (``(C, H, W)``, weights already applied) and, for the source,
    the style its patches carry."""

    guides: torch.Tensor
    style: torch.Tensor | None = None


def synthesize(source: Guides, target: Guides, style_weight: float, settings: SynthesisSettings,
               start: torch.Tensor | None = None, estimate: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The target made of the source style's patches: ``(output (C, H, W), NNF (2, H, W))``.

    ``start``: a full-resolution NNF (a previous frame's, carried along the plate's motion)
    tried first at every level and kept where others do not fit clearly better
    (``settings.coherence``); the search begins from the identity otherwise. ``estimate``: the first guess of the target's style
    (compared with the source style at ``style_weight``); the guides alone pick the first
    patches otherwise.
    """
    generator = torch.Generator().manual_seed(settings.seed)
    device = source.guides.device
    levels = settings.levels
    src_guides, tgt_guides = pyramid(source.guides, levels), pyramid(target.guides, levels)
    styles = pyramid(source.style, levels)
    starts = _nnf_pyramid(start, levels) if start is not None else None
    estimates = pyramid(estimate, levels) if estimate is not None else None
    nnf, output = None, None
    for level in reversed(range(levels)):
        th, tw = tgt_guides[level].shape[1:]
        sh, sw = src_guides[level].shape[1:]
        nnf = (clamp_nnf(identity_nnf(th, tw, device), sh, sw) if nnf is None
               else upsample_nnf(nnf, th, tw, (sh, sw)))
        prior = clamp_nnf(starts[level], sh, sw) if starts is not None else None
        if output is not None:  # the finer level's first estimate: the upsampled NNF's vote (sharp, as EbSynth)
            output = vote(styles[level], nnf, settings.patch)
        elif estimates is not None:
            output = estimates[level]
        src = _features(src_guides[level], styles[level], style_weight)
        basis = pca_basis(src, settings.patch, settings.dims, generator)
        for _ in range(settings.search_vote):
            tgt = _features(tgt_guides[level], output, style_weight)
            if tgt.shape[0] != src.shape[0]:  # no estimate yet: guides against guides
                guides_basis = pca_basis(src_guides[level], settings.patch, settings.dims, generator)
                nnf = _search(src_guides[level], tgt, guides_basis, nnf, settings, generator, prior)
            else:
                nnf = _search(src, tgt, basis, nnf, settings, generator, prior)
            output = vote(styles[level], nnf, settings.patch)
    return output, nnf


def _search(src: torch.Tensor, tgt: torch.Tensor, basis: torch.Tensor, nnf: torch.Tensor,
            settings: SynthesisSettings, generator: torch.Generator, prior: torch.Tensor | None) -> torch.Tensor:
    """One PatchMatch search at one level between ``(C, H, W)`` feature images, compared in the
    PCA ``basis`` of the source's descriptors (``prior``: as :func:`patchmatch`)."""
    return patchmatch(project(tgt, basis), project(src, basis), nnf, tuple(tgt.shape[1:]), tuple(src.shape[1:]),
                      settings, generator, prior)


def _features(guides: torch.Tensor, style: torch.Tensor | None, weight: float) -> torch.Tensor:
    """Guide channels, and the style (or the target's estimate of it) at ``weight`` when there is one."""
    return torch.cat([guides, weight * style]) if style is not None and weight > 0 else guides


def _nnf_pyramid(nnf: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """A full-resolution NNF and its halved copies (coordinates halved, every other pixel)."""
    out = [nnf]
    for _ in range(1, levels):
        out.append(out[-1][:, ::2, ::2] // 2)
    return out
