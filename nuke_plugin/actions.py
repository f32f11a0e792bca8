"""What the gizmos' buttons and callbacks call (``import nuke_plugin.actions as a; a.render()``).

Every entry point works on ``nuke.thisNode()`` and returns at once: a button queues its job on a
worker thread (:mod:`nuke_plugin.worker`), which reaches the node only through Nuke's main thread.
A node runs one job at a time (a second press says so in the status); Cancel stops it. A failure
is shown the Nuke way: a message box, the node's status line, and the plate stays in view or the
last complete version does.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List

import nuke

from . import cache, farm, jobs, node_io, qt, signoff, submit, versions, worker
from .engine import EngineError
from .errors import PluginError
from .feedback import Feedback
from .stages import STAGES, stage_of


def _guarded(title: str, work: Callable[[Any, Feedback], str]) -> None:
    """Queue ``work(node, feedback)`` on a worker thread and return; its return value becomes the
    status, an error the message. ``node`` there is a proxy whose every call runs on the main thread."""
    node = nuke.thisNode()
    name = node.fullName()
    running = worker.busy(name)
    if running is not None:
        node_io.set_status(node, "{} is already {} '{}': wait for it, or press Cancel first".format(
            node.name(), "running" if running.state == "running" else "queued for", running.title))
        return

    def run(job: "worker.Job") -> None:
        proxy = worker.OnMain(node)
        try:
            with Feedback(proxy, "{}: {}".format(name, title), job) as feedback:
                worker.post(node_io.set_status, node, "{}...".format(title))
                text = work(proxy, feedback)
            worker.on_main(node_io.set_status, node, text)
        except (PluginError, EngineError) as exc:
            worker.on_main(_failed, node, title, exc)

    worker.submit(name, title, run)
    node_io.set_status(node, "{}: queued".format(title))


def _failed(node: Any, title: str, exc: Exception) -> None:
    """Main thread: the status and a message box say what failed and what to do."""
    node_io.set_status(node, "{} failed: {}".format(title, exc))
    nuke.message("{} failed.\n\n{}".format(title, exc))


def sign_off() -> None:
    def work(node: Any, feedback: Feedback) -> str:
        hashes = signoff.sign_off(node, feedback)
        worker.on_main(jobs.show_version, worker.unwrap(node), jobs.shown(node))
        return "plate signed off ({} frames)".format(sum(len(h) for h in hashes.values()))
    _guarded("Sign off plate", work)


def train() -> None:
    """Train the look; at each checkpoint the node shows the look so far (a contact strip of the
    key frames and the frame farthest from them, plate above, look below) and the status the
    steps per second and the time left. Afterwards the node shows what it showed before."""
    def work(node: Any, feedback: Feedback) -> str:
        real = worker.unwrap(node)
        strips: List[str] = []

        def watched(record: Dict[str, Any]) -> None:
            strips.append(record["strip"])
            feedback.suffix = (" - the node shows the look so far at step {} (frames {}, plate above, look "
                               "below)").format(record["step"], ", ".join(str(f) for f in record["frames"]))
            worker.post(node_io.show_still, real, record["strip"])

        try:
            model = jobs.train(node, feedback, watched)
        finally:
            if strips:
                worker.on_main(_restore, real)
        return "{}: {}; press Preview or Render range{}{}".format(
            "training stopped early, the look so far is in use (Train again goes on)" if jobs.stopped_early(model)
            else "look trained", model, "; last training strip: {}".format(strips[-1]) if strips else "",
            "".join("; " + warning for warning in feedback.warnings))
    _guarded("Train", work)


def preview() -> None:
    frame = nuke.frame()  # the Viewer's frame when the button is pressed

    def work(node: Any, feedback: Feedback) -> str:
        version = jobs.render(node, [frame], feedback, unsigned_ok=True)
        worker.on_main(node_io.show_preview, worker.unwrap(node), version["pattern"], frame)
        if version.get("unsigned"):
            return ("previewing frame {} UNSIGNED (the plate is not signed off: press 'Sign off plate' before "
                    "Render range)".format(frame))
        return "previewing frame {} of version {}; Render range to use it in the comp".format(frame, version["key"])
    _guarded("Preview", work)


def render() -> None:
    """Render the node's range, the Viewer's frame first, each frame shown as it lands."""
    def work(node: Any, feedback: Feedback) -> str:
        first, last = node_io.frame_range(node)
        real = worker.unwrap(node)
        started: List[bool] = []

        def landed(version: Dict[str, Any], frames: List[int]) -> None:
            if not started:  # the first new frame: show the range frame by frame from now on
                started.append(True)
                there = [f for f in range(first, last + 1) if not cache.missing(version["pattern"], [f], version["views"])]
                worker.post(node_io.show_progress, real, version["pattern"], first, last, there)
            else:
                worker.post(node_io.show_landed, real, frames)

        try:
            version = jobs.render(node, list(range(first, last + 1)), feedback, verify=True,
                                  playhead=lambda: worker.on_main(nuke.frame), landed=landed)
        except BaseException:
            if started:  # cancelled or failed: back to the last complete version (or the plate)
                worker.on_main(_restore, real)
            raise
        worker.on_main(jobs.show_version, real, version["key"])
        jobs.approve(node, version)
        if "warning" in version:
            worker.on_main(nuke.message, "{}: {}".format(node.name(), version["warning"]))
        curve = jobs.flicker_curve(node, version, feedback)
        return "showing and approved version {} ({}-{}){}{}".format(
            version["key"], first, last, "; " + version["warning"] if "warning" in version else "",
            "; " + curve if curve else "")
    _guarded("Render range", work)


def approve() -> None:
    """Approve the version of the node's current settings, look and sign-off: the one every farm
    step uses (see nuke_plugin.farm)."""
    def work(node: Any, feedback: Feedback) -> str:
        record = jobs.approve_current(node, feedback)
        return "approved {}; save the script so the farm uses it".format(record["label"])
    _guarded("Approve", work)


def submit_to_farm() -> None:
    """Ask for the farm, the frames per task and whether to send the job to Deadline now, then
    write the farm job for the node (see nuke_plugin.submit)."""
    node = nuke.thisNode()
    panel = nuke.Panel("Submit {} to farm".format(node.name()))
    panel.addEnumerationPulldown("Farm", " ".join(submit.FARMS))
    panel.addSingleLineInput("Frames per task", "64")  # each render task pays ~11 s to start
    panel.addBooleanCheckBox("Submit to Deadline now", False)
    if not panel.show():
        return

    def work(node: Any, feedback: Feedback) -> str:
        farm_name, send = panel.value("Farm"), bool(panel.value("Submit to Deadline now"))
        text = str(panel.value("Frames per task")).strip()
        if not text.isdigit() or int(text) < 1:
            raise PluginError("Frames per task must be a whole number of frames, e.g. 64; got {!r}".format(text))
        if send and farm_name != "deadline":
            raise PluginError("'Submit to Deadline now' is for the deadline farm; {} jobs are submitted with the "
                              "submit.sh written beside them".format(farm_name))
        folder = submit.submit(node, farm_name, int(text), send, feedback)
        return "{} job {} {}".format(farm_name, "submitted; its files are in" if send else "written to", folder) + (
            "" if send else " (run submit.sh there to submit it)")
    _guarded("Submit to farm", work)


def _restore(node: Any) -> None:
    if not jobs.show_version(node, jobs.shown(node)):
        node_io.show_plate(node, node_io.NOT_RENDERED.format(node.name()))


def cancel() -> None:
    """Stop the node's job: a queued one is dropped; a running one stops after the frames in
    flight (the engine writes every frame whole) and the node keeps its last complete version."""
    node = nuke.thisNode()
    job = worker.busy(node.fullName())
    if job is None:
        node_io.set_status(node, "nothing to cancel: {} runs no job".format(node.name()))
        return
    queued = job.state == "queued"
    worker.cancel(node.fullName())
    node_io.set_status(node, "{}: {}".format(job.title, "cancelled before it started" if queued else
                                             "cancelling (the frames in flight finish first)"))


def open_report() -> None:
    """Open the shown version's QC report (ColourLock; in a script of several views each view's
    report, in the order of the views) or, without one, its folder in the desktop's viewer."""
    node = nuke.thisNode()
    stage = stage_of(node.Class())
    key = jobs.shown(node)
    try:
        if not key:
            raise PluginError("{}: nothing rendered yet: press Render range first".format(node.name()))
        folder = cache.version_dir(node_io.cache_root(node), stage.output, key)
        reports = [os.path.join(cache.report_dir(folder, view), "report.html") for view in node_io.views()]
        for path in [r for r in reports if os.path.isfile(r)] or [folder]:
            qt.open_path(path)
    except (PluginError, RuntimeError) as exc:
        nuke.message("Open report failed.\n\n{}".format(exc))


