"""Command-line fuzz record: runs tests/test_cli_fuzz.py (hypothesis, in-process ``restyle`` command
lines of every command with good and bad paths, frames, numbers and manifests) and writes how many
cases ran, the outcome, and the share of each command's exit codes to bench/results/cli_fuzz.json.

    python -m bench.bench_cli_fuzz --label dev-2core
    python -m bench.bench_cli_fuzz --label dev-2core --examples 1000
"""
from __future__ import annotations

import os
import re
import time

from .bench_reliability import examples_run, run_tests
from .common import bench_parser, machine, merge_result

FUZZ = "tests/test_cli_fuzz.py"
EVENT = re.compile(r"\* ([\d.]+)%, (\w+): exit (-?\d+)")


def exit_code_shares(statistics: str) -> dict[str, dict[str, float]]:
    """Per command, the share (%) of generated cases that ended with each exit code, as hypothesis's
    statistics report its events (generate phase; a shrink phase, after a failure, is left out)."""
    generate = statistics.split("during shrink phase", 1)[0]
    shares: dict[str, dict[str, float]] = {}
    for percent, command, code in EVENT.findall(generate):
        shares.setdefault(command, {})[code] = float(percent)
    return dict(sorted(shares.items()))


def failure_text(output: str) -> str | None:
    """What pytest printed about a failure: hypothesis's falsifying example and the assertion."""
    lines = [line for line in output.splitlines()
             if re.match(r"\s*(E |\|?\s*Falsifying|drawn=|\(|'|\[)", line)]
    return "\n".join(lines[:60]) or None


def main(argv: list[str] | None = None) -> None:
    parser = bench_parser(__doc__, data=False)
    parser.add_argument("--examples", type=int, default=None,
                        help="hypothesis examples (default: the test's own, RESTYLE_FUZZ_EXAMPLES or 300)")
    args = parser.parse_args(argv)
    if args.examples is not None:
        os.environ["RESTYLE_FUZZ_EXAMPLES"] = str(args.examples)
    started = time.monotonic()
    tests, output = run_tests([FUZZ])
    passed = bool(tests) and all(t["outcome"] == "passed" for t in tests)
    record = {
        "machine": machine(),
        "device": "cpu", "backend": "onnxruntime (CPU), torch (CPU) for training and deflicker",
        "resolution": [32, 24], "dtype": "half-float EXR frames, PNG painting",
        "max_examples": int(os.environ.get("RESTYLE_FUZZ_EXAMPLES", "300")),
        "cases_run": examples_run(output),
        "outcome": "passed" if passed else "failed",
        "seconds": round(time.monotonic() - started, 1),
        "exit_code_share_percent": exit_code_shares(output),
        "checks": "every case: an exit code README's table lists (70 excluded), no traceback, an error line "
                  "when not 0/3, every input file byte-identical, no temporary or undecodable file left",
    }
    if not passed:
        record["failure"] = failure_text(output)
    print({k: v for k, v in record.items() if k != "exit_code_share_percent"})
    print(f"wrote {merge_result('cli_fuzz', args.label, record)}")


if __name__ == "__main__":
    main()
