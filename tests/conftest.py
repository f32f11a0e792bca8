"""Shared fixtures: the test material (small committed copy and the real one in ../shared/data)
and small generated sequences."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
SMALL_DATA = Path(__file__).resolve().parent / "fixtures"


def pytest_collection_modifyitems(items):
    """A test that asks for the ``shared_data`` fixture carries the ``shared_data`` mark."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.shared_data)


def pytest_runtest_setup(item):
    if item.get_closest_marker("shared_data"):
        require_shared_data()


def require_shared_data() -> Path:
    """../shared/data, or skip the test saying where it was expected; with CI=true (CI always
    has ../shared beside the clone) its absence fails the test instead."""
    if SHARED_DATA.is_dir():
        return SHARED_DATA
    message = f"../shared/data not found beside the clone (expected at {SHARED_DATA})"
    if os.environ.get("CI", "").lower() in ("true", "1"):
        pytest.fail(f"{message}; CI=true needs it", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full real EXR/PNG material (tests using it are marked ``shared_data``)."""
    return require_shared_data()


@pytest.fixture(scope="session")
def small_data() -> Path:
    """A small committed copy of part of ../shared/data, same layout (tests/fixtures/PROVENANCE.md):
    frames 1001-1006, the Blender render 160x90 (EXR with Depth/Normal/Vector, beauty PNG,
    painting), the bikes clip and its Kuwahara stylisation 320x136."""
    return SMALL_DATA


@pytest.fixture
def write_sequence(tmp_path):
    """Write a small RGBA half EXR sequence; returns its pattern text."""
    from inference.image import Image, write_image
    from inference.sequence import SequencePattern

    def make(frames=range(1, 5), size=(32, 16), name="seq", ext="exr", fill=None):
        pattern = SequencePattern.parse(str(tmp_path / name / f"{name}.####.{ext}"))
        pattern.directory.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        for frame in frames:
            pixels = rng.uniform(0, 1, (size[1], size[0], 4)).astype(np.float32)
            if fill is not None:
                pixels[:] = fill
            channels = ("R", "G", "B", "A")
            write_image(pattern.path(frame), Image.from_array(pixels if ext != "exr" else pixels.astype(np.float16), channels))
        return pattern.hashes

    return make


# --- the stand-in `nuke` module (tests/stubs) --------------------------------------------------

STUBS = Path(__file__).resolve().parent / "stubs"


@pytest.fixture
def nuke_standin(request, monkeypatch):
    """The stand-in `nuke` module, reset to a fresh process in `mode` ("gui" by default).

    Pick the mode with ``@pytest.mark.parametrize("nuke_standin", ["terminal"], indirect=True)``.
    sys.path and the imported nuke/nuke_plugin modules are restored afterwards.
    """
    import sys

    monkeypatch.setattr(sys, "path", [str(STUBS)] + [p for p in sys.path if p != str(STUBS)])
    before = set(sys.modules)
    import nuke

    if not str(getattr(nuke, "__file__", "")).startswith(str(STUBS)):
        pytest.fail(f"imported a `nuke` that is not the stand-in: {nuke!r}")
    nuke._standin.reset(mode=getattr(request, "param", "gui"))
    yield nuke
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("nuke", "nukescripts", "nuke_plugin"):
            del sys.modules[name]
            parent, _, child = name.rpartition(".")
            if parent in sys.modules:  # else `from . import child` would find the stale module
                sys.modules[parent].__dict__.pop(child, None)


@pytest.fixture
def comp(nuke_standin, tmp_path, monkeypatch, small_data):
    """A GUI session with NUKE_PATH=<repo>, a saved script (1001-1003) and Reads of the Blender
    plate (EXR, small copy) and its painted references (PNG); the engine runs on this Python."""
    import sys
    from types import SimpleNamespace

    monkeypatch.setenv("RESTYLE_PYTHON", sys.executable)
    monkeypatch.setenv("RESTYLE_PREFS", str(tmp_path / "prefs.json"))
    # the engine children import this tree's engine (the shared venv's editable install may point elsewhere)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("RESTYLE_FARM_BATCH", "1")
    nuke = nuke_standin
    nuke._standin.reset(mode="gui", nuke_path=str(REPO))
    nuke._standin.startup()
    nuke.root()["first_frame"].setValue(1001)
    nuke.root()["last_frame"].setValue(1003)
    nuke.scriptSaveAs(str(tmp_path / "comp.nk"))
    scene = small_data / "render_sceneA"
    plate = nuke.nodes.Read(file=str(scene / "exr" / "sceneA.####.exr"), first=1001, last=1003)
    keys = nuke.nodes.Read(file=str(small_data / "style" / "sceneA_painting.####.png"), first=1001, last=1006)
    yield SimpleNamespace(nuke=nuke, plate=plate, keys=keys, dir=tmp_path, scene=scene)
    worker = sys.modules.get("nuke_plugin.worker")
    if worker is not None and not worker.idle():  # a test that left a job running: stop it, let it end
        for name in list(worker._jobs):
            worker.cancel(name)
        nuke._standin.process_events(until=worker.idle, timeout=60)


def settle(nuke, timeout: float = 600) -> None:
    """Nuke's main loop runs (the user waits, comping) until every toolset job has finished."""
    import sys

    worker = sys.modules.get("nuke_plugin.worker")
    nuke._standin.process_events(until=(lambda: worker.idle()) if worker else None, timeout=timeout)


def press(node, *buttons: str, timeout: float = 600) -> None:
    """Press each button of the node in turn (as the user, on the main thread), each time letting
    Nuke's main loop run until the job it started has finished."""
    import nuke

    for button in buttons:
        node[button].execute()
        settle(nuke, timeout)


def submit_openjd(node, frames_per_task: int) -> Path:
    """Press the node's Submit to farm, answering its panel with Open Job Description and
    ``frames_per_task``; returns the job folder its status names."""
    import nuke

    nuke._standin.state.panel_answers = {"Farm": "openjd", "Frames per task": str(frames_per_task)}
    press(node, "submit_farm")
    status = node["status"].value()
    assert status.startswith("openjd job written to "), status
    return Path(status[len("openjd job written to "):].split(" (")[0])


def openjd_render_tasks(job: Path, recording_python) -> list:
    """``openjd run`` of the job's Restyle step with the ``recording_python`` fixture's engine: the
    ``restyle render`` job each of its tasks asked for, as manifests."""
    from inference import cli

    run = subprocess.run([str(Path(sys.executable).parent / "openjd"), "run", str(job / "restyle_shot.yaml"),
                          "--job-param", f"file://{job / 'parameter_values.json'}", "--step", "Restyle",
                          "--no-run-dependencies", "-p", f"EnginePython={recording_python[0]}"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:]
    return [cli.job_from_args("render", cli.build_parser().parse_args(argv[2:])) for argv in recording_python[1]()]



@pytest.fixture(scope="session")
def nuke_exe(tmp_path_factory) -> Path:
    """A ``nuke`` executable for command-line renders (tests/stubs/nuke_cli.py on the stand-in)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("nuke_cli", STUBS / "nuke_cli.py")
    nuke_cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nuke_cli)
    return nuke_cli.make_executable(tmp_path_factory.mktemp("nuke_bin"))


@pytest.fixture
def nuke_x(nuke_exe):
    """Run ``nuke -x -F FRAMES SCRIPT`` in a new process with NUKE_PATH (default: this repo):
    ``nuke_x(script, frames, workdir, batch="1", nuke_path=...) -> (exit code, state, stderr)``,
    state being what the stand-in recorded (Writes rendered, dialogs, tasks, start-up scripts)."""
    import json
    import os
    import subprocess

    def run(script: Path, frames: str, workdir: Path, batch: str = "1",
            nuke_path: str = str(REPO)) -> tuple[int, dict, str]:
        state = workdir / "nuke_state.json"
        state.unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUKE_PATH")}
        env.update(RESTYLE_FARM_BATCH=batch, NUKE_PATH=nuke_path, NUKE_STANDIN_STATE=str(state))
        proc = subprocess.run([str(nuke_exe), "-x", "-F", frames, str(script)], cwd=workdir, env=env,
                              capture_output=True, text=True)
        return proc.returncode, json.loads(state.read_text()), proc.stderr

    return run


@pytest.fixture
def deadline_info():
    """Read a Deadline job/plugin info file (``Key=Value`` lines) into a dict; a key twice fails."""
    def read(path: Path) -> dict[str, str]:
        pairs = [line.split("=", 1) for line in path.read_text().splitlines()]
        assert len({key for key, _value in pairs}) == len(pairs), f"{path}: a key appears twice"
        return dict(pairs)

    return read


@pytest.fixture
def restyle_look(comp):
    """``restyle_look(*buttons, key_frames="1001")``: a RestyleLook on the comp's plate and keys
    (4 CPU training steps, key check off) with those buttons pressed in order (e.g. "sign_off", "train", "render")."""
    def make(*buttons: str, key_frames: str = "1001"):
        look = comp.nuke.createNode("RestyleLook")
        look.setInput(0, comp.plate)
        look.setInput(1, comp.keys)
        look["key_frames"].setValue(key_frames)
        look["steps"].setValue(4)
        look["key_psnr"].setValue(0)  # 4 steps do not learn the look; the flows only need a model
        look["device"].setValue("cpu")
        press(look, *buttons)
        return look

    return make


@pytest.fixture(scope="session")
def restyle_model(tmp_path_factory) -> Path:
    """A small trained restyle model (64x48, 50 CPU steps): for commands that check the model before
    any work (restyle submit), where what it paints does not matter."""
    from bench.bench_pipeline import make_shot

    return Path(make_shot(tmp_path_factory.mktemp("look"), 1, 64, 48)[1])


@pytest.fixture(name="press")
def press_fixture(comp):
    """``press(node, "sign_off", "render")``: the buttons pressed in turn, each job waited for."""
    return press


@pytest.fixture(name="settle")
def settle_fixture(comp):
    """``settle()``: Nuke's main loop runs until every toolset job has finished."""
    return lambda timeout=600: settle(comp.nuke, timeout)


# --- a small fake engine for the plug-in's job handling (the real engine hashes) -------------------

FAKE_ENGINE = textwrap.dedent('''
    import json, os, shutil, signal, sys, time
    args = sys.argv[1:]  # -m inference.cli COMMAND --manifest JOB.json --progress json
    if args[2] == "serve":  # no warm engine: every job in a process of its own, as the fake knows how to run
        sys.exit(64)
    if args[2] == "train" and os.environ["FAKE_MODE"] == "train":  # a picture of the look, then a gate
        job = json.load(open(args[4]))
        watch = os.environ["RESTYLE_TRAIN_WATCH"]
        os.makedirs(watch, exist_ok=True)
        shutil.copy(os.environ["FAKE_STRIP"], os.path.join(watch, "strip.png"))
        record = {"step": 100, "seconds": 5.0, "steps_per_s": 20.0, "l1": [[100, 0.1]], "curve": "",
                  "frames": [1001, int(os.environ["RESTYLE_TRAIN_WATCH_FAR"])], "strip": os.path.join(watch, "strip.png")}
        json.dump(record, open(os.path.join(watch, "watch.json"), "w"))
        signal.signal(signal.SIGINT, lambda *a: sys.exit(130))
        while not os.path.exists(os.environ["FAKE_GATE"]):
            print(json.dumps({"event": "progress", "stage": "train", "done": 100, "total": 200}), file=sys.stderr, flush=True)
            time.sleep(0.05)
        open(job["out"], "wb").write(b"model")
        sys.exit(0)
    if args[2] != "render":
        os.execv(sys.executable, [sys.executable] + args)
    job = json.load(open(args[4]))
    with open(os.environ["FAKE_LOG"], "a") as log:
        log.write(job["frames"] + "\\n")
    first, last = (int(f) for f in job["frames"].split("-"))
    signal.signal(signal.SIGINT, lambda *a: sys.exit(130))
    for i, frame in enumerate(range(first, last + 1)):
        if os.environ["FAKE_MODE"] == "crash" and i == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        # gate: wait until the gate file exists and is empty or lists this frame
        while os.environ["FAKE_MODE"] == "wait" or (os.environ["FAKE_MODE"] == "gate" and not (
                os.path.exists(os.environ["FAKE_GATE"]) and (
                not open(os.environ["FAKE_GATE"]).read().split() or str(frame) in open(os.environ["FAKE_GATE"]).read().split()))):
            print(json.dumps({"event": "progress", "stage": "run", "done": 0, "total": 3}), file=sys.stderr, flush=True)
            time.sleep(0.05)
        shutil.copy(job["plate"] % frame, job["out"] % frame)
        print(json.dumps({"event": "progress", "stage": "run", "done": i + 1, "total": last - first + 1}),
              file=sys.stderr, flush=True)
''')



@pytest.fixture
def fake_engine(comp, monkeypatch):
    """RESTYLE_PYTHON -> the fake engine; returns a function reading the frame ranges it ran."""
    import stat

    script = comp.dir / "fake_engine.py"
    script.write_text(FAKE_ENGINE)
    wrapper = comp.dir / "python"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IEXEC)
    log = comp.dir / "runs.txt"
    monkeypatch.setenv("RESTYLE_PYTHON", str(wrapper))
    monkeypatch.setenv("FAKE_LOG", str(log))
    monkeypatch.setenv("FAKE_MODE", "ok")
    return lambda: log.read_text().split() if log.exists() else []


@pytest.fixture
def desktop(monkeypatch) -> list:
    """PySide6 of Nuke 16 whose QDesktopServices opens nothing: returns the paths the plug-in asked
    the desktop to open, in order."""
    import types

    opened: list = []
    qt_core, qt_gui = types.ModuleType("PySide6.QtCore"), types.ModuleType("PySide6.QtGui")
    qt_core.QUrl = types.SimpleNamespace(fromLocalFile=lambda path: path)
    qt_gui.QDesktopServices = types.SimpleNamespace(openUrl=lambda url: opened.append(url) or True)
    package = types.ModuleType("PySide6")
    package.QtCore, package.QtGui = qt_core, qt_gui
    for name, module in (("PySide6", package), ("PySide6.QtCore", qt_core), ("PySide6.QtGui", qt_gui)):
        monkeypatch.setitem(sys.modules, name, module)
    return opened


@pytest.fixture
def recording_python(tmp_path):
    """An EnginePython for farm render tasks that only records its command line: returns the
    executable and a function giving each call's arguments, in order."""
    log = tmp_path / "engine_calls.txt"
    exe = tmp_path / "recording_python"
    exe.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" >> '{log}'\necho ---- >> '{log}'\n")
    exe.chmod(0o755)

    def calls() -> list[list[str]]:
        text = log.read_text() if log.exists() else ""
        return [call.strip("\n").split("\n") for call in text.split("----\n") if call.strip()]

    return exe, calls


