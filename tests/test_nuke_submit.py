"""Submit to farm on a RestyleLook node (stand-in GUI, the Blender plate): `restyle submit` writes
Deadline jobs whose render tasks are the node's own `restyle render` into its cache version; run as
Deadline would, their frames are the ones the comp's `nuke -x` (the comp job) uses."""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import numpy as np

from inference import cli
from inference.image import read_image
from inference.sequence import SequencePattern

REPO = Path(__file__).resolve().parents[1]


def test_submit_to_farm_renders_the_nodes_version_on_the_farm_for_the_comp(comp, restyle_look, nuke_x, deadline_info, press):
    from nuke_plugin import jobs

    nuke = comp.nuke
    # GIVEN a trained, signed-off look (nothing rendered) feeding the comp's Write, the script saved
    look = restyle_look("sign_off", "train")
    write = nuke.nodes.Write(file=str(comp.dir / "out" / "comp.####.exr"), channels="rgba", create_directories=True,
                             inputs=[look])
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))

    # WHEN the artist submits it to Deadline, two frames per task, without sending it now
    nuke._standin.state.panel_answers = {"Farm": "deadline", "Frames per task": "2", "Submit to Deadline now": False}
    press(look, "submit_farm")

    # THEN the status names the job folder, which holds the render and comp jobs (no colour lock: no gate)
    status = look["status"].value()
    assert status.startswith("deadline job written to ") and "submit.sh" in status, status
    folder = Path(status[len("deadline job written to "):].split(" (")[0])
    assert sorted(p.name for p in folder.glob("*_job_info.job")) == ["comp_job_info.job", "render_job_info.job"]
    render, plugin = deadline_info(folder / "render_job_info.job"), deadline_info(folder / "render_plugin_info.job")
    comp_job, comp_plugin = deadline_info(folder / "comp_job_info.job"), deadline_info(folder / "comp_plugin_info.job")
    assert (render["Frames"], render["ChunkSize"], comp_job["Frames"], comp_job["ChunkSize"]) == (
        "1001-1003", "2", "1001-1003", "2")
    assert (comp_plugin["SceneFile"], comp_plugin["Version"]) == (str(comp.dir / "comp.nk"), "15.1")
    # AND a render task is the node's own `restyle render` into the node's current version, reading the
    # plate's own files (a plain Read)
    version = jobs.version_of(look)
    task = shlex.split(plugin["Arguments"].replace("<STARTFRAME>", "1003").replace("<ENDFRAME>", "1003"))
    assert cli.job_from_args("render", cli.build_parser().parse_args(task[2:])) == {
        "model": jobs.model_path(look), "plate": str(comp.scene / "exr" / "sceneA.%04d.exr"),
        "out": version["pattern"], "deflicker": "off", "device": "cpu", "frames": "1003-1003", "skip_existing": True,
        # the script's colour (Nuke's own LUTs: linear float files, docs/nuke.md "Colour")
        "ocio_config": "ocio://studio-config-latest", "plate_colourspace": "Linear Rec.709 (sRGB)",
        "out_colourspace": "Linear Rec.709 (sRGB)"}
    pattern = SequencePattern.parse(version["pattern"])
    assert Path(render["OutputDirectory0"], render["OutputFilename0"]) == Path(pattern.hashes)

    # WHEN Deadline runs the render tasks, then the comp job (its NUKE_PATH and chunk size)
    for first, last in ((1001, 1002), (1003, 1003)):
        task = plugin["Arguments"].replace("<STARTFRAME>", str(first)).replace("<ENDFRAME>", str(last))
        subprocess.run([plugin["Executable"], *shlex.split(task)], cwd=plugin["StartupDirectory"], check=True,
                       capture_output=True)
    made = {f: Path(pattern.path(f)).stat().st_mtime_ns for f in (1001, 1002, 1003)}
    env = dict(v.split("=", 1) for k, v in comp_job.items() if k.startswith("EnvironmentKeyValue"))
    status, state, stderr = nuke_x(comp.dir / "comp.nk", "1001-1003", comp.dir, batch=env["RESTYLE_FARM_BATCH"],
                                   nuke_path=env["NUKE_PATH"])

    # THEN the comp used the farm's frames as they were (checked against the sign-off, not re-rendered)
    assert status == 0, stderr
    assert [w for w in state["written"] if w[0] == write.name()] == [[write.name(), f] for f in (1001, 1002, 1003)]
    assert {f: Path(pattern.path(f)).stat().st_mtime_ns for f in made} == made
    for frame in (1001, 1002, 1003):
        out = read_image(comp.dir / "out" / f"comp.{frame}.exr").beauty().as_float32()
        assert np.array_equal(out[..., :3], read_image(pattern.path(frame)).beauty().as_float32()[..., :3])

    # WHEN the plate changes after sign-off THEN no job is written, unless 'Override sign-off' is on
    comp.plate["file"].setValue(str(comp.scene / "png" / "sceneA_beauty.####.png"))
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    (folder / "render_job_info.job").unlink()
    press(look, "submit_farm")
    assert "PLATE CHANGED" in nuke._standin.state.dialogs[-1][1] and not (folder / "render_job_info.job").exists()
    look["override_signoff"].setValue(True)
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    press(look, "submit_farm")
    assert look["status"].value().startswith("deadline job written to ") and (folder / "render_job_info.job").exists()
    # AND Submit to farm never held Nuke's main thread for its job (the panel is answered at once here)
    assert [s < 0.1 for _n, button, s in nuke._standin.state.holds if button == "submit_farm"] == [True] * 3


def test_submit_to_farm_refuses_an_unsaved_script_and_a_bad_task_size(comp, press):
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
    assert not (comp.dir / "restyle_cache" / "farm").exists()
