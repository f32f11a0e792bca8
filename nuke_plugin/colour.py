"""The script's colour, for every engine job: the project's OCIO config and the colourspace of each
file Nuke and the engine exchange, read from Project Settings > Color (the Root's knobs).

* ``colorManagement`` OCIO: the config is the file of ``OCIO_config`` (``OCIOConfigPath``, a config
  shipped with Nuke) or, for ``custom``, ``customOCIOConfigPath``, both TCL-evaluated and mapped
  by the studio's path mapping (:mod:`.paths`); colourspace names are the Root's own
  (``floatLut``, ``logLut``, ``int8Lut``, ``int16Lut``: roles and aliases work too).
* ``colorManagement`` Nuke (Nuke's own LUTs): handled with OCIO's built-in studio config, in which
  Nuke's ``linear``, ``sRGB``, ``Gamma1.8`` and ``Gamma2.2`` have exact equivalents; a file whose
  default LUT has none (``Cineon`` log DPX) is refused with what to set.

Nuke's Writes inside the node write its inputs as EXR in the float-file colourspace, its Reads read
the engine's EXR back in the same one (Nuke converts from and to the working space), so the engine
reads and writes ``floatLut``; a plain Read the engine reads itself is taken in the Root's default
for its file type, as Nuke's Read takes it. Stdlib + ``nuke``.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Dict, NamedTuple, Optional

import nuke

from . import cache, paths, worker
from .errors import PluginError

BUILTIN_CONFIG = "ocio://studio-config-latest"  # the engine's own default (inference/colour.py)
# Nuke's LUTs -> their exact equivalent in the built-in config (Nuke-default colour management)
NUKE_LUTS = {"linear": "Linear Rec.709 (sRGB)", "sRGB": "sRGB Encoded Rec.709 (sRGB)",
             "Gamma1.8": "Gamma 1.8 Encoded Rec.709", "Gamma2.2": "Gamma 2.2 Encoded Rec.709"}
# the Root knob holding the default colourspace of each file type (Nuke: float files, log files, 8-bit
# files; 16-bit TIFFs use int16Lut, which the node cannot tell from a name: int8Lut must agree)
LUT_BY_EXTENSION = {"exr": "floatLut", "hdr": "floatLut", "dpx": "logLut", "cin": "logLut", "png": "int8Lut",
                    "jpg": "int8Lut", "jpeg": "int8Lut", "tif": "int8Lut", "tiff": "int8Lut"}
LUT_KNOBS = ("workingSpaceLUT", "floatLut", "logLut", "int8Lut", "int16Lut")


class ScriptColour(NamedTuple):
    """The project's colour as the engine takes it."""

    management: str  # "OCIO" or "Nuke"
    config: str  # config file (mapped for this machine) or ocio:// built-in
    luts: Dict[str, str]  # Root knob -> colourspace as the Root names it (Nuke LUT names for "Nuke")


def of_script() -> ScriptColour:
    """The Root's colour settings (main thread).

    Raises:
        PluginError: an OCIO config knob that names no file, or a file that is not there.
    """
    return worker.on_main(_read_root)


def _read_root() -> ScriptColour:
    root = nuke.root()
    luts = {name: str(root[name].value()) for name in LUT_KNOBS}
    management = str(root["colorManagement"].value())
    if management != "OCIO":
        return ScriptColour(management, BUILTIN_CONFIG, luts)
    choice = str(root["OCIO_config"].value())
    knob = "customOCIOConfigPath" if choice == "custom" else "OCIOConfigPath"
    path = str(root[knob].getEvaluatedValue()).strip()
    where = "Project Settings > Color > OpenColorIO config ({}{})".format(
        choice, ": customOCIOConfigPath" if choice == "custom" else "")
    if not path:
        raise PluginError("{} names no config file: choose the show's config.ocio there".format(where))
    path = paths.map_path(path)
    if "://" not in path and not os.path.isfile(path):
        raise PluginError("{} is {}, which is not on this machine: fix the path there, or map it with "
                          "${} or a nuke.addFilenameFilter in init.py".format(where, path, paths.ENV_MAP))
    return ScriptColour(management, path, luts)


def space(colour: ScriptColour, lut: str) -> str:
    """The OCIO colourspace of a Root LUT knob (e.g. 'floatLut') for the engine.

    Raises:
        PluginError: Nuke's own LUT with no equivalent in the built-in config, naming what to set.
    """
    name = colour.luts[lut]
    if colour.management == "OCIO":
        return name
    if name not in NUKE_LUTS:
        raise PluginError("Project Settings > Color: the {} LUT is '{}', which the engine has no exact OCIO "
                          "equivalent of (it has {}): set that LUT to one of these, set the Read's colorspace, or "
                          "switch 'color management' to OCIO".format(lut, name, ", ".join(sorted(NUKE_LUTS))))
    return NUKE_LUTS[name]


def file_space(colour: ScriptColour, pattern: str) -> Optional[str]:
    """The colourspace Nuke reads (or its Writes write) a file of ``pattern`` in by default; None
    for a type the Root sets no default for (the engine then decides by type)."""
    extension = pattern.rsplit(".", 1)[-1].lower()
    lut = LUT_BY_EXTENSION.get(extension)
    if lut == "int8Lut" and extension.startswith("tif") and colour.luts["int8Lut"] != colour.luts["int16Lut"]:
        raise PluginError("Project Settings > Color: 8-bit files ({}) and 16-bit files ({}) differ, and the engine "
                          "cannot tell which a TIFF is: set the Read's colorspace".format(
                              colour.luts["int8Lut"], colour.luts["int16Lut"]))
    return space(colour, lut) if lut else None


def identity(colour: ScriptColour) -> str:
    """What a version's cache key holds of the colour: the config's content (not its path, so a
    mapped path finds the same versions) and the Root's colourspaces."""
    config = colour.config if "://" in colour.config else cache.file_digest(colour.config)
    payload = json.dumps({"config": config, "management": colour.management, "luts": colour.luts}, sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
