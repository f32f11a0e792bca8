"""Test-only controls of the ``nuke`` stand-in. NOT part of Foundry's API.

``reset()`` emulates a fresh Nuke process (GUI session, or ``nuke -t`` / ``nuke -x`` terminal
session), ``startup()`` the documented start-up sequence (Foundry, "Start-up Scripts"):

* the plug-in path is ``[~/.nuke, *NUKE_PATH (os.pathsep-separated), <install>/plugins]``,
  and Nuke puts it at the front of sys.path;
* init.py files run in reverse plug-in-path order (so ~/.nuke runs last), in every mode;
  a directory that an init.py adds with nuke.pluginAddPath has its init.py run at once;
* then, in the GUI only, menu.py files run in the same reverse order;
* each script runs with ``nuke`` imported and ``__file__`` set; relative paths given to
  pluginAddPath resolve against the running script's directory.

One deliberate difference: Nuke reports a failing start-up script and carries on, the stand-in
raises, so tests see failures that plug-in code should have caught itself.

The script side: ``open_script()`` (what opening a .nk does: nodes, their onCreate, then
onScriptLoad), ``render_script()`` (what ``nuke -x script -F range`` does after start-up),
``user_sets()`` (a panel edit that fires knobChanged), and ``state`` fields a test sets to play
the user: ``cancel_task``/``on_progress`` (the progress bar's cancel button), ``cancel_execute``,
``panel_answers``/``panel_ok``; ``state.dialogs``, ``state.tasks`` and ``state.written`` record
what happened.
"""
from __future__ import annotations

import builtins
import os
import queue
import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

MODES = ("gui", "terminal")
GUI_MENUS = ("Nuke", "Nodes", "Pane", "Viewer", "Node Graph", "Properties", "Animation")


@dataclass
class State:
    mode: str = "gui"
    plugin_path: List[str] = field(default_factory=list)
    menus: Dict[str, Any] = field(default_factory=dict)
    toolbars: Dict[str, Any] = field(default_factory=dict)
    phase: Optional[str] = None  # "init" or "menu" while startup() runs
    script_dirs: List[str] = field(default_factory=list)  # stack of running start-up scripts
    inits_run: Set[str] = field(default_factory=set)
    ran: List[str] = field(default_factory=list)  # start-up scripts run, in order
    # the script (node graph) and what runs in it
    root: Any = None
    group_stack: List[Any] = field(default_factory=list)  # root first; `with group:` pushes
    this_stack: List[Any] = field(default_factory=list)  # (node, knob) of running callbacks
    callbacks: Dict[str, Dict[str, list]] = field(default_factory=dict)
    frame: int = 1
    view: str = "main"  # the view being computed (nuke.execute sets each view it renders)
    executing: int = 0
    written: List[Any] = field(default_factory=list)  # (Write node, frame) in render order
    # the user, as tests script it
    dialogs: List[Any] = field(default_factory=list)  # (kind, text, mode) of message boxes and panels
    cancel_execute: Optional[Callable[[Any, int], bool]] = None  # (Write, frame) -> cancel?
    cancel_task: Optional[Callable[[Any], bool]] = None  # (ProgressTask) -> user hit cancel?
    on_progress: Optional[Callable[[Any], None]] = None  # called at each setProgress
    tasks: List[Any] = field(default_factory=list)  # every ProgressTask made
    panel_answers: Dict[str, Any] = field(default_factory=dict)  # Panel field -> value typed
    panel_ok: bool = True
    # threads: the thread that launched "Nuke" (reset) is its main thread; calls other threads
    # post with executeInMainThread* wait in `posted` until the main loop (process_events) runs them
    main_thread: int = field(default_factory=threading.get_ident)
    posted: "queue.Queue[Any]" = field(default_factory=queue.Queue)
    holds: List[Tuple[str, str, float]] = field(default_factory=list)  # (node, button, seconds held)


state = State()


# --- Nuke's main thread (Foundry, Python dev guide, "Threading"; ../shared/NUKE.md) ----------------

ALREADY_EXECUTING = "I'm already executing something else"


class Posted(object):
    """One call posted to the main thread; ``done`` is set once it ran."""

    def __init__(self, call: Callable[..., Any], args: tuple, kwargs: dict) -> None:
        self.call, self.args, self.kwargs = call, args, kwargs
        self.done = threading.Event()
        self.result: Any = None


def on_main_thread() -> bool:
    return threading.get_ident() == state.main_thread


def require_main(what: str) -> None:
    """Node and knob changes, nuke.execute, node creation and dialogs belong to the main thread."""
    if not on_main_thread():
        raise RuntimeError("{} called from thread {!r}, not Nuke's main thread: a worker thread must go through "
                           "nuke.executeInMainThread or nuke.executeInMainThreadWithResult".format(
                               what, threading.current_thread().name))


