"""The GPU deflicker's flows from a plate's own motion vectors (uploaded as stored, signed on the
device) equal the numpy readers' (inference.temporal.flow) for Nuke and Blender layouts."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.image import Image
from inference.temporal.deflicker import vector_flows
from inference.temporal.deflicker_device import _Guides

CHANNELS = {"nuke": ("R", "G", "B", "forward.u", "forward.v", "backward.u", "backward.v"),
            "blender": ("R", "G", "B", "View Layer.Vector.X", "View Layer.Vector.Y", "View Layer.Vector.Z",
                        "View Layer.Vector.W")}


@pytest.mark.parametrize("kind", ["nuke", "blender"])
def test_device_flows_equal_the_numpy_readers(kind):
    rng = np.random.default_rng(1)
    plates = [Image.from_array(rng.normal(0, 3, (12, 16, 7)).astype(np.float16), CHANNELS[kind]) for _ in range(4)]
    want = vector_flows(plates, kind)
    guides = _Guides(plates, "Linear Rec.709 (sRGB)", kind, "cpu")
    guides.window(0, 2, torch.empty(2, 3, 12, 16))  # a first window; the next reuses frame 1 and uploads 2 and 3
    views = torch.full((3, 3, 12, 16), float("nan"))
    flows = guides.window(1, 4, views)
    assert not views.isnan().any() and sorted(guides.beauty) == [1, 2, 3]  # the plate views written in place
    got = np.concatenate([guides.window(0, 2, torch.empty(2, 3, 12, 16)), flows]).transpose(0, 1, 3, 4, 2)
    assert got.shape == (3, 2, 12, 16, 2)
    assert flows.dtype == torch.float16  # kept as stored: half the window's memory, same values
    for k, (forward, backward) in enumerate(want):
        np.testing.assert_array_equal(got[k, 0], forward)
        np.testing.assert_array_equal(got[k, 1], backward)
