"""The comp step on the farm, `nuke -x comp.nk -F A-B` on the Blender plate (tests/fixtures): a fresh
terminal-mode process (the test `nuke` executable on the stand-in, which refuses nested execution
as Nuke does) opens a script saved by the GUI; each toolset node points its Read at its APPROVED
version and only checks that those frames are there: no engine, no `nuke.execute` in a render
callback. What is missing is named (node, version, frames), and so is a node never approved."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from inference.image import read_image

REPO = Path(__file__).resolve().parents[1]


def test_the_comp_reads_approved_versions_only_and_names_missing_frames(comp, restyle_look, nuke_x, press):
    from nuke_plugin import jobs

    nuke = comp.nuke
    # GIVEN a comp made in the GUI: plate -> Restyle (Render range) -> Deflicker (Render range) -> Write,
    # the Deflicker's plate input coming through a Text2 (not a plain Read: Nuke would have to render it)
    look = restyle_look("sign_off", "train", "render")
    assert look["status"].value().startswith("showing and approved version"), look["status"].value()
    settle = nuke.createNode("RestyleDeflicker")
    settle.setInput(0, look)
    settle.setInput(1, nuke.nodes.Text2(message="slate", inputs=[comp.plate]))
    settle["mode"].setValue("global")
    settle["radius"].setValue(1)
    settle["device"].setValue("cpu")
    press(settle, "sign_off", "render")
    approved_look, approved_settle = jobs.approved(look), jobs.approved(settle)  # Render range approved them
    assert approved_settle["key"] == jobs.version_of(settle)["key"] and approved_settle["frames"] == [1001, 1003]
    write = nuke.nodes.Write(file=str(comp.dir / "out" / "comp.####.exr"), channels="rgba",
                             create_directories=True, inputs=[settle])
    # AND a setting changed after approval (not approved again)
    settle["strength"].setValue(0.25)
    assert jobs.version_of(settle)["key"] != approved_settle["key"]
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))

    # WHEN the farm renders the comp's chunk 1002-1003
    status, state, stderr = nuke_x(comp.dir / "comp.nk", "1002-1003", comp.dir, batch="2")

    # THEN only the comp's Write executed (nothing rendered inside its render), from the approved frames
    assert status == 0, stderr
    assert state["written"] == [[write.name(), 1002], [write.name(), 1003]]
    assert state["dialogs"] == [] and state["tasks"] == 0
    settled = Path(approved_settle["pattern"].replace("%04d", "1003"))
    out = read_image(comp.dir / "out" / "comp.1003.exr").beauty().as_float32()
    assert np.array_equal(out[..., :3], read_image(settled).beauty().as_float32()[..., :3])
    assert not (comp.dir / "restyle_cache" / "deflicker" / jobs.version_of(settle)["key"]).exists()

    # WHEN a cache clean-up took frame 1003 of the Restyle's approved version
    Path(approved_look["pattern"].replace("%04d", "1003")).unlink()
    (comp.dir / "out" / "comp.1002.exr").unlink()
    status, state, stderr = nuke_x(comp.dir / "comp.nk", "1002-1003", comp.dir, batch="2")
    # THEN the comp fails before writing, naming the node, its approved version and the missing frame
    assert status == 1 and f"{look.name()}: approved version restyle [{approved_look['key']}]" in stderr, stderr
    assert "missing frames 1003 in" in stderr and "prep and render steps" in stderr
    assert state["written"] == [] and not (comp.dir / "out" / "comp.1002.exr").exists()

    # WHEN a toolset node was never approved THEN the comp names it and says what to press
    fresh = nuke.createNode("RestyleLook")
    fresh.setInput(0, comp.plate)
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    status, state, stderr = nuke_x(comp.dir / "comp.nk", "1001", comp.dir)
    assert status == 1 and f"{fresh.name()}: no approved version: press 'Approve'" in stderr, stderr
    # AND a disabled one passes its input through, as in Nuke: it needs no frames
    fresh["disable"].setValue(True)
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    status, state, stderr = nuke_x(comp.dir / "comp.nk", "1001", comp.dir)
    assert status == 0 and state["written"] == [[write.name(), 1001]], stderr


def test_approve_records_the_current_version_and_the_farm_keeps_it_until_approved_again(comp, restyle_look, press):
    from nuke_plugin import jobs

    nuke = comp.nuke
    look = restyle_look("sign_off", "train")
    # GIVEN nothing approved THEN the panel says so
    assert look["approved_info"].value() == "none: press Approve or Render range"
    press(look, "approve")
    approved = jobs.approved(look)
    # WHEN Approve is pressed THEN the version of the current knobs is approved, without rendering it
    assert approved["key"] == jobs.version_of(look)["key"] and approved["frames"] == [1001, 1003]
    assert approved["job"]["model"] == look["model_file"].value() and approved["job"]["device"] == "cpu"
    assert not Path(approved["folder"]).exists() and look.node("show")["which"].value() == 0
    # WHEN a knob changes THEN the approval stays what it was; Render range approves its own version
    look["detail"].setValue(0)
    assert jobs.approved(look)["key"] == approved["key"]
    press(look, "render")
    assert jobs.approved(look)["key"] == jobs.version_of(look)["key"] != approved["key"]
    # AND the approval is saved with the script and read back on the farm
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    key = jobs.approved(look)["key"]
    nuke._standin.reset(mode="terminal", nuke_path=str(REPO))
    nuke._standin.startup()
    nuke.scriptOpen(str(comp.dir / "comp.nk"))
    loaded = nuke.toNode(look.name())
    assert jobs.approved(loaded)["key"] == key and key in loaded["approved_info"].value()
    assert loaded.node("result")["file"].value() == jobs.approved(loaded)["pattern"]


def test_prep_leaves_plain_reads_to_the_engine_and_names_bad_nodes_and_ranges(comp, nuke_exe, press):
    import json
    import os
    import subprocess

    nuke = comp.nuke
    # GIVEN a Deflicker whose inputs are plain Reads, signed off and approved (nothing rendered), a
    # disabled one, and the script saved
    settle = nuke.createNode("RestyleDeflicker")
    settle.setInput(0, comp.plate)
    settle.setInput(1, comp.plate)
    settle["mode"].setValue("global")
    settle["radius"].setValue(1)
    press(settle, "sign_off", "approve")
    off = nuke.createNode("RestyleDeflicker")
    off["disable"].setValue(True)
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    state = comp.dir / "state.json"

    def prep(*args: str) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUKE_PATH")}
        env.update(NUKE_PATH=str(REPO), NUKE_STANDIN_STATE=str(state))
        return subprocess.run([str(nuke_exe), "-t", str(REPO / "nuke_plugin" / "farm_prep.py"),
                               str(comp.dir / "comp.nk"), *args], cwd=comp.dir, env=env, capture_output=True, text=True)

    # WHEN the prep runs for the chunk 1002-1002 THEN nothing is rendered by Nuke (the engine reads the Reads'
    # files) and the frames it hashed, the chunk and its handle each side, match the approval
    done = prep("1002-1002", settle.name())
    assert done.returncode == 0, done.stderr
    assert json.loads(state.read_text())["written"] == []
    assert "frames 1001-1003" in done.stdout and "inputs ready for approved version deflicker [" in done.stdout
    # AND an unknown node, a disabled node and a bad range are named
    done = prep("1001-1002", "Nope1")
    assert done.returncode == 1 and "Nope1: no toolset node of that name" in done.stderr, done.stderr
    done = prep("1001-1002", off.name())
    assert done.returncode == 1 and f"{off.name()}: the node is disabled" in done.stderr, done.stderr
    done = prep("1002-1001", settle.name())
    assert done.returncode == 2 and "frames '1002-1001' are not FIRST-LAST" in done.stderr, done.stderr
