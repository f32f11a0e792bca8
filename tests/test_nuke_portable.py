"""Portable scripts (docs/nuke.md, "Portable scripts"): the cache root is read from the node with TCL
evaluated and relative to the script, models are kept relative to the cache, and the studio's path
mapping ($RESTYLE_PATH_MAP, or a nuke.addFilenameFilter in init.py) maps paths between machines. A
script moved with its cache, or rendered where its paths are mapped, finds its versions."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import use_show_config

from inference.image import read_image


def test_cache_root_is_tcl_evaluated_relative_to_the_script_and_mapped(nuke_standin, tmp_path, monkeypatch):
    from nuke_plugin import errors, node_io

    nuke = nuke_standin
    nuke._standin.reset(mode="gui", nuke_path=str(Path(__file__).resolve().parents[1]))
    nuke._standin.startup()
    node = nuke.createNode("RestyleDeflicker")
    with pytest.raises(errors.PluginError, match="save the script first.*cache_dir"):
        node_io.cache_root(node)  # untitled: the default is relative to a script that is not there
    (tmp_path / "shot").mkdir()
    nuke.scriptSaveAs(str(tmp_path / "shot" / "comp.nk"))
    assert node["cache_dir"].value() == "[file dirname [value root.name]]/restyle_cache"  # the gizmo's default
    assert node_io.cache_root(node) == str(tmp_path / "shot" / "restyle_cache")
    node["cache_dir"].setValue("../caches/[getenv SHOT_NAME]")  # relative: from the script's folder
    monkeypatch.setenv("SHOT_NAME", "sh010")
    assert node_io.cache_root(node) == str(tmp_path / "caches" / "sh010")
    node["cache_dir"].setValue("$env(SHOT_NAME)/frames")
    assert node_io.cache_root(node) == str(tmp_path / "shot" / "sh010" / "frames")
    # the studio's mapping: $RESTYLE_PATH_MAP first, then Nuke's filename filters (init.py's hook)
    node["cache_dir"].setValue("S:\\show\\cache")
    monkeypatch.setenv("RESTYLE_PATH_MAP", "/Volumes/show=/mnt/x; S:/show={}".format(tmp_path / "show"))
    assert node_io.cache_root(node) == str(tmp_path / "show" / "cache")
    nuke.addFilenameFilter(lambda path: path.replace(str(tmp_path / "show"), str(tmp_path / "mirror")))
    assert node_io.cache_root(node) == str(tmp_path / "mirror" / "cache")
    monkeypatch.setenv("RESTYLE_PATH_MAP", "S:/show")
    with pytest.raises(errors.PluginError, match="RESTYLE_PATH_MAP: rule 'S:/show' is not FROM=TO"):
        node_io.cache_root(node)
    # the stand-in's TCL is Nuke's: nuke.tcl runs the same commands, and refuses what it does not model
    assert nuke.tcl("value", "root.name") == str(tmp_path / "shot" / "comp.nk")
    with pytest.raises(RuntimeError, match="does not evaluate"):
        nuke.tcl("python", "1+1")


def test_the_preferences_cache_folder_is_written_into_new_nodes_only(nuke_standin, tmp_path, monkeypatch):
    from nuke_plugin import settings

    monkeypatch.setenv("RESTYLE_PREFS", str(tmp_path / "prefs.json"))
    settings.save({"cache_dir": "/shows/cache"})
    nuke = nuke_standin
    nuke._standin.reset(mode="gui", nuke_path=str(Path(__file__).resolve().parents[1]))
    nuke._standin.startup()
    made = nuke.createNode("RestyleColourLock")
    assert made["cache_dir"].value() == "/shows/cache"  # recorded in the script: every machine reads it
    made["cache_dir"].setValue("[file dirname [value root.name]]/restyle_cache")
    nuke.scriptSaveAs(str(tmp_path / "comp.nk"))
    nuke._standin.open_script(str(tmp_path / "comp.nk"))  # loading is not creating: the script's value stays
    assert nuke.toNode(made.name())["cache_dir"].value() == "[file dirname [value root.name]]/restyle_cache"


def _versions(cache: Path) -> dict:
    """Every version folder and frame under a cache, with its modification time."""
    return {str(p.relative_to(cache)): p.stat().st_mtime_ns for stage in ("restyle", "colourlock")
            for p in (cache / stage).glob("*/*") if p.parent.name != "frames"}


def test_a_script_moved_with_its_cache_renders_on_the_farm_and_reopens(comp, restyle_look, nuke_x, press,
                                                                        show_config):
    nuke = comp.nuke
    # GIVEN a comp whose colour config, cache and output all live beside the script, made in the GUI
    use_show_config(nuke, show_config, comp.dir)
    look = restyle_look("sign_off", "train", "render")
    assert look.node("show")["which"].value() == 1, look["status"].value()
    assert look["model_file"].value().startswith("models/")  # kept relative to the cache
    write = nuke.nodes.Write(file="[file dirname [value root.name]]/out/comp.####.exr", channels="rgba",
                             create_directories=True, inputs=[look])
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))

    # WHEN the script, its cache and its config move together to another folder
    moved = comp.dir.parent / (comp.dir.name + "_moved")
    moved.mkdir()
    for name in ("comp.nk", "restyle_cache", "show"):
        shutil.move(str(comp.dir / name), str(moved / name))
    before = _versions(moved / "restyle_cache")

    # THEN the farm renders the comp from the versions it finds there: none is made again
    status, state, stderr = nuke_x(moved / "comp.nk", "1002", moved)
    assert status == 0, stderr
    assert state["written"] == [[write.name(), 1002]]
    assert _versions(moved / "restyle_cache") == before and not (comp.dir / "restyle_cache").exists()
    made = next((moved / "restyle_cache" / "restyle").glob("*/restyle.1002.exr"))
    out = read_image(moved / "out" / "comp.1002.exr").beauty().as_float32()
    assert np.array_equal(out[..., :3], read_image(made).beauty().as_float32()[..., :3])

    # AND the GUI opening the moved script shows the version from the moved cache
    nuke._standin.open_script(str(moved / "comp.nk"))
    reopened = nuke.toNode(look.name())
    assert reopened.node("show")["which"].value() == 1
    assert reopened.node("result")["file"].value().startswith(str(moved / "restyle_cache"))


def test_a_farm_with_other_paths_maps_them_with_the_studios_filename_filter(comp, nuke_x, press, monkeypatch,
                                                                            tmp_path_factory):
    nuke = comp.nuke
    # GIVEN a ColourLock rendered in the GUI into a cache under the workstation's /mnt/gui_show
    gui_side, farm_side = tmp_path_factory.mktemp("gui_side"), tmp_path_factory.mktemp("farm_side")
    monkeypatch.setenv("RESTYLE_PATH_MAP", "/mnt/gui_show={}".format(gui_side))
    node = nuke.createNode("RestyleColourLock")
    node.setInput(0, comp.plate)
    node.setInput(1, comp.keys)
    node["reference_frame"].setValue(1001)
    node["cache_dir"].setValue("/mnt/gui_show/cache")
    press(node, "sign_off", "render")
    assert node.node("show")["which"].value() == 1, node["status"].value()
    out = comp.dir / "out" / "comp.####.exr"
    nuke.nodes.Write(file=str(out), channels="rgba", create_directories=True, inputs=[node])
    nuke.scriptSaveAs(str(comp.dir / "comp.nk"))
    # AND the farm sees that storage elsewhere, mapped by a filename filter in the studio's init.py
    shutil.move(str(gui_side / "cache"), str(farm_side / "cache"))
    studio = tmp_path_factory.mktemp("studio")
    (studio / "init.py").write_text("import nuke\nnuke.addFilenameFilter(lambda path: path.replace("
                                    "'/mnt/gui_show', {!r}))\n".format(str(farm_side)))
    monkeypatch.delenv("RESTYLE_PATH_MAP")
    before = _versions(farm_side / "cache")

    # WHEN the farm renders THEN it finds the version through the mapping and makes nothing again
    status, state, stderr = nuke_x(comp.dir / "comp.nk", "1002", comp.dir,
                                   nuke_path=os.pathsep.join([str(studio), str(Path(__file__).resolve().parents[1])]))
    assert status == 0, stderr
    assert _versions(farm_side / "cache") == before
    made = next((farm_side / "cache" / "colourlock").glob("*/colourlock.1002.exr"))
    rendered = read_image(str(out).replace("####", "1002")).beauty().as_float32()
    assert np.array_equal(rendered[..., :3], read_image(made).beauty().as_float32()[..., :3])

