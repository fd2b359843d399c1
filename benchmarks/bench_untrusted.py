#!/usr/bin/env python3
"""Untrusted mode's run-time cost, against plain exec and RestrictedPython in the same run.

Run from the repository root::

    python benchmarks/bench_untrusted.py            # full run, about half a minute
    python benchmarks/bench_untrusted.py --quick    # smoke run, a few seconds
    python benchmarks/bench_untrusted.py --only 1 --json results.json

Timing, medians, interleaving and the table are those of bench_core.py
(imported from it). See benchmarks/README.md, "Untrusted mode", for what
each row measures.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import (
    FULL,
    MS,
    QUICK,
    Config,
    Row,
    Target,
    _fmt_num,
    compare,
    environment,
    fmt_stats,
    fmt_time,
    parse_args,
    report,
    run_sections,
)
from bench_determinism import looping
from RestrictedPython import compile_restricted, safe_globals
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)

from detsandbox import Policy, Sandbox

FILENAME = "plugins/loop.py"

# The 100k-iteration loop of the issue: attribute and item reads of objects
# the code made (row 1), and the same with attribute, item and augmented
# writes (row 2). Each function runs n iterations.
SOURCE = """\
class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y


def reads(n):
    p = Point(1, 2)
    d = {"a": 1, "b": 2}
    items = [1, 2, 3]
    total = 0
    for i in range(n):
        total = total + p.x + p.y + d["a"] + items[i % 3]
    return total


def writes(n):
    p = Point(1, 2)
    d = {"a": 1, "b": 2}
    total = 0
    for i in range(n):
        p.x = i
        d["b"] = p.x + p.y
        total += d["a"]
    return total
"""


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    # RestrictedPython ships no _inplacevar_; Zope's is a table like this.
    if op != "+=":
        raise NotImplementedError(op)
    return x + y


def namespaces() -> dict[str, dict[str, Any]]:
    """The source run plainly, under RestrictedPython's standard guards, and untrusted."""
    plain: dict[str, Any] = {"__name__": "loop"}
    exec(compile(SOURCE, FILENAME, "exec", dont_inherit=True), plain)
    rp: dict[str, Any] = dict(safe_globals)
    rp.update(
        __name__="loop",
        __metaclass__=type,
        _getattr_=safer_getattr,
        _getitem_=default_guarded_getitem,
        _getiter_=default_guarded_getiter,
        _iter_unpack_sequence_=guarded_iter_unpack_sequence,
        _unpack_sequence_=guarded_unpack_sequence,
        _write_=full_write_guard,
        _inplacevar_=_inplacevar,
    )
    exec(compile_restricted(SOURCE, FILENAME, "exec"), rp)
    rp["Point"]._guarded_writes = True  # full_write_guard's opt-in for a class
    return {"plain": plain, "restrictedpython": rp}


def bench_loop(cfg: Config, name: str, group: str, label: str) -> list[Row]:
    spaces = namespaces()
    sb = Sandbox(Policy.strict(untrusted=True), backend="inprocess")
    untrusted = sb.exec(SOURCE, filename=FILENAME, name="loop")
    cmp = compare(
        {
            "plain": looping(spaces["plain"][name]),
            "untrusted": looping(untrusted[name], sb.call),
            "restrictedpython": looping(spaces["restrictedpython"][name]),
        },
        cfg,
    )
    iterations = 100_000
    ratio, lo, hi = cmp.ratio("untrusted", "plain")
    rp_ratio, _, _ = cmp.ratio("restrictedpython", "plain")
    stats = cmp.stats
    return [
        Row(
            group,
            f"untrusted mode, 100k-iteration {label} loop, vs plain exec",
            measured=f"{fmt_time(stats['untrusted'].median * iterations)} per 100k "
            f"({fmt_stats(stats['untrusted'])} per iteration)",
            baseline=f"plain {fmt_time(stats['plain'].median * iterations)}; RestrictedPython "
            f"standard guards {fmt_time(stats['restrictedpython'].median * iterations)} "
            f"(x{_fmt_num(rp_ratio)})",
            target=Target("<=", 2, "x"),
            data={
                **{arm: s.as_json() for arm, s in stats.items()},
                "restrictedpython_ratio": rp_ratio,
            },
        ).judge(ratio, (lo, hi))
    ]


GROUPS = ("1", "2")


def main(argv: list[str] | None = None) -> int:
    args, only = parse_args(__doc__, GROUPS, argv)
    cfg = QUICK if args.quick else FULL
    env = environment(args.quick)
    env.pop("temporalio", None)
    print(
        f"detsandbox {env['detsandbox']} ({env['commit']}) on {env['implementation']} "
        f"{env['python']}, {env['platform']}, {env['cpus']} CPUs"
    )
    print(
        f"{'quick' if args.quick else 'full'} run: {cfg.samples} samples per arm of "
        f"~{cfg.sample_time / MS:.0f} ms each, arms interleaved"
    )
    sections: list[tuple[str, str, Callable[[Config], list[Row]]]] = [
        ("1", "attribute/item reads (1)", lambda c: bench_loop(c, "reads", "1", "attribute/item")),
        ("2", "with writes (2)", lambda c: bench_loop(c, "writes", "2", "attribute/item write")),
    ]
    rows = run_sections(sections, cfg, only, verbose=args.verbose)
    report(rows, env, cfg, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
