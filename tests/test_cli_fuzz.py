"""Issue 22, item 6: a property-based fuzz of the whole command line (hypothesis), bounded for CI.

Each example is one ``restyle`` command line drawn from every command's flags, with good and bad
values: missing, damaged, mismatched or non-finite frames, outputs onto inputs by any spelling, a
file where a folder goes, bad ranges and numbers, random manifests. It runs in-process
(``cli.main``) on small generated material. Whatever comes in, the run ends with an exit code the
README's table documents (70, internal error, would be a bug), says why without a traceback,
leaves every input byte-identical and no partial or temporary file where a reader looks.

``RESTYLE_FUZZ_EXAMPLES`` sets the number of examples (default 300, under a minute on 2 cores);
``python -m bench.bench_cli_fuzz`` records a run in bench/results/cli_fuzz.json.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from inference import cli
from inference.errors import EX_SOFTWARE, RestyleError
from inference.image import Image, read_image, write_image

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = int(os.environ.get("RESTYLE_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
SIZE = (32, 24)  # width, height of the generated frames (a multiple of the network's 4)
TEMPORARY = re.compile(r"^\..*(\.tmp|restyle-write-test)")


def documented_exit_codes() -> set[int]:
    """The exit codes README.md's **Exit codes** paragraph lists, but 70: an internal error is a bug."""
    text = README.read_text().split("**Exit codes**", 1)[1].split("Every\nerror", 1)[0]
    codes = {int(code) for code in re.findall(r"(?<![\w.-])(\d{1,3}) (?=[a-z])", text)}
    assert {0, 64, 65, 66} <= codes, f"README's exit-code paragraph not found or changed: {text[:200]}"
    return codes - {EX_SOFTWARE}


def _sequence(folder: Path, name: str, frames=(1, 2, 3), seed: int = 0) -> str:
    """A small RGBA half-float EXR sequence; its pattern."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for frame in frames:
        pixels = rng.uniform(0, 1, (SIZE[1], SIZE[0], 4)).astype(np.float16)
        write_image(folder / f"{name}.{frame:04d}.exr", Image.from_array(pixels, ("R", "G", "B", "A")))
    return str(folder / f"{name}.####.exr")


@pytest.fixture(scope="module")
def material(tmp_path_factory) -> dict[str, str]:
    """Inputs under root/in (good and damaged), a trained model, and a folder for the runs' outputs."""
    from inference.restyle.train import TrainSettings, train
    from inference.sequence import SequencePattern

    root = tmp_path_factory.mktemp("fuzz")
    src = root / "in"
    paths = {"plate": _sequence(src / "plate", "plate"), "styled": _sequence(src / "styled", "styled", seed=1)}
    key = src / "key.png"
    write_image(key, Image.from_array(np.random.default_rng(2).uniform(0, 1, (SIZE[1], SIZE[0], 3)).astype(np.float32),
                                      ("R", "G", "B")))
    settings_ = TrainSettings(steps=2, patch=16, batch=2, plateau=False, device="cpu", key_psnr=0, stability=0)
    model = train(SequencePattern.parse(paths["plate"]), {2: str(key)}, src / "look.onnx", settings=settings_,
                  progress_mode="none").model
    damaged = {"trunc": lambda p: p.write_bytes(p.read_bytes()[:200]),
               "garbage": lambda p: p.write_bytes(b"\x17" * 300),
               "stub": lambda p: p.write_bytes(b"12345"), "holes": lambda p: p.unlink()}
    for name, damage in damaged.items():
        paths[name] = _sequence(src / name, name, seed=3)
        damage(Path(paths[name].replace("####", "0002")))
    paths["nan"] = _sequence(src / "nan", "nan", seed=4)
    image = read_image(paths["nan"].replace("####", "0003"))
    pixels = image.as_float32()
    pixels[1, 2, 0] = np.nan
    write_image(paths["nan"].replace("####", "0003"), Image.from_array(pixels.astype(np.float16), image.channels))
    paths["sizes"] = _sequence(src / "sizes", "sizes", seed=5)
    write_image(paths["sizes"].replace("####", "0003"), Image.from_array(np.zeros((8, 8, 4), np.float16)))
    (src / "swatches.json").write_text(json.dumps([{"name": "patch", "rgb": [0.5, 0.4, 0.3], "region": [2, 2, 8, 6]}]))
    (src / "bad_swatches.json").write_text('[{"name": "x", "rgb": [2, 0, 0], "region": [0, 0, 99, 99]}]')
    (src / "comp.nk").write_text("Root {}\n")
    (src / "blocker").write_text("a file where a folder is expected")
    (src / "not_a_model.onnx").write_bytes(b"onnx?")
    (root / "link").symlink_to(src / "plate", target_is_directory=True)
    (root / "runs").mkdir()
    return {**paths, "root": str(root), "in": str(src), "key": str(key), "model": str(model),
            "swatches": str(src / "swatches.json"), "bad_swatches": str(src / "bad_swatches.json"),
            "comp": str(src / "comp.nk"), "blocker": str(src / "blocker"), "not_a_model": str(src / "not_a_model.onnx")}


