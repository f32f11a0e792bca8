"""The GPU stages send nothing from the host per frame beyond the frames themselves.

A copy from pageable host memory to a GPU waits until every kernel already queued there has run,
so one per colour conversion or per frame leaves the GPU idle while the render's thread catches
up (and two workers on one host slow each other down). The stages are run here on PyTorch's
``meta`` device, which computes shapes only, with every operation that takes a host tensor to
the device counted.
"""
import numpy as np
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from inference import colour, colour_torch
from inference.colourlock.apply import ColourLockApply, HoldRecord, lock_tensors
from inference.colourlock.fit import Affine
from inference.colourlock.swatches import Swatch
from inference.image import Image
from inference.temporal.local_deflicker_torch import deflicker_stacked_torch
from inference.tensors import upload_channels

META = torch.device("meta")


class HostCopies(TorchDispatchMode):
    """Counts operations that read a host tensor and give a ``meta`` one (uploads)."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        reads_host = any(isinstance(a, torch.Tensor) and a.device.type == "cpu" for a in args)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        if reads_host and any(isinstance(o, torch.Tensor) and o.device == META for o in outs):
            self.count += 1
        return out


def uploads(fn) -> int:
    with HostCopies() as mode:
        fn()
    return mode.count


def test_colour_conversion_holds_its_constants_on_the_device():
    x = torch.empty(2, 3, 8, 8, device=META)
    convert = lambda: colour_torch.convert(x, "ACEScg", "sRGB - Texture")  # noqa: E731
    convert()  # the first conversion to this device makes its constants there
    assert convert().device == META
    assert uploads(convert) == 0


def _affine(k: int) -> Affine:
    return Affine(np.eye(3) * (1 + 0.01 * k), np.full(3, 0.01 * k))


@pytest.mark.parametrize("with_swatch", [False, True])
def test_colour_lock_uploads_per_call_not_per_frame(with_swatch, monkeypatch):
    mask = np.zeros((8, 12), bool)
    mask[2:5, 3:7] = True
    swatches = [Swatch("logo", (0.8, 0.1, 0.1), "sRGB - Texture", 2.0, mask)] if with_swatch else []
    # the holds' corrections are measured on the host (one download per call; meta tensors have no data)
    monkeypatch.setattr(ColourLockApply, "record",
                        lambda self, means: HoldRecord(np.zeros(means.shape[:2]), np.ones(means.shape[:2], bool)))

    def lock(n: int):
        return lambda: lock_tensors([torch.empty(3, 8, 12, device=META)] * n, [_affine(k) for k in range(n)],
                                    swatches, colour.WORKING_ENCODING, dtype=torch.float16)

    assert uploads(lock(2)) == uploads(lock(6)) > 0


def test_deflicker_uploads_nothing_per_target():
    n, h, w = 9, 16, 24
    stack, flows = torch.empty(n, 6, h, w, device=META), torch.empty(n - 1, 2, 2, h, w, device=META)

    def settle(targets):
        return lambda: deflicker_stacked_torch(stack, flows, radius=2, targets=targets, batch=2)

    settle([4])()  # the first call on this device and size makes its constants there
    assert uploads(settle([4])) == uploads(settle([2, 3, 4, 5, 6])) == 0


def test_each_plate_travels_once_whatever_channels_are_picked():
    names = ("A", "B", "G", "R", "forward.u", "forward.v", "backward.u", "backward.v")
    plates = [Image.from_array(np.zeros((4, 5, len(names)), np.float16), names) for _ in range(3)]
    picks = [lambda im: im.beauty_channels(alpha=False), lambda im: im.layer_channels("forward", ("u", "v")),
             lambda im: im.layer_channels("backward", ("v", "u"))]
    shapes = []
    count = uploads(lambda: shapes.extend(t.shape for t in upload_channels(plates, picks, META, dtype=None)))
    assert shapes == [(3, 3, 4, 5), (3, 2, 4, 5), (3, 2, 4, 5)]
    assert count == len(plates)
