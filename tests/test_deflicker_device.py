"""The GPU deflicker's flows from a plate's own motion vectors (uploaded as stored, signed on the
device) equal the numpy readers' (inference.temporal.flow) for Nuke and Blender layouts."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.image import Image
from inference.temporal.deflicker import vector_flows
from inference.temporal.deflicker_device import _flows

CHANNELS = {"nuke": ("R", "G", "B", "forward.u", "forward.v", "backward.u", "backward.v"),
            "blender": ("R", "G", "B", "View Layer.Vector.X", "View Layer.Vector.Y", "View Layer.Vector.Z",
                        "View Layer.Vector.W")}


@pytest.mark.parametrize("kind", ["nuke", "blender"])
def test_device_flows_equal_the_numpy_readers(kind):
    rng = np.random.default_rng(1)
    plates = [Image.from_array(rng.normal(0, 3, (12, 16, 7)).astype(np.float16), CHANNELS[kind]) for _ in range(4)]
    want = vector_flows(plates, kind)
    got = _flows(plates, torch.zeros(4, 3, 12, 16), kind).permute(0, 1, 3, 4, 2).numpy()
    assert got.shape == (3, 2, 12, 16, 2)
    for k, (forward, backward) in enumerate(want):
        np.testing.assert_array_equal(got[k, 0], forward)
        np.testing.assert_array_equal(got[k, 1], backward)