# Values drawn for each kind of flag; "{name}" is one of the material's paths, "{out}" the example's own
# folder. An output lands in the inputs' folder only onto one of the run's own inputs ("{onto}": one of
# them spelt again), so every input file must come out as it went in.
def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """``good`` 7 times in 8, else ``bad``: most flags of a command line are then good, and a run gets
    past its first check often enough to reach the engine's work."""
    return st.integers(0, 7).flatmap(lambda pick: bad if pick == 7 else good)  # hypothesis favours 0: good


PLATE, STYLED = "{in}/plate/plate.####.exr", "{in}/styled/styled.####.exr"
SEQUENCES = mostly(st.sampled_from([PLATE, STYLED]), st.sampled_from(
    [f"{{in}}/{name}/{name}.####.exr" for name in ("trunc", "garbage", "stub", "holes", "nan", "sizes")]
    + ["{root}/link/plate.%04d.exr", "{in}/styled/../plate/plate.####.exr", "{out}/missing.####.exr",
       "{in}/plate/no_token.exr", "{in}/plate/", ""]))
ANY_FILE = st.sampled_from(["{in}/key.png", "{in}/look.onnx", "{in}/not_a_model.onnx", "{in}/swatches.json",
                            "{in}/bad_swatches.json", "{in}/comp.nk", "{out}/missing.png", "{in}",
                            "{in}/plate/plate.0001.exr"])


def files(good: str) -> st.SearchStrategy:
    return mostly(st.just(good), ANY_FILE)


MODEL, REFERENCE, SWATCHES, COMP = (files(f"{{in}}/{name}")
                                    for name in ("look.onnx", "key.png", "swatches.json", "comp.nk"))
KEYS = mostly(st.just("2={in}/key.png"), st.sampled_from(["1={in}/key.png", "9={in}/key.png", "2={out}/missing.png",
                                                           "2={in}/plate/plate.####.exr", "x",
                                                           "2={in}/plate/plate.0002.exr"]))
INPUTS = (SEQUENCES, MODEL, REFERENCE, SWATCHES, COMP, ANY_FILE, KEYS)
ONTO = "{onto}"
OUTPUTS = {
    "sequence": st.sampled_from(["{out}/o.####.exr", "{out}/sub/o.%04d.exr", "{out}/o.####.png",
                                 "{blocker}/x/o.####.exr", "{out}/o.exr", ONTO]),
    "file": st.sampled_from(["{out}/r.json", "{out}/m.onnx", "{out}", "{blocker}/x.json", ONTO]),
    "folder": st.sampled_from(["{out}/qc", "{blocker}", "{out}/a/b", ONTO]),
}
RESPELL = st.sampled_from(["same", "dotdot", "printf", "link"])
FRAMES = mostly(st.sampled_from(["1-3", "2-3"]),
                st.sampled_from(["1-5", "3-1", "1-3x2", "1,3", "abc", "-1", "0-1000000000"]))
NUMBERS = mostly(st.sampled_from(["1", "2"]), st.one_of(
    st.integers(-3, 300).map(str), st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False).map(str),
    st.sampled_from(["x", "", "1e309"])))
COLOURSPACES = st.sampled_from(["ACEScg", "sRGB - Texture", "scene_linear", "no such space"])
SWITCH = st.just(None)  # a flag without a value

