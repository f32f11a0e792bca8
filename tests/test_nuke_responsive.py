"""Nuke never freezes: every toolset button queues its job on a worker thread and returns within
100 ms (the stand-in records how long each button callback holds the main thread); the job runs on,
reaching the node only through Nuke's main loop, and finishes later. A node runs one job at a time;
several nodes run theirs at once; plain Reads go to the engine as files (nothing rendered by Nuke)."""
from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

HOLD_S = 0.1  # the limit for a button callback on the main thread


def busy(node):
    from nuke_plugin import worker

    return worker.busy(node.fullName())


def press_and_leave(node, button):
    """Press a button; returns how long it held the main thread (the job goes on)."""
    node[button].execute()
    import nuke

    return next(seconds for name, pressed, seconds in reversed(nuke._standin.state.holds)
                if (name, pressed) == (node.fullName(), button))


def test_every_button_returns_at_once_and_its_job_finishes_later(comp, restyle_look, settle):
    nuke = comp.nuke
    look = restyle_look()
    nuke.frame(1002)
    for button, done in (("sign_off", lambda: look["signoff"].value()),
                         ("train", lambda: look["model_file"].value()),
                         ("preview", lambda: look.node("show")["which"].value() == 2),
                         ("render", lambda: look.node("show")["which"].value() == 1)):
        held = press_and_leave(look, button)
        # THEN the button held the main thread under 100 ms and its job is still to do
        assert held is not None and held < HOLD_S, (button, held)
        assert busy(look) is not None and not done(), button
        # AND the job finishes while Nuke's main loop runs
        settle(120)
        assert done(), (button, look["status"].value())
    # AND progress went through a ProgressTask made on the worker thread
    assert any(("progress", 100) in task.updates for task in nuke._standin.state.tasks)
    # AND the plate and the paintings are plain Reads: the engine read their files, Nuke rendered nothing
    assert nuke._standin.state.written == []
    job = json.loads((comp.dir / "restyle_cache" / "models").glob("*/job.json").__next__().read_text())
    assert job["plate"] == str(comp.scene / "exr" / "sceneA.%04d.exr")


def test_a_second_press_says_so_and_two_nodes_render_at_once(comp, fake_engine, monkeypatch, press, settle, tmp_path):
    nuke = comp.nuke
    nodes = []
    model = comp.dir / "look.onnx"
    model.write_bytes(b"model")
    for _ in range(2):
        node = nuke.createNode("RestyleLook")
        node.setInput(0, comp.plate)
        node.setInput(1, comp.keys)
        node["model_file"].setValue(str(model))
        press(node, "sign_off")
        nodes.append(node)
    nodes[1]["tile"].setValue(64)  # a version of its own
    gate = tmp_path / "gate"
    monkeypatch.setenv("FAKE_MODE", "gate")  # the engine runs until the gate file appears
    monkeypatch.setenv("FAKE_GATE", str(gate))
    state = nuke._standin.state

    def engines_running() -> int:
        return sum(any(kind == "message" and text.startswith("run ") for kind, text in task.updates)
                   for task in state.tasks[-2:])

    # WHEN both nodes' Render range is pressed THEN both engines run at the same time
    for node in nodes:
        assert press_and_leave(node, "render") < HOLD_S
    nuke._standin.process_events(until=lambda: engines_running() == 2, timeout=120)
    assert [busy(n).state for n in nodes] == ["running", "running"]
    # AND a second press of a running node's button says so instead of starting twice
    assert press_and_leave(nodes[0], "render") < HOLD_S
    assert "already running 'Render range'" in nodes[0]["status"].value()
    gate.write_text("")
    settle(120)
    assert sorted(fake_engine()) == ["1001-1003", "1001-1003"]  # one engine run per node
    assert [n.node("show")["which"].value() for n in nodes] == [1, 1]
    assert nodes[0].node("result")["file"].value() != nodes[1].node("result")["file"].value()


