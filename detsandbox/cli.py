"""The ``detsandbox`` command line (also ``python -m detsandbox``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="detsandbox",
        description="Run Python code deterministically and in isolation, in-process.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser(
        "demo",
        help="run the built-in examples: an order workflow, state isolation, a strict violation",
        description="Run the built-in examples: an order workflow in a Sandbox, module state "
        "kept apart between Sandboxes, and a strict-mode violation with its message.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from ._demo import run_demo

        return run_demo(sys.stdout)
    raise AssertionError(args.command)  # pragma: no cover - argparse rejects others
