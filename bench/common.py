"""What every benchmark records beside its figures: machine, library versions, when."""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any, Callable

from .record import machine, store_result

__all__ = ["RESULTS", "SHARED_DATA", "bench_parser", "machine", "merge_result", "per_sequence"]

RESULTS = Path(__file__).resolve().parent / "results"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def bench_parser(doc: str | None, data: bool = True) -> argparse.ArgumentParser:
    """The flags every benchmark takes: ``--label`` (and ``--data`` for the shared material)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--label", required=True, help="machine label the figures are stored under")
    if data:
        parser.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared test material (default ../shared/data)")
    return parser


def merge_result(name: str, label: str, record: dict[str, Any]) -> Path:
    """Store ``record`` under ``label`` in bench/results/<name>.json, keeping other machines' runs."""
    return store_result(RESULTS / f"{name}.json", name, label, record)


def per_sequence(names, measure: Callable[[str, Path], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``measure(name, scratch folder)`` for each sequence name, printing each result as it comes."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="restyle_bench_") as work:
        for name in names:
            results[name] = measure(name, Path(work))
            print(name, results[name], flush=True)
    return results
