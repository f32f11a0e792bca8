"""Round trips of real and generated images through OpenImageIO, checked independently with OpenEXR."""
from pathlib import Path

import numpy as np
import OpenEXR
import pytest

from inference.errors import ChannelError, NonFiniteError, OutputError
from inference.image import Image, Window, read_image, write_image


def _exr_files(material):
    return sorted((material / "render_sceneA" / "exr").glob("sceneA.*.exr"))


@pytest.mark.parametrize("material, count",
                         [("small_data", 6), pytest.param("shared_data", 24, marks=pytest.mark.shared_data)])
def test_every_real_blender_exr_round_trips_all_channels_bit_exact(request, material, count, tmp_path):
    files = _exr_files(request.getfixturevalue(material))
    assert len(files) == count
    for source in files:
        image = read_image(source)
        assert len(image.channels) == 12 and image.pixels.dtype == np.float16
        out = tmp_path / source.name
        write_image(out, image)
        back = read_image(out)
        assert back.channels == image.channels
        assert np.array_equal(back.pixels, image.pixels, equal_nan=True), source.name
        assert back.data_window == image.data_window and back.display_window == image.display_window
        for name in ("Frame", "Camera", "cycles.ViewLayer.samples", "Exif:ImageHistory"):
            assert back.attributes[name] == image.attributes[name], name
        assert np.array_equal(back.attributes["screenWindowCenter"], image.attributes["screenWindowCenter"])


def test_written_exr_is_half_zip_multilayer_for_openexr_itself(small_data, tmp_path):
    image = read_image(_exr_files(small_data)[0])
    out = tmp_path / "check.exr"
    write_image(out, image)
    with OpenEXR.File(str(out), separate_channels=True) as exr:
        channels = exr.channels()
        assert set(channels) == set(image.channels)
        assert channels["ViewLayer.Normal.X"].pixels.dtype == np.float16
        assert exr.header()["compression"] == OpenEXR.ZIP_COMPRESSION
        depth = channels["ViewLayer.Depth.Z"].pixels
        assert np.array_equal(depth, image.select(["ViewLayer.Depth.Z"]).pixels[..., 0])


def test_channel_names_picked_without_copies_are_the_ones_beauty_and_layer_select(small_data):
    """The render picks a plate's channels on the GPU by these names."""
    image = read_image(_exr_files(small_data)[0])
    assert image.beauty_channels(alpha=False) == list(image.beauty(alpha=False).channels)
    assert image.layer_channels("*Vector", ("X", "Y")) == ["ViewLayer.Vector.X", "ViewLayer.Vector.Y"]
    with pytest.raises(ChannelError, match="no layer matching"):
        image.layer_channels("*Nothing", ("X",))


def test_depth_keeps_blenders_infinite_sky(small_data):
    depth = read_image(_exr_files(small_data)[0]).layer("*Depth", ("Z",)).pixels
    assert np.isinf(depth).mean() > 0.25  # the sky: 31 % of the frame


def test_float_write_keeps_float_and_piz_compression(tmp_path):
    pixels = np.linspace(0, 70000, 64 * 32 * 3, dtype=np.float32).reshape(32, 64, 3)
    out = tmp_path / "f.exr"
    write_image(out, Image.from_array(pixels, ("R", "G", "B")), dtype="float", compression="piz")
    back = read_image(out)
    assert back.file_format == "float" and np.array_equal(back.pixels, pixels)
    with OpenEXR.File(str(out)) as exr:
        assert exr.header()["compression"] == OpenEXR.PIZ_COMPRESSION


def test_data_window_and_display_window_survive(tmp_path):
    pixels = np.ones((10, 20, 4), np.float16)
    image = Image(pixels, ("R", "G", "B", "A"), Window(5, 7, 20, 10), Window(0, 0, 64, 48))
    write_image(tmp_path / "w.exr", image)
    back = read_image(tmp_path / "w.exr")
    assert back.data_window == Window(5, 7, 20, 10)
    assert back.display_window == Window(0, 0, 64, 48)


