"""Nuke entry points (init.py, menu.py, gizmos/) under the strict `nuke` stand-in, and the stand-in itself."""
from __future__ import annotations

import ast
import inspect
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nuke_plugin.nodes import MENU_NAME, NODES

REPO = Path(__file__).resolve().parents[1]
STUBS = REPO / "tests" / "stubs"
NUKE_API = REPO / "tests" / "fixtures" / "nuke_api.json"  # Foundry's API list, see tests/fixtures/PROVENANCE.md
ENGINE_MODULES = {"inference", "numpy", "torch", "OpenImageIO", "PyOpenColorIO", "OpenEXR", "cv2", "onnxruntime"}


def start(nuke, mode: str, **kwargs) -> list[str]:
    """Launch the emulated Nuke with NUKE_PATH=<repo>; returns the start-up scripts run."""
    nuke._standin.reset(mode=mode, nuke_path=str(REPO), **kwargs)
    return nuke._standin.startup()


@pytest.fixture(scope="module")
def api() -> dict:
    return json.loads(NUKE_API.read_text())


# --- GUI session ----------------------------------------------------------------------------------

def test_gui_startup_runs_init_then_menu_and_registers_gizmos(nuke_standin):
    ran = start(nuke_standin, "gui")

    assert ran.index(str(REPO / "init.py")) < ran.index(str(REPO / "menu.py"))
    assert str(REPO / "gizmos") in nuke_standin.pluginPath()
    assert str(REPO / "gizmos" / "icons") in nuke_standin.pluginPath()


def test_gui_nodes_menu_creates_the_classes_named_in_nodes_py(nuke_standin):
    start(nuke_standin, "gui")

    toolbar = nuke_standin.menu("Nodes")
    assert toolbar is nuke_standin.toolbar("Nodes")
    restyle = toolbar.findItem(MENU_NAME)
    assert isinstance(restyle, nuke_standin.Menu)
    assert [item.name() for item in restyle.items()] == [n.label for n in NODES] == ["Restyle", "Deflicker", "ColourLock"]
    for node in NODES:
        item = toolbar.findItem(f"{MENU_NAME}/{node.label}")
        call = ast.parse(item.script(), mode="eval").body
        assert ast.unparse(call.func) == "nuke.createNode"
        assert [ast.literal_eval(a) for a in call.args] == [node.node_class]
        assert item.icon() == node.icon


def test_icons_exist_on_the_plugin_path(nuke_standin):
    start(nuke_standin, "gui")

    icons = [nuke_standin.menu("Nodes").findItem(MENU_NAME).icon()] + [n.icon for n in NODES]
    for icon in icons:
        found = [d for d in nuke_standin.pluginPath() if os.path.isfile(os.path.join(d, icon))]
        assert found == [str(REPO / "gizmos" / "icons")], icon
        text = (REPO / "gizmos" / "icons" / icon).read_text()
        assert text.startswith("/* XPM */")
        rows = re.findall(r'^"(.*)",?$', text, re.M)
        width, height, colours, _ = (int(v) for v in rows[0].split())
        assert (width, height) == (24, 24) and len(rows) == 1 + colours + height
        assert all(len(row) == width for row in rows[1 + colours:])


def test_node_classes_are_distinct_gizmo_names():
    classes = [n.node_class for n in NODES]
    assert len(set(classes)) == len(classes) == 3
    assert all(c.isidentifier() and c.startswith("Restyle") and c != "Restyle" for c in classes)


# --- terminal session (nuke -t / nuke -x, e.g. a farm render) -------------------------------------

def test_terminal_startup_registers_gizmos_but_runs_no_menu_py(nuke_standin):
    ran = start(nuke_standin, "terminal")

    assert str(REPO / "init.py") in ran
    assert str(REPO / "menu.py") not in ran
    assert nuke_standin.GUI is False and nuke_standin.env["gui"] is False
    assert nuke_standin.menu("Nodes") is None and nuke_standin.toolbar("Nodes") is None
    assert str(REPO / "gizmos") in nuke_standin.pluginPath()


