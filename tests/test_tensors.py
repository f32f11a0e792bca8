"""Frames to the compute device: each plate travels once and its channels are picked there."""
import numpy as np
import torch

from inference.image import Image
from inference.tensors import upload_channels


def _plate(seed: int) -> Image:
    names = ("R", "G", "B", "A", "forward.u", "forward.v", "depth.Z")
    pixels = np.random.default_rng(seed).normal(size=(6, 5, len(names))).astype(np.float16)
    return Image.from_array(pixels, names)


def test_upload_channels_picks_each_set_as_the_host_selection_would():
    plates = [_plate(0), _plate(1)]
    beauty, vectors = upload_channels(plates, [lambda im: im.beauty_channels(alpha=False),
                                               lambda im: im.layer_channels("forward", ("v", "u"))], "cpu")
    assert beauty.shape == (2, 3, 6, 5) and vectors.shape == (2, 2, 6, 5) and beauty.dtype == torch.float32
    for index, plate in enumerate(plates):
        np.testing.assert_array_equal(beauty[index].permute(1, 2, 0).numpy(),
                                      plate.beauty(alpha=False).pixels.astype(np.float32))
        np.testing.assert_array_equal(vectors[index].permute(1, 2, 0).numpy(),
                                      plate.select(["forward.v", "forward.u"]).pixels.astype(np.float32))

