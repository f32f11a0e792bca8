"""The farm's QC gate: after every render chunk, the job stops when a chunk's ColourLock QC failed."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import MissingFileError, RestyleError
from .shot import CHUNK_REPORT


def check_reports(report_dir: Path) -> tuple[list[Path], list[Path]]:
    """(every chunk's report.json under ``report_dir``, those that failed).

    Raises:
        MissingFileError: no chunk report at all (the renders wrote none, or the folder is wrong).
        RestyleError: a report that is not valid JSON with a "passed" field.
    """
    reports = sorted(report_dir.glob(f"{CHUNK_REPORT.format(first='*')}/report.json"))
    if not reports:
        raise MissingFileError(f"QC gate: no ColourLock report under {report_dir} "
                               f"(expected {report_dir}/{CHUNK_REPORT.format(first='FIRST')}/report.json)")
    failed = []
    for report in reports:
        try:
            passed = json.loads(report.read_text())["passed"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RestyleError(f"QC gate: {report} is not a QC report ({type(exc).__name__}: {exc})") from None
        if not passed:
            failed.append(report)
    return reports, failed
