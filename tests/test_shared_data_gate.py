"""The ``shared_data`` gate of tests/conftest.py, run by pytest on a fake clone: tests that need
../shared/data skip without it (one line saying where it was expected), fail without it under
CI=true, and run when it is there."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = """
import pytest

@pytest.mark.shared_data
def test_marked():
    pass

def test_by_fixture(shared_data):
    assert (shared_data / "frame.exr").is_file()

def test_plain():
    pass
"""


@pytest.fixture
def clone(tmp_path) -> Path:
    """<tmp>/clone with this conftest and three sample tests; ../shared/data is not there yet."""
    root = tmp_path / "clone"
    (root / "tests").mkdir(parents=True)
    shutil.copy(Path(__file__).with_name("conftest.py"), root / "tests" / "conftest.py")
    (root / "tests" / "test_sample.py").write_text(SAMPLE)
    (root / "pytest.ini").write_text("[pytest]\naddopts = -ra --strict-markers\n"
                                     "markers =\n    shared_data: reads ../shared/data\n")
    return root


def run_pytest(clone: Path, *args: str, ci: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=clone,
                          env=env, capture_output=True, text=True, timeout=120)


def test_without_shared_data_the_tests_needing_it_are_skipped_with_one_line(clone):
    proc = run_pytest(clone)
    assert proc.returncode == 0, proc.stdout
    assert "1 passed, 2 skipped" in proc.stdout
    expected = f"../shared/data not found beside the clone (expected at {clone.parent / 'shared' / 'data'})"
    skipped = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) == 1 and skipped[0].startswith("SKIPPED [2]") and expected in skipped[0], proc.stdout
    # the fixture alone marks a test: it can be deselected like the marked one
    assert "1 passed, 2 deselected" in run_pytest(clone, "-m", "not shared_data").stdout


def test_without_shared_data_under_ci_the_tests_needing_it_fail(clone):
    proc = run_pytest(clone, ci=True)
    assert proc.returncode == 1, proc.stdout
    assert "1 passed, 2 errors" in proc.stdout
    assert "../shared/data not found beside the clone" in proc.stdout and "CI=true needs it" in proc.stdout


def test_with_shared_data_everything_runs(clone):
    data = clone.parent / "shared" / "data"
    data.mkdir(parents=True)
    (data / "frame.exr").write_bytes(b"")
    proc = run_pytest(clone, ci=True)
    assert proc.returncode == 0 and "3 passed" in proc.stdout, proc.stdout
