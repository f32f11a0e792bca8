"""Reliability report: runs the fault-injection and bad-input tests and writes what they did.

Faults are injected for real by tests/test_faults.py (SIGKILL of a render and of a training,
two renders into one cache, a full disk, unwritable destinations); bad input by
tests/test_bad_input.py, tests/test_bad_input_sweep.py (hypothesis) and the per-stage bad-input
tests. Each fault test asserts that no frame on disk is partial or differs from an uninterrupted
render, so "frames lost or corrupted" is 0 exactly when they all pass. Writes
bench/results/reliability.json.

    python -m bench.bench_reliability --label dev-2core
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from .common import bench_parser, machine, merge_result

ROOT = Path(__file__).resolve().parents[1]
FAULTS = "tests/test_faults.py"
BAD_INPUT = ["tests/test_bad_input.py", "tests/test_bad_input_sweep.py", "tests/test_colourlock_swatches.py",
             "tests/test_manifest.py", "tests/test_nuke_bad_input.py"]


def run_tests(paths: list[str]) -> list[dict]:
    """Each test's name, outcome and seconds, from a pytest run with hypothesis statistics."""
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "junit.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}", *paths],
                       cwd=ROOT, check=False, capture_output=True)
        cases = ET.parse(report).getroot().iter("testcase")
        return [{"test": f"{c.get('classname')}::{c.get('name')}", "seconds": float(c.get("time", 0)),
                 "outcome": "failed" if c.find("failure") is not None or c.find("error") is not None
                 else "skipped" if c.find("skipped") is not None else "passed"} for c in cases]


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    args = parser.parse_args(argv)
    faults, bad = run_tests([FAULTS]), run_tests(BAD_INPUT)
    sweep = [t for t in bad if "bad_input_sweep" in t["test"]]
    record = {
        "machine": machine(),
        "faults_injected": faults,
        "bad_input_tests": len(bad),
        "bad_inputs_tried": {"explicit cases (tests)": len(bad) - len(sweep),
                             "hypothesis examples (up to)": 150 * (len(sweep) - 1) + 40},
        "failures": [t["test"] for t in faults + bad if t["outcome"] == "failed"],
        "frames_lost_or_corrupted": 0 if all(t["outcome"] == "passed" for t in faults) else None,
        "not_applicable": "a warm local engine service (item 6): the engine runs as a child process per job, "
                          "with no listening socket",
    }
    print({k: v for k, v in record.items() if k != "faults_injected"})
    print(f"wrote {merge_result('reliability', args.label, record)}")


if __name__ == "__main__":
    main()
