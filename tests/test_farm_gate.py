"""``restyle gate`` fails on any report it cannot trust: unparsable JSON, ``passed`` that is not a
real boolean, a missing field, a ΔE that is NaN, Inf or null in a passing report. Such a report
exits 65 (bad input data, README's exit codes) with a message naming the report file and the
field; a well-formed failing report exits 3."""
from __future__ import annotations

import json

import pytest

from inference import cli

SWATCH = {"name": "logo red", "tolerance": 1.0, "max_hold": 3.0, "before": [4.0, 4.2], "after_lock": [1.5, 1.6],
          "after": [0.0, 0.1], "held": [True, True], "pixel_p95": [0.4, 0.5], "seam": [0.1, 0.2], "max_after": 0.1,
          "passed": True}
GOOD = {"source": "in.%04d.exr", "frames": "1001-1002", "passed": True, "failures": [],
        "palette_delta_e_before": [3.0, 3.5], "palette_delta_e_after": [0.3, 0.4], "non_finite_after": [0, 0],
        "swatches": [SWATCH]}


def _gate(tmp_path, text: str) -> int:
    """The gate over a good chunk report and one whose report.json holds ``text``."""
    for chunk, body in ((1001, json.dumps(GOOD)), (1003, text)):
        (tmp_path / f"chunk.{chunk}").mkdir(exist_ok=True)
        (tmp_path / f"chunk.{chunk}" / "report.json").write_text(body)
    return cli.main(["gate", "--report", str(tmp_path)])


def _with(swatch: dict | None = None, **fields) -> str:
    return json.dumps({**GOOD, **fields, "swatches": [{**SWATCH, **(swatch or {})}]})


def test_well_formed_reports_pass_or_fail_on_their_verdict(tmp_path, capsys):
    assert _gate(tmp_path, json.dumps(GOOD)) == 0
    assert "QC gate: 2 report(s), 0 failed" in capsys.readouterr().out
    failed = _with({"passed": False, "held": [True, False]}, passed=False,
                   failures=["swatch 'logo red' frames 1002: the region was repainted"])
    assert _gate(tmp_path, failed) == 3
    assert f"QC gate FAILED: {tmp_path / 'chunk.1003' / 'report.json'}" in capsys.readouterr().out
    # a failed report may carry null where the engine measured NaN: it fails (3), it is not malformed
    assert _gate(tmp_path, _with({"passed": False, "after": [0.0, None]}, passed=False, failures=["NaN"])) == 3


@pytest.mark.parametrize("text,field", [
    ("{", "not JSON"),
    ("[1, 2]", "JSON list, not an object"),
    (_with(passed="false"), "field 'passed' is 'false' (str), not true or false"),
    (_with(passed="true"), "field 'passed' is 'true' (str)"),
    (_with(passed=1), "field 'passed' is 1 (int)"),
    (_with(passed=None), "field 'passed' is None"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "passed"}), "field 'passed' is missing"),
    (_with({"after": [0.0, float("nan")]}), "field 'swatches[0] (logo red).after[1]' is nan"),
    (_with({"after_lock": [float("inf"), 1.0]}), "field 'swatches[0] (logo red).after_lock[0]' is inf"),
    (_with(palette_delta_e_after=[0.3, float("nan")]), "field 'palette_delta_e_after[1]' is nan"),
    (_with({"after": [0.0, None]}), "field 'swatches[0] (logo red).after[1]' is None, not a finite number"),
    (_with({"after": [0.0]}), "'swatches[0] (logo red).after' must be a list of 2"),
    (json.dumps({**GOOD, "swatches": [{k: v for k, v in SWATCH.items() if k != "after_lock"}]}),
     "'swatches[0] (logo red).after_lock' must be a list of 2"),
    (json.dumps({**GOOD, "swatches": [{k: v for k, v in SWATCH.items() if k != "held"}]}),
     "'swatches[0] (logo red).held' must be a list of 2 true/false"),
    (_with({"passed": "yes"}), "'swatches[0] (logo red).passed' is 'yes', not true or false"),
    (_with({"passed": False}), "field 'passed' is true but 'swatches[0] (logo red).passed' is false"),
    (_with(failures=["swatch 'logo red' frames 1002: off"]), "field 'passed' is true but 'failures' lists 1"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "frames"}), "field 'frames' is None, not a frame range"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "swatches"}), "field 'swatches' must be a list"),
    (json.dumps({k: v for k, v in GOOD.items() if k != "palette_delta_e_before"}),
     "'palette_delta_e_before' must be a list of 2"),
])
def test_a_malformed_report_fails_the_gate_naming_the_file_and_the_field(tmp_path, capsys, text, field):
    assert _gate(tmp_path, text) == 65
    err = capsys.readouterr().err
    assert f"{tmp_path / 'chunk.1003' / 'report.json'} is not a QC report" in err and field in err, err
    assert str(tmp_path / "chunk.1001") not in err  # the good one is not blamed


def test_every_malformed_report_is_named_at_once(tmp_path, capsys):
    for chunk, text in ((1001, _with(passed="false")), (1003, "{")):
        (tmp_path / f"chunk.{chunk}").mkdir()
        (tmp_path / f"chunk.{chunk}" / "report.json").write_text(text)
    assert cli.main(["gate", "--report", str(tmp_path)]) == 65
    err = capsys.readouterr().err
    assert all(f"{tmp_path / f'chunk.{c}' / 'report.json'} is not a QC report" in err for c in (1001, 1003))
