"""Frames to the compute device: each plate travels once and its channels are picked there."""
import numpy as np
import torch

from inference.image import Image
from inference.tensors import DevicePlates, to_host, upload_channels


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



def test_plates_copied_ahead_are_used_instead_of_a_new_upload():
    plates = [_plate(0), _plate(1)]
    uploaded = DevicePlates("cpu", held=2)
    uploaded.add(plates[0])
    original = plates[0].pixels.copy()
    plates[0].pixels[:] = 0  # the host frame changes after its copy was made: the copy is what stages see
    pick = [lambda im: im.beauty_channels(alpha=False)]
    (beauty,) = upload_channels(plates, pick, "cpu", uploaded)
    np.testing.assert_array_equal(beauty[0].permute(1, 2, 0).numpy(), original[..., :3].astype(np.float32))
    np.testing.assert_array_equal(beauty[1].permute(1, 2, 0).numpy(), plates[1].pixels[..., :3].astype(np.float32))
    (fresh,) = upload_channels(plates, pick, "cpu")
    assert not fresh[0].any()
    uploaded.drop(plates[0])
    assert len(uploaded) == 0 and uploaded.get(plates[0]) is None


def test_no_plate_is_copied_when_the_frames_held_would_pass_the_budget():
    plate = _plate(0)
    roomy = DevicePlates("cpu", held=10, budget=10 * plate.pixels.nbytes)
    roomy.add(plate)
    assert len(roomy) == 1 and roomy.get(plate) is not None
    tight = DevicePlates("cpu", held=10, budget=10 * plate.pixels.nbytes - 1)
    tight.add(plate)
    assert len(tight) == 0 and tight.get(plate) is None


def test_the_copy_budget_follows_the_cards_memory(monkeypatch):
    """A tenth of the card's memory, at most 6 GB: an 80 GB card keeps a 2K chunk's plates
    (about 3.6 GB), a 24 GB card does not."""
    from types import SimpleNamespace

    from inference.tensors import DEVICE_PLATE_BUDGET, plate_budget

    cards = {"cuda:0": 80 << 30, "cuda:1": 24 << 30}
    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device: SimpleNamespace(total_memory=cards[str(device)]))
    assert plate_budget("cuda:0") == DEVICE_PLATE_BUDGET == 6 << 30
    assert plate_budget("cuda:1") == (24 << 30) // 10
    assert plate_budget("cpu") == DEVICE_PLATE_BUDGET


def test_a_plate_the_device_has_no_room_for_is_left_to_the_stages(monkeypatch):
    plate = _plate(0)
    uploaded = DevicePlates("cpu", held=2)

    def full(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(uploaded, "_copy", full)
    uploaded.add(plate)  # no error: the render goes on
    assert len(uploaded) == 0
    (beauty,) = upload_channels([plate], [lambda im: im.beauty_channels(alpha=False)], "cpu", uploaded)
    np.testing.assert_array_equal(beauty[0].permute(1, 2, 0).numpy(), plate.pixels[..., :3].astype(np.float32))


def test_planar_download_holds_the_same_values_plane_by_plane():
    frames = torch.from_numpy(np.random.default_rng(3).normal(size=(2, 4, 6, 5)).astype(np.float32))
    interleaved, planar = to_host(frames, torch.float16), to_host(frames, torch.float16, planar=True)
    for a, b in zip(interleaved, planar):
        assert b.shape == a.shape == (6, 5, 4) and b.dtype == np.float16
        np.testing.assert_array_equal(a, b)
        assert b[:, :, 2].flags.c_contiguous and not a[:, :, 2].flags.c_contiguous
