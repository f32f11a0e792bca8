"""Submit to farm on a RestyleLook node (stand-in GUI, the Blender plate): `restyle submit` writes
Deadline jobs for the node's APPROVED version in four steps; run as Deadline would, the Nuke prep
(`nuke -t`, the test `nuke` executable) renders the plate Nuke must render outside any render, the
render tasks make the approved frames, and the comp's `nuke -x` only checks and reads them."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import openjd_render_tasks, submit_openjd

from inference import cli
from inference.image import read_image
from inference.sequence import SequencePattern

REPO = Path(__file__).resolve().parents[1]


def run_task(argv: list[str], job_info: dict, cwd: Path, state: Path) -> subprocess.CompletedProcess:
    """A CommandLine task as Deadline runs it: the job's environment (not the test's PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUKE_PATH", "RESTYLE_PYTHON")}
    env.update(dict(v.split("=", 1) for k, v in job_info.items() if k.startswith("EnvironmentKeyValue")))
    env["NUKE_STANDIN_STATE"] = str(state)
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)


def test_submit_to_farm_runs_the_approved_version_through_prep_render_and_comp(
        comp, restyle_look, nuke_x, nuke_exe, deadline_info, press):
    import json

    from nuke_plugin import jobs

    nuke = comp.nuke
    # GIVEN a look on a plate Nuke must render (a Text2 over the Read: not a plain Read), signed off,
    # trained and approved but not rendered, feeding the comp's Write; a knob changed after approval
    look = restyle_look()
    look.setInput(0, nuke.nodes.Text2(message="slate", inputs=[comp.plate]))
    press(look, "sign_off", "train", "approve")
    assert look["status"].value().startswith("approved restyle ["), look["status"].value()
    approved = jobs.approved(look)
    assert approved["key"] in look["approved_info"].value()
    look["batch"].setValue(2)  # not approved again: the farm must not use it
    assert jobs.version_of(look)["key"] != approved["key"]
    write = nuke.nodes.Write(file=str(comp.dir / "out" / "comp.####.exr"), channels="rgba", create_directories=True,
                             inputs=[look])
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))

    # WHEN the artist submits it to Deadline, two frames per task, without sending it now
    nuke._standin.state.panel_answers = {"Farm": "deadline", "Frames per task": "2", "Submit to Deadline now": False}
    press(look, "submit_farm")

    # THEN the job folder holds prep, render and comp jobs (no colour lock: no gate), each chunked
    status = look["status"].value()
    assert status.startswith("deadline job written to ") and "submit.sh" in status, status
    folder = Path(status[len("deadline job written to "):].split(" (")[0])
    assert sorted(p.name for p in folder.glob("*_job_info.job")) == [
        "comp_job_info.job", "prep_job_info.job", "render_job_info.job"]
    prep, prep_plugin = deadline_info(folder / "prep_job_info.job"), deadline_info(folder / "prep_plugin_info.job")
    render, plugin = deadline_info(folder / "render_job_info.job"), deadline_info(folder / "render_plugin_info.job")
    comp_job, comp_plugin = deadline_info(folder / "comp_job_info.job"), deadline_info(folder / "comp_plugin_info.job")
    assert {(j["Frames"], j["ChunkSize"]) for j in (prep, render, comp_job)} == {("1001-1003", "2")}
    assert (comp_plugin["SceneFile"], comp_plugin["Version"]) == (str(comp.dir / "comp.nk"), "15.1")
    # AND one deadlinecommand call submits them in that order, each waiting for the one before
    submit_line = shlex.split((folder / "submit.sh").read_text().splitlines()[-1])
    assert [Path(a).name for a in submit_line if a.endswith("_job_info.job")] == [
        "prep_job_info.job", "render_job_info.job", "comp_job_info.job"] and "-dependent" in submit_line
    # AND the prep is `nuke -t farm_prep.py SCRIPT FIRST-LAST NODE` with this Nuke, the toolset and the engine
    assert prep["Plugin"] == "CommandLine" and prep_plugin["Executable"] == nuke.EXE_PATH
    assert shlex.split(prep_plugin["Arguments"]) == ["-t", str(REPO / "nuke_plugin" / "farm_prep.py"),
                                                      str(comp.dir / "comp.nk"), "<STARTFRAME>-<ENDFRAME>",
                                                      look.fullName()]
    assert sorted(v for k, v in prep.items() if k.startswith("EnvironmentKeyValue")) == [
        f"NUKE_PATH={REPO}", f"RESTYLE_PYTHON={sys.executable}"]
    # AND a render task is the APPROVED version's `restyle render` (no batch) into its folder, reading
    # the plate the prep renders into the node's cache
    plate_cache = (comp.dir / "restyle_cache" / "inputs" / look.fullName() / "plate" / "plate.%04d.exr").as_posix()
    task = shlex.split(plugin["Arguments"].replace("<STARTFRAME>", "1003").replace("<ENDFRAME>", "1003"))
    assert cli.job_from_args("render", cli.build_parser().parse_args(task[2:])) == {
        "model": jobs.model_path(look), "plate": plate_cache, "out": approved["pattern"], "deflicker": "off",
        "device": "cpu", "frames": "1003-1003", "skip_existing": True,
        # the script's colour (Nuke's own LUTs: linear float files, docs/nuke.md "Colour")
        "ocio_config": "ocio://studio-config-latest", "plate_colourspace": "Linear Rec.709 (sRGB)",
        "out_colourspace": "Linear Rec.709 (sRGB)"}
    for stale in Path(plate_cache).parent.glob("plate.*.exr"):
        stale.unlink()  # the sign-off rendered them in the GUI; the farm's prep makes its own

    # WHEN Deadline runs the prep tasks (the farm's Nuke is the test executable)
    state = comp.dir / "prep_state.json"
    for first, last in ((1001, 1002), (1003, 1003)):
        args = prep_plugin["Arguments"].replace("<STARTFRAME>", str(first)).replace("<ENDFRAME>", str(last))
        done = run_task([str(nuke_exe), *shlex.split(args)], prep, Path(prep_plugin["StartupDirectory"]), state)
        # THEN each rendered the node's plate Write for its chunk, at the top level (no render running)
        assert done.returncode == 0, done.stderr
        assert json.loads(state.read_text())["written"] == [[look.fullName() + ".plate_cache", f]
                                                            for f in range(first, last + 1)]
    assert SequencePattern.parse(plate_cache).existing_frames() == [1001, 1002, 1003]

    # WHEN the render tasks run, then the comp job (its NUKE_PATH and chunk size)
    pattern = SequencePattern.parse(approved["pattern"])
    for first, last in ((1001, 1002), (1003, 1003)):
        task = plugin["Arguments"].replace("<STARTFRAME>", str(first)).replace("<ENDFRAME>", str(last))
        subprocess.run([plugin["Executable"], *shlex.split(task)], cwd=plugin["StartupDirectory"], check=True,
                       capture_output=True)
    made = {f: Path(pattern.path(f)).stat().st_mtime_ns for f in (1001, 1002, 1003)}
    env = dict(v.split("=", 1) for k, v in comp_job.items() if k.startswith("EnvironmentKeyValue"))
    status, comp_state, stderr = nuke_x(comp.dir / "comp.nk", "1001-1003", comp.dir, batch=env["RESTYLE_FARM_BATCH"],
                                        nuke_path=env["NUKE_PATH"])

    # THEN the comp executed only its own Write (nothing inside its render) and read the farm's frames as they were
    assert status == 0, stderr
    assert comp_state["written"] == [[write.name(), f] for f in (1001, 1002, 1003)]
    assert {f: Path(pattern.path(f)).stat().st_mtime_ns for f in made} == made
    for frame in (1001, 1002, 1003):
        out = read_image(comp.dir / "out" / f"comp.{frame}.exr").beauty().as_float32()
        assert np.array_equal(out[..., :3], read_image(pattern.path(frame)).beauty().as_float32()[..., :3])

    # WHEN the plate changes after sign-off THEN the prep task fails naming the input and frames
    comp.plate["file"].setValue(str(comp.scene / "png" / "sceneA_beauty.####.png"))
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    args = shlex.split(prep_plugin["Arguments"].replace("<STARTFRAME>", "1001").replace("<ENDFRAME>", "1002"))
    done = run_task([str(nuke_exe), *args], prep, comp.dir, state)
    assert done.returncode == 1 and "PLATE CHANGED" in done.stderr and "'plate' frames 1001-1002" in done.stderr, \
        done.stderr
    # AND with 'Override sign-off' on, it goes on
    look["override_signoff"].setValue(True)
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    done = run_task([str(nuke_exe), *args], prep, comp.dir, state)
    assert done.returncode == 0, done.stderr
    # AND Submit to farm never held Nuke's main thread for its job (the panel is answered at once here)
    assert [s < 0.1 for _n, button, s in nuke._standin.state.holds if button == "submit_farm"] == [True]


