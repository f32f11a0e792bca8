"""`pip install` of each runtime variant resolves to exactly one onnxruntime (issue 28 item 1).

pip itself resolves the project's requirements, read from pyproject.toml and written as the core
metadata (``Requires-Dist``, ``Provides-Extra``) any build backend writes for them, against
stand-in wheels of every requirement they name (name, version, no files), offline: `--dry-run
--report` says what it would install. No network, no pip configuration (``--isolated``), no build
backend (a fresh venv's setuptools cannot make wheel metadata without the ``wheel`` package).
"""
from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def _a_version(requirement: Requirement) -> str:
    """A version that meets ``requirement`` (its pin, else its lowest bound)."""
    for candidate in [spec.version for spec in requirement.specifier] or ["1.0"]:
        if requirement.specifier.contains(candidate, prereleases=True):
            return candidate
    raise AssertionError(f"no stand-in version for {requirement}")


def _stand_in_wheel(folder: Path, name: str, version: str, metadata: str = "") -> None:
    stem = f"{canonicalize_name(name).replace('-', '_')}-{version}"
    info = f"{stem}.dist-info"
    with zipfile.ZipFile(folder / f"{stem}-py3-none-any.whl", "w") as wheel:
        wheel.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{metadata}")
        wheel.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr(f"{info}/RECORD", "")


def core_metadata(project: dict) -> str:
    """``Requires-Python``, ``Requires-Dist`` and ``Provides-Extra`` lines for pyproject's
    ``[project]`` table, as PEP 621 maps them (an extra's requirements carry ``extra == "name"``)."""
    lines = [f"Requires-Python: {project['requires-python']}"]
    lines += [f"Requires-Dist: {Requirement(r)}" for r in project["dependencies"]]
    for extra, requirements in project["optional-dependencies"].items():
        lines.append(f"Provides-Extra: {extra}")
        for text in requirements:
            requirement = Requirement(text)
            marker = f"({requirement.marker}) and " if requirement.marker else ""
            requirement.marker = None
            lines.append(f'Requires-Dist: {requirement}; {marker}extra == "{extra}"')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """Stand-in wheels for the project (its metadata from pyproject.toml) and every requirement it names."""
    wheels = tmp_path_factory.mktemp("wheels")
    requirements = [Requirement(r) for r in PROJECT["dependencies"]]
    requirements += [Requirement(r) for extra in PROJECT["optional-dependencies"].values() for r in extra]
    for requirement in requirements:
        if canonicalize_name(requirement.name) != canonicalize_name(PROJECT["name"]):
            _stand_in_wheel(wheels, requirement.name, _a_version(requirement))
    _stand_in_wheel(wheels, PROJECT["name"], PROJECT["version"], core_metadata(PROJECT))
    return wheels


def resolve(wheels, extras: str) -> dict[str, str]:
    """What ``pip install '.[extras]'`` would install: {canonical name: version}."""
    name = PROJECT["name"]
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--dry-run", "--quiet", "--report", "-",
         "--no-index", "--find-links", str(wheels), "--ignore-installed", f"{name}[{extras}]" if extras else name],
        capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PIP_NO_INPUT": "1"})
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    return {canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"] for item in report["install"]}


@pytest.mark.parametrize("extras, runtime", [("cpu", "onnxruntime"), ("dev,cpu", "onnxruntime"),
                                             ("gpu", "onnxruntime-gpu"), ("tensorrt", "onnxruntime-gpu")])
def test_each_variant_installs_exactly_one_onnxruntime(index, extras, runtime):
    installed = resolve(index, extras)
    runtimes = {name for name in installed if name in ("onnxruntime", "onnxruntime-gpu")}
    assert runtimes == {runtime}, f".[{extras}] would install {sorted(runtimes)}"
    assert installed[runtime] == "1.31.1"  # the version the tests ran against
    assert ("tensorrt-cu12" in installed) == (extras == "tensorrt")  # TensorRT only on request
    assert installed["torch"] == "2.13.0" and installed["onnx"] == "1.23.2"
    assert ("pytest" in installed) == extras.startswith("dev")


def test_no_extra_installs_no_runtime_and_the_engine_says_which_to_add(index, monkeypatch):
    installed = resolve(index, "")
    assert not {"onnxruntime", "onnxruntime-gpu"} & set(installed)
    from inference.errors import UsageError
    from inference.restyle import backends

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if neither wheel were installed
    monkeypatch.setattr(backends, "_ORT", None)
    with pytest.raises(UsageError, match=r"pip install '\.\[cpu\]'.*'\.\[gpu\]'"):
        backends.onnxruntime_module()


def test_the_readme_and_ci_install_the_cpu_runtime():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert readme.count("pip install -e '.[dev,cpu]'") == 2 and "'.[dev]'" not in readme
    assert "pip install -q -e '.[dev,cpu]'" in ci
