"""What every benchmark records beside its figures (machine, when), and where it keeps them."""
from __future__ import annotations

import json
import os
import platform
import socket
import time
from pathlib import Path
from typing import Any


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


def physical_cores() -> dict[tuple[str, str], list[int]]:
    """This machine's CPUs grouped by physical core (socket, core id), from Linux's sysfs
    topology; hardware threads of one core (SMT siblings) share a group. Empty where unknown."""
    cores: dict[tuple[str, str], list[int]] = {}
    for topology in sorted(Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology")):
        try:
            key = ((topology / "physical_package_id").read_text().strip(), (topology / "core_id").read_text().strip())
        except OSError:
            continue
        cores.setdefault(key, []).append(int(topology.parent.name[3:]))
    return cores


def machine() -> dict[str, Any]:
    cores = physical_cores()
    return {"host": socket.gethostname(), "cpu": cpu_name(), "cpu_cores": os.cpu_count(),
            "cpu_physical_cores": len(cores) or None,
            "cpu_threads_per_core": max((len(c) for c in cores.values()), default=None),
            "gpu": gpu_name(), "python": platform.python_version(), "platform": platform.platform()}


def store_result(path: Path, name: str, label: str, record: dict[str, Any]) -> Path:
    """Store ``record`` under ``label`` in the JSON file ``path``, keeping other machines' runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {"benchmark": name, "runs": {}}
    data["runs"][label] = {"measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **record}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path