def test_cancel_drops_a_queued_job(comp, fake_engine, monkeypatch, press, settle, tmp_path):
    from nuke_plugin import worker

    nuke = comp.nuke
    model = comp.dir / "look.onnx"
    model.write_bytes(b"model")
    nodes = []
    for _ in range(worker.MAX_RUNNING + 1):
        node = nuke.createNode("RestyleLook")
        node.setInput(0, comp.plate)
        node["model_file"].setValue(str(model))
        press(node, "sign_off")
        nodes.append(node)
    monkeypatch.setenv("FAKE_MODE", "gate")
    monkeypatch.setenv("FAKE_GATE", str(tmp_path / "gate"))
    for index, node in enumerate(nodes):
        node["tile"].setValue(64 * (index + 1))
        node["render"].execute()
    # THEN the last one waits in the session's queue; Cancel drops it at once
    assert busy(nodes[-1]).state == "queued" and "queued" in nodes[-1]["status"].value()
    nodes[-1]["cancel"].execute()
    assert busy(nodes[-1]) is None and "cancelled before it started" in nodes[-1]["status"].value()
    (tmp_path / "gate").write_text("")
    settle(120)
    assert len(fake_engine()) == worker.MAX_RUNNING and nodes[-1].node("show")["which"].value() == 0


@pytest.mark.parametrize("what", ["offset", "missing frame"])
def test_a_read_the_engine_cannot_reproduce_is_rendered_by_nuke(comp, restyle_look, settle, what):
    nuke = comp.nuke
    look = restyle_look()
    if what == "offset":
        comp.plate["frame_mode"].setValue("offset")  # frames 1001-1003 show files 991-993, held at 1001
        comp.plate["frame"].setValue("10")
    else:
        comp.plate["last"].setValue(1002)  # frame 1003 is held by Nuke, not on disk under that number
    look["sign_off"].execute()
    settle(120)
    assert look["signoff"].value(), look["status"].value()
    rendered = sorted(f for name, f in nuke._standin.state.written if name == look.name() + ".plate_cache")
    assert rendered == [1001, 1002, 1003]


def test_next_chunk_starts_at_the_viewer_and_spreads_out(nuke_standin):
    from nuke_plugin.jobs import next_chunk

    frames = list(range(1001, 1031))
    assert next_chunk(frames, 1010) == [1010]  # the frame looked at, alone: it lands first
    assert next_chunk([f for f in frames if f != 1010], 1010, 4) == [1011, 1012, 1013, 1014]
    assert next_chunk([f for f in frames if not 1010 <= f <= 1014], 1010, 4) == [1006, 1007, 1008, 1009]
    assert next_chunk(frames, 1) == list(range(1001, 1009))  # playhead outside the range: from its nearest end


def test_range_renders_the_viewers_frame_first_shows_frames_as_they_land_and_follows_the_playhead(
        comp, fake_engine, monkeypatch, press, settle, tmp_path):
    nuke = comp.nuke
    node = nuke.createNode("RestyleLook")
    node.setInput(0, comp.plate)
    model = comp.dir / "look.onnx"
    model.write_bytes(b"model")
    node["model_file"].setValue(str(model))
    press(node, "sign_off")
    show = node.node("show")["which"]
    gate = tmp_path / "gate"
    monkeypatch.setenv("FAKE_MODE", "gate")
    monkeypatch.setenv("FAKE_GATE", str(gate))
    engine_runs = lambda: len(fake_engine())  # noqa: E731

    # WHEN Render range is pressed with the Viewer on 1002 THEN the engine makes 1002 alone, first
    nuke.frame(1002)
    node["render"].execute()
    nuke._standin.process_events(until=lambda: engine_runs() == 1, timeout=120)
    assert fake_engine() == ["1002-1002"]
    # AND when the artist scrubs to 1001 meanwhile, 1001 comes next, before 1003
    nuke.frame(1001)
    gate.write_text("1002 1001")
    nuke._standin.process_events(until=lambda: engine_runs() == 3, timeout=120)
    assert fake_engine() == ["1002-1002", "1001-1001", "1003-1003"]
    # AND the frames already there show in the Viewer, the one still rendering shows the plate and the note
    nuke._standin.process_events(until=lambda: show.valueAt(1001) == 2, timeout=60)
    assert [show.valueAt(f) for f in (1001, 1002, 1003)] == [2, 2, 0]
    assert "rendering" in node.node("not_rendered")["message"].value()
    preview = node.node("preview")["file"].value()
    assert node.node("preview")["first"].value() == 1001 and node.node("preview")["last"].value() == 1003
    # WHEN the last frame lands THEN the node shows the complete version at every frame
    gate.write_text("")
    settle(120)
    assert not show.isAnimated() and show.value() == 1
    assert node.node("result")["file"].value() == preview


