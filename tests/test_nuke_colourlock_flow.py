"""ColourLock in the GUI on the Blender plate (tests/fixtures): sign off, render, a failing brand swatch is a
QC warning (frames are still shown), Open report opens the QC report through the Qt shim."""
from __future__ import annotations

import json
from pathlib import Path


def test_colourlock_renders_warns_on_qc_failure_and_opens_the_report(comp, desktop, press):
    nuke = comp.nuke
    swatches = comp.dir / "swatches.json"
    # two brand colours asked of one region: the lock cannot hold both, so QC fails (exit 3)
    swatches.write_text(json.dumps([{"name": name, "rgb": rgb, "colourspace": "sRGB - Texture", "tolerance": 1.0,
                                     "region": [0, 0, 16, 16]}
                                    for name, rgb in (("logo red", [1.0, 0.0, 0.0]), ("logo blue", [0.0, 0.0, 1.0]))]))
    node = nuke.createNode("RestyleColourLock")
    node.setInput(0, comp.plate)
    node.setInput(1, comp.keys)  # the painted frame 1001 is the colour reference
    node["reference_frame"].setValue(1001)
    node["swatches"].setValue(str(swatches))
    press(node, "sign_off")
    assert sorted(json.loads(node["signoff"].value())) == ["reference", "src"]

    press(node, "render")

    assert node.node("show")["which"].value() == 1, node["status"].value()
    assert "QC FAILED" in node["status"].value() and "QC FAILED" in nuke._standin.state.dialogs[-1][1]
    folder = Path(node.node("result")["file"].value()).parent
    report = folder / "report" / "report.html"
    assert report.is_file() and (folder / "complete.json").is_file()

    node["open_report"].execute()
    assert desktop == [str(report)]
