"""`nuke -x comp.nk -F A-B` on the Blender plate (tests/fixtures): a fresh terminal-mode process (the test
`nuke` executable on the stand-in, NUKE_PATH=<repo>) opens a script saved by the GUI, and the
before-frame-render hook makes the missing restyled frames (with the deflicker's handles) before
the comp's Write renders."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.image import read_image


def test_farm_render_makes_missing_frames_with_handles_and_refuses_a_changed_plate(comp, restyle_look, nuke_x, press):
    nuke = comp.nuke
    # GIVEN a comp made in the GUI: plate -> Restyle (rendered) -> Deflicker (signed off) -> Write
    look = restyle_look("sign_off", "train", "render")
    assert look.node("show")["which"].value() == 1, look["status"].value()
    settle = nuke.createNode("RestyleDeflicker")
    settle.setInput(0, look)
    settle.setInput(1, comp.plate)
    settle["mode"].setValue("global")
    settle["radius"].setValue(1)  # handles: 1 frame each side
    settle["device"].setValue("cpu")
    press(settle, "sign_off")
    assert settle["signoff"].value(), settle["status"].value()
    write = nuke.nodes.Write(file=str(comp.dir / "out" / "comp.####.exr"), channels="rgba",
                             create_directories=True, inputs=[settle])
    restyled = look.node("result")["file"].value()
    lost = Path(restyled.replace("%04d", "1001"))
    lost.unlink()  # a cache clean-up took frame 1001, which the deflicker's handles need
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))

    # WHEN the farm renders frame 1002 only
    status, state, stderr = nuke_x(comp.dir / "comp.nk", "1002", comp.dir)

    # THEN the restyled handle frame is back, the deflicker made 1002, the comp wrote 1002 from it
    assert status == 0, stderr
    assert lost.is_file()
    settled = sorted(p.name for p in (comp.dir / "restyle_cache" / "deflicker").glob("*/deflicker.*.exr"))
    assert settled == ["deflicker.1002.exr"]
    deflickered = next((comp.dir / "restyle_cache" / "deflicker").glob("*/deflicker.1002.exr"))
    out = read_image(comp.dir / "out" / "comp.1002.exr").beauty().as_float32()
    assert np.array_equal(out[..., :3], read_image(deflickered).beauty().as_float32()[..., :3])
    # AND nothing executed inside the render callback ("I'm already executing something else" in Nuke):
    # the plate is a plain Read and the Restyle node shows its cache frames, so the engine read those files
    assert state["written"] == [[write.name(), 1002]]
    # AND nothing interactive happened in terminal mode
    assert state["dialogs"] == [] and state["tasks"] == 0

    # WHEN a chunk of two frames renders with RESTYLE_FARM_BATCH=2 THEN each node is prepared once
    status, state, stderr = nuke_x(comp.dir / "comp.nk", "1002-1003", comp.dir, batch="2")
    assert status == 0, stderr
    assert state["written"] == [[write.name(), 1002], [write.name(), 1003]]

    # WHEN the plate changes after sign-off THEN the farm refuses, naming input and frames
    comp.plate["file"].setValue(str(comp.scene / "png" / "sceneA_beauty.####.png"))
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    status, state, stderr = nuke_x(comp.dir / "comp.nk", "1002", comp.dir)
    assert status == 1 and "PLATE CHANGED" in stderr and "'plate' frames 1001-1003" in stderr
    assert [w for w in state["written"] if w[0] == write.name()] == []

    # WHEN the sign-off is overridden on both nodes THEN the comp renders from the cached frames
    for node in (look, settle):
        node["override_signoff"].setValue(True)
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    status, state, stderr = nuke_x(comp.dir / "comp.nk", "1002", comp.dir)
    assert status == 0, stderr
    assert state["written"][-1] == [write.name(), 1002]
