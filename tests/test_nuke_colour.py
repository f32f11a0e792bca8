"""The script's colour reaches every engine job (docs/nuke.md, "Colour"): Project Settings > Color on
the stand-in's Root (OCIO with a custom config, a shipped config, or Nuke's own LUTs) becomes the
job's OCIO config and the colourspaces of the files Nuke and the engine exchange; the QC report
names them; the version key follows the config's content, not its path."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import use_show_config


def test_root_colour_settings_as_the_engine_takes_them(nuke_standin, tmp_path, show_config, monkeypatch):
    from nuke_plugin import colour, errors

    nuke = nuke_standin
    nuke.scriptSaveAs(str(tmp_path / "comp.nk"))
    # Nuke's own LUTs: the built-in config, Nuke's linear and sRGB by their exact equivalents
    said = colour.of_script()
    assert said.management == "Nuke" and said.config == colour.BUILTIN_CONFIG
    assert colour.file_space(said, "plate.%04d.exr") == "Linear Rec.709 (sRGB)"
    assert colour.file_space(said, "paint.1001.png") == "sRGB Encoded Rec.709 (sRGB)"
    with pytest.raises(errors.PluginError, match="logLut LUT is 'Cineon'.*switch 'color management' to OCIO"):
        colour.file_space(said, "scan.%04d.dpx")
    # a shipped config: its file in Nuke's install, by OCIOConfigPath
    nuke.root()["colorManagement"].setValue("OCIO")
    nuke.root()["OCIO_config"].setValue("aces_1.2")
    with pytest.raises(errors.PluginError, match="aces_1.2.*/plugins/OCIOConfigs/configs/aces_1.2/config.ocio.*"
                                                 "RESTYLE_PATH_MAP"):
        colour.of_script()  # the stand-in's install has no files: the node says where it looked
    # a custom config named relative to the script (TCL evaluated), and through the studio's mapping
    target = use_show_config(nuke, show_config, tmp_path)
    said = colour.of_script()
    assert said.config == str(target) and colour.file_space(said, "plate.%04d.exr") == "show_lin709"
    assert colour.file_space(said, "key.png") == "show_g22"
    nuke.root()["customOCIOConfigPath"].setValue("/mnt/other_site/show/config.ocio")
    with pytest.raises(errors.PluginError, match="customOCIOConfigPath.*/mnt/other_site"):
        colour.of_script()
    monkeypatch.setenv("RESTYLE_PATH_MAP", "/mnt/other_site={}".format(tmp_path))
    assert colour.of_script().config == str(target)
    # the key holds the config's content: another path to the same file is the same colour
    assert colour.identity(colour.of_script()) == colour.identity(said)
    nuke.root()["floatLut"].setValue("show_g22")
    assert colour.identity(colour.of_script()) != colour.identity(said)


def test_a_colourlock_job_carries_the_projects_config_and_the_report_names_it(comp, press, show_config):
    from nuke_plugin import jobs

    nuke = comp.nuke
    node = nuke.createNode("RestyleColourLock")
    node.setInput(0, comp.plate)
    node.setInput(1, comp.keys)  # the painted frame 1001 is the colour reference
    node["reference_frame"].setValue(1001)
    press(node, "sign_off")
    nuke_key = jobs.version_of(node)["key"]
    target = use_show_config(nuke, show_config, comp.dir)
    assert jobs.version_of(node)["key"] != nuke_key  # other colour, other version

    press(node, "render")

    assert node.node("show")["which"].value() == 1, node["status"].value()
    folder = Path(node.node("result")["file"].value()).parent
    job = json.loads((folder / "job.json").read_text())
    assert job["ocio_config"] == str(target)
    assert job["input_colourspace"] == "show_lin709"  # the plate's EXRs: the Root's float files
    assert job["reference_colourspace"] == "show_g22"  # the painting's PNG: the Root's 8-bit files
    said = json.loads((folder / "report" / "report.json").read_text())["colour"]
    assert said["ocio_config"] == str(target) and said["config_name"] == "test-show-config"
    assert said["input_colourspace"] == "show_lin709" and said["reference_colourspace"] == "show_g22"
    assert str(target) in (folder / "report" / "report.html").read_text()
