"""After Render range the node writes, beside the version, each frame's flicker against the frame
before as a ratio to the plate's (flicker.json, flicker.png) and names the worst frame in *Status*,
so a compositor sees where the result pops."""
from __future__ import annotations

import json
from pathlib import Path


def test_render_range_writes_the_flicker_curve_beside_the_version(comp, restyle_look):
    node = restyle_look("sign_off", "train", "render")
    history = json.loads(node["history"].value())
    folder = Path(node.node("result")["file"].value()).parent
    assert history["shown"] == folder.name, node["status"].value()
    record = json.loads((folder / "flicker.json").read_text())
    per_frame = record["e_warp_by_flow"]["dis"]["per_frame"]
    # THEN one ratio per frame after the first, measured against the node's plate
    assert per_frame["frames"] == [1002, 1003] and all(r > 0 for r in per_frame["ratio_to_plate"])
    assert record["plate"] == str(comp.scene / "exr" / "sceneA.%04d.exr")
    assert (folder / "flicker.png").read_bytes()[:4] == b"\x89PNG"
    worst = max(zip(per_frame["ratio_to_plate"], per_frame["frames"]))[1]
    assert "flicker per frame in {}".format(folder / "flicker.png") in node["status"].value()
    assert "most at frame {}".format(worst) in node["status"].value()
