"""Every benchmark record can be made again: it names the commit and the command that made it."""
import json
import re
from pathlib import Path

import pytest

from bench import record as bench_record

RESULTS = Path(__file__).resolve().parents[1] / "bench" / "results"
RECORDS = [(path.name, label, record) for path in sorted(RESULTS.glob("*.json"))
           for label, record in json.loads(path.read_text())["runs"].items()]


@pytest.mark.parametrize("name, label, record", RECORDS, ids=[f"{name}:{label}" for name, label, _ in RECORDS])
def test_every_record_names_its_commit_and_command(name, label, record):
    assert re.fullmatch(r"[0-9a-f]{40}", record.get("git_commit") or ""), f"{name} {label}: no git_commit"
    assert (record.get("command") or "").split()[0] in ("python", "restyle"), f"{name} {label}: no command"
    assert "git_dirty" in record


def test_a_stored_record_carries_the_commit_and_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", [str(RESULTS.parent / "bench_io.py"), "--label", "a b"])
    path = bench_record.store_result(tmp_path / "io.json", "io", "a b", {"fps": 1.0})
    record = json.loads(path.read_text())["runs"]["a b"]
    assert record["command"] == "python -m bench.bench_io --label 'a b'" and record["fps"] == 1.0
    assert record["git_commit"] == bench_record.git_state()["git_commit"] and "git_dirty" in record


def test_a_console_script_is_named_as_typed_and_a_copy_without_git_reads_the_environment(monkeypatch):
    assert bench_record.command_line(["/opt/venv/bin/restyle", "bench", "--sizes", "2048x1080"]) == \
        "restyle bench --sizes 2048x1080"
    monkeypatch.setattr(bench_record, "_git", lambda *args: None)
    monkeypatch.setenv("RESTYLE_GIT_COMMIT", "a" * 40)
    monkeypatch.setenv("RESTYLE_GIT_DIRTY", "0")
    assert bench_record.git_state() == {"git_commit": "a" * 40, "git_dirty": False}


def test_the_environment_wins_over_a_stale_git_folder(monkeypatch):
    # a checkout sent to a GPU machine once carried the .git of an older commit
    monkeypatch.setattr(bench_record, "_git", lambda *args: "b" * 40 if args[0] == "rev-parse" else " M x.py")
    assert bench_record.git_state()["git_commit"] == "b" * 40
    monkeypatch.setenv("RESTYLE_GIT_COMMIT", "a" * 40)
    monkeypatch.setenv("RESTYLE_GIT_DIRTY", "0")
    assert bench_record.git_state() == {"git_commit": "a" * 40, "git_dirty": False}
