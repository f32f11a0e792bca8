"""Stereo on the stand-in `nuke`, with the real engine: in a script of two views (as Foundry's
nukescripts.stereo.setViewsForStereo sets them up) a Restyle node renders its plate input per view
with `%V` in the cache paths, runs one engine job per view, keeps the sign-off per view, and its Read
shows each view's own frames. A changed frame of one view refuses only that view."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import openjd_render_tasks, submit_openjd

from inference.image import Image, read_image, write_image


def view_file(pattern: str, view: str, frame: int) -> Path:
    return Path(pattern.replace("%V", view).replace("%04d", f"{frame:04d}"))


def stereo_plate(comp):
    """Views left and right in the comp's script (as nukescripts.stereo.setViewsForStereo sets them) and
    a plate of one file sequence per view: (its folder, a Read of it through %V). The right view is the
    left one mirrored."""
    nuke = comp.nuke
    nuke.root().knob("views").fromScript("\n".join(("left #ff0000", "right #00ff00")))
    assert nuke.views() == ["left", "right"]
    plates = comp.dir / "plate"
    plates.mkdir()
    for frame in (1001, 1002, 1003):
        source = comp.scene / "exr" / f"sceneA.{frame}.exr"
        shutil.copy(source, plates / f"sceneA.left.{frame}.exr")
        beauty = read_image(source).beauty()
        write_image(plates / f"sceneA.right.{frame}.exr",
                    Image.from_array(beauty.as_float32()[:, ::-1].copy(), beauty.channels))
    return plates, nuke.nodes.Read(file=str(plates / "sceneA.%V.####.exr"), first=1001, last=1003)


def test_two_views_render_to_their_own_files_and_a_changed_view_is_refused_alone(comp, restyle_look, press,
                                                                                  recording_python):
    nuke = comp.nuke
    # GIVEN a script with views left and right, and a plate Read of one file sequence per view (%V):
    # the right view is the left one mirrored
    plates, stereo = stereo_plate(comp)
    look = restyle_look()
    look.setInput(0, stereo)

    # WHEN the plate is signed off, the look trained and the range rendered (which approves it)
    press(look, "sign_off", "train", "render")

    # THEN each view of the plate was rendered to its own files inside the node and signed on its own
    signed = json.loads(look["signoff"].value())
    assert sorted(signed) == ["plate@left", "plate@right"]
    assert all(sorted(hashes) == ["1001", "1002", "1003"] for hashes in signed.values())
    assert signed["plate@left"]["1002"] != signed["plate@right"]["1002"]
    # AND the node's Read reads a version with one file per view and frame (%V)
    assert look.node("show")["which"].value() == 1, look["status"].value()
    pattern = look.node("result")["file"].value()
    assert "%V" in pattern and (Path(pattern).parent / "complete.json").is_file()
    folder = Path(pattern).parent
    # AND one engine job per view, each reading that view's plate and writing that view's frames
    jobs = {view: json.loads((folder / f"job.{view}.json").read_text()) for view in ("left", "right")}
    for view, job in jobs.items():
        assert "%V" not in job["plate"] and f"plate.{view}." in job["plate"], job["plate"]
        assert job["out"] == pattern.replace("%V", view)
    for frame in (1001, 1002, 1003):
        left, right = (read_image(view_file(pattern, v, frame)).beauty().as_float32() for v in ("left", "right"))
        assert left.shape == right.shape and not np.allclose(left, right)
    # AND the comp downstream sees each view's frames through the node
    out = nuke.nodes.Write(file=str(comp.dir / "out" / "comp.%V.####.exr"), channels="rgba",
                           create_directories=True, inputs=[look])
    nuke.execute(out, 1002, 1002)
    for view in ("left", "right"):
        comped = read_image(comp.dir / "out" / f"comp.{view}.1002.exr").beauty().as_float32()
        cached = read_image(view_file(pattern, view, 1002)).beauty().as_float32()
        assert np.array_equal(comped[..., :3], cached[..., :3]), view

    # AND the farm's comp check wants every view's approved frames: one view's missing frame stops it
    from nuke_plugin import farm
    from nuke_plugin.errors import PluginError

    farm.check(1001)
    farm.prep([look.fullName()], 1001, 1003)  # the farm's prep: every view of the plate as approved
    view_file(pattern, "right", 1003).unlink()
    with pytest.raises(PluginError, match="is missing frames 1003"):
        farm.check(1003)
    # AND Submit to farm writes a job whose render tasks run the approved version once per view, each
    # reading that view's plate (where the prep renders it) and writing that view's frames
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    job = submit_openjd(look, 2)
    tasks = openjd_render_tasks(job, recording_python)
    inputs = (comp.dir / "restyle_cache" / "inputs" / look.fullName() / "plate").as_posix()
    assert [(t["frames"], t["plate"], t["out"]) for t in tasks] == [
        (frames, f"{inputs}/plate.{view}.%04d.exr", pattern.replace("%V", view))
        for frames in ("1001-1002", "1003-1003") for view in ("left", "right")]

    # WHEN a frame of the right view's plate changes after sign-off and another version is rendered
    changed = read_image(plates / "sceneA.right.1002.exr").beauty()
    write_image(plates / "sceneA.right.1002.exr", Image.from_array(changed.as_float32() * 0.5, changed.channels))
    look["batch"].setValue(2)
    press(look, "render")

    # THEN only the right view is refused, naming it and the frame; the left view's frames are made
    dialog = nuke._standin.state.dialogs[-1][1]
    assert "PLATE CHANGED" in dialog and "'plate' view right frames 1002" in dialog and "view left" not in dialog
    assert look.node("result")["file"].value() == pattern  # the comp keeps the complete version
    new = next(p for p in folder.parent.iterdir() if p != folder and p.name != "frames")
    assert sorted(p.name for p in new.glob("*.exr")) == [f"restyle.left.{f}.exr" for f in (1001, 1002, 1003)]
    assert not (new / "complete.json").exists()
    # AND the farm's prep refuses that view of the approved version too
    with pytest.raises(PluginError, match="'plate' view right frames 1002"):
        farm.prep([look.fullName()], 1001, 1003)


def recorded_engine_jobs(monkeypatch) -> list:
    """Every engine job the plug-in runs from now on, as (command, its manifest), in order."""
    from nuke_plugin import engine

    jobs: list = []
    run = engine.run

    def recording(command, manifest, *args, **kwargs):
        jobs.append((command, json.loads(Path(manifest).read_text())))
        return run(command, manifest, *args, **kwargs)

    monkeypatch.setattr(engine, "run", recording)
    return jobs


def test_preview_in_two_views_runs_one_engine_job_per_view_and_shows_each_view_its_frame(
        comp, restyle_look, press, monkeypatch):
    nuke = comp.nuke
    # GIVEN a two-view script whose look is trained (the plate not signed off yet: Preview still works)
    plates, stereo = stereo_plate(comp)
    look = restyle_look()
    look.setInput(0, stereo)
    press(look, "train")
    jobs = recorded_engine_jobs(monkeypatch)

    # WHEN the compositor previews the Viewer's frame 1002
    nuke.frame(1002)
    press(look, "preview")

    # THEN the engine made frame 1002 once per view: each job read that view's plate and wrote that view's file
    assert look.node("show")["which"].value() == 2, look["status"].value()
    pattern = look.node("preview")["file"].value()
    assert "%V" in pattern, pattern
    renders = [manifest for command, manifest in jobs if command == "render"]
    assert sorted((job["frames"], job["out"]) for job in renders) == [
        ("1002-1002", pattern.replace("%V", view)) for view in ("left", "right")]
    for job in renders:
        view = "left" if ".left." in job["out"] else "right"
        assert "%V" not in job["plate"] and f".{view}." in job["plate"], job["plate"]
        read = read_image(view_file(job["plate"], view, 1002)).beauty().as_float32()
        source = read_image(plates / f"sceneA.{view}.1002.exr").beauty().as_float32()
        assert np.allclose(read[..., :3], source[..., :3]), view  # the views' plates differ (mirrored)
    folder = Path(pattern).parent
    assert sorted(p.name for p in folder.glob("job*.json")) == ["job.left.json", "job.right.json"]
    assert sorted(p.name for p in folder.glob("*.exr")) == ["restyle.left.1002.exr", "restyle.right.1002.exr"]
    # AND the node shows each view its own previewed frame downstream
    out = nuke.nodes.Write(file=str(comp.dir / "out" / "comp.%V.####.exr"), channels="rgba",
                           create_directories=True, inputs=[look])
    nuke.execute(out, 1002, 1002)
    shown = {}
    for view in ("left", "right"):
        shown[view] = read_image(comp.dir / "out" / f"comp.{view}.1002.exr").beauty().as_float32()[..., :3]
        previewed = read_image(view_file(pattern, view, 1002)).beauty().as_float32()[..., :3]
        assert np.array_equal(shown[view], previewed), view
    assert not np.allclose(shown["left"], shown["right"])


def test_colourlock_in_two_views_writes_and_opens_a_qc_report_per_view(comp, press, desktop):
    nuke = comp.nuke
    # GIVEN a ColourLock on a two-view plate, locked to the painted frame 1001 (one picture for both views)
    plates, stereo = stereo_plate(comp)
    node = nuke.createNode("RestyleColourLock")
    node.setInput(0, stereo)
    node.setInput(1, comp.keys)
    node["reference_frame"].setValue(1001)

    # WHEN the plate is signed off and the range rendered
    press(node, "sign_off", "render")

    # THEN each view's engine job wrote its QC report into its own folder, measured on that view's frames
    assert node.node("show")["which"].value() == 1, node["status"].value()
    folder = Path(node.node("result")["file"].value()).parent
    for view in ("left", "right"):
        # (the reference, a Read without %V that could be a multi-view EXR, rendered by Nuke in each view)
        reference = json.loads((folder / f"job.{view}.json").read_text())["reference"]
        assert reference.endswith(f"/reference/reference.{view}.1001.exr"), reference
        report = json.loads((folder / f"report.{view}" / "report.json").read_text())
        assert report["source"].endswith(f"/src.{view}.%04d.exr") and report["frames"] == "1001-1003", report["source"]
    assert not (folder / "report").exists()

    # WHEN Open report is pressed
    node["open_report"].execute()

    # THEN the desktop opens each view's QC report, in the order of the script's views
    assert desktop == [str(folder / f"report.{view}" / "report.html") for view in ("left", "right")]
