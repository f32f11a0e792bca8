"""Contracts between the gizmo files, nuke_plugin, the engine's CLI and Foundry's API."""
from __future__ import annotations

import ast
import json
import sys
import types
from pathlib import Path

import pytest

from inference.jobs.commands import SUBCOMMANDS
from nuke_plugin import stages

REPO = Path(__file__).resolve().parents[1]
NUKE_API = REPO / "tests" / "fixtures" / "nuke_api.json"  # Foundry's API list, see tests/fixtures/PROVENANCE.md
PLUGIN_FILES = [REPO / "init.py", REPO / "menu.py", *sorted((REPO / "nuke_plugin").glob("*.py"))]
KNOB_CLASS = {"int": "Int_Knob", "float": "Double_Knob", "bool": "Boolean_Knob", "choice": "Enumeration_Knob",
              "text": ("String_Knob", "File_Knob"), "list": ("String_Knob",)}


def gizmo(nuke, node_class: str):
    """Parse gizmos/<class>.gizmo with the stand-in's .nk reader: (user knobs, child nodes)."""
    text = (REPO / "gizmos" / f"{node_class}.gizmo").read_text()
    group = nuke.Group()
    with group:
        children = nuke._nkfile.read_graph(text, group, top_level=True)
    user = [k for k in group.allKnobs() if k.name() not in nuke.Group().knobs()]
    return user, {c.name(): c for c in children}


def engine_args(command: str) -> dict:
    return {dest: options for _flags, dest, options in SUBCOMMANDS[command]["args"]}


@pytest.mark.parametrize("node_class", sorted(stages.STAGES))
def test_gizmo_knobs_are_the_ones_nuke_plugin_reads(nuke_standin, node_class):
    stage = stages.stage_of(node_class)
    user, _children = gizmo(nuke_standin, node_class)
    names = [k.name() for k in user if k.Class() != "Tab_Knob"]
    assert sorted(names) == sorted(stages.knob_names(stage))
    assert [k.name() for k in user if not k.tooltip()] == [k.name() for k in user if k.Class() == "Tab_Knob"]
    knobs = {k.name(): k for k in user}
    for param in stage.params + stage.train_params:
        expected = KNOB_CLASS[param.kind]
        assert knobs[param.knob].Class() in (expected if isinstance(expected, tuple) else (expected,)), param


def _knobs_and_commands(nuke_standin, node_class):
    """The gizmo's user knobs by name, and (engine command, params) pairs the node runs."""
    stage = stages.stage_of(node_class)
    user, _children = gizmo(nuke_standin, node_class)
    return {k.name(): k for k in user}, ((stage.command, stage.params), ("train", stage.train_params))


@pytest.mark.parametrize("node_class", sorted(stages.STAGES))
def test_every_engine_field_and_choice_exists_in_the_engine_cli(nuke_standin, node_class):
    knobs, commands = _knobs_and_commands(nuke_standin, node_class)
    for command, params in commands:
        args = engine_args(command)
        for param in params:
            assert param.field in args, (command, param)
            if param.kind == "choice":
                assert sorted(knobs[param.knob].values()) == sorted(args[param.field]["choices"]), param


@pytest.mark.parametrize("node_class", sorted(stages.STAGES))
def test_gizmo_inside_has_the_nodes_nuke_plugin_drives(nuke_standin, node_class):
    stage = stages.stage_of(node_class)
    _user, children = gizmo(nuke_standin, node_class)
    inputs = sorted((c["number"].value(), name) for name, c in children.items() if c.Class() == "Input")
    assert [name for _n, name in inputs] == [spec.name for spec in stage.inputs] + (["aovs"] if stage.aovs else [])
    for spec in stage.inputs:
        write = children[spec.name + "_cache"]
        feed = children[spec.name + "_aovs"] if stage.aovs and spec.name == "plate" else children[spec.name]
        assert write.Class() == "Write" and write["disable"].value() and write.input(0) is feed
    if stage.aovs:
        copy = children["plate_aovs"]
        assert copy.Class() == "Copy" and [copy.input(0), copy.input(1)] == [children["plate"], children["aovs"]]
    show = children["show"]
    assert show.Class() == "Switch" and show["which"].value() == 0
    assert [show.input(i).name() for i in range(3)] == ["not_rendered", "result", "preview"]
    assert show.input(0).input(0) is children[stage.inputs[0].name]
    # every layer the node does not make passes through: the shown colour is copied onto the first input
    layers = children["Output1"].input(0)
    assert layers.Class() == "Copy" and layers["channels"].value() == "rgb" and not layers["disable"].value()
    assert layers.input(0) is children[stage.inputs[0].name] and layers.input(1) is show


@pytest.mark.parametrize("node_class", sorted(stages.STAGES))
def test_gizmo_buttons_and_callbacks_call_existing_actions(nuke_standin, node_class):
    import nuke_plugin.actions as actions

    text = (REPO / "gizmos" / f"{node_class}.gizmo").read_text()
    called = set(__import__("re").findall(r"a\.(\w+)\(\)", text))
    assert called >= {"sign_off", "preview", "render", "cancel", "open_report", "knob_changed", "on_create"}
    assert all(callable(getattr(actions, name)) for name in called)


def _nuke_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {n.attr for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "nuke"}