def test_submit_to_farm_refuses_an_unsaved_script_a_bad_task_size_and_an_unapproved_node(comp, press):
    nuke = comp.nuke
    look = nuke.createNode("RestyleLook")
    nuke._standin.state.panel_answers = {"Frames per task": "8"}
    nuke.root().setModified(True)
    press(look, "submit_farm")
    assert "save the script first" in nuke._standin.state.dialogs[-1][1] and "Submit to farm failed" in nuke._standin.state.dialogs[-1][1]
    nuke._standin.state.panel_answers = {"Frames per task": "eight"}
    press(look, "submit_farm")
    assert "Frames per task must be a whole number" in nuke._standin.state.dialogs[-1][1]
    nuke._standin.state.panel_answers = {"Farm": "opencue", "Submit to Deadline now": True}
    press(look, "submit_farm")
    assert "'Submit to Deadline now' is for the deadline farm" in nuke._standin.state.dialogs[-1][1]
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    nuke._standin.state.panel_answers = {"Farm": "deadline", "Frames per task": "8"}
    press(look, "submit_farm")
    assert f"{look.name()}: no approved version: press 'Approve'" in nuke._standin.state.dialogs[-1][1]
    assert not (comp.dir / "restyle_cache" / "farm").exists()


def test_submit_to_farm_openjd_carries_the_approved_versions_render_settings(comp, restyle_look, press,
                                                                             recording_python):
    import json

    from nuke_plugin import jobs

    nuke = comp.nuke
    # GIVEN an approved look whose settings are off the engine's defaults (deflicker off, its vectors,
    # a batch), then a knob changed after approval, in a saved script
    look = restyle_look()
    look["vectors"].setValue("dis")
    look["batch"].setValue(3)
    press(look, "sign_off", "train", "approve")
    approved = jobs.approved(look)
    look["batch"].setValue(2)  # not approved again: the farm must not use it
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))

    # WHEN the artist submits it as an Open Job Description job
    folder = submit_openjd(look, 2)
    values = json.loads((folder / "parameter_values.json").read_text())
    # THEN no colour lock (no reference) and the approved settings as template parameters
    assert "Reference" not in values and "ReportDir" not in values
    assert {k: values[k] for k in ("Deflicker", "Vectors", "Batch", "Device", "NukeNode")} == {
        "Deflicker": "off", "Vectors": "dis", "Batch": "3", "Device": "cpu", "NukeNode": look.fullName()}
    # AND each render task of `openjd run` is the approved version's `restyle render` of its chunk
    tasks = openjd_render_tasks(folder, recording_python)
    # (the plate is a plain Read: the engine reads its own files)
    assert tasks == [{"model": jobs.model_path(look, approved["job"]["model"]), "plate": comp.plate["file"].value().replace("####", "%04d"),
                      "out": approved["pattern"], "deflicker": "off", "vectors": "dis", "batch": 3, "device": "cpu",
                      "frames": frames, "skip_existing": True, "ocio_config": "ocio://studio-config-latest",
                      "plate_colourspace": "Linear Rec.709 (sRGB)", "out_colourspace": "Linear Rec.709 (sRGB)"}
                     for frames in ("1001-1002", "1003-1003")]


