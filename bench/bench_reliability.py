"""Reliability report: runs the fault-injection and bad-input tests and writes what they did.

Faults are injected for real by tests/test_faults.py (SIGKILL of a render and of a training,
two renders into one cache, a full disk, unwritable destinations); bad input by
tests/test_bad_input.py, tests/test_bad_input_sweep.py (hypothesis) and the per-stage bad-input
tests. Each fault test asserts that no frame on disk is partial or differs from an uninterrupted
render, so "frames lost or corrupted" is 0 exactly when they all pass. Writes
bench/results/reliability.json.

    python -m bench.bench_reliability --label dev-2core
    python -m bench.bench_reliability --label gpu-h100-oom --gpu-oom   # item 7 on a GPU machine

``--gpu-oom`` runs the out-of-memory fallback for real: it caps this process's CUDA memory
(``torch.cuda.set_per_process_memory_fraction``) below what a batch of 4K frames needs, restyles
the batch through the engine's ``restyle_images`` and records the fallback steps it took and the
largest difference from the same frames restyled with the whole GPU (tiled == untiled).
"""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from .common import bench_parser, machine, merge_result

ROOT = Path(__file__).resolve().parents[1]
FAULTS = "tests/test_faults.py"
BAD_INPUT = ["tests/test_bad_input.py", "tests/test_bad_input_sweep.py", "tests/test_colourlock_swatches.py",
             "tests/test_manifest.py", "tests/test_nuke_bad_input.py"]


EXAMPLES = re.compile(r"(\d+) passing(?: examples)?, (\d+) failing")


def run_tests(paths: list[str]) -> tuple[list[dict], str]:
    """Each test's name, outcome and seconds, and pytest's output with hypothesis's statistics."""
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "junit.xml"
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                               "--hypothesis-show-statistics", *paths], cwd=ROOT, check=False, capture_output=True, text=True)
        cases = ET.parse(report).getroot().iter("testcase")
        return [{"test": f"{c.get('classname')}::{c.get('name')}", "seconds": float(c.get("time", 0)),
                 "outcome": "failed" if c.find("failure") is not None or c.find("error") is not None
                 else "skipped" if c.find("skipped") is not None else "passed"} for c in cases], done.stdout


def examples_run(statistics: str) -> int:
    """The generated examples hypothesis ran (passing and failing, every phase) by its statistics
    report; the invalid ones it threw away are not counted."""
    return sum(int(passing) + int(failing) for passing, failing in EXAMPLES.findall(statistics))


def gpu_out_of_memory(width: int = 3840, height: int = 2160, batch: int = 4, cap_gb: float = 1.0) -> dict:
    """Restyle ``batch`` generated frames under a CUDA memory cap; the fallback's notes and accuracy."""
    import numpy as np
    import torch

    from bench.bench_pipeline import make_shot
    from inference.demo.plate import PLATE_COLOURSPACE, render_frame
    from inference.restyle.apply import restyle_images
    from inference.restyle.backends import TorchBackend
    from inference.restyle.model_file import load_model

    with tempfile.TemporaryDirectory() as work:
        model = load_model(make_shot(Path(work), 1, 320, 180)[1])
    frames = [(i, render_frame(i, width, height)) for i in range(batch)]
    backend = TorchBackend(model, "cuda")
    whole = restyle_images(model, backend, frames, PLATE_COLOURSPACE, None, 1)
    torch.cuda.empty_cache()
    total = torch.cuda.get_device_properties(0).total_memory
    torch.cuda.set_per_process_memory_fraction(cap_gb * 1e9 / total)
    notes: list[str] = []
    start = time.perf_counter()
    capped = restyle_images(model, backend, frames, PLATE_COLOURSPACE, None, batch, notes.append)
    seconds = time.perf_counter() - start
    torch.cuda.set_per_process_memory_fraction(1.0)
    return {"gpu": torch.cuda.get_device_name(0), "frames": batch, "resolution": [width, height],
            "memory_cap_gb": cap_gb, "requested_batch": batch, "fallback_notes": notes,
            "seconds_with_fallback": round(seconds, 2),
            "max_abs_diff_vs_uncapped": float(max(np.abs(a - b).max() for a, b in zip(capped, whole))),
            "completed": len(capped) == batch}


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--gpu-oom", action="store_true",
                        help="only run the GPU out-of-memory fallback under a memory cap (needs CUDA)")
    args = parser.parse_args(argv)
    if args.gpu_oom:
        record = {"machine": machine(), "gpu_out_of_memory_fallback": gpu_out_of_memory()}
        print(record)
        print(f"wrote {merge_result('reliability', args.label, record)}")
        return
    (faults, _), (bad, statistics) = run_tests([FAULTS]), run_tests(BAD_INPUT)
    sweep = [t for t in bad if "bad_input_sweep" in t["test"]]
    record = {
        "machine": machine(),
        "faults_injected": faults,
        "bad_input_tests": len(bad),
        "bad_inputs_tried": {"explicit tests": len(bad) - len(sweep), "hypothesis examples run": examples_run(statistics)},
        "failures": [t["test"] for t in faults + bad if t["outcome"] == "failed"],
        "frames_lost_or_corrupted": 0 if all(t["outcome"] == "passed" for t in faults) else None,
        "not_applicable": "a warm local engine service (item 6): the engine runs as a child process per job, "
                          "with no listening socket",
    }
    print({k: v for k, v in record.items() if k != "faults_injected"})
    print(f"wrote {merge_result('reliability', args.label, record)}")


if __name__ == "__main__":
    main()