def knob_changed() -> None:
    """Switching 'Version' points the node at that version's frames; 'Note' is kept with the
    shown version."""
    knob = nuke.thisKnob()
    if knob is not None and knob.name() == "version":
        node = nuke.thisNode()
        key = versions.key_of(knob.value())
        if not jobs.show_version(node, key):
            node_io.set_status(node, "version {} is incomplete or gone; showing the plate".format(key))
    elif knob is not None and knob.name() == "version_note":
        jobs.set_note(nuke.thisNode(), knob.value())


def purge() -> None:
    """Delete the cached versions no toolset node of the script shows or has approved, after asking (with how
    many and how much disk) in a dialog."""
    nodes = [n for n in nuke.allNodes(group=nuke.root()) if n.Class() in STAGES]
    try:
        roots = [(node_io.cache_root(n), stage_of(n.Class()).output) for n in nodes]
    except PluginError as exc:
        nuke.message("Purge versions failed.\n\n{}".format(exc))
        return
    shown_keys = [key for n in nodes for key in jobs.kept_keys(n)]

    def work(node: Any, feedback: Feedback) -> str:
        feedback.step("measuring versions not shown by any node")
        folders, orphans, freed = versions.plan_purge(roots, shown_keys)
        if not folders:
            return "nothing to purge: every cached version is shown or approved by a node"
        question = "Purge {} cached version{} no node shows or approved, freeing {}?".format(
            len(folders), "s" if len(folders) != 1 else "", versions.size_text(freed))
        if not worker.on_main(_ask, question):
            return "purge cancelled: nothing deleted"
        versions.purge(folders, orphans)
        worker.on_main(_forget_gone, nodes)
        return "purged {} versions, freed {}".format(len(folders), versions.size_text(freed))
    _guarded("Purge versions", work)


def _ask(question: str) -> bool:
    panel = nuke.Panel(question)
    return bool(panel.show())


def _forget_gone(nodes: List[Any]) -> None:
    """Drop purged versions from every node's list."""
    import json

    for node in nodes:
        stage = stage_of(node.Class())
        root = node_io.cache_root(node)
        record = jobs._record(node)
        kept = [e for e in record["versions"] if versions.exists(root, stage.output, e["key"])]
        if len(kept) != len(record["versions"]):
            node["history"].setValue(json.dumps(dict(record, versions=kept)))
            node["version"].setValues([versions.item(e) for e in kept])


def on_create() -> None:
    """Node created or script loaded: restore the shown version (a gizmo's inside is rebuilt from
    its file on load), on the farm (no GUI) the approved one, and install the farm hook."""
    node = nuke.thisNode()
    node["version"].setValues([versions.item(e) for e in jobs.history(node)])
    node["approved_info"].setValue(jobs.approved_label(node))
    if not nuke.GUI:
        farm.show_approved(node)
    else:
        try:
            jobs.show_version(node, jobs.shown(node))
        except PluginError:  # no cache folder yet (untitled script): the plate shows
            node_io.show_plate(node, node_io.NOT_RENDERED.format(node.name()))
    farm.install()