def test_inside_a_render_an_input_that_needs_nuke_is_refused_clearly(comp):
    from nuke_plugin import node_io
    from nuke_plugin.errors import PluginError
    from nuke_plugin.stages import RESTYLE

    nuke = comp.nuke
    look = nuke.createNode("RestyleLook")
    look.setInput(0, nuke.nodes.Text2(message="slate", inputs=[comp.plate]))  # not a plain Read
    errors = []

    def farm_like_hook():  # what the farm hook does inside `nuke -x`'s render
        try:
            node_io.render_input(look, RESTYLE.inputs[0], [1001])
        except PluginError as exc:
            errors.append(str(exc))

    nuke.addBeforeFrameRender(farm_like_hook)
    write = nuke.nodes.Write(file=str(comp.dir / "out" / "o.####.exr"), create_directories=True, inputs=[comp.plate])
    nuke.execute(write, 1001, 1001)
    assert len(errors) == 1 and "cannot render it inside a render" in errors[0] and "'plate'" in errors[0]
    assert "prep step" in errors[0] and [name for name, _f in nuke._standin.state.written] == [write.name()]


def test_extending_the_range_or_changing_plate_frames_renders_only_those_frames(
        comp, fake_engine, press, small_data, tmp_path):
    from inference.image import Image, read_image, write_image

    nuke = comp.nuke
    plate = tmp_path / "plate"  # a plate of our own, to change one frame of it
    plate.mkdir()
    for frame in (1001, 1002, 1003):
        (plate / f"p.{frame}.exr").write_bytes((comp.scene / "exr" / f"sceneA.{frame}.exr").read_bytes())
    read = nuke.nodes.Read(file=str(plate / "p.####.exr"), first=1001, last=1003)
    node = nuke.createNode("RestyleLook")
    node.setInput(0, read)
    node["model_file"].setValue(str(comp.dir / "look.onnx"))
    (comp.dir / "look.onnx").write_bytes(b"model")
    node["key_frames"].setValue("1001")
    node["detail"].setValue(0)  # no keyframe walk: each frame depends on its own plate frame only
    node["frame_range"].setValue("1001-1002")
    press(node, "sign_off", "render")
    assert fake_engine() == ["1001-1002"] and node.node("show")["which"].value() == 1
    first_version = node.node("result")["file"].value()

    # WHEN the range is extended by a frame THEN that frame is signed when first used (not "changed")
    # and it alone is rendered; the others come from the frame store into the new version
    node["frame_range"].setValue("1001-1003")
    press(node, "render")
    assert fake_engine() == ["1001-1002", "1003-1003"], node["status"].value()
    assert sorted(json.loads(node["signoff"].value())["plate"]) == ["1001", "1002", "1003"]
    second_version = node.node("result")["file"].value()
    assert second_version != first_version and node.node("show")["which"].value() == 1
    same = [read_image(p.replace("%04d", "1001")).as_float32() for p in (first_version, second_version)]
    assert (same[0] == same[1]).all()

    # WHEN one plate frame changes THEN the job stops naming it; signed off again, only it is rendered
    pixels = read_image(plate / "p.1002.exr")
    write_image(plate / "p.1002.exr", Image.from_array(pixels.as_float32() * 0.5, pixels.channels))
    press(node, "render")
    assert "PLATE CHANGED" in node["status"].value() and "'plate' frames 1002" in node["status"].value()
    press(node, "sign_off", "render")
    assert fake_engine()[2:] == ["1002-1002"], node["status"].value()
    assert node.node("show")["which"].value() == 1


