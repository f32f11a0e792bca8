"""The GUI flow on the Blender plate (tests/fixtures), under the stand-in `nuke`, with the real engine:
create the node, sign off the plate, train, render the range, switch versions."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from inference.image import read_image


def dialogs(nuke) -> list[str]:
    return [text for _kind, text, _mode in nuke._standin.state.dialogs]


def frame_file(pattern: str, frame: int) -> Path:
    return Path(pattern.replace("%04d", f"{frame:04d}"))


def model_of(node) -> str:
    """The node's look as a file (its 'model_file' knob is relative to the cache root)."""
    from nuke_plugin import jobs

    return jobs.model_path(node)


def test_gui_flow_sign_off_train_render_switch_versions(comp, restyle_look, press):
    nuke = comp.nuke
    node = restyle_look()
    show = node.node("show")

    # GIVEN a fresh node THEN the plate shows with the warning, and rendering needs a sign-off
    assert show["which"].value() == 0 and "not rendered" in node.node("not_rendered")["message"].value()
    press(node, "render")
    assert "not signed off" in dialogs(nuke)[-1] and "Sign off plate" in dialogs(nuke)[-1]

    # WHEN the plate is signed off THEN its frame hashes are on the node
    press(node, "sign_off")
    signed = json.loads(node["signoff"].value())
    assert sorted(signed["plate"]) == ["1001", "1002", "1003"] and len(set(signed["plate"].values())) == 3

    # WHEN trained and rendered THEN the Read shows a complete cache version
    press(node, "train")
    first_model = model_of(node)
    assert os.path.isfile(first_model) and node["model_file"].value().startswith("models/")
    # AND it learnt to move with the plate from the key frame and the plate frame after it
    from inference.restyle.model_file import load_model
    assert json.loads((Path(first_model).parent / "job.json").read_text())["frames"] == "1001-1002"
    assert load_model(first_model).meta["training"]["temporal"]["pairs"] == 1
    press(node, "render")
    assert show["which"].value() == 1, node["status"].value()
    first_pattern = node.node("result")["file"].value()
    first_folder = Path(first_pattern).parent
    assert (first_folder / "complete.json").is_file()
    assert [frame_file(first_pattern, f).is_file() for f in (1001, 1002, 1003)] == [True] * 3
    progress = [u for task in nuke._standin.state.tasks for u in task.updates if u[0] == "progress"]
    assert ("progress", 100) in progress  # engine JSON progress reached Nuke's progress bar

    # AND the comp downstream reads those frames through the node
    out = nuke.nodes.Write(file=str(comp.dir / "out" / "comp.####.exr"), channels="rgba",
                           create_directories=True, inputs=[node])
    nuke.execute(out, 1002, 1002)
    comped = read_image(comp.dir / "out" / "comp.1002.exr").beauty().as_float32()
    cached = read_image(frame_file(first_pattern, 1002)).beauty().as_float32()
    plate = read_image(comp.scene / "exr" / "sceneA.1002.exr").beauty().as_float32()
    assert np.array_equal(comped[..., :3], cached[..., :3]) and not np.allclose(comped[..., :3], plate[..., :3])

    # WHEN the style reference changes (a second painted keyframe) and the range is rendered again
    before = {p.name: p.read_bytes() for p in first_folder.glob("*.exr")}
    node["key_frames"].setValue("1001 1003")
    press(node, "train")
    press(node, "render")
    second_pattern = node.node("result")["file"].value()
    # THEN a new model and a new cache version; the first version's frames are untouched
    assert model_of(node) != first_model
    assert Path(second_pattern).parent != first_folder
    assert {p.name: p.read_bytes() for p in first_folder.glob("*.exr")} == before
    first_key, second_key = first_folder.name, Path(second_pattern).parent.name
    from nuke_plugin.versions import key_of
    items = node["version"].values()
    assert [key_of(v) for v in items] == [first_key, second_key] and node["version"].value() == items[1]
    # AND the versions read as what they are: made when, and what changed (the painting: a new look)
    assert "first version" in items[0] and "painting" in items[1] and "3 frames" in node["version_info"].value()

    # WHEN the user picks the first version again THEN the Read goes back to its frames
    nuke._standin.user_sets(node["version"], items[0])
    assert node.node("result")["file"].value() == first_pattern and show["which"].value() == 1

    # AND a copy of the node with the same inputs and settings reuses those frames (no engine run)
    twin = restyle_look(key_frames="1001 1003")
    for name in ("signoff", "model_file"):
        twin[name].setValue(node[name].value())
    job = Path(second_pattern).parent / "job.json"
    made = job.stat().st_mtime_ns
    press(twin, "render")
    assert twin.node("result")["file"].value() == second_pattern and twin.node("show")["which"].value() == 1
    assert job.stat().st_mtime_ns == made

    # AND Render range checks the plate against the sign-off: a changed plate is refused
    comp.plate["file"].setValue(str(comp.scene / "png" / "sceneA_beauty.####.png"))
    press(twin, "render")
    assert "PLATE CHANGED" in dialogs(nuke)[-1] and "'plate' frames 1001-1003" in dialogs(nuke)[-1]
    assert "PLATE CHANGED" in twin["status"].value() and twin.node("result")["file"].value() == second_pattern
    comp.plate["file"].setValue(str(comp.scene / "exr" / "sceneA.####.exr"))

    # AND preview shows one frame of the current settings without touching the comp's version
    node["tile"].setValue(64)
    nuke.frame(1002)
    press(node, "preview")
    assert show["which"].value() == 2 and node.node("result")["file"].value() == first_pattern
    assert node.node("preview")["first"].value() == 1002


