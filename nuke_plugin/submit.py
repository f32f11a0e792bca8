"""Submit to farm (RestyleLook): the node's current version as farm jobs, written by the engine's
``restyle submit`` (run like every other engine command, in a child process).

The farm's render tasks run ``restyle render`` with the node's own fields (model, the signed-off
plate the node rendered, deflicker off, its device...) straight into the node's cache version, so
they make the frames the node would make itself. The comp job then renders the saved script with
``nuke -x``; there the farm hook finds those frames, checks the plate against the sign-off, and the
comp's Writes read them. The script must be saved: the farm renders the file, not this session.
"""
from __future__ import annotations

import os
import re
from typing import Any

import nuke

from . import cache, engine, jobs, node_io, settings, signoff, worker
from .errors import PluginError
from .feedback import Feedback
from .stages import RESTYLE

FARMS = ("deadline", "opencue")  # openjd's template always colour-locks: `restyle submit` from a shell
TOOLSET = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # what NUKE_PATH points at


def submit(node: Any, farm: str, chunk_size: int, send: bool, feedback: Feedback) -> str:
    """Write the farm job for the node's frame range (and submit it to Deadline when ``send``);
    returns the folder holding the job files.

    Raises:
        PluginError: the script is unsaved, there is no trained look, or the plate changed since sign-off
            (unless 'Override sign-off' is on: the farm then renders the changed plate into this version,
            as a farm render of the comp would).
        EngineError: ``restyle submit`` refused (its message names the setting) or Deadline did.
    """
    if worker.on_main(lambda: nuke.root().modified()):
        raise PluginError("{}: save the script first (File > Save): the farm renders the saved file".format(
            node.name()))
    version = jobs.version_of(node)
    first, last = node_io.frame_range(node)
    frames = list(range(first, last + 1))
    feedback.step("checking the plate against the sign-off, frames {}-{}".format(first, last))
    changed = signoff.changed_frames(signoff.recorded(node), signoff.current_hashes(node, frames, feedback))
    if changed and not node_io.value(node, "override_signoff"):  # the farm reads the plate frames just rendered
        raise PluginError(signoff.describe(node, changed))
    folder = os.path.join(node_io.cache_root(node), "farm", "{}_{}".format(node.name(), version["key"]), farm)
    script = worker.on_main(nuke.scriptName)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", "{}_{}".format(os.path.splitext(os.path.basename(script))[0], node.name()))
    manifest = dict(version["fields"], version=1, stage="submit", farm=farm, job_dir=folder, comp=script, name=name,
                    model=jobs.model_path(node), plate=node_io.source_pattern(node, RESTYLE.inputs[0], frames),
                    frames="{}-{}".format(first, last), out=version["pattern"], chunk_size=chunk_size,
                    engine_python=settings.engine_python(), toolset=TOOLSET)
    if manifest.get("detail") or manifest.get("texture"):  # the workers read the paintings from the node's
        # cache, as they read the plate
        manifest["keys"] = jobs.painted_keys(node)
    manifest.update(jobs.colour_fields(version["colour"], version["fields"],
                                       {f: manifest[f] for f in ("plate", "keys") if f in manifest}))
    if farm == "deadline":
        manifest.update(nuke_version="{}.{}".format(nuke.NUKE_VERSION_MAJOR, nuke.NUKE_VERSION_MINOR), submit=send)
    else:
        manifest["nuke"] = nuke.EXE_PATH
    feedback.step("writing the {} job".format(farm))
    engine.run("submit", cache.write_manifest(folder, "submit_job.json", manifest), feedback.event,
               feedback.cancelled)
    return folder
