"""``restyle``: the engine's command line. Every subcommand also takes ``--manifest``.

Exit codes (BSD sysexits): 0 done, 3 colour QC failed, 64 bad flag/manifest field, 65 bad input data,
66 missing input, 69 farm unavailable or job refused, 73 output not writable, 70 internal error,
130 cancelled (Ctrl-C), 141 output pipe closed (e.g. ``| head``; nothing printed about it).
Errors print one line naming the file, frame or field to fix.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from typing import Any

from .errors import EX_QC_FAILED, EX_SOFTWARE, EX_USAGE, RestyleError
from .jobs.commands import COLOUR_COMMANDS, SUBCOMMANDS, bounded
from .jobs.demo import run_demo
from .jobs.job import check_paths, job_from_flags
from .jobs.runners import RUNNERS as STAGE_RUNNERS
from .jobs.serve import serve
from .progress import MODES, Progress

__all__ = ["EX_QC_FAILED", "build_parser", "job_from_args", "main"]
EX_CANCELLED = 130
EX_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a Unix tool whose reader went away
RUNNERS = {"demo": run_demo, "serve": lambda job, _progress: serve(main, job), **STAGE_RUNNERS}


class _Parser(argparse.ArgumentParser):
    """argparse with the README's exit code for a usage error (64, not argparse's 2)."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(EX_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="restyle",
        description="Restyle plates toward a painted look, settle flicker, lock colour. "
                    "Frames travel as EXR/PNG sequences; every subcommand also reads a JSON "
                    "job manifest (--manifest) whose fields match the flags.",
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, spec in SUBCOMMANDS.items():
        cmd = sub.add_parser(name, help=spec["help"], description=spec["help"][0].upper() + spec["help"][1:] + ".")
        for flags, dest, options in spec["args"]:
            cmd.add_argument(*flags, dest=dest, default=None, **options)
        cmd.add_argument("--manifest", metavar="JOB.json",
                         help="JSON job manifest holding these fields; flags given here override it")
        cmd.add_argument("--threads", type=bounded("threads"), default=None, metavar="N",
                         help="file I/O threads (default: every core)")
        cmd.add_argument("--progress", choices=MODES, default="text",
                         help="progress on stderr: text lines, JSON lines (for Nuke/farm), or none")
        cmd.add_argument("-v", "--verbose", action="store_true", help="print a traceback on internal errors")
    return parser



def job_from_args(command: str, args: argparse.Namespace) -> dict[str, Any]:
    """The job of parsed flags: its manifest's fields with the flags given over them, checked."""
    return job_from_flags(command, vars(args), args.manifest)


def _quiet_stdout() -> None:
    """After a closed output pipe: send what is still buffered to /dev/null, so the interpreter's
    last flush does not print a BrokenPipeError of its own."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests' captured output)
        pass


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (--help prints and exits, as argparse does)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed a usage error (64), or the help (0: exit as asked)
        if not exc.code:
            raise
        return int(exc.code)
    try:
        job = job_from_args(args.command, args)
        check_paths(args.command, job, args.manifest)
        if args.command not in COLOUR_COMMANDS + ("render",):  # submit: the farm loads the config
            return RUNNERS[args.command](job, args.progress)
        from . import colour  # OpenColorIO: loaded by the commands that convert colour only

        with colour.using_config(job.get("ocio_config")):
            spaces = {field: value for field, value in job.items() if field.endswith("_colourspace")}
            Progress(args.command, 0, args.progress).note(colour.summary_line(colour.describe(**spaces)))
            return RUNNERS[args.command](job, args.progress)
    except RestyleError as exc:
        print(f"restyle {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `restyle inspect ... | head`: the reader has what it wanted
        _quiet_stdout()
        return EX_PIPE
    except KeyboardInterrupt:
        print(f"restyle {args.command}: cancelled; frames already written are complete", file=sys.stderr)
        return EX_CANCELLED
    except Exception as exc:  # a bug, not bad input: say so in one line, trace on request
        if args.verbose:
            traceback.print_exc()
        print(f"restyle {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(rerun with --verbose for the traceback)", file=sys.stderr)
        return EX_SOFTWARE


if __name__ == "__main__":
    sys.exit(main())
