"""The test `nuke` executable (tests/stubs/nuke_cli.py): Nuke's `-x`/`-F` and `-t` command lines on
the stand-in, gizmos found only through NUKE_PATH, failures on stderr with a non-zero exit."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from inference.image import read_image

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def script(nuke_standin, write_sequence, tmp_path):
    """A saved script: Read (frames 1-4) -> RestyleDeflicker (disabled: passes its input through)
    -> Write out/comp.####.exr. Loading it needs the toolset's gizmos."""
    nuke = nuke_standin
    nuke._standin.reset(mode="gui", nuke_path=str(REPO))
    nuke._standin.startup()
    read = nuke.nodes.Read(file=write_sequence(frames=range(1, 5)), first=1, last=4)
    settle = nuke.createNode("RestyleDeflicker")
    settle.setInput(0, read)
    settle.setInput(1, read)
    settle["disable"].setValue(True)
    nuke.nodes.Write(file=str(tmp_path / "out" / "comp.####.exr"), create_directories=True, inputs=[settle])
    nuke.root()["first_frame"].setValue(1)
    nuke.root()["last_frame"].setValue(4)
    nuke.scriptSaveAs(str(tmp_path / "comp.nk"))
    return tmp_path / "comp.nk"


def run(nuke_exe, *args, nuke_path=None, cwd=None):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUKE_PATH")}
    if nuke_path is not None:
        env["NUKE_PATH"] = nuke_path
    return subprocess.run([str(nuke_exe), *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True)


def test_renders_each_range_through_the_gizmos_on_nuke_path(nuke_x, script, tmp_path):
    status, state, stderr = nuke_x(script, "1-2", tmp_path)
    assert status == 0, stderr
    assert [frame for _write, frame in state["written"]] == [1, 2]
    assert state["ran"] == [str(REPO / "init.py")]  # terminal mode: init.py from NUKE_PATH, no menu.py
    for frame in (1, 2):
        written = read_image(tmp_path / "out" / f"comp.{frame:04d}.exr").as_float32()
        source = read_image(tmp_path / "seq" / f"seq.{frame:04d}.exr").as_float32()
        assert np.array_equal(written, source)
    assert not (tmp_path / "out" / "comp.0003.exr").exists()


def test_several_ranges_render_only_their_frames_and_no_range_is_the_script_range(nuke_exe, script, tmp_path):
    done = run(nuke_exe, "-x", "-F", "1", "-F", "3-4", script, nuke_path=str(REPO), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["comp.0001.exr", "comp.0003.exr", "comp.0004.exr"]
    for path in (tmp_path / "out").iterdir():
        path.unlink()
    done = run(nuke_exe, "-x", script, nuke_path=str(REPO), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(list((tmp_path / "out").iterdir())) == 4


def test_without_nuke_path_the_gizmo_is_an_unknown_command(nuke_x, script, tmp_path):
    status, state, stderr = nuke_x(script, "1", tmp_path, nuke_path="")
    assert status == 1 and "RestyleDeflicker" in stderr and "unknown command" in stderr, stderr
    assert state["written"] == []


@pytest.mark.parametrize("args, message", [
    (["-t", "{script}"], "-t needs a Python file"),
    (["-x", "-X", "Write1", "{script}"], "switch -X is not emulated"),
    (["{script}"], "-x is required"),
    (["-x", "-F"], "-F needs a frame range"),
    (["-x", "{script}", "1-4"], "give frame ranges with -F"),
])
def test_unsupported_command_lines_exit_2_naming_the_problem(nuke_exe, script, args, message):
    done = run(nuke_exe, *[a.format(script=script) for a in args])
    assert done.returncode == 2 and message in done.stderr and "usage: nuke -x" in done.stderr, done.stderr


def test_a_failed_render_exits_1_with_nukes_error_on_stderr(nuke_exe, script, tmp_path):
    (tmp_path / "seq" / "seq.0002.exr").unlink()
    done = run(nuke_exe, "-x", "-F", "1-3", script, nuke_path=str(REPO), cwd=tmp_path)
    assert done.returncode == 1 and "Read error" in done.stderr and "seq.0002.exr" in done.stderr, done.stderr
    bad = run(nuke_exe, "-x", "-F", "4-1", script, nuke_path=str(REPO), cwd=tmp_path)
    assert bad.returncode == 1 and "bad frame range '4-1'" in bad.stderr


def test_terminal_python_gets_its_arguments_without_a_trailing_range_and_its_exit_status(nuke_exe, script, tmp_path):
    # GIVEN a Python file that opens the script and reports what it sees
    (tmp_path / "probe.py").write_text(
        "import json, sys\nimport nuke\n"
        "nuke.scriptOpen(sys.argv[1])\n"
        "json.dump({'argv': sys.argv[1:], 'gui': nuke.GUI, 'nodes': sorted(n.Class() for n in nuke.allNodes())},\n"
        "          open(sys.argv[2], 'w'))\n"
        "sys.exit(3 if nuke.executing() else 0)\n")
    # WHEN `nuke -t probe.py SCRIPT OUT 1-4` runs (a trailing frame range, as on some farms' command lines)
    done = run(nuke_exe, "-t", tmp_path / "probe.py", script, tmp_path / "seen.json", "1-4", nuke_path=str(REPO),
               cwd=tmp_path)
    # THEN the script ran in terminal mode with the gizmos from NUKE_PATH, without the range in sys.argv
    assert done.returncode == 0, done.stderr
    import json
    seen = json.loads((tmp_path / "seen.json").read_text())
    assert seen == {"argv": [str(script), str(tmp_path / "seen.json")], "gui": False,
                    "nodes": ["Read", "RestyleDeflicker", "Write"]}
    # AND an exception in the file exits 1 with its traceback on stderr; sys.exit(n) exits n
    (tmp_path / "bad.py").write_text("import sys\nif sys.argv[1:] == ['raise']:\n    raise ValueError('boom')\n"
                                     "sys.exit(7)\n")
    failed = run(nuke_exe, "-t", tmp_path / "bad.py", "raise", nuke_path=str(REPO), cwd=tmp_path)
    assert failed.returncode == 1 and "ValueError: boom" in failed.stderr
    assert run(nuke_exe, "-t", tmp_path / "bad.py", nuke_path=str(REPO), cwd=tmp_path).returncode == 7
