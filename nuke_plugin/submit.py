"""Submit to farm (RestyleLook): the node's APPROVED version as farm jobs, written by the engine's
``restyle submit`` (run like every other engine command, in a child process).

Four steps (see nuke_plugin.farm): the Nuke prep renders the node's plate where it is not a plain
Read and checks it against the approval; the render tasks run ``restyle render`` with the approved
version's fields (model, deflicker off, its device...) straight into its cache folder, so they make
the frames the node would make itself (on every farm: the Open Job Description template has a
parameter for each render setting), in a script of several views once per view (``--views``,
``%V`` in the plate and frame patterns); no QC gate (no colour reference here); the comp renders the
saved script with ``nuke -x``, where every toolset node only checks that its approved frames are
there. The script must be saved: the farm renders the file, not this session.
"""
from __future__ import annotations

import os
import re
from typing import Any

import nuke

from . import cache, colour, engine, jobs, node_io, settings, worker
from .errors import PluginError
from .farm import check_chain
from .feedback import Feedback
from .stages import RESTYLE

FARMS = ("deadline", "opencue", "openjd")
TOOLSET = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # what NUKE_PATH points at


def submit(node: Any, farm: str, chunk_size: int, send: bool, feedback: Feedback) -> str:
    """Write the farm job for the node's frame range (and submit it to Deadline when ``send``);
    returns the folder holding the job files.

    Raises:
        PluginError: the script is unsaved, has no approved version of the node (the plate is
            checked against the approval on the farm, by the prep step), or the node is in a chain
            of toolset nodes whose other approved frames are not all on disk (:func:`.farm.check_chain`).
        EngineError: ``restyle submit`` refused (its message names the setting) or Deadline did.
    """
    if worker.on_main(lambda: nuke.root().modified()):
        raise PluginError("{}: save the script first (File > Save): the farm renders the saved file".format(
            node.name()))
    approved = jobs.approved(node)
    worker.on_main(check_chain, worker.unwrap(node))
    first, last = approved["frames"]
    folder = os.path.join(node_io.cache_root(node), "farm", "{}_{}".format(node.name(), approved["key"]), farm)
    script = worker.on_main(nuke.scriptName)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", "{}_{}".format(os.path.splitext(os.path.basename(script))[0], node.name()))
    plate = node_io.source_pattern(node, RESTYLE.inputs[0], list(range(first, last + 1)))
    manifest = dict(approved["job"], version=1, stage="submit", farm=farm, job_dir=folder, comp=script, name=name,
                    node=node.fullName(), model=jobs.model_path(node, approved["job"].get("model")), plate=plate,
                    frames="{}-{}".format(first, last), out=approved["pattern"], chunk_size=chunk_size,
                    engine_python=settings.engine_python(), toolset=TOOLSET, nuke=nuke.EXE_PATH)
    if approved["views"] != [None]:  # one render per view: the plate and frames carry Nuke's %V
        manifest["views"] = approved["views"]
    if manifest.get("detail") or manifest.get("texture"):  # the workers read the paintings from the node's
        # cache, as they read the plate
        manifest["keys"] = jobs.painted_keys(node)
    manifest.update(jobs.colour_fields(colour.of_script(), approved["job"],
                                       {f: manifest[f] for f in ("plate", "keys") if f in manifest}))
    if farm == "deadline":
        manifest.update(nuke_version="{}.{}".format(nuke.NUKE_VERSION_MAJOR, nuke.NUKE_VERSION_MINOR), submit=send)
    feedback.step("writing the {} job".format(farm))
    engine.run("submit", cache.write_manifest(folder, "submit_job.json", manifest), feedback.event,
               feedback.cancelled)
    return folder