def require_idle(what: str) -> None:
    """nuke.execute, node creation and modal dialogs: main thread only, never while a render executes."""
    require_main(what)
    if state.executing:
        raise RuntimeError(ALREADY_EXECUTING)


def post(call: Callable[..., Any], args: tuple, kwargs: dict, what: str) -> Posted:
    """The C side of executeInMainThread*: refused on the main thread, where Nuke would hang."""
    if not callable(call):
        raise TypeError("{}: call must be callable".format(what))
    if on_main_thread():
        raise RuntimeError("{} called from Nuke's main thread: Nuke hangs there (Foundry: 'Do not run the above "
                           "functions from within the main thread'); call the function directly".format(what))
    item = Posted(call, args, kwargs)
    state.posted.put(item)
    return item


def process_events(until: Optional[Callable[[], bool]] = None, timeout: float = 120.0) -> int:
    """Nuke's main loop for tests: run the calls worker threads posted, in order, on this (the main)
    thread, until ``until()`` is true with nothing left to run (None: until nothing is left).
    A posted call that raises prints its traceback and yields None, as executeInMain.py does.
    Returns how many calls ran; TimeoutError when ``until`` stays false for ``timeout`` seconds."""
    require_main("process_events")
    ran = 0
    deadline = time.monotonic() + timeout
    while True:
        try:
            item = state.posted.get(timeout=0.02)
        except queue.Empty:
            if until is None or until():
                return ran
            if time.monotonic() > deadline:
                raise TimeoutError("process_events: still waiting after {} s".format(timeout))
            continue
        try:
            item.result = item.call(*item.args, **item.kwargs)
        except Exception:  # noqa: BLE001 - Nuke prints it and hands back None
            traceback.print_exc()
            item.result = None
        finally:
            ran += 1
            item.done.set()


def record_hold(node: Any, knob: Any, seconds: float) -> None:
    state.holds.append((node.fullName() if node is not None else "", knob.name() if knob is not None else "",
                        seconds))


def _nuke() -> ModuleType:
    return sys.modules["nuke"]


def reset(mode: str = "gui", version: str = "15.1v2", nukex: bool = False,
          nuke_path: Optional[str] = None, user_dir: Optional[str] = None) -> ModuleType:
    """Make the stand-in look like a freshly launched Nuke process; returns the nuke module.

    Args:
        mode: "gui" (interactive session) or "terminal" (``nuke -t`` / ``nuke -x``: GUI False,
            no menus, menu.py never runs).
        version: Nuke version string, e.g. "15.1v2".
        nukex: whether the session is NukeX (``--nukex``).
        nuke_path: the NUKE_PATH the process starts with; None reads os.environ.
        user_dir: the user's ~/.nuke; None leaves it off the path so tests never run a real one.
    """
    if mode not in MODES:
        raise ValueError("mode must be one of {}, not {!r}".format(MODES, mode))
    match = re.fullmatch(r"(\d+)\.(\d+)v(\d+)", version)
    if match is None:
        raise ValueError("version must look like '15.1v2', not {!r}".format(version))
    major, minor, release = (int(g) for g in match.groups())
    nuke = _nuke()
    gui = mode == "gui"
    install = "/usr/local/Nuke{}".format(version)
    exe = "{}/Nuke{}.{}".format(install, major, minor)
    if nuke_path is None:
        nuke_path = os.environ.get("NUKE_PATH", "")
    paths = ([user_dir] if user_dir else []) + [p for p in nuke_path.split(os.pathsep) if p]
    paths.append(install + "/plugins")

    state.__init__()  # type: ignore[misc]
    state.mode = mode
    new_script()
    for path in paths:
        add_plugin_path(path, prepend=False)
    if gui:
        state.menus = {name: nuke.MenuBar(name) if name == "Nuke"
                       else nuke.ToolBar(name) if name == "Nodes" else nuke.Menu(name)
                       for name in GUI_MENUS}
        state.toolbars = {"Nodes": state.menus["Nodes"]}
    cpus = os.cpu_count() or 1
    nuke.GUI = gui
    nuke.EXE_PATH = exe
    nuke.NUKE_VERSION_MAJOR, nuke.NUKE_VERSION_MINOR, nuke.NUKE_VERSION_RELEASE = major, minor, release
    nuke.NUKE_VERSION_PHASE, nuke.NUKE_VERSION_PHASENUMBER = "", 0
    nuke.NUKE_VERSION_STRING = version
    nuke.NUKE_VERSION_DATE = ""
    nuke.env.clear()
    nuke.env.update({
        "64bit": True, "ExecutablePath": exe, "ExternalPython": False,
        "LINUX": sys.platform.startswith("linux"), "MACOS": sys.platform == "darwin",
        "WIN32": sys.platform == "win32", "NukeLibraryPath": install + "/libnuke-{}.so".format(version),
        "NukeVersionDate": "", "NukeVersionMajor": major, "NukeVersionMinor": minor,
        "NukeVersionPhase": "", "NukeVersionPhaseNumber": 0, "NukeVersionRelease": release,
        "NukeVersionString": version, "PluginExtension": ".so", "PluginsVerbose": False,
        "assist": False, "gui": gui, "hiero": False, "hieroNuke": False, "hieroStudio": False,
        "indie": False, "interactive": gui, "nc": False, "nukex": nukex, "numCPUs": cpus,
        "ple": False, "studio": False, "threads": cpus,
    })
    return nuke