def test_init_py_puts_repo_on_sys_path_when_added_from_another_init(nuke_standin, tmp_path, monkeypatch):
    # GIVEN a studio ~/.nuke/init.py that adds the repo without touching sys.path
    monkeypatch.setattr(sys, "path", [p for p in sys.path if Path(p or ".").resolve() != REPO])
    (tmp_path / "init.py").write_text(f"nuke.pluginAddPath({str(REPO)!r}, addToSysPath=False)\n")
    # WHEN Nuke starts in terminal mode
    nuke_standin._standin.reset(mode="terminal", nuke_path="", user_dir=str(tmp_path))
    ran = nuke_standin._standin.startup()
    # THEN the repo's init.py ran at once and made nuke_plugin importable
    assert ran == [str(tmp_path / "init.py"), str(REPO / "init.py")]
    assert str(REPO) in sys.path
    assert str(REPO / "gizmos") in nuke_standin.pluginPath()


@pytest.mark.parametrize("mode", ["gui", "terminal"])
def test_startup_imports_no_engine_code(mode, tmp_path):
    # In a fresh interpreter, so this process's own imports don't count.
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(STUBS)!r})\n"
        "import nuke\n"
        f"engine = {sorted(ENGINE_MODULES)!r}\n"
        "loaded = lambda: sorted(m for m in sys.modules if m.split('.')[0] in engine)\n"
        "before = loaded()\n"
        f"nuke._standin.reset(mode={mode!r}, nuke_path={str(REPO)!r})\n"
        "ran = nuke._standin.startup()\n"
        "print(json.dumps({'before': before, 'after': loaded(), 'ran': ran}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NUKE_PATH")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout)
    assert result["before"] == []
    assert result["after"] == []
    assert str(REPO / "init.py") in result["ran"]
    assert proc.stderr == ""


# --- a broken plug-in never stops start-up --------------------------------------------------------