def test_submit_to_farm_refuses_a_node_in_a_chain_whose_other_nodes_lack_approved_frames(comp, restyle_look, press):
    import pytest

    from nuke_plugin import farm, jobs
    from nuke_plugin.errors import PluginError

    nuke = comp.nuke
    # GIVEN a chain plate -> Restyle (rendered, approved) -> Deflicker (approved, not rendered) -> Dot ->
    # ColourLock (never approved), and a Deflicker on the plate alone (not approved, not in the chain)
    look = restyle_look("sign_off", "train", "render")
    settle = nuke.createNode("RestyleDeflicker")
    settle.setInput(0, look)
    settle.setInput(1, comp.plate)
    settle["mode"].setValue("global")
    settle["radius"].setValue(1)
    settle["device"].setValue("cpu")
    press(settle, "sign_off", "approve")
    lock = nuke.createNode("RestyleColourLock")
    lock.setInput(0, nuke.nodes.Dot(inputs=[settle]))
    lock.setInput(1, comp.keys)
    aside = nuke.createNode("RestyleDeflicker")
    aside.setInput(0, comp.plate)
    aside.setInput(1, comp.plate)
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    assert [n.name() for n in farm.chain(settle)] == [look.name(), settle.name(), lock.name()]

    # WHEN the Restyle is submitted to the farm
    nuke._standin.state.panel_answers = {"Farm": "openjd", "Frames per task": "2"}
    press(look, "submit_farm")

    # THEN it is refused, naming the chain in order, each node lacking frames and why, and what to do; no job written
    said = nuke._standin.state.dialogs[-1][1]
    assert "Submit to farm failed" in said and f"{look.name()}: a farm job renders one toolset node" in said, said
    assert f"upstream first: {look.name()} -> {settle.name()} -> {lock.name()}" in said
    assert (f"{settle.name()} (downstream: approved version deflicker [{jobs.approved(settle)['key']}] is missing "
            "frames 1001-1003)") in said
    assert f"{lock.name()} (downstream: no approved version)" in said and aside.name() not in said
    assert "Render range the chain's nodes in the GUI in that order" in said
    assert not (comp.dir / "restyle_cache" / "farm").exists()
    # AND a job written from a shell (restyle submit --node) stops at its first prep task, saying the same
    with pytest.raises(PluginError, match=f"{settle.name()} \\(downstream: approved version deflicker"):
        farm.prep([look.fullName()], 1001, 1002)

    # WHEN the Deflicker is rendered in the GUI and the ColourLock disabled (the comp then passes it through)
    press(settle, "render")
    lock["disable"].setValue(True)
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))

    # THEN the Restyle's job is written, and its prep checks and readies the node's inputs
    folder = submit_openjd(look, 2)
    assert (folder / "parameter_values.json").is_file()
    farm.prep([look.fullName()], 1001, 1002)
    # AND a node upstream of the submitted one is named as upstream when it lacks frames
    Path(jobs.approved(look)["pattern"].replace("%04d", "1002")).unlink()
    with pytest.raises(PluginError, match=f"{look.name()} \\(upstream: approved version restyle \\[.*missing frames 1002\\)"):
        farm.check_chain(settle)
