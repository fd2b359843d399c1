"""The ``detsandbox`` command line (also ``python -m detsandbox``).

``run`` runs a file or module in a Sandbox, ``check`` runs it twice in
processes that differ in ``PYTHONHASHSEED``, wall-clock time and ``TZ`` and
reports what differs, ``demo`` is the README demo. :func:`main` returns the
exit code (:class:`ExitCode`); docs/cli.md documents codes and ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import NoReturn

from ._cli_run import ExitCode, RunOptions, UsageError
from ._limits import parse_size
from .errors import PolicyError

__all__ = ["ExitCode", "main"]

_EXIT_CODES = """\
exit codes:
  0  the code ran to the end (check: and both runs agree)
  1  the code raised an exception, or called sys.exit() with a failure
  2  the command line is wrong (one line on stderr, no JSON)
  3  the policy refuses what the code does: a call, an import, untrusted syntax
  4  replay diverged from the journal (check: the runs disagree)
  5  the code used up a resource limit (--timeout, --memory)
"""


class _Formatter(argparse.HelpFormatter):
    """Wraps descriptions; keeps text with line breaks (the exit codes) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class _Parser(argparse.ArgumentParser):
    """argparse, with argument errors on one line that says where help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got {text!r}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected seconds > 0 such as 2.5, got {text!r}")
    return value


def _size(text: str) -> int:
    try:
        return parse_size(text)
    except PolicyError:
        raise argparse.ArgumentTypeError(
            f"expected bytes or a size such as 256M or 1.5G, got {text!r}"
        ) from None


def _add_target(parser: argparse.ArgumentParser) -> None:
    target = parser.add_mutually_exclusive_group()
    target.add_argument("file", nargs="?", metavar="FILE", help="a Python file to run")
    target.add_argument(
        "-m",
        dest="module",
        metavar="MODULE",
        help="run a module found on the current directory or sys.path, as python -m does",
    )


def _add_sandbox_options(parser: argparse.ArgumentParser, *, seed_help: str) -> None:
    parser.add_argument("--seed", type=_seed, metavar="N", help=seed_help)
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="NAME",
        help="let the code call NAME (such as time.monotonic or 'os.*'); may be repeated",
    )
    parser.add_argument(
        "--untrusted",
        action="store_true",
        help="treat the code as hostile: RestrictedPython, import allow-list, default limits",
    )
    parser.add_argument(
        "--timeout", type=_seconds, metavar="S", help="wall-clock seconds the run may take"
    )
    parser.add_argument(
        "--memory", type=_size, metavar="SIZE", help="memory the run may add, such as 256M"
    )
    parser.add_argument(
        "--backend",
        metavar="B",
        help="where the code runs: inprocess, subinterpreter (CPython 3.13+) or process "
        "(default: auto, which picks inprocess)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object (see docs/cli.md) instead"
    )


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="detsandbox",
        description="Run Python code deterministically and in isolation, in-process.",
        epilog=_EXIT_CODES,
        formatter_class=_Formatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = sub.add_parser(
        "demo",
        help="run the built-in examples: an order workflow, state isolation, a strict violation",
        description="Run the built-in examples: an order workflow in a Sandbox, module state "
        "kept apart between Sandboxes, a strict-mode violation with its message, and a clock "
        "read made deterministic, recorded and replayed.",
    )
    run = sub.add_parser(
        "run",
        help="run a file or module in a Sandbox",
        description="Run FILE (or -m MODULE) as __main__ in a Sandbox, strict by default. Its "
        "output is printed; a refused call prints its message with the source line and exits 3.",
        epilog=_EXIT_CODES,
        formatter_class=_Formatter,
    )
    _add_target(run)
    mode = run.add_mutually_exclusive_group()
    mode.add_argument(
        "--strict",
        action="store_true",
        help="refuse every nondeterministic or side-effecting call (the default)",
    )
    mode.add_argument(
        "--deterministic",
        action="store_true",
        help="answer clocks, randomness and uuids from a logical clock and --seed",
    )
    mode.add_argument(
        "--replay",
        metavar="JOURNAL",
        help="replay a journal written by --record; a different call exits 4",
    )
    run.add_argument(
        "--record",
        metavar="JOURNAL",
        help="write the journal of intercepted calls to JOURNAL (implies --deterministic)",
    )
    _add_sandbox_options(
        run, seed_help="randomness seed of deterministic mode (default 0; implies --deterministic)"
    )
    check = sub.add_parser(
        "check",
        help="run the code twice in different processes and report every difference",
        description="Run FILE (or -m MODULE) in deterministic mode in two fresh processes "
        "that differ in PYTHONHASHSEED, TZ and start time, and report every diverging "
        "journal entry, output line or outcome, and every refused call, with its location. "
        "Exits 0 only when both runs agree and complete.",
        epilog=_EXIT_CODES,
        formatter_class=_Formatter,
    )
    _add_target(check)
    _add_sandbox_options(check, seed_help="seed of both runs (default 0)")
    check.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also list every call deterministic mode answered (the journal), with its location",
    )
    parser.set_defaults(subparsers={"demo": demo, "run": run, "check": check})
    return parser


def _usage(args: argparse.Namespace) -> None:
    """The checks argparse cannot express; each fails through the subcommand's error()."""
    if args.command == "demo":
        return
    error = args.subparsers[args.command].error
    if args.file is None and args.module is None:
        error("give a FILE to run, or -m MODULE")
    if args.command != "run":
        return
    for flag, given in (("--seed", args.seed), ("--record", args.record)):
        if given is None:
            continue
        if args.strict:
            error(f"{flag} needs deterministic mode, not --strict")
        if args.replay is not None:
            error(f"{flag} cannot be used with --replay: the journal holds the seed")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit code.

    It never raises SystemExit: ``--help`` returns 0, argument errors print one
    line on stderr and return 2.
    """
    parser = _parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            # Said by the subcommand's parser, so the line names the subcommand.
            args.subparsers[args.command].error(f"unrecognized arguments: {' '.join(extra)}")
        _usage(args)
    except SystemExit as exc:  # --help, or an argument error already printed
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    if args.command == "demo":
        from ._demo import run_demo

        return run_demo(sys.stdout)
    try:
        if args.command == "run":
            return _run(args)
        from ._cli_check import check

        return check(args)
    except UsageError as exc:
        sys.stderr.write(f"{parser.prog} {args.command}: error: {exc}\n")
        return exc.exit_code


def _run(args: argparse.Namespace) -> int:
    from ._cli_run import as_json, build_policy, execute, read_journal, report

    deterministic = args.deterministic or args.seed is not None or args.record is not None
    policy = build_policy(
        mode="deterministic" if deterministic else "strict",
        seed=args.seed,
        replay=read_journal(args.replay) if args.replay is not None else None,
        record=args.record is not None,
        allow=tuple(args.allow),
        untrusted=args.untrusted,
        timeout=args.timeout,
        memory=args.memory,
    )
    options = RunOptions(
        file=args.file,
        module=args.module,
        policy=policy,
        backend=args.backend,
        record=args.record,
        capture=args.json,
    )
    outcome = execute(options)
    if args.json:
        print(json.dumps(as_json(options, outcome), ensure_ascii=False))
    else:
        report(outcome, sys.stdout, sys.stderr)
    return outcome.exit_code
