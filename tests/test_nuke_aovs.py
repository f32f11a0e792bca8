"""The optional 'aovs' input: render layers (normals, depth, vectors) joined onto the plate, so a
plate without them (here the Blender beauty PNGs) can train with guides from the EXR's layers."""
from __future__ import annotations

from inference.image import read_image


def test_aovs_input_supplies_the_guides_the_plate_lacks(comp, press):
    nuke = comp.nuke
    beauty = nuke.nodes.Read(file=str(comp.scene / "png" / "sceneA_beauty.####.png"), first=1001, last=1003)
    node = nuke.createNode("RestyleLook")
    node.setInput(0, beauty)
    node.setInput(1, comp.keys)
    node["key_frames"].setValue("1001")
    node["guides"].setValue("normals,depth")
    node["steps"].setValue(2)
    node["key_psnr"].setValue(0)  # 2 steps do not learn the look; this test is about the layers
    node["device"].setValue("cpu")

    # WHEN no aovs are connected THEN training says which layer the plate lacks
    press(node, "train")
    said = nuke._standin.state.dialogs[-1][1]
    assert "Train failed" in said and "depth layer" in said and node["model_file"].value() == ""

    # WHEN the EXR render is connected to 'aovs' THEN its layers reach the engine and training works
    node.setInput(2, comp.plate)
    press(node, "train")
    assert node["model_file"].value(), node["status"].value()
    cached = read_image(comp.dir / "restyle_cache" / "inputs" / node.name() / "plate" / "plate.1001.exr")
    assert {"ViewLayer.Normal.X", "ViewLayer.Depth.Z"} <= set(cached.channels)
    plate = read_image(comp.scene / "png" / "sceneA_beauty.1001.png")
    assert (cached.beauty(alpha=False).as_float32() != 0).any() and cached.size == plate.size