# --- a show's OCIO config (the engine's and the node's colour tests) ---------------------------------

def _ap0_to_709() -> list[float]:
    """The 4x4 matrix ACES2065-1 -> linear Rec.709, read off the built-in config."""
    import numpy as np

    from inference import colour

    LIN709 = "Linear Rec.709 (sRGB)"
    basis = np.eye(3, dtype=np.float32).reshape(3, 1, 3).copy()
    colour._cpu_processor(colour.BUILTIN_CONFIG, "ACES2065-1", LIN709).applyRGB(basis)
    m = basis.reshape(3, 3).T  # column j = image of unit vector j
    return [*m[0], 0.0, *m[1], 0.0, *m[2], 0.0, 0.0, 0.0, 0.0, 1.0]


@pytest.fixture(scope="session")
def show_config(tmp_path_factory):
    """A show's OCIO config with names the built-in config does not have: its reference is ACES2065-1
    (role aces_interchange), show_lin709 is linear Rec.709, show_g22 a 2.2 gamma encoding of it."""
    import PyOpenColorIO as ocio

    config = ocio.Config.CreateRaw()
    config.setVersion(2, 1)
    config.setName("test-show-config")
    for name in list(config.getColorSpaceNames()):
        config.removeColorSpace(name)
    ap0 = ocio.ColorSpace(name="show_ap0")
    lin = ocio.ColorSpace(name="show_lin709")
    lin.setTransform(ocio.MatrixTransform(_ap0_to_709()), ocio.COLORSPACE_DIR_FROM_REFERENCE)
    g22 = ocio.ColorSpace(name="show_g22")
    g22.setTransform(ocio.GroupTransform([ocio.MatrixTransform(_ap0_to_709()),
                                          ocio.ExponentTransform([2.2, 2.2, 2.2, 1.0],
                                                                 direction=ocio.TRANSFORM_DIR_INVERSE)]),
                     ocio.COLORSPACE_DIR_FROM_REFERENCE)
    for space in (ap0, lin, g22):
        config.addColorSpace(space)
    for role, name in (("default", "show_lin709"), ("scene_linear", "show_lin709"), ("texture_paint", "show_g22"),
                       ("compositing_log", "show_g22"), ("aces_interchange", "show_ap0")):
        config.setRole(role, name)
    path = tmp_path_factory.mktemp("show") / "config.ocio"
    path.write_text(config.serialize())
    return path


def use_show_config(nuke, config: Path, folder: Path) -> Path:
    """Root: OCIO, custom config copied beside the script and named relative to it (TCL)."""
    target = folder / "show" / "config.ocio"
    target.parent.mkdir(exist_ok=True)
    shutil.copy(config, target)
    root = nuke.root()
    root["colorManagement"].setValue("OCIO")
    root["OCIO_config"].setValue("custom")
    root["customOCIOConfigPath"].setValue("[file dirname [value root.name]]/show/config.ocio")
    root["floatLut"].setValue("show_lin709")
    root["int8Lut"].setValue("show_g22")
    root["int16Lut"].setValue("show_g22")
    root["workingSpaceLUT"].setValue("show_lin709")
    return target
