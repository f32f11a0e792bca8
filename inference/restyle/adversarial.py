"""A patch discriminator trained from scratch beside the restyle network (no pretrained weights).

L1 and gradient losses reward the average of what a keyframe could look like, which is a blur;
a discriminator that judges small patches of (plate, painting) pairs rewards texture with the
painting's statistics instead (pix2pix's PatchGAN, Isola et al. 2017, with the least-squares
objective of Mao et al. 2017). It only shapes training: the exported model is the generator.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchDiscriminator(nn.Module):
    """(plate RGB, painting RGB) -> a map of real/fake scores, one per ~22 px patch."""

    def __init__(self, width: int = 32):
        super().__init__()
        sn = nn.utils.spectral_norm
        self.layers = nn.Sequential(
            sn(nn.Conv2d(6, width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * width, 4 * width, 3, padding=1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(4 * width, 1, 3, padding=1)))

    def forward(self, plate: torch.Tensor, painting: torch.Tensor) -> torch.Tensor:
        return self.layers(torch.cat([plate, painting], dim=1))


class Adversary:
    """The discriminator, its optimiser and the two least-squares losses."""

    def __init__(self, device: torch.device, lr: float = 2e-4):
        self.net = PatchDiscriminator().to(device)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=lr, betas=(0.5, 0.999))

    def generator_loss(self, plate: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
        """How far the output is from being scored real."""
        score = self.net(plate, output)
        return F.mse_loss(score, torch.ones_like(score))

    def update(self, plate: torch.Tensor, output: torch.Tensor, target: torch.Tensor) -> float:
        """One discriminator step: real keyframe patches toward 1, the network's toward 0."""
        real, fake = self.net(plate, target), self.net(plate, output.detach())
        loss = F.mse_loss(real, torch.ones_like(real)) + F.mse_loss(fake, torch.zeros_like(fake))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())
