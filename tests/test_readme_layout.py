"""README's layout section names every folder of the repository and every module of the engine
and the plug-in, so it cannot fall behind the tree unnoticed."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def layout() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Layout\n", 1)[1]
    return section.split("```")[1]


def test_every_top_level_folder_is_in_the_layout():
    folders = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
               and p.name not in ("build", "dist", "demo_out", "restyle_demo") and not p.name.endswith(".egg-info")}
    listed = set(re.findall(r"^([\w.-]+)/", layout(), re.MULTILINE))
    assert sorted(folders - listed) == []


def test_every_module_of_the_engine_and_the_plugin_is_named():
    words = set(re.findall(r"[\w]+", layout()))
    modules = [p for folder in ("inference", "nuke_plugin") for p in (ROOT / folder).rglob("*.py")
               if p.stem != "__init__"]
    missing = sorted(str(p.relative_to(ROOT)) for p in modules if p.stem not in words)
    packages = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "inference").iterdir()
                      if (p / "__init__.py").is_file() and f"{p.name}/" not in layout())
    assert missing == [] and packages == []
