"""``restyle demo``'s runner, apart from the others (:mod:`.runners`), which the demo runs for its stages."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def run_demo(job: dict[str, Any], progress: str) -> int:
    from ..demo.run import run_demo as demo

    demo(Path(job.get("out", "restyle_demo")), frames=job.get("frames", 24), size=job.get("size", "640x360"),
         seed=job.get("seed", 7), train_seconds=job.get("seconds", 60.0), progress_mode=progress)
    return 0
