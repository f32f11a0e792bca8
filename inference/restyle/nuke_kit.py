"""The build script `restyle torchscript --nuke-version` writes for a Nuke whose torch is older
than this one (string.Template: ``$name`` placeholders). It runs under that older torch, so it is
plain Python 3.7 and torch >= 1.6, and needs nothing from this toolset."""
from string import Template

BUILD_SCRIPT = Template(r'''"""Build $out_name for Nuke $nuke_version's Inference node with the torch that Nuke bundles ($torch).

Written by `restyle torchscript --nuke-version $nuke_version` (model $model_name). Foundry's .cat
guide asks for TorchScript made with the torch the Nuke version uses; a file saved by a newer torch
may call operators an older one lacks. Run, with Python 3.7-3.10 (where torch $torch installs):

    python3 -m venv nuke_torch && nuke_torch/bin/pip install "torch==$torch_pin" numpy
    nuke_torch/bin/python $kit_name/build.py

It scripts the restyle network (weights in weights.npz beside this file), saves $out_name next to
the kit folder, loads it back, and checks it restyles a stored sample as `restyle run` did when the
kit was written (exit 1 if not). Then turn it into a .cat with Nuke's CatFileCreator.
Plain Python 3.7 and torch >= 1.6 only: no imports from the restyle toolset.
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))


def conv3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class ResidualBlock(nn.Module):
    def __init__(self, channels):
        super(ResidualBlock, self).__init__()
        self.conv1 = conv3(channels, channels)
        self.conv2 = conv3(channels, channels)
        self.act = nn.LeakyReLU(0.1, inplace=True)

    def forward(self, x):
        # type: (torch.Tensor) -> torch.Tensor
        return x + self.conv2(self.act(self.conv1(x)))


class UpsampleConv(nn.Module):
    def __init__(self, cin, cout):
        super(UpsampleConv, self).__init__()
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.conv = conv3(cin, cout)

    def forward(self, x):
        # type: (torch.Tensor) -> torch.Tensor
        return self.conv(self.up(x))


class RestyleNet(nn.Module):
    """The restyle network (inference/restyle/network.py), parameter names unchanged."""

    def __init__(self, in_channels, out_channels, width, res_blocks):
        super(RestyleNet, self).__init__()
        w = width
        self.act = nn.LeakyReLU(0.1, inplace=True)
        self.enc1 = conv3(in_channels, w)
        self.enc2 = conv3(w, 2 * w, stride=2)
        self.enc3 = conv3(2 * w, 4 * w, stride=2)
        self.res = nn.Sequential(*[ResidualBlock(4 * w) for _ in range(res_blocks)])
        self.dec2 = UpsampleConv(4 * w, 2 * w)
        self.dec1 = UpsampleConv(2 * w, w)
        self.out = conv3(w, out_channels)
        self.grade = nn.Conv2d(out_channels, out_channels, 1)

    def forward(self, x):
        # type: (torch.Tensor) -> torch.Tensor
        e1 = self.act(self.enc1(x))
        e2 = self.act(self.enc2(e1))
        e3 = self.res(self.act(self.enc3(e2)))
        d2 = self.act(self.dec2(e3) + e2)
        d1 = self.act(self.dec1(d2) + e1)
        return self.grade(x[:, :3] + self.out(d1))


def srgb_encode(x):
    # type: (torch.Tensor) -> torch.Tensor
    a = x.abs()
    curve = torch.where(a <= 0.0031308, 12.92 * a, 1.055 * a.clamp(min=1e-12).pow(1.0 / 2.4) - 0.055)
    return torch.sign(x) * curve


def srgb_decode(x):
    # type: (torch.Tensor) -> torch.Tensor
    a = x.abs()
    curve = torch.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055).pow(2.4))
    return torch.sign(x) * curve


class NukeRestyle(nn.Module):
    """(1, 3, H, W) working-space RGB -> restyled RGB in the same space (as `restyle run`)."""

    def __init__(self, net, to_rec709, from_rec709, blur, multiple):
        super(NukeRestyle, self).__init__()
        self.net = net
        self.register_buffer("to_rec709", to_rec709)      # (3, 3, 1, 1): a 3x3 matrix per pixel
        self.register_buffer("from_rec709", from_rec709)
        self.register_buffer("blur", blur)                # (3, 1, 1, k) Gaussian taps
        self.multiple = multiple
        self.radius = int(blur.shape[-1]) // 2

    def smooth(self, x):
        # type: (torch.Tensor) -> torch.Tensor
        r = self.radius
        if r == 0:
            return x
        x = F.conv2d(F.pad(x, [r, r, 0, 0], mode="reflect"), self.blur, groups=3)
        return F.conv2d(F.pad(x, [0, 0, r, r], mode="reflect"), self.blur.transpose(2, 3), groups=3)

    def forward(self, x):
        # type: (torch.Tensor) -> torch.Tensor
        rgb = F.conv2d(x[:, :3], self.to_rec709)
        smoothed = self.smooth(srgb_encode(rgb))
        height = x.shape[2]
        width = x.shape[3]
        pad_h = (self.multiple - height % self.multiple) % self.multiple
        pad_w = (self.multiple - width % self.multiple) % self.multiple
        padded = F.pad(smoothed, [0, pad_w, 0, pad_h], mode="reflect")
        look = self.net(padded)[:, :, :height, :width]
        return F.conv2d(srgb_decode(look), self.from_rec709)


def main():
    data = np.load(os.path.join(HERE, "weights.npz"), allow_pickle=False)
    config = [int(v) for v in data["config"]]  # in, out, width, res_blocks, multiple
    net = RestyleNet(config[0], config[1], config[2], config[3])
    net.load_state_dict({name[len("net."):]: torch.from_numpy(data[name].astype(np.float32))
                         for name in data.files if name.startswith("net.")})
    tensors = {name: torch.from_numpy(data[name].astype(np.float32)) for name in data.files}
    module = NukeRestyle(net, tensors["to_rec709"], tensors["from_rec709"], tensors["blur"], config[4]).eval()
    scripted = torch.jit.script(module)
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(HERE), "$out_name")
    scripted.save(out)
    loaded = torch.jit.load(out)
    with torch.no_grad():
        got = loaded(tensors["sample_in"])
    error = float((got - tensors["sample_out"]).abs().max())
    print("wrote %s with torch %s; its look of the stored sample is within %.2g of restyle run's" % (
        out, torch.__version__, error))
    if not error < $tolerance:
        print("the file does not reproduce the look: do not use it", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
''')
