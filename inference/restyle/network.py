"""The restyle network: a small encoder-decoder that maps plate (+ guides) to the painted look.

Few-shot, trained from scratch on patches of the shot itself (in the spirit of Texler et al.
2020, "Interactive Video Stylization Using Few-Shot Patch-Based Training"), so it is small
enough to train in a minute and run at hundreds of 2K frames per second in fp16. Layout in the
manner of pytorch/examples' fast_neural_style ``TransformerNet``: two strided convolutions
down, residual blocks at quarter resolution, nearest-neighbour upsampling + convolution back
up (no checkerboard artefacts), with skip connections so fine plate structure survives.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

SIZE_MULTIPLE = 4       # two stride-2 stages: inputs are padded to a multiple of this
RECEPTIVE_MARGIN = 48   # > receptive-field radius (about 36 px), a multiple of SIZE_MULTIPLE


@dataclass(frozen=True)
class NetworkConfig:
    """Everything needed to rebuild the network from an exported model's metadata."""

    in_channels: int
    width: int = 16
    res_blocks: int = 3
    out_channels: int = 3

    def to_dict(self) -> dict:
        return asdict(self)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with an identity shortcut (He et al. 2016)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1, self.conv2 = _conv(channels, channels), _conv(channels, channels)
        self.act = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.act(self.conv1(x)))


class UpsampleConv(nn.Module):
    """Nearest upsampling then a 3x3 convolution: no checkerboard artefacts
    (Odena et al., distill.pub/2016/deconv-checkerboard)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = _conv(cin, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.up(x))


class RestyleNet(nn.Module):
    """(B, in_channels, H, W) plate+guides in the working encoding -> (B, 3, H, W) look.

    H and W must be multiples of ``SIZE_MULTIPLE``. The output is a residual on the plate's
    RGB (the first three input channels), so an untrained network starts at the plate.
    """

    def __init__(self, config: NetworkConfig):
        super().__init__()
        w = config.width
        self.config = config
        self.act = nn.LeakyReLU(0.1, inplace=True)
        # Encoder: full, half and quarter resolution
        self.enc1 = _conv(config.in_channels, w)
        self.enc2 = _conv(w, 2 * w, stride=2)
        self.enc3 = _conv(2 * w, 4 * w, stride=2)
        # Residual layers at quarter resolution
        self.res = nn.Sequential(*[ResidualBlock(4 * w) for _ in range(config.res_blocks)])
        # Decoder with skip connections
        self.dec2 = UpsampleConv(4 * w, 2 * w)
        self.dec1 = UpsampleConv(2 * w, w)
        self.out = _conv(w, config.out_channels)
        # Output grade: a 3x3 colour matrix + offset, identity unless a colour re-pass fits it
        # (trained looks keep their brushwork when only the keyframe's colour changed).
        self.grade = nn.Conv2d(config.out_channels, config.out_channels, 1)
        with torch.no_grad():
            self.grade.weight.copy_(torch.eye(config.out_channels).view(config.out_channels, config.out_channels, 1, 1))
            self.grade.bias.zero_()
        self.grade.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.grade(self.look(x))

    def look(self, x: torch.Tensor) -> torch.Tensor:
        """The output before the grade."""
        e1 = self.act(self.enc1(x))
        e2 = self.act(self.enc2(e1))
        e3 = self.res(self.act(self.enc3(e2)))
        d2 = self.act(self.dec2(e3) + e2)
        d1 = self.act(self.dec1(d2) + e1)
        return x[:, :3] + self.out(d1)