def test_updated_painting_retrains_from_the_approved_look(comp, restyle_look, press):
    from inference.image import Image, write_image
    from inference.restyle.model_file import load_model

    node = restyle_look()
    press(node, "sign_off")
    press(node, "train")
    approved = model_of(node)
    # WHEN the artist warms up the same keyframe (no channel clips) and Train runs again
    painting = read_image(Path(comp.keys["file"].value().replace("####", "1001"))).as_float32()
    warmer = comp.dir / "keys_v2" / "paint.1001.png"
    warmer.parent.mkdir()
    write_image(warmer, Image.from_array(painting * np.array([1.0, 0.96, 0.88], np.float32), ("R", "G", "B")))
    comp.keys["file"].setValue(str(comp.dir / "keys_v2" / "paint.####.png"))
    press(node, "train")
    # THEN the new look starts from the approved one and keeps its brushwork (a colour re-pass)
    updated = model_of(node)
    assert updated != approved and os.path.isfile(approved)
    job = json.loads((Path(updated).parent / "job.json").read_text())
    assert job["init"] == approved and job["repass"] == "auto"
    assert load_model(updated).meta["training"]["repass"] == "colour"
    # AND with 'Start from the approved look' off, it trains from scratch
    node["from_approved"].setValue(False)
    node["seed"].setValue(1)
    press(node, "train")
    job = json.loads((Path(model_of(node)).parent / "job.json").read_text())
    assert "init" not in job and "repass" not in job


def test_keyframe_detail_hands_the_paintings_to_the_render(comp, restyle_look, press):
    node = restyle_look("sign_off", "train", "render")
    plain = node.node("result")["file"].value()
    # WHEN 'Keyframe detail' is set and the range rendered again
    node["detail"].setValue(4)
    press(node, "render")
    detailed = node.node("result")["file"].value()
    # THEN a new version, rendered with the paintings the look was trained on
    assert Path(detailed).parent != Path(plain).parent, node["status"].value()
    job = json.loads((Path(detailed).parent / "job.json").read_text())
    assert job["detail"] == 4 and sorted(job["keys"]) == ["1001"] and os.path.isfile(job["keys"]["1001"])
    frames = [read_image(frame_file(p, 1002)).beauty().as_float32() for p in (plain, detailed)]
    assert np.abs(frames[0] - frames[1]).mean() > 1e-3


def test_train_again_resumes_a_stopped_training_from_its_checkpoint(comp, restyle_look, press):
    node = restyle_look("sign_off", "train")
    model = Path(model_of(node))
    assert model.with_suffix(".ckpt").is_file()
    # GIVEN a training that stopped before it exported (Cancel): its checkpoint is there, no look
    model.unlink()
    node["model_file"].setValue("")
    # WHEN Train is pressed again THEN the engine resumes from the checkpoint and the look is there
    press(node, "train")
    job = json.loads((model.parent / "job.json").read_text())
    assert job["resume"] is True and model_of(node) == str(model) and model.is_file()
