"""``restyle demo``'s runner, apart from the others (:mod:`.runners`), which the demo runs for its stages."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def run_demo(job: dict[str, Any], progress: str) -> int:
    from ..demo.run import run_demo as demo
    from ..demo.settings import DemoSettings

    given = {name: job[field] for name, field in (("frames", "frames"), ("size", "size"), ("seed", "seed"),
                                                   ("train_seconds", "seconds")) if field in job}
    demo(Path(job.get("out", DemoSettings.out)), **given, progress_mode=progress)  # the demo's defaults for the rest
    return 0