# Per command: (flag, what it takes, rarity): one of the INPUTS strategies, an output kind
# ("sequence", "file", "folder") or any other value strategy; rarity 1 = drawn 7 times in 8 (what the
# command needs), n = once in n + 1.
COMMON = [("--threads", NUMBERS, 4)]
FLAGS: dict[str, list[tuple[str, st.SearchStrategy | str, int]]] = {
    "inspect": [("--plate", SEQUENCES, 1), ("--frames", FRAMES, 2), ("--json", "file", 2)],
    "convert": [("--input", SEQUENCES, 1), ("--frames", FRAMES, 1), ("--out", "sequence", 1),
                ("--dtype", st.sampled_from(["half", "float", "uint8", "uint16", "uint10", "x"]), 2),
                ("--out-colourspace", COLOURSPACES, 3), ("--compression", st.sampled_from(["zip", "piz", "bogus"]), 3)],
    "train": [("--plate", SEQUENCES, 1), ("--frames", FRAMES, 1), ("--key", KEYS, 1), ("--init", MODEL, 4),
              ("--out", "file", 1), ("--steps", NUMBERS, 2), ("--lr", NUMBERS, 3), ("--key-psnr", NUMBERS, 3),
              ("--stability", NUMBERS, 3), ("--guides", st.sampled_from(["depth", "normals,bogus", "position"]), 4),
              ("--checkpoint-every", NUMBERS, 3)],
    "run": [("--model", MODEL, 1), ("--plate", SEQUENCES, 1), ("--frames", FRAMES, 1), ("--out", "sequence", 1),
            ("--tile", NUMBERS, 3), ("--batch", NUMBERS, 3),
            ("--backend", st.sampled_from(["onnxruntime", "torch"]), 3),
            ("--plate-colourspace", COLOURSPACES, 3)],
    "render": [("--model", MODEL, 1), ("--plate", SEQUENCES, 1), ("--frames", FRAMES, 1), ("--reference", REFERENCE, 3),
               ("--swatches", SWATCHES, 3), ("--out", "sequence", 1), ("--report", "folder", 3),
               ("--chunk", NUMBERS, 3),
               ("--strength", NUMBERS, 3), ("--radius", NUMBERS, 3),
               ("--deflicker", st.sampled_from(["off", "global", "local", "both"]), 2), ("--skip-existing", SWITCH, 3),
               ("--sigma", NUMBERS, 4)],
    "deflicker": [("--input", SEQUENCES, 1), ("--guide", SEQUENCES, 1), ("--frames", FRAMES, 1),
                  ("--out", "sequence", 1),
                  ("--handles", NUMBERS, 3), ("--strength", NUMBERS, 3), ("--radius", NUMBERS, 3),
                  ("--mode", st.sampled_from(["global", "local", "both"]), 2), ("--grade-nk", "file", 3),
                  ("--vectors", st.sampled_from(["dis", "blender", "nuke"]), 3)],
    "colourlock": [("--input", SEQUENCES, 1), ("--reference", REFERENCE, 1), ("--swatches", SWATCHES, 2),
                   ("--frames", FRAMES, 1),
                   ("--out", "sequence", 1), ("--report", "folder", 1), ("--sigma", NUMBERS, 3),
                   ("--check-only", SWITCH, 3), ("--method", st.sampled_from(["mkl", "lstsq"]), 3)],
    "metrics": [("--output", SEQUENCES, 1), ("--plate", SEQUENCES, 1), ("--reference", SEQUENCES, 3),
                ("--frames", FRAMES, 1), ("--json", "file", 1),
                ("--vectors", st.sampled_from(["dis", "farneback", "dis,bogus"]), 3)],
    "hash": [("--plate", SEQUENCES, 1), ("--frames", FRAMES, 1), ("--json", "file", 2)],
    "torchscript": [("--model", MODEL, 1), ("--out", "file", 1)],
    "gate": [("--report", ANY_FILE, 1)],
    "submit": [("--farm", st.sampled_from(["deadline", "opencue", "openjd"]), 1), ("--comp", COMP, 1),
               ("--model", MODEL, 1), ("--plate", SEQUENCES, 1), ("--reference", REFERENCE, 3), ("--frames", FRAMES, 1),
               ("--job-dir", "folder", 1), ("--out", "sequence", 1), ("--report", "folder", 3),
               ("--nuke-version", st.sampled_from(["15.1", "x"]), 1), ("--chunk-size", NUMBERS, 3),
               ("--priority", NUMBERS, 3)],
}
MANIFEST_FIELDS = st.sampled_from(["plate", "frames", "out", "model", "strength", "radius", "threads", "tile", "steps",
                                   "stage", "bogus", "keys", "chunk", "sigma"])
# a manifest names only files in the example's folder: its values are not the flags' inputs, so never
# anything an output may land on
MANIFEST_VALUES = st.one_of(st.integers(-5, 10 ** 7),
                            st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=False), FRAMES,
                            st.sampled_from(["{out}/m.####.exr", "{out}/missing.onnx", "{out}/k.png", ""]),
                            st.none(), st.booleans(), st.dictionaries(st.sampled_from(["2", "x"]),
                                                                      st.just("{out}/k.png")))


def _respell(path: str, how: str, paths: dict[str, str]) -> str:
    """Another spelling of ``path``: through ``..``, printf padding, or the symlinked plate folder."""
    head, _sep, name = path.rpartition("/")
    if how == "dotdot":  # head/.. is the parent of where head leads, when head is a symlink too
        return f"{head}/../{os.path.basename(os.path.realpath(head))}/{name}"
    if how == "printf":
        return path.replace("####", "%04d")
    if how == "link":
        return path.replace(f"{paths['in']}/plate/", f"{paths['root']}/link/")
    return path


