"""Stop during training keeps the look so far: a Ctrl-C (the Nuke node's Cancel) ends the training
loop, and the engine writes the model with its key check recorded and marked stopped early; the
node then renders with it, and Train again goes on from its checkpoint."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def train_until_stopped(small_data: Path, out: Path, key_psnr: float) -> tuple[int, list[dict], str]:
    """``restyle train`` interrupted (SIGINT) once its loop reports progress; (exit code, events, stderr)."""
    scene = small_data / "render_sceneA"
    argv = [sys.executable, "-m", "inference.cli", "train", "--plate", str(scene / "exr" / "sceneA.####.exr"),
            "--frames", "1001-1002", "--key", f"1001={small_data / 'style' / 'sceneA_painting.1001.png'}",
            "--out", str(out), "--steps", "100000", "--seconds", "300", "--key-psnr", str(key_psnr),
            "--device", "cpu", "--stability", "0", "--progress", "json"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    child = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=out.parent)
    events, other = [], []
    for line in child.stderr:
        try:
            events.append(json.loads(line))
        except ValueError:
            other.append(line)
            continue
        if events[-1].get("event") == "progress" and events[-1].get("done", 0) > 0 and child.poll() is None:
            child.send_signal(signal.SIGINT)  # once in the loop (later ones go to the same, already asked, run)
            break
    _, rest = child.communicate(timeout=300)
    for line in rest.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            other.append(line + "\n")
    return child.returncode, events, "".join(other)


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to a child process")
def test_stop_writes_the_look_so_far_marked_stopped_early_and_it_renders(small_data, tmp_path):
    from inference import cli
    from inference.restyle.model_file import checkpoint_path, load_model, require_key_check

    model = tmp_path / "look.onnx"
    code, events, said = train_until_stopped(small_data, model, key_psnr=0)
    # THEN training stopped early and wrote a usable look with its key check recorded
    assert code == 0, said
    assert any("stopped early" in e.get("message", "") for e in events), said
    training = require_key_check(load_model(model)).meta["training"]
    assert training["stopped_early"] is True and 0 < training["steps_done"] < 100000
    assert training["key_check"]["passed"] is True and training["key_check"]["psnr_db"] > 0
    assert checkpoint_path(model).is_file()
    # AND the look renders
    out = tmp_path / "out" / "look.####.exr"
    assert cli.main(["run", "--model", str(model), "--plate",
                     str(small_data / "render_sceneA" / "exr" / "sceneA.####.exr"), "--frames", "1002",
                     "--out", str(out), "--detail", "0", "--device", "cpu", "--progress", "none"]) == 0
    assert (tmp_path / "out" / "look.1002.exr").is_file()


@pytest.mark.skipif(os.name == "nt", reason="SIGINT to a child process")
def test_a_look_stopped_before_it_passes_its_key_check_is_written_marked_failed(small_data, tmp_path):
    from inference.errors import KeyCheckError
    from inference.restyle.model_file import load_model

    model = tmp_path / "look.onnx"
    code, _events, said = train_until_stopped(small_data, model, key_psnr=99)
    # THEN the engine says the key check failed (not a plain cancel) and the model is refused
    assert code == KeyCheckError.exit_code and "key" in said.lower(), said
    training = load_model(model).meta["training"]
    assert training["stopped_early"] is True and training["key_check"]["passed"] is False


def test_stop_in_the_node_keeps_the_look_so_far_and_train_again_goes_on(comp, restyle_look, press, settle):
    nuke = comp.nuke
    node = restyle_look("sign_off")
    node["steps"].setValue(100000)
    node["seconds"].setValue(300)
    node["plateau"].setValue(False)  # trains on until stopped (the learnt rule may end a resumed run at once)

    def stop_once_training() -> None:
        node["train"].execute()
        try:
            nuke._standin.process_events(until=lambda: "/100000" in node["status"].value(), timeout=120)
        except TimeoutError:
            pytest.fail("training did not report progress: " + node["status"].value())
        node["cancel"].execute()
        settle(300)

    # WHEN Train runs and the user presses Cancel while it trains
    stop_once_training()
    # THEN the node uses the look so far and says so
    from nuke_plugin import jobs

    stored = node["model_file"].value()  # relative to the cache (portable scripts)
    model = Path(jobs.model_path(node))
    assert model.is_file() and (model.parent / "stopped_early.json").is_file(), node["status"].value()
    assert "stopped early" in node["status"].value()
    # AND it renders with it
    nuke.frame(1002)
    press(node, "preview")
    assert node.node("show")["which"].value() == 2, node["status"].value()
    # WHEN Train is pressed again THEN it goes on from the checkpoint (and can be stopped again)
    stop_once_training()
    assert json.loads((model.parent / "job.json").read_text())["resume"] is True
    assert node["model_file"].value() == stored and model.is_file()