def test_failure_inside_init_py_is_printed_not_raised(nuke_standin, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("plugin path exploded")

    monkeypatch.setattr(nuke_standin, "pluginAddPath", broken)
    ran = start(nuke_standin, "gui")

    assert str(REPO / "menu.py") in ran  # start-up went on
    err = capsys.readouterr().err
    assert "Traceback" in err and "plugin path exploded" in err


def test_failure_inside_menu_py_is_printed_not_raised(nuke_standin, monkeypatch, capsys):
    def broken(self, *args, **kwargs):
        raise RuntimeError("menu exploded")

    monkeypatch.setattr(nuke_standin.Menu, "addCommand", broken)
    start(nuke_standin, "gui")

    err = capsys.readouterr().err
    assert "Traceback" in err and "menu exploded" in err


def test_standin_startup_surfaces_an_unguarded_plugin(nuke_standin, tmp_path):
    # The guards above are only proven if an unguarded failure would be seen.
    (tmp_path / "init.py").write_text("raise RuntimeError('unguarded')\n")
    nuke_standin._standin.reset(mode="terminal", nuke_path=str(tmp_path))
    with pytest.raises(RuntimeError, match="unguarded"):
        nuke_standin._standin.startup()


# --- Python 3.9 (Nuke 14) syntax ----------------------------------------------------------------

@pytest.mark.parametrize("path", ["init.py", "menu.py", *sorted(p.name for p in (REPO / "nuke_plugin").glob("*.py"))])
def test_nuke_side_code_parses_as_python_3_9(path):
    file = REPO / path if (REPO / path).exists() else REPO / "nuke_plugin" / path
    ast.parse(file.read_text(), filename=str(file), feature_version=(3, 9))


# --- the stand-in is strict -----------------------------------------------------------------------

def test_standin_rejects_wrong_signatures(nuke_standin):
    nodes = nuke_standin.menu("Nodes")
    sub = nodes.addMenu("X")
    with pytest.raises(TypeError):
        sub.addCommand("Y", "pass", colour="red")
    with pytest.raises(TypeError):
        nodes.addMenu(name="X", colour="red")
    with pytest.raises(TypeError):
        sub.addCommand("Y", 42)
    with pytest.raises(TypeError):
        nuke_standin.pluginAddPath(REPO)  # a Path, not a str: Nuke's re.sub raises too
    with pytest.raises(TypeError):
        nuke_standin.menu()


def test_standin_unknown_names(nuke_standin):
    assert nuke_standin.menu("NoSuchMenu") is None
    with pytest.raises(AttributeError):
        nuke_standin.noSuchFunction
    with pytest.raises(AttributeError):
        nuke_standin.menu("Nodes").noSuchMethod


def test_standin_menu_paths_and_replacement(nuke_standin):
    nodes = nuke_standin.menu("Nodes")
    nodes.addCommand("A/B/C", "print(1)")
    nodes.addCommand("A/B/C", "print(2)")
    assert nodes.addMenu("A") is nodes.menu("A")
    assert [i.name() for i in nodes.menu("A/B").items()] == ["C"]
    assert nodes.findItem("A/B/C").script() == "print(2)"
    nodes.removeItem("A/B/C")
    assert nodes.findItem("A/B/C") is None and nodes.findItem("A/B/C/D") is None


def test_standin_plugin_path_semantics(nuke_standin, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    a, b, c = (str(tmp_path / n) for n in "abc")
    nuke_standin.pluginAddPath([a, b + "/"])
    assert nuke_standin.pluginPath()[:2] == [b, a]  # each prefixed in turn, trailing slash trimmed
    assert sys.path[:2] == [a, b]  # overrides.py inserts each new path at 0 in turn
    nuke_standin.pluginAddPath(a, addToSysPath=False)
    assert nuke_standin.pluginPath()[:2] == [a, b]  # existing path moves to the front
    nuke_standin.pluginAppendPath(c)
    nuke_standin.pluginAppendPath(a)
    assert nuke_standin.pluginPath()[-1] == c and nuke_standin.pluginPath()[0] == a
    assert sys.path[-1] == c


def test_standin_env_and_versions(nuke_standin, api):
    nuke = nuke_standin._standin.reset(mode="terminal", version="14.0v5", nukex=True)
    assert set(nuke.env) == set(api["module_attributes"]["env"]["keys"])
    assert (nuke.NUKE_VERSION_MAJOR, nuke.NUKE_VERSION_MINOR, nuke.NUKE_VERSION_RELEASE) == (14, 0, 5)
    assert nuke.env["NukeVersionString"] == nuke.NUKE_VERSION_STRING == "14.0v5"
    assert nuke.env["nukex"] is True and nuke.env["gui"] is False and nuke.GUI is False


def _api_params(entry: dict, fallback: dict | None = None) -> list[str]:
    """Parameter names from nuke_api.json; a '**kwargs' entry means its documented keywords."""
    params = entry["params"]
    if params == ["**kwargs"]:
        params = entry.get("kwargs") or (fallback or {}).get("kwargs")
        assert params is not None, f"no documented keywords for {entry}"
    return [p.split("=")[0].lstrip("*") for p in params]


def _our_params(func) -> list[str]:
    return [p.name for p in inspect.signature(func).parameters.values() if p.name != "self"]


def _class_methods(api: dict, name: str) -> dict:
    """Methods of an API class including those of its bases."""
    cls = api["classes"][name]
    methods = {}
    for base in cls["bases"]:
        methods.update(_class_methods(api, base))
    methods.update(cls["methods"])
    return methods


def test_standin_exposes_only_documented_api_with_documented_signatures(nuke_standin, api):
    public = [n for n in dir(nuke_standin) if not n.startswith("_")]
    functions, attributes, classes = api["module_functions"], api["module_attributes"], api["classes"]
    for name in public:
        obj = getattr(nuke_standin, name)
        if inspect.isclass(obj):
            assert name in classes, name
            ours = [b.__name__ for b in obj.__bases__ if not b.__name__.startswith("_") and b is not object]
            assert ours == classes[name]["bases"], name
            documented = _class_methods(api, name)
            for method in (m for m in dir(obj) if not m.startswith("_")):
                assert method in documented, f"{name}.{method}"
                menu_entry = classes.get("Menu", {}).get("methods", {}).get(method)
                assert _our_params(getattr(obj, method)) == _api_params(documented[method], menu_entry), f"{name}.{method}"
        elif callable(obj):
            assert name in functions, name
            assert _our_params(obj) == _api_params(functions[name]), name
            optional = ["=" in p for p in functions[name]["params"]]
            ours = [p.default is not p.empty for p in inspect.signature(obj).parameters.values()]
            assert ours == optional, name
        else:
            assert name in attributes, name


def test_standin_exposes_nothing_listed_as_not_in_api(nuke_standin, api):
    for key in api["not_in_api"]:
        owner, _, names = key.partition(".")
        target = nuke_standin if owner == "nuke" else getattr(nuke_standin, owner, None)
        for name in names.split("/"):
            assert target is None or not hasattr(target, name), key


# --- the stand-in's node graph: callbacks in Nuke's order, scripts round-trip -------------------------

def test_standin_render_and_load_callbacks_run_in_nukes_order(nuke_standin, write_sequence, tmp_path):
    seen = []
    nuke_standin.addOnCreate(lambda: seen.append(("onCreate", nuke_standin.thisNode().name())))
    nuke_standin.addOnScriptLoad(lambda: seen.append(("onScriptLoad", nuke_standin.thisNode().Class())))
    nuke_standin.addBeforeRender(lambda: seen.append(("beforeRender", nuke_standin.frame())))
    nuke_standin.addBeforeFrameRender(lambda: seen.append(("beforeFrameRender", nuke_standin.frame())))
    nuke_standin.addAfterRender(lambda: seen.append(("afterRender", nuke_standin.frame())))
    read = nuke_standin.nodes.Read(file=write_sequence(frames=range(1, 3)), first=1, last=2)
    write = nuke_standin.nodes.Write(file=str(tmp_path / "out" / "o.####.exr"), create_directories=True, inputs=[read])
    nuke_standin.execute(write, 1, 2)
    assert seen == [("onCreate", "Read1"), ("onCreate", "Write1"), ("beforeRender", 1), ("beforeFrameRender", 1),
                    ("beforeFrameRender", 2), ("afterRender", 2)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["o.0001.exr", "o.0002.exr"]

    nuke_standin.scriptSaveAs(str(tmp_path / "s.nk"))
    seen.clear()
    nuke_standin._standin.open_script(str(tmp_path / "s.nk"))
    assert seen == [("onCreate", "Read1"), ("onCreate", "Write1"), ("onScriptLoad", "Root")]
    assert nuke_standin.toNode("Write1").input(0) is nuke_standin.toNode("Read1")


def test_standin_write_of_a_disabled_node_or_missing_file_fails_like_nuke(nuke_standin, tmp_path):
    read = nuke_standin.nodes.Read(file=str(tmp_path / "none.####.exr"), first=1, last=1)
    write = nuke_standin.nodes.Write(file=str(tmp_path / "o.####.exr"), inputs=[read])
    with pytest.raises(RuntimeError, match="No such file"):
        nuke_standin.execute(write, 1, 1)
    write["disable"].setValue(True)
    with pytest.raises(RuntimeError, match="disabled"):
        nuke_standin.execute(write, 1, 1)
    with pytest.raises(RuntimeError, match="unknown command"):
        nuke_standin.createNode("NoSuchGizmo")
