"""The stand-in `nuke` keeps Nuke's threading rules (../shared/NUKE.md, "Threading and re-entrancy"):
graph and knob changes, nuke.execute, node creation and dialogs belong to the main thread; a worker
thread reaches Nuke through executeInMainThread*; those hang Nuke when called on the main thread
(the stand-in raises); nothing executes, creates nodes or opens a dialog while a render executes."""
from __future__ import annotations

import threading

import pytest


def on_worker(call):
    """Run ``call`` on a new thread; returns (result, exception)."""
    box = {}

    def run():
        try:
            box["result"] = call()
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    return box.get("result"), box.get("error")


def test_changes_from_a_worker_thread_raise_and_reads_do_not(nuke_standin):
    nuke = nuke_standin
    read = nuke.nodes.Read(file="/plates/a.####.exr")
    for change in (lambda: read["file"].setValue("/other.####.exr"), lambda: read.setInput(0, None),
                   lambda: read.setName("Plate"), lambda: nuke.frame(12)):
        _result, error = on_worker(change)
        assert isinstance(error, RuntimeError) and "not Nuke's main thread" in str(error)
        assert "executeInMainThread" in str(error)
    assert read["file"].value() == "/plates/a.####.exr" and read.name() == "Read1"
    for needs_main in (lambda: nuke.execute(read, 1, 1), lambda: nuke.createNode("NoOp"),
                       lambda: nuke.nodes.NoOp(), lambda: nuke.message("hi"), nuke.thisNode):
        _result, error = on_worker(needs_main)
        assert isinstance(error, RuntimeError) and "main thread" in str(error)
    assert nuke._standin.state.dialogs == [] and len(nuke.allNodes()) == 1
    result, error = on_worker(lambda: read["file"].value())
    assert error is None and result == "/plates/a.####.exr"


def test_execute_in_main_thread_runs_on_the_main_loop_in_order(nuke_standin):
    nuke = nuke_standin
    read = nuke.nodes.Read(file="/a.####.exr")
    ran_on = []

    def change(path):
        ran_on.append(threading.get_ident())
        read["file"].setValue(path)
        return path

    results = []
    worker = threading.Thread(target=lambda: (nuke.executeInMainThread(change, "/b.####.exr"),
                                              results.append(nuke.executeInMainThreadWithResult(change, ("/c.####.exr",))),
                                              results.append(nuke.executeInMainThreadWithResult(lambda: 1 / 0))))
    worker.start()
    # THEN nothing runs until the main loop does, and then on the main thread, in order
    assert read["file"].value() == "/a.####.exr"
    nuke._standin.process_events(until=lambda: not worker.is_alive())
    worker.join()
    assert ran_on == [threading.get_ident()] * 2 and read["file"].value() == "/c.####.exr"
    assert results == ["/c.####.exr", None]  # a call that raised gives None (Nuke prints the traceback)


def test_execute_in_main_thread_from_the_main_thread_is_refused(nuke_standin):
    # Foundry: "Do not run the above functions from within the main thread or NUKE will hang."
    for post in (nuke_standin.executeInMainThread, nuke_standin.executeInMainThreadWithResult):
        with pytest.raises(RuntimeError, match="Nuke hangs there"):
            post(lambda: None)


@pytest.mark.parametrize("callback", ["addBeforeRender", "addBeforeFrameRender", "addAfterFrameRender",
                                      "addAfterRender"])
def test_nothing_executes_creates_or_asks_while_a_render_executes(nuke_standin, write_sequence, tmp_path, callback):
    nuke = nuke_standin
    read = nuke.nodes.Read(file=write_sequence(frames=range(1, 2)), first=1, last=1)
    inner = nuke.nodes.Write(file=str(tmp_path / "inner.####.exr"), inputs=[read])
    write = nuke.nodes.Write(file=str(tmp_path / "o.####.exr"), inputs=[read])
    seen = []

    def nested():
        assert nuke.executing()
        for attempt in (lambda: nuke.execute(inner, 1, 1), lambda: nuke.nodes.NoOp(), lambda: nuke.message("x")):
            with pytest.raises(RuntimeError, match="I'm already executing something else"):
                attempt()
            seen.append(True)

    getattr(nuke, callback)(nested)
    nuke.execute(write, 1, 1)
    assert seen == [True] * 3 and not nuke.executing()
    assert [name for name, _frame in nuke._standin.state.written] == [write.name()]


def test_a_button_press_records_how_long_it_held_the_main_thread(nuke_standin):
    nuke = nuke_standin
    node = nuke.nodes.NoOp()
    node.addKnob(nuke.PyScript_Knob("wait", "wait", "import time; time.sleep(0.15)"))
    node.addKnob(nuke.PyScript_Knob("quick", "quick", "pass"))
    node["quick"].execute()
    node["wait"].execute()
    (quick_node, quick, quick_s), (_n, wait, wait_s) = nuke._standin.state.holds
    assert (quick_node, quick, wait) == (node.fullName(), "quick", "wait")
    assert quick_s < 0.1 <= 0.15 <= wait_s
