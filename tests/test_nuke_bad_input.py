"""Bad input in the GUI: the user is told what to fix, and the comp keeps the last good frames.

Engine failures use real processes: a missing interpreter, a Python without the engine, and a
small fake engine (the real one for hashing) that crashes mid-range or waits to be cancelled.
"""
from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest


def last_dialog(nuke) -> str:
    return nuke._standin.state.dialogs[-1][1]


def make_node(comp):
    node = comp.nuke.createNode("RestyleLook")
    node.setInput(0, comp.plate)
    node.setInput(1, comp.keys)
    return node


@pytest.fixture
def rendered(comp, fake_engine, monkeypatch, press):
    """A signed-off node (model file stands in) showing a complete first version."""
    node = make_node(comp)
    model = comp.dir / "look.onnx"
    model.write_bytes(b"model")
    node["model_file"].setValue(str(model))
    press(node, "sign_off")
    press(node, "render")
    assert node.node("show")["which"].value() == 1, node["status"].value()
    node["tile"].setValue(64)  # the next render is a new version
    return node, node.node("result")["file"].value()


def test_no_keyframe_names_the_knob(comp, press):
    node = make_node(comp)
    press(node, "train")
    assert "no keyframe" in last_dialog(comp.nuke) and "(key_frames)" in last_dialog(comp.nuke)
    assert "Train failed" in node["status"].value() and node["model_file"].value() == ""


@pytest.mark.parametrize("text, said", [("1003-1001", "ends before it starts"), ("1001 to 1003", "FIRST-LAST")])
def test_bad_frame_range_names_the_knob(comp, text, said, press):
    node = make_node(comp)
    node["frame_range"].setValue(text)
    press(node, "sign_off")
    assert said in last_dialog(comp.nuke) and "(frame_range)" in last_dialog(comp.nuke)
    assert node["signoff"].value() == ""


def test_preview_outside_the_range_says_so(rendered, comp, press):
    node, good = rendered
    comp.nuke.frame(1010)
    press(node, "preview")
    assert "1010" in last_dialog(comp.nuke) and "'Frame range' 1001-1003" in last_dialog(comp.nuke)
    assert node.node("result")["file"].value() == good and node.node("show")["which"].value() == 1


def test_engine_missing(comp, monkeypatch, press):
    monkeypatch.setenv("RESTYLE_PYTHON", str(comp.dir / "no" / "python"))
    node = make_node(comp)
    press(node, "sign_off")
    said = last_dialog(comp.nuke)
    assert "engine Python not found" in said and str(comp.dir / "no" / "python") in said and "RESTYLE_PYTHON" in said
    assert node["signoff"].value() == ""


def test_engine_not_installed_in_that_python(comp, monkeypatch, press):
    bare = comp.dir / "bare_python"  # this Python without site-packages: no engine there
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(bare.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("RESTYLE_PYTHON", str(bare))
    node = make_node(comp)
    press(node, "sign_off")
    said = last_dialog(comp.nuke)
    assert f"the engine is not installed in {bare}" in said and "No module named" in said and "RESTYLE_PYTHON" in said


def test_engine_crash_mid_range_keeps_the_last_good_version(rendered, comp, fake_engine, monkeypatch, press):
    node, good = rendered
    monkeypatch.setenv("FAKE_MODE", "crash")
    press(node, "render")
    assert "killed by signal 9" in last_dialog(comp.nuke) and "last good frames" in last_dialog(comp.nuke)
    assert node.node("result")["file"].value() == good and node.node("show")["which"].value() == 1
    kept = (Path(good).parent, Path(good).parent.parent / "frames")  # the good version, the frame store
    new_folders = [p for p in (comp.dir / "restyle_cache" / "restyle").iterdir() if p not in kept]
    assert len(new_folders) == 1 and not (new_folders[0] / "complete.json").exists()
    # WHEN rendered again THEN only the frames the crash left out are made, and the node switches
    monkeypatch.setenv("FAKE_MODE", "ok")
    press(node, "render")
    assert fake_engine()[-2:] == ["1001-1003", "1002-1003"]
    assert Path(node.node("result")["file"].value()).parent == new_folders[0]


@pytest.mark.parametrize("how", ["cancel button", "progress bar"])
def test_cancel_during_a_running_job_keeps_the_last_good_version(rendered, comp, monkeypatch, how, settle):
    node, good = rendered
    nuke = comp.nuke
    state = nuke._standin.state
    monkeypatch.setenv("FAKE_MODE", "wait")  # the engine runs until it is interrupted
    cancel_bar = []
    monkeypatch.setattr(state, "cancel_task", lambda task: bool(cancel_bar))

    def engine_running() -> bool:  # the engine's run stage has reported progress
        return any(kind == "message" and text.startswith("run ") for t in state.tasks for kind, text in t.updates)

    # WHEN Render range is pressed THEN the button returns while the job runs on
    node["render"].execute()
    nuke._standin.process_events(until=engine_running, timeout=120)
    assert "Render range" in node["status"].value() and state.holds[-1][2] < 0.1
    # AND the user cancels while it runs (Nuke stays responsive: the main loop runs meanwhile)
    if how == "cancel button":
        node["cancel"].execute()
        assert "cancelling" in node["status"].value() and state.holds[-1][1] == "cancel"
    else:
        cancel_bar.append(True)
    settle()
    assert "cancelled" in last_dialog(nuke)
    assert node.node("result")["file"].value() == good and node.node("show")["which"].value() == 1
    assert json.loads(node["history"].value())["shown"] == Path(good).parent.name


def test_cancel_while_nuke_renders_the_inputs(comp, monkeypatch, press):
    # GIVEN an input that is not a plain Read (text drawn over it), so Nuke renders it inside the node
    node = make_node(comp)
    pick = comp.nuke.nodes.Text2(message="slate", inputs=[comp.plate])
    node.setInput(0, pick)
    monkeypatch.setattr(comp.nuke._standin.state, "cancel_execute", lambda write, frame: frame == 1002)
    press(node, "sign_off")
    said = last_dialog(comp.nuke)
    assert "rendering the 'plate' input failed" in said and "Cancelled" in said
    assert node["signoff"].value() == "" and node.node("plate_cache")["disable"].value()