def add_plugin_path(path: str, prepend: bool) -> None:
    """The C side of pluginAddPath/pluginAppendPath: resolve, place, maybe run init.py."""
    if not isinstance(path, str):
        raise TypeError("path must be str, not {}".format(type(path).__name__))
    base = state.script_dirs[-1] if state.script_dirs else os.getcwd()
    path = os.path.normpath(os.path.join(base, os.path.expanduser(path)))
    if prepend:
        if path in state.plugin_path:
            state.plugin_path.remove(path)
        state.plugin_path.insert(0, path)
        if state.phase == "init":
            _run_init(path)
    elif path not in state.plugin_path:
        state.plugin_path.append(path)


def startup() -> List[str]:
    """Run the start-up scripts as Nuke does at launch; returns the scripts run, in order."""
    for path in reversed(state.plugin_path):
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        state.phase = "init"
        for path in list(reversed(state.plugin_path)):
            _run_init(path)
        if state.mode == "gui":
            state.phase = "menu"
            for path in list(reversed(state.plugin_path)):
                _run_script(os.path.join(path, "menu.py"))
    finally:
        state.phase = None
    return list(state.ran)


def _run_init(directory: str) -> None:
    if directory not in state.inits_run:
        state.inits_run.add(directory)
        _run_script(os.path.join(directory, "init.py"))


def _run_script(path: str) -> None:
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        code = compile(f.read(), path, "exec")
    namespace = {"__name__": "__main__", "__file__": path, "__builtins__": builtins, "nuke": _nuke()}
    state.ran.append(path)
    state.script_dirs.append(os.path.dirname(path))
    try:
        exec(code, namespace)
    finally:
        state.script_dirs.pop()


def new_script() -> None:
    """An empty script: a fresh Root holding no nodes (what File > New gives)."""
    from . import _nodes

    state.root = _nodes.Root()
    state.group_stack = [state.root]


def open_script(path: str) -> List[Any]:
    """Load a .nk file as Nuke does when it opens a script (GUI or ``nuke -x``): every node is
    created, then each node's onCreate runs, then onScriptLoad (nodeClass 'Root')."""
    from . import _callbacks, _nkfile, _nodes

    new_script()
    with open(path, encoding="utf-8") as f:
        made = _nkfile.read_graph(f.read(), state.root, top_level=False)
    state.root["name"].setValue(os.path.abspath(path))
    for node in made:
        _nodes.created(node)
    _callbacks.run("onScriptLoad", state.root)
    return made


def render_script(path: str, ranges: Optional[List[str]] = None) -> List[Any]:
    """``nuke -x path -F range [-F range ...]`` after startup(): open the script, then execute
    every enabled top-level Write over each range in turn ("1001-1010", "1001", "1-9x2"; none:
    the script's frame range); returns the (Write, frame) pairs rendered so far.

    Raises:
        ValueError: a range that is not FIRST[-LAST[xSTEP]].
        RuntimeError: what Nuke reports when a node fails to load or render.
    """
    nuke = _nuke()
    parsed = [parse_range(text) for text in ranges or []]  # bad ranges fail before the script loads
    open_script(path)
    for first, last, step in parsed or [(state.root.firstFrame(), state.root.lastFrame(), 1)]:
        for node in state.root.nodes():
            if node.Class() == "Write" and not node["disable"].value():
                nuke.execute(node, first, last, step)
    return list(state.written)


def parse_range(text: str) -> Tuple[int, int, int]:
    """One ``-F`` range as Nuke writes it: FIRST, FIRST-LAST or FIRST-LASTxSTEP."""
    match = re.fullmatch(r"(-?\d+)(?:-(-?\d+)(?:x([1-9]\d*))?)?", text.strip())
    if match is None or (match.group(2) is not None and int(match.group(2)) < int(match.group(1))):
        raise ValueError("bad frame range {!r}: write FIRST, FIRST-LAST or FIRST-LASTxSTEP, e.g. 1001-1010".format(text))
    first = int(match.group(1))
    return first, int(match.group(2) or first), int(match.group(3) or 1)


def user_sets(knob: Any, value: Any) -> None:
    """The user edits a knob in the panel: the value changes, then the node's knobChanged knob
    and the knobChanged callbacks run with thisNode()/thisKnob() set."""
    from . import _callbacks, _nodes

    knob.setValue(value)
    node = knob.node()
    _nodes.run_python(node["knobChanged"].value(), node, knob)
    _callbacks.run("knobChanged", node, knob)
