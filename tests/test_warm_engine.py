"""The warm engine: ``restyle serve`` runs the jobs sent to it as JSON lines, one at a time, exactly as
the command would (its manifest's folder, its exit code, its progress lines), and a cancel stops
only the job it names; the Nuke plug-in keeps one per session, starts it again when it died, falls
back to a process per job when it cannot start, and the engine keeps a look loaded between jobs."""
from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

from inference.jobs.serve import Server

REPO = Path(__file__).resolve().parents[1]


# --- engine side: the protocol, in process ---------------------------------------------------------------

def serve(run_command, requests, idle_s=None) -> tuple[int, list[dict]]:
    """Serve ``requests`` (a file of JSON lines, or a list of records); returns the exit code and replies."""
    import io

    if isinstance(requests, list):
        requests = io.StringIO("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in requests))
    replies = io.StringIO()
    code = Server(run_command, requests, replies, idle_s).serve()
    return code, [json.loads(line) for line in replies.getvalue().splitlines()]


def test_jobs_run_in_order_in_their_folders_with_their_exit_codes(tmp_path, capsys):
    seen = []

    def command(argv):
        seen.append((argv, os.getcwd()))
        print("wrote 3 frame(s)")  # a command's stdout goes to stderr, never among the replies
        print(json.dumps({"event": "note", "stage": argv[0], "message": "working"}), file=sys.stderr)
        return 3 if argv[0] == "colourlock" else 0

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    here = os.getcwd()
    code, replies = serve(command, [{"job": 1, "command": "render", "manifest": str(tmp_path / "a" / "job.json")},
                                    {"job": "x", "command": "colourlock", "manifest": str(tmp_path / "b" / "job.json")}])
    assert code == 0 and os.getcwd() == here
    assert replies[0]["event"] == "ready" and replies[0]["pid"] == os.getpid()
    assert replies[1:] == [{"event": "note", "stage": "render", "message": "working"},
                           {"event": "exit", "job": 1, "code": 0},
                           {"event": "note", "stage": "colourlock", "message": "working"},
                           {"event": "exit", "job": "x", "code": 3}]
    assert seen == [(["render", "--manifest", str(tmp_path / "a" / "job.json"), "--progress", "json"],
                     os.path.realpath(tmp_path / "a")),
                    (["colourlock", "--manifest", str(tmp_path / "b" / "job.json"), "--progress", "json"],
                     os.path.realpath(tmp_path / "b"))]
    assert "wrote 3 frame(s)" in capsys.readouterr().err


def test_a_request_it_cannot_read_is_answered_64_and_serving_goes_on(tmp_path):
    code, replies = serve(lambda argv: 0, ["not json", {"job": 2, "command": "serve", "manifest": "m.json"},
                                           {"job": 3, "command": "render"},
                                           {"job": 4, "command": "hash", "manifest": str(tmp_path / "m.json")}])
    exits = [r for r in replies if r["event"] == "exit"]
    assert [(r["job"], r["code"]) for r in exits] == [(None, 64), (2, 64), (3, 64), (4, 0)]
    assert "not json" in exits[0]["error"] and "serve" in exits[1]["error"]


def test_a_cancel_stops_only_the_job_it_names_and_the_engine_serves_on(tmp_path):
    started, runs = threading.Event(), []

    def command(argv):  # like restyle's main: Ctrl-C ends the command with 130
        runs.append(argv[0])
        if argv[0] == "hash":
            return 0
        started.set()
        try:
            while True:
                time.sleep(0.01)
        except KeyboardInterrupt:
            return 130

    read, write = os.pipe()
    requests, sender = os.fdopen(read), os.fdopen(write, "w")
    manifest = str(tmp_path / "job.json")

    def send():
        sender.write(json.dumps({"job": 1, "command": "render", "manifest": manifest}) + "\n")
        sender.flush()
        started.wait(30)
        for record in ({"cancel": 7}, {"cancel": 1}):  # a cancel for another job changes nothing
            sender.write(json.dumps(record) + "\n")
            sender.flush()
            time.sleep(0.3)
        assert runs == ["render"]
        sender.write(json.dumps({"job": 2, "command": "hash", "manifest": manifest}) + "\n")
        sender.close()

    threading.Thread(target=send, daemon=True).start()
    code, replies = serve(command, requests)
    assert code == 0
    assert [(r["job"], r["code"]) for r in replies if r["event"] == "exit"] == [(1, 130), (2, 0)]


def test_it_exits_after_its_idle_minutes(tmp_path):
    read, write = os.pipe()
    with os.fdopen(read) as requests, os.fdopen(write, "w"):
        started = time.monotonic()
        code, replies = serve(lambda argv: 0, requests, idle_s=0.2)
    assert code == 0 and replies == [{"event": "ready", "pid": os.getpid()}] and time.monotonic() - started < 30


# --- the plug-in's side: one warm engine per session ------------------------------------------------------

@pytest.fixture
def plugin_engine(monkeypatch, tmp_path):
    """nuke_plugin.engine with the engine on this Python and this tree; its warm engine stopped after."""
    from nuke_plugin import engine

    monkeypatch.setenv("RESTYLE_PYTHON", sys.executable)
    monkeypatch.setenv("RESTYLE_PREFS", str(tmp_path / "prefs.json"))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    engine.stop_warm_engine()
    monkeypatch.setitem(engine._warm, "refused", None)
    yield engine
    engine.stop_warm_engine()


def hash_job(folder: Path, small_data: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "job.json"
    manifest.write_text(json.dumps({"version": 1, "stage": "hash", "frames": "1001-1002", "json": str(folder / "h.json"),
                                    "plate": str(small_data / "render_sceneA" / "exr" / "sceneA.####.exr")}))
    return str(manifest)


def test_jobs_go_to_one_warm_engine_which_is_started_again_when_it_died(plugin_engine, tmp_path, small_data):
    engine, events = plugin_engine, []
    # WHEN two hash jobs run through the plug-in
    for name in ("a", "b"):
        assert engine.run("hash", hash_job(tmp_path / name, small_data), events.append, lambda: False) == 0
    warm = engine._warm["engine"]
    # THEN one warm engine ran both (the same process, still there), with the one-shot command's results
    assert warm is not None and warm.alive()
    frames = json.loads((tmp_path / "a" / "h.json").read_text())["frames"]
    assert sorted(frames) == ["1001", "1002"] and frames == json.loads((tmp_path / "b" / "h.json").read_text())["frames"]
    assert any(e.get("stage") == "hash" and e.get("event") == "progress" for e in events)
    # WHEN it dies between jobs THEN the next job starts another and runs there
    warm.child.kill()
    warm.child.wait()
    assert engine.run("hash", hash_job(tmp_path / "c", small_data), events.append, lambda: False) == 0
    again = engine._warm["engine"]
    assert again is not warm and again.alive() and (tmp_path / "c" / "h.json").is_file()
    # AND a change of Nuke's environment starts another, which the engine then sees
    os.environ["RESTYLE_WARM_TEST"] = "1"
    try:
        engine.run("hash", hash_job(tmp_path / "d", small_data), events.append, lambda: False)
        assert engine._warm["engine"] is not again and not again.alive()
    finally:
        del os.environ["RESTYLE_WARM_TEST"]
    # AND at Nuke's exit it is stopped
    last = engine._warm["engine"]
    engine.stop_warm_engine()
    assert not last.alive() and engine._warm["engine"] is None


def wrapper_python(folder: Path, script: str) -> str:
    """An executable 'python' running ``script`` (which gets the engine's argv) on this Python."""
    (folder / "fake.py").write_text(script)
    wrapper = folder / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{folder / "fake.py"}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    return str(wrapper)


@pytest.mark.skipif(os.name == "nt", reason="the fake Python is a shell script")
def test_without_a_warm_engine_each_job_runs_in_a_process_of_its_own(plugin_engine, monkeypatch, tmp_path, small_data):
    # GIVEN an engine Python that cannot serve (an older engine: 'serve' is an unknown command)
    fake = wrapper_python(tmp_path, "import os, sys\nif sys.argv[3] == 'serve':\n    sys.exit(64)\n"
                                    "os.execv(sys.executable, [sys.executable] + sys.argv[1:])\n")
    monkeypatch.setenv("RESTYLE_PYTHON", fake)
    notes = []
    # WHEN jobs run THEN they run anyway, the first saying once that there is no warm engine
    for name in ("a", "b"):
        assert plugin_engine.run("hash", hash_job(tmp_path / name, small_data), notes.append, lambda: False) == 0
        assert (tmp_path / name / "h.json").is_file()
    said = [e["message"] for e in notes if e.get("stage") == "engine"]
    assert len(said) == 1 and "no warm engine" in said[0] and plugin_engine._warm["engine"] is None


FAKE_SERVE = """
import json, sys, time
sys.path.insert(0, {repo!r})
from inference.jobs.serve import Server

def command(argv):
    if json.load(open(argv[2])).get("wait"):
        try:
            while True:
                print(json.dumps({{"event": "progress", "stage": "render", "done": 0, "total": 3}}), file=sys.stderr)
                time.sleep(0.02)
        except KeyboardInterrupt:
            return 130
    return 0

sys.exit(Server(command, sys.stdin, sys.stdout, None).serve())
"""


@pytest.mark.skipif(os.name == "nt", reason="the fake Python is a shell script")
def test_cancel_stops_the_job_on_the_warm_engine_which_serves_the_next(plugin_engine, monkeypatch, tmp_path):
    engine = plugin_engine
    monkeypatch.setenv("RESTYLE_PYTHON", wrapper_python(tmp_path, FAKE_SERVE.format(repo=str(REPO))))
    (tmp_path / "wait.json").write_text(json.dumps({"wait": True}))
    (tmp_path / "quick.json").write_text(json.dumps({}))
    events = []
    # WHEN a running job on the warm engine is cancelled THEN it ends as cancelled
    with pytest.raises(engine.EngineError) as info:
        engine.run("render", str(tmp_path / "wait.json"), events.append, lambda: len(events) >= 3)
    assert info.value.exit_code == engine.CANCELLED
    warm = engine._warm["engine"]
    # AND the same warm engine runs the next job
    assert engine.run("render", str(tmp_path / "quick.json"), events.append, lambda: False) == 0
    assert engine._warm["engine"] is warm and warm.alive()


def test_a_second_job_while_the_warm_engine_is_busy_runs_in_its_own_process(plugin_engine, monkeypatch, tmp_path,
                                                                             small_data):
    engine = plugin_engine
    assert engine.run("hash", hash_job(tmp_path / "a", small_data), lambda e: None, lambda: False) == 0
    warm = engine._warm["engine"]
    with engine._warm_busy:  # another node's job holds it
        assert engine.run("hash", hash_job(tmp_path / "b", small_data), lambda e: None, lambda: False) == 0
    assert (tmp_path / "b" / "h.json").is_file() and engine._warm["engine"] is warm


# --- the engine keeps a look loaded ----------------------------------------------------------------------

def test_a_look_is_loaded_once_per_version_of_its_file(restyle_model, tmp_path):
    from inference.restyle import warm
    from inference.restyle.settings import RuntimeSettings

    model_path = tmp_path / "look.onnx"
    shutil.copy(restyle_model, model_path)
    first = warm.checked_model(str(model_path))
    assert warm.checked_model(str(model_path)) is first
    runtime, said = RuntimeSettings(device="cpu"), []
    runner = warm.backend_for(first, runtime, said.append)
    assert warm.backend_for(first, runtime, said.append) is runner and "already loaded" in said[-1]
    # WHEN the file is replaced (trained again) THEN it is loaded afresh, with a backend of its own
    shutil.copy(restyle_model, tmp_path / "new.onnx")
    os.replace(tmp_path / "new.onnx", model_path)
    again = warm.checked_model(str(model_path))
    assert again is not first and warm.backend_for(again, runtime, said.append) is not runner