def test_preview_works_before_any_sign_off_marked_unsigned(comp, fake_engine, press):
    nuke = comp.nuke
    node = nuke.createNode("RestyleLook")
    node.setInput(0, comp.plate)
    (comp.dir / "look.onnx").write_bytes(b"model")
    node["model_file"].setValue(str(comp.dir / "look.onnx"))
    nuke.frame(1002)
    press(node, "preview")
    assert node.node("show")["which"].value() == 2 and "UNSIGNED" in node["status"].value()
    assert fake_engine() == ["1002-1002"] and node["signoff"].value() == ""
    history = node["history"].value().strip()
    assert not history or json.loads(history)["versions"] == []  # an unsigned preview is no version
    # AND Render range still asks for the sign-off
    press(node, "render")
    assert "not signed off" in nuke._standin.state.dialogs[-1][1]


def test_training_progress_shows_steps_per_second_and_eta_in_the_status(comp, monkeypatch):
    from nuke_plugin import feedback

    node = comp.nuke.createNode("RestyleLook")
    clock = [100.0]
    monkeypatch.setattr(feedback, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    with feedback.Feedback(node, "Train") as fb:
        fb.event({"event": "progress", "stage": "train", "done": 10, "total": 110})
        clock[0] += 4.0  # 20 steps in 4 s: 5 steps/s, 80 steps left: 16 s
        fb.event({"event": "progress", "stage": "train", "done": 30, "total": 110})
    assert node["status"].value() == "Train: train 30/110 (5/s, ETA 0:16)"


def test_versions_have_labels_notes_sizes_and_purge_frees_what_no_node_shows(comp, fake_engine, press):
    from nuke_plugin.versions import key_of

    nuke = comp.nuke
    node = nuke.createNode("RestyleLook")
    node.setInput(0, comp.plate)
    (comp.dir / "look.onnx").write_bytes(b"model")
    node["model_file"].setValue(str(comp.dir / "look.onnx"))
    press(node, "sign_off", "render")
    node["tile"].setValue(64)
    press(node, "render")
    first, second = node["version"].values()
    assert "first version" in first and "settings: tile" in second
    assert node["version_info"].value().startswith(second.rsplit(" [", 1)[0]) and "3 frames" in node["version_info"].value()
    # WHEN a note is typed THEN it stays with that version
    nuke._standin.user_sets(node["version_note"], "approved by Kim")
    nuke._standin.user_sets(node["version"], first)
    assert node["version_note"].value() == "" and node.node("show")["which"].value() == 1
    nuke._standin.user_sets(node["version"], second)
    assert node["version_note"].value() == "approved by Kim" and "approved by Kim" in node["version_info"].value()

    # WHEN the first version is shown and the second approved (Render range approved it) THEN a purge keeps both
    nuke._standin.user_sets(node["version"], first)
    press(node, "purge")
    assert node["status"].value() == "nothing to purge: every cached version is shown or approved by a node"
    # WHEN the first version's settings are approved again, a purge is asked for and the user says no
    # THEN nothing goes
    node["tile"].setValue(0)
    press(node, "approve")
    assert key_of(first) in node["approved_info"].value()
    gone = comp.dir / "restyle_cache" / "restyle" / key_of(second)
    nuke._standin.state.panel_ok = False
    press(node, "purge")
    title = nuke._standin.state.dialogs[-1][1]
    assert title.startswith("Purge 1 cached version no node shows or approved, freeing ") and gone.is_dir()
    # AND when the user says yes THEN the unshown version and its stored frames go, the shown one stays
    nuke._standin.state.panel_ok = True
    press(node, "purge")
    assert not gone.exists() and "purged 1 versions" in node["status"].value()
    assert [key_of(v) for v in node["version"].values()] == [key_of(first)]
    assert node.node("show")["which"].value() == 1
    stored = list((comp.dir / "restyle_cache" / "restyle" / "frames").glob("*.exr"))
    assert len(stored) == 3 and all(p.stat().st_nlink == 2 for p in stored)  # the first version's frames
    # AND every button of this flow returned within 100 ms (the jobs ran on worker threads)
    holds = [(button, s) for _n, button, s in nuke._standin.state.holds]
    assert {"sign_off", "render", "purge", "approve"} <= {b for b, _s in holds} and all(s < HOLD_S for _b, s in holds), holds


def test_a_toolset_node_upstream_is_a_plain_read_only_while_it_shows_one_complete_version(comp):
    from nuke_plugin import node_io
    from nuke_plugin.stages import DEFLICKER

    nuke = comp.nuke
    look = nuke.createNode("RestyleLook")
    look.setInput(0, comp.plate)
    settle = nuke.createNode("RestyleDeflicker")
    settle.setInput(0, nuke.nodes.Dot(inputs=[look]))
    settle.setInput(1, comp.plate)
    src, guide = DEFLICKER.inputs
    # a fresh Restyle shows the plate with a note drawn over it: Nuke must render that
    assert node_io.plain_read(settle, src) is None and node_io.plain_read(settle, guide) is comp.plate
    node_io.show_result(look, "/cache/restyle/k/restyle.%04d.exr", 1001, 1003)
    assert node_io.plain_read(settle, src) is look.node("result")
    # while the Restyle renders a range frame by frame, its choice changes per frame: not a plain Read
    node_io.show_progress(look, "/cache/restyle/n/restyle.%04d.exr", 1001, 1003, [1002])
    assert node_io.plain_read(settle, src) is None


def test_training_shows_the_look_so_far_in_the_node_then_goes_back(comp, fake_engine, monkeypatch, press, settle,
                                                                   tmp_path):
    nuke = comp.nuke
    node = nuke.createNode("RestyleLook")
    node.setInput(0, comp.plate)
    node.setInput(1, comp.keys)
    node["key_frames"].setValue("1001")
    strip = comp.dir / "strip_made_by_the_engine.png"
    strip.write_bytes(Path(comp.keys["file"].value().replace("####", "1001")).read_bytes())
    gate = tmp_path / "gate"
    monkeypatch.setenv("FAKE_MODE", "train")
    monkeypatch.setenv("FAKE_STRIP", str(strip))
    monkeypatch.setenv("FAKE_GATE", str(gate))
    show = node.node("show")["which"]
    # WHEN Train runs and the engine has written its first picture of the look
    assert press_and_leave(node, "train") < HOLD_S
    nuke._standin.process_events(until=lambda: show.value() == 2, timeout=120)
    # THEN the node shows the strip (keys and the frame farthest from them) and says so in the status
    shown = node.node("preview")["file"].value()
    assert shown.endswith("watch/strip.png") and open(shown, "rb").read() == strip.read_bytes()
    nuke._standin.process_events(until=lambda: "look so far" in node["status"].value(), timeout=60)
    assert "frames 1001, 1003" in node["status"].value()
    job = json.loads((Path(shown).parent.parent / "job.json").read_text())
    assert job["out"].endswith("look.onnx")
    # WHEN training ends THEN the look is set and the node shows what it showed before (the plate)
    gate.write_text("")
    settle(120)
    assert node["model_file"].value().endswith("look.onnx") and show.value() == 0
    assert "last training strip" in node["status"].value()
