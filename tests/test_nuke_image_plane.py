"""The image plane as compositors have it, through the Restyle node on the stand-in with the real
engine: overscan and a bbox that changes per frame, alpha, paintings of another size, frame
ranges that do not start at 1001 and Reads with a frame offset."""
from __future__ import annotations

import numpy as np
from conftest import press


def _look(comp, plate, keys, key_frames):
    look = comp.nuke.createNode("RestyleLook")
    look.setInput(0, plate)
    look.setInput(1, keys)
    look["key_frames"].setValue(key_frames)
    look["steps"].setValue(4)
    look["key_psnr"].setValue(0)  # 4 steps do not learn the look; the flows only need a model
    look["device"].setValue("cpu")
    look["detail"].setValue(0)
    return look


def _shown(look, frame):
    """The node's output at ``frame``, as the comp downstream sees it."""
    from nuke import _render

    return _render.image(look, frame)


def _renumbered(comp, tmp_path, name, first, change=lambda image, frame: image):
    """The comp's plate frames 1001-1003 written again as ``first``.. (changed by ``change``)."""
    from inference.image import read_image, write_image

    folder = tmp_path / name
    folder.mkdir()
    for index in range(3):
        image = change(read_image(str(comp.scene / "exr" / "sceneA.{}.exr".format(1001 + index))), index)
        write_image(str(folder / "p.{:04d}.exr".format(first + index)), image, dtype="float")
    return str(folder / "p.####.exr")


def test_a_read_with_a_frame_offset_is_rendered_at_its_frames(comp, tmp_path):
    """Plate files numbered 1-3 on a Read offset by 1000: the node's frames 1001-1003 are those
    files (Nuke renders the input, the engine cannot apply the offset itself)."""
    from inference.image import read_image

    nuke = comp.nuke
    plate = nuke.nodes.Read(file=_renumbered(comp, tmp_path, "offset", 1), first=1, last=3)
    plate["frame_mode"].setValue("offset")
    plate["frame"].setValue("1000")
    look = _look(comp, plate, comp.keys, "1001")
    press(look, "sign_off", "train", "render")
    assert look.node("show")["which"].value() == 1, look["status"].value()
    rendered = {f for name, f in nuke._standin.state.written if name == look.name() + ".plate_cache"}
    assert rendered == {1001, 1002, 1003}
    cached = (comp.dir / "restyle_cache" / "inputs" / look.name() / "plate" / "plate.1002.exr")
    assert np.array_equal(read_image(str(cached)).beauty().as_float32(),
                          read_image(str(tmp_path / "offset" / "p.0002.exr")).beauty().as_float32())
    # every layer the node does not make passes through untouched, the colour is the look's
    shown, file = _shown(look, 1003), read_image(str(tmp_path / "offset" / "p.0003.exr"))
    assert set(file.channels) <= set(shown.channels)
    for name in ("ViewLayer.Depth.Z", "ViewLayer.Normal.X", "ViewLayer.Vector.Y", "ViewLayer.Combined.A"):
        assert np.array_equal(shown.select([name]).as_float32(), file.select([name]).as_float32()), name
    look_frame = read_image(look.node("result")["file"].value().replace("%04d", "1003"))
    assert np.allclose(shown.beauty(alpha=False).as_float32(), look_frame.beauty(alpha=False).as_float32())
    assert not np.allclose(shown.beauty(alpha=False).as_float32(), file.beauty(alpha=False).as_float32(), atol=1e-3)


def test_a_range_that_does_not_start_at_1001(comp, tmp_path):
    nuke = comp.nuke
    nuke.root()["first_frame"].setValue(1)
    nuke.root()["last_frame"].setValue(3)
    plate = nuke.nodes.Read(file=_renumbered(comp, tmp_path, "one", 1), first=1, last=3)
    keys = nuke.nodes.Read(file=str(comp.scene.parent / "style" / "sceneA_painting.####.png"), first=1001, last=1006)
    keys["frame_mode"].setValue("start at")  # the painting of 1002 is the key of frame 2
    keys["frame"].setValue("0")
    look = _look(comp, plate, keys, "2")
    press(look, "sign_off", "train", "render")
    assert look.node("show")["which"].value() == 1, look["status"].value()
    assert (look.node("result")["first"].value(), look.node("result")["last"].value()) == (1, 3)
    assert nuke._standin.state.written and all(name == look.name() + ".keys_cache"
                                               for name, _ in nuke._standin.state.written)  # the plate: read directly


def _with_overscan(image, index):
    """Overscan that grows every frame (an animated bbox) holding a colour the look never makes."""
    from inference.image import Image, Window

    pad = 4 + 3 * index
    pixels = np.pad(image.beauty().as_float32(), ((pad, pad), (pad, pad), (0, 0)), constant_values=7.0)
    width, height = image.size
    return Image(pixels, ("R", "G", "B", "A"), Window(-pad, -pad, width + 2 * pad, height + 2 * pad),
                 Window(0, 0, width, height))