@st.composite
def command_lines(draw) -> tuple[str, list[str], dict | str | None]:
    """(command, argv with {placeholders}, manifest document or None)."""
    command = draw(st.sampled_from(sorted(FLAGS)))
    argv, inputs = [command] + (["--key-psnr", "0"] if command == "train" else []), []  # 2 s learn no look
    for flag, takes, rarity in FLAGS[command] + COMMON:
        if not (draw(st.integers(0, 7)) < 7 if rarity == 1 else draw(st.integers(0, rarity)) == rarity):
            continue
        value = draw(OUTPUTS[takes] if isinstance(takes, str) else takes)
        if any(takes is strategy for strategy in INPUTS):
            inputs.append(value.partition("=")[2] if takes is KEYS else value)
        elif value == ONTO:
            value = _onto(draw, takes, inputs)
        argv += [flag] if value is None else [flag, value]
    manifest = draw(mostly(st.none(), st.just("{not json") | st.dictionaries(MANIFEST_FIELDS, MANIFEST_VALUES,
                                                                               max_size=4)))
    if command == "train":  # bound the training, whatever the draw said
        argv += ["--seconds", "2", "--device", "cpu"]
    return command, argv, manifest


def _onto(draw, kind: str, inputs: list[str]) -> str:
    """An output onto one of the inputs drawn so far (a sequence for a sequence, a frame of one for a
    file, the folder of one for a folder), as ``@HOW@PATH``: spelt again (_respell) once filled in; a fresh place when
    there is none."""
    targets = [i for i in inputs if i and (kind != "sequence" or "####" in i or "%04d" in i)]
    if not targets:
        return {"sequence": "{out}/o.####.exr", "file": "{out}/r.json", "folder": "{out}/qc"}[kind]
    target = draw(st.sampled_from(targets))
    if kind == "file" and "####" in target:
        target = target.replace("####", "0001").replace("%04d", "0001")
    elif kind == "folder":
        target = target.rpartition("/")[0] or target
    return f"@{draw(RESPELL)}@{target}"


def _fill(value, paths: dict[str, str]):
    """``value`` (text, or a manifest's nested values) with the {placeholders} filled in."""
    if isinstance(value, str):
        how, at, path = value[1:].partition("@") if value.startswith("@") else ("", "", value)
        path = re.sub(r"\{(\w+)\}", lambda m: paths.get(m.group(1), m.group(0)), path)
        return _respell(path, how, paths) if at else path
    if isinstance(value, dict):
        return {k: _fill(v, paths) for k, v in value.items()}
    return value


def _hashes(files) -> dict[str, str]:
    """SHA-256 of each file (None for one that is gone)."""
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() if Path(p).is_file() else None for p in files}


@pytest.fixture(scope="module")
def original_inputs(material) -> dict[str, str]:
    """The hashes of the material's input files before any example ran (outputs may land beside them)."""
    return _hashes(p for p in sorted(Path(material["in"]).rglob("*")) if p.is_file())


def _left_behind(root: Path, outputs: Path) -> list[str]:
    """Temporary files anywhere, and files where a reader looks (the example's outputs) that do not decode."""
    problems = [str(p) for p in root.rglob("*") if TEMPORARY.match(p.name)]
    for path in outputs.rglob("*"):
        if path.suffix in (".exr", ".png") and path.is_file():
            try:
                read_image(path)
            except RestyleError as exc:
                problems.append(f"{path}: {exc}")
    return problems


@FUZZ
@given(drawn=command_lines())
def test_any_command_line_ends_with_a_documented_exit_and_leaves_the_inputs_alone(material, original_inputs, capsys,
                                                                                   drawn):
    command, argv, manifest = drawn
    root = Path(material["root"])
    out = Path(tempfile.mkdtemp(dir=root / "runs"))
    paths = {**material, "out": str(out)}
    argv = [_fill(a, paths) for a in argv]
    if manifest is not None:
        job = out / "job.json"
        job.write_text(manifest if isinstance(manifest, str) else json.dumps(_fill(manifest, paths)))
        argv += ["--manifest", str(job)]
    here = os.getcwd()
    os.chdir(out)  # whatever a relative or empty path names lands in the example's folder
    try:
        code = cli.main([*argv, "--progress", "none"])
    finally:
        os.chdir(here)  # the tests after this one run where the session started
    err = capsys.readouterr().err
    event(f"{command}: exit {code}")
    assert code in documented_exit_codes(), (argv, code, err)
    assert "Traceback" not in err and (code in (0, 3) or "error:" in err), (argv, err)
    assert _hashes(original_inputs) == original_inputs, argv
    assert not _left_behind(root, out), (argv, _left_behind(root, out))
