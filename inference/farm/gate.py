"""The farm's QC gate: after every render chunk, the job stops when a chunk's ColourLock QC failed,
or when a chunk's report is not a well-formed QC report (exit 65: it cannot say the chunk passed)."""
from __future__ import annotations

import json
from pathlib import Path

from ..colourlock.qc import validate_report
from ..errors import MissingFileError, RestyleError
from .shot import CHUNK_REPORT


def check_reports(report_dir: Path) -> tuple[list[Path], list[Path]]:
    """(every chunk's report.json under ``report_dir``, those that failed).

    Raises:
        MissingFileError: no chunk report at all (the renders wrote none, or the folder is wrong).
        RestyleError: a report that is not a well-formed QC report (unparsable JSON, ``passed``
            not a real boolean, a missing field, a ΔE that is not a finite number): every such
            report is named with its field.
    """
    reports = sorted(report_dir.glob(f"{CHUNK_REPORT.format(first='*')}/report.json"))
    if not reports:
        raise MissingFileError(f"QC gate: no ColourLock report under {report_dir} "
                               f"(expected {report_dir}/{CHUNK_REPORT.format(first='FIRST')}/report.json)")
    failed, malformed = [], []
    for report in reports:
        try:
            data = json.loads(report.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            malformed.append(f"{report} is not a QC report: not JSON ({exc})")
            continue
        problems = validate_report(data)
        if problems:
            malformed.append(f"{report} is not a QC report the gate can trust: " + "; ".join(problems))
        elif not data["passed"]:
            failed.append(report)
    if malformed:
        raise RestyleError("QC gate: " + "\n  ".join(malformed) + "\n  render those chunks again to rewrite their reports")
    return reports, failed