def test_overscan_and_an_animated_bbox_pass_through(comp, tmp_path):
    """A plate whose bbox is larger than the format and changes every frame: no refusal; the
    look is made on the format and the node's output keeps the plate's bbox and pixels outside it."""
    from inference.image import read_image

    nuke = comp.nuke
    pattern = _renumbered(comp, tmp_path, "overscan", 1001, _with_overscan)
    plate = nuke.nodes.Read(file=pattern, first=1001, last=1003)
    look = _look(comp, plate, comp.keys, "1001")
    press(look, "sign_off", "train", "render")
    assert look.node("show")["which"].value() == 1, look["status"].value()
    for index, frame in enumerate((1001, 1003)):
        shown, as_read = _shown(look, frame), read_image(pattern.replace("####", str(frame)))
        assert shown.data_window == as_read.data_window and shown.display_window == as_read.display_window
        pad = -as_read.data_window.x
        pixels = shown.as_float32()
        assert np.all(pixels[:pad, :, :3] == 7.0) and np.all(pixels[:, -pad:, :3] == 7.0)  # the plate's overscan
        assert not np.any(pixels[pad:-pad, pad:-pad, :3] == 7.0)  # the look inside the format


def test_plate_alpha_premultiplies_the_look_and_passes_through(comp, tmp_path):
    nuke = comp.nuke

    def soft(image, index):
        from inference.image import Image

        rgba = image.beauty().as_float32().copy()
        alpha = np.clip(np.linspace(-0.3, 1.3, image.size[0], dtype=np.float32), 0, 1)[None, :].repeat(image.size[1], 0)
        rgba[..., :3] *= alpha[..., None]
        rgba[..., 3] = alpha
        return Image.from_array(rgba)

    plate = nuke.nodes.Read(file=_renumbered(comp, tmp_path, "alpha", 1001, soft), first=1001, last=1003)
    look = _look(comp, plate, comp.keys, "1001")
    press(look, "sign_off", "train", "render")
    shown = _shown(look, 1002).as_float32()
    alpha = shown[..., 3]
    assert np.allclose(alpha[0], np.clip(np.linspace(-0.3, 1.3, 160), 0, 1), atol=1e-3)
    assert np.all(shown[alpha == 0, :3] == 0)  # premultiplied: no colour where there is no alpha
    assert shown[alpha == 1, :3].mean() > 0.01


def test_a_painting_of_another_size_is_resized(comp, tmp_path):
    from inference.image import Image, read_image, write_image

    nuke = comp.nuke
    painting = read_image(str(comp.scene.parent / "style" / "sceneA_painting.1001.png")).as_float32()
    half = tmp_path / "half.1001.png"
    write_image(str(half), Image.from_array(np.ascontiguousarray(painting[::2, ::2, :3]), ("R", "G", "B")))
    keys = nuke.nodes.Read(file=str(tmp_path / "half.####.png"), first=1001, last=1001)
    look = _look(comp, comp.plate, keys, "1001")
    press(look, "sign_off", "train")
    assert look["model_file"].value(), look["status"].value()
    assert "is 80x45 but the plate's format is 160x90: resized" in look["status"].value()  # the artist is told
    press(look, "render")
    assert look.node("show")["which"].value() == 1, look["status"].value()


def test_sign_off_of_an_animated_bbox_is_on_the_format(comp, tmp_path):
    """Only pixels inside the format are signed off: overscan alone is no PLATE CHANGED."""
    from inference.image import Image

    nuke = comp.nuke
    signed = []
    for name, change in (("bbox", _with_overscan),
                         ("format", lambda image, index: Image.from_array(image.beauty().as_float32()))):
        plate = nuke.nodes.Read(file=_renumbered(comp, tmp_path, name, 1001, change), first=1001, last=1003)
        look = _look(comp, plate, comp.keys, "1001")
        press(look, "sign_off")
        signed.append(look["signoff"].value())
    assert signed[0] and signed[0] == signed[1]


def test_proxy_mode_renders_inputs_and_results_at_full_size(comp, tmp_path):
    """With the script in proxy mode the node's input renders and its look stay full size, so the
    sign-off made in proxy mode is the full-size one and the look is rendered at full size."""
    from inference.image import read_image

    nuke = comp.nuke
    pattern = _renumbered(comp, tmp_path, "proxy", 1)
    signed = []
    for proxy in (False, True):
        nuke.root()["proxy"].setValue(proxy)
        plate = nuke.nodes.Read(file=pattern, first=1, last=3)
        plate["frame_mode"].setValue("offset")  # not a plain Read: Nuke renders it
        plate["frame"].setValue("1000")
        look = _look(comp, plate, comp.keys, "1001")
        press(look, "sign_off")
        signed.append(look["signoff"].value())
    assert signed[0] and signed[0] == signed[1]
    press(look, "train", "render")
    assert nuke.root()["proxy"].value() is True  # the artist's proxy mode is given back
    assert look.node("show")["which"].value() == 1, look["status"].value()
    result = look.node("result")["file"].value().replace("%04d", "1002")
    assert read_image(result).size == (160, 90)
    assert _shown(look, 1002).size == (80, 45)  # the comp, in proxy mode, shows it at proxy size