@pytest.mark.parametrize("ext,tolerance", [("png", 0), ("tif", 1 / 65535), ("dpx", 1 / 1023), ("jpg", 0.1)])
def test_integer_formats_round_trip_the_real_png(small_data, tmp_path, ext, tolerance):
    image = read_image(small_data / "live_bikes" / "bikes.1001.png")
    assert image.file_format == "uint8" and image.channels == ("R", "G", "B")
    write_image(tmp_path / f"b.{ext}", image)
    back = read_image(tmp_path / f"b.{ext}")
    assert back.size == (320, 136)
    error = np.abs(back.as_float32() - image.as_float32())
    assert error.max() <= tolerance + 1e-6 if ext != "jpg" else error.mean() < 0.02


def test_layers_beauty_and_select(small_data):
    image = read_image(_exr_files(small_data)[3])
    assert image.beauty().channels == tuple(f"ViewLayer.Combined.{c}" for c in "RGBA")
    assert image.beauty(alpha=False).pixels.shape[2] == 3
    assert image.layer("*Vector", ("X", "Y", "Z", "W")).channels[-1] == "ViewLayer.Vector.W"
    assert set(image.layers()) == {"ViewLayer.Combined", "ViewLayer.Depth", "ViewLayer.Normal", "ViewLayer.Vector"}
    with pytest.raises(ChannelError, match="missing channel.*forward.u.*the file has"):
        image.select(["forward.u"])
    with pytest.raises(ChannelError, match="no layer matching 'backward'"):
        image.layer("backward", ("u", "v"))


@pytest.mark.parametrize("ext,writer", [("exr", "_write_exr"), ("png", "_write_oiio")])
def test_failed_write_keeps_the_old_frame_and_leaves_no_temporary(tmp_path, monkeypatch, ext, writer):
    import inference.image as image_module

    target = tmp_path / f"f.0001.{ext}"
    write_image(target, Image.from_array(np.zeros((4, 4, 3), np.float32), ("R", "G", "B")))
    before = target.read_bytes()

    def disk_fills_up(path, *args):
        Path(path).write_bytes(before[: len(before) // 2])  # a partial file, then the error
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(image_module, writer, disk_fills_up)
    with pytest.raises(OutputError, match=f"f.0001.{ext}.*No space left"):
        write_image(target, Image.from_array(np.ones((4, 4, 3), np.float32), ("R", "G", "B")))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_write_into_a_folder_that_cannot_exist_names_the_file(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="not_a_dir"):
        write_image(blocker / "out.exr", Image.from_array(np.zeros((2, 2, 3), np.float16), ("R", "G", "B")))
    assert list(tmp_path.iterdir()) == [blocker]


def test_exr_frames_are_held_planar_and_with_rgb_keeps_them_so(small_data):
    """Reading, the finiteness check, the upload and the writer move whole channel planes."""
    image = read_image(_exr_files(small_data)[0])
    assert all(image.pixels[:, :, i].flags.c_contiguous for i in range(len(image.channels)))
    beauty = image.beauty_channels()
    rgb = np.stack([image.pixels[..., image.channels.index(n)] for n in beauty[:3]], -1)  # interleaved
    for given in (rgb, np.ascontiguousarray(rgb.transpose(2, 0, 1)).transpose(1, 2, 0)):  # and planar
        out = image.with_rgb(given, {"restyle:model": "x"})
        assert out.channels == ("R", "G", "B", "A") and out.pixels.dtype == np.float16
        assert all(out.pixels[:, :, i].flags.c_contiguous for i in range(4))
        assert np.array_equal(out.pixels, image.select(beauty).pixels, equal_nan=True)
        assert out.attributes["restyle:model"] == "x" and out.data_window == image.data_window


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_finite_check_finds_every_nan_and_inf_and_passes_extreme_finite_values(dtype, value):
    info = np.finfo(dtype)
    pixels = np.zeros((6, 7, 4), dtype)
    pixels[0, :4, 0] = [info.max, -info.max, info.smallest_subnormal, -0.0]  # finite, all of them
    image = Image.from_array(pixels.transpose(2, 0, 1).copy().transpose(1, 2, 0))
    image.check_finite()
    image.pixels[4, 2, 1] = value
    with pytest.raises(NonFiniteError, match="1 NaN/Inf value.*channel G, first at x=2 y=4"):
        image.check_finite()
    image.check_finite(["R", "B", "A"])  # only the channels asked for