def test_plugin_uses_only_api_the_standin_implements(nuke_standin):
    api = json.loads(NUKE_API.read_text())
    documented = set(api["module_functions"]) | set(api["module_attributes"]) | set(api["classes"])
    used = set().union(*(_nuke_names(p) for p in PLUGIN_FILES))
    assert {"execute", "ProgressTask", "addBeforeFrameRender", "message", "GUI", "Panel"} <= used
    assert sorted(used - documented) == []
    assert sorted(n for n in used if not hasattr(nuke_standin, n)) == []


def test_plugin_imports_only_stdlib_nuke_and_qt():
    allowed = set(sys.stdlib_module_names) | {"nuke", "nuke_plugin", "PySide2", "PySide6"}
    for path in PLUGIN_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed, (path.name, roots)


# --- the Qt shim ---------------------------------------------------------------------------------

def _fake_qt(monkeypatch, binding: str, opened: list) -> None:
    core, gui = types.ModuleType(binding + ".QtCore"), types.ModuleType(binding + ".QtGui")
    core.QUrl = types.SimpleNamespace(fromLocalFile=lambda path: ("url", path))
    gui.QDesktopServices = types.SimpleNamespace(openUrl=lambda url: opened.append((binding, url)) or True)
    package = types.ModuleType(binding)
    package.QtCore, package.QtGui = core, gui
    for name, module in ((binding, package), (binding + ".QtCore", core), (binding + ".QtGui", gui)):
        monkeypatch.setitem(sys.modules, name, module)


@pytest.mark.parametrize("present, used", [(["PySide6", "PySide2"], "PySide6"), (["PySide2"], "PySide2")])
def test_qt_shim_prefers_pyside6_then_pyside2(monkeypatch, present, used):
    from nuke_plugin import qt

    opened: list = []
    for binding in ("PySide6", "PySide2"):
        if binding in present:
            _fake_qt(monkeypatch, binding, opened)
        else:
            monkeypatch.setitem(sys.modules, binding, None)  # import raises ImportError
    qt.open_path("/shots/report.html")
    assert opened == [(used, ("url", "/shots/report.html"))]


def test_qt_shim_without_qt_says_so(monkeypatch):
    from nuke_plugin import qt

    for binding in ("PySide6", "PySide2"):
        monkeypatch.setitem(sys.modules, binding, None)
    with pytest.raises(RuntimeError, match="no Qt binding"):
        qt.open_path("/x")


# --- preferences ------------------------------------------------------------------------------------

def test_engine_python_order(monkeypatch, tmp_path):
    from nuke_plugin import settings

    monkeypatch.setenv("RESTYLE_PREFS", str(tmp_path / "prefs.json"))
    monkeypatch.delenv("RESTYLE_PYTHON", raising=False)
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("restyle", "python3"):
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert settings.engine_python() == str(bin_dir / "python3")  # the Python `restyle` lives in
    settings.save({"engine_python": "/opt/engine/bin/python"})
    assert settings.engine_python() == "/opt/engine/bin/python"
    monkeypatch.setenv("RESTYLE_PYTHON", "/env/python")
    assert settings.engine_python() == "/env/python"
    monkeypatch.delenv("RESTYLE_PYTHON")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    (tmp_path / "prefs.json").unlink()
    assert settings.engine_python() == sys.executable


def test_preferences_menu_saves_the_panel(nuke_standin, tmp_path, monkeypatch):
    monkeypatch.setenv("RESTYLE_PREFS", str(tmp_path / "prefs.json"))
    nuke_standin._standin.reset(mode="gui", nuke_path=str(REPO))
    nuke_standin._standin.startup()
    item = nuke_standin.menu("Nuke").findItem("Restyle/Preferences...")
    state = nuke_standin._standin.state
    state.panel_answers = {"Engine Python": "/opt/engine/bin/python", "Default cache folder": "/shows/cache"}
    exec(item.script(), {"nuke": nuke_standin})
    assert json.loads((tmp_path / "prefs.json").read_text()) == {
        "engine_python": "/opt/engine/bin/python", "cache_dir": "/shows/cache"}


def _engine_defaults(command: str) -> dict:
    """The engine's own default for each field of a command (its settings dataclasses)."""
    from dataclasses import MISSING, fields

    from inference.colourlock.settings import ColourLockSettings, HoldSettings
    from inference.render_settings import RenderSettings
    from inference.restyle.settings import DetailSettings, RuntimeSettings, TrainSettings, TrainStart
    from inference.temporal.settings import DeflickerSettings

    def defaults(*classes) -> dict:
        return {f.name: f.default for cls in classes for f in fields(cls) if f.default is not MISSING}

    return defaults(*{"train": (TrainSettings, TrainStart), "render": (RenderSettings, RuntimeSettings, DetailSettings),
                      "deflicker": (DeflickerSettings,), "colourlock": (ColourLockSettings, HoldSettings)}[command])


@pytest.mark.parametrize("node_class", sorted(stages.STAGES))
def test_gizmo_defaults_are_the_engines(nuke_standin, node_class):
    knobs, commands = _knobs_and_commands(nuke_standin, node_class)
    for command, params in commands:
        defaults = _engine_defaults(command)
        for param in params:
            value = knobs[param.knob].value()
            if param.unset is not None:  # left out of the job at its default: the engine decides
                assert value == param.unset, (command, param)
            else:
                assert stages.field_value(param, value) == defaults[param.field], (command, param)
