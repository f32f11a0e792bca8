"""What every benchmark records beside its figures: machine, library versions, when."""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

RESULTS = Path(__file__).resolve().parent / "results"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def bench_parser(doc: str | None, data: bool = True) -> argparse.ArgumentParser:
    """The flags every benchmark takes: ``--label`` (and ``--data`` for the shared material)."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--label", required=True, help="machine label the figures are stored under")
    if data:
        parser.add_argument("--data", type=Path, default=SHARED_DATA, help="the shared test material (default ../shared/data)")
    return parser


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def gpu_name() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def machine() -> dict[str, Any]:
    return {"host": socket.gethostname(), "cpu": cpu_name(), "cpu_cores": os.cpu_count(),
            "gpu": gpu_name(), "python": platform.python_version(), "platform": platform.platform()}


def merge_result(name: str, label: str, record: dict[str, Any]) -> Path:
    """Store ``record`` under ``label`` in bench/results/<name>.json, keeping other machines' runs."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = json.loads(path.read_text()) if path.exists() else {"benchmark": name, "runs": {}}
    data["runs"][label] = {"measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return path


def per_sequence(names, measure: Callable[[str, Path], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``measure(name, scratch folder)`` for each sequence name, printing each result as it comes."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="restyle_bench_") as work:
        for name in names:
            results[name] = measure(name, Path(work))
            print(name, results[name], flush=True)
    return results
