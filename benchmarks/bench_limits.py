#!/usr/bin/env python3
"""Resource limits, each measured against a baseline from the same run.

Run from the repository root::

    python benchmarks/bench_limits.py            # full run, about half a minute
    python benchmarks/bench_limits.py --quick    # smoke run, a few seconds
    python benchmarks/bench_limits.py --only 1 --json results.json

Same timing, medians, interquartile ranges, A B B A interleaving and table
as bench_core.py (imported from it). See benchmarks/README.md, "Resource
limits".
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from pathlib import Path

# bench_core's helpers; importing it puts this checkout's detsandbox first on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import (
    FULL,
    MS,
    QUICK,
    US,
    Config,
    Row,
    Target,
    compare,
    environment,
    fmt_stats,
    fmt_time,
    parse_args,
    perf_counter,
    report,
    run_sections,
)

from detsandbox import Limits, Policy, Sandbox

Runner = Callable[[int], float]

# A CPU-bound loop: n iterations of a little arithmetic, no calls.
SOURCE = """\
def spin(n):
    total = 0
    for i in range(n):
        total += i * i % 7
    return total

def noop():
    return 1
"""
ITERATIONS = 2_000


def _loop_runner(sb: Sandbox | None) -> Runner:
    if sb is None:
        ns: dict[str, object] = {}
        exec(compile(SOURCE, "bench_limits.py", "exec", dont_inherit=True), ns)
        spin = ns["spin"]

        def plain(n: int) -> float:
            t0 = perf_counter()
            for _ in range(n):
                spin(ITERATIONS)  # type: ignore[operator]
            return perf_counter() - t0

        return plain
    fn = sb.exec(SOURCE, filename="bench_limits.py")["spin"]
    call = sb.call

    def through(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            call(fn, ITERATIONS)
        return perf_counter() - t0

    return through


def bench_loop(cfg: Config) -> list[Row]:
    """Rows 1a-1c: the loop in a Sandbox with limits vs the same Sandbox without."""
    arms = {
        "plain exec": _loop_runner(None),
        "no limits": _loop_runner(Sandbox()),
        "timeout": _loop_runner(Sandbox(Policy.strict(limits=Limits(timeout=60.0)))),
        "instructions": _loop_runner(Sandbox(Policy.strict(limits=Limits(instructions=10**9)))),
        "recursion": _loop_runner(Sandbox(Policy.strict(limits=Limits(recursion=10_000)))),
    }
    cmp = compare(arms, cfg)
    rows = []
    for row_id, arm, target in (
        ("1a", "timeout", 1.1 if sys.version_info >= (3, 12) else None),
        ("1b", "instructions", 3.0),
        ("1c", "recursion", None),
    ):
        ratio, lo, hi = cmp.ratio(arm, "no limits")
        row = Row(
            row_id,
            f"CPU loop ({ITERATIONS} iterations per call), Limits({arm}=...)",
            measured=f"{arm} {fmt_stats(cmp.stats[arm])}",
            baseline=f"no limits {fmt_time(cmp.stats['no limits'].median)}",
            target=Target("<=", target, "x") if target is not None else None,
            data={arm: cmp.stats[arm].as_json(), "base": cmp.stats["no limits"].as_json()},
        )
        if target is not None:
            row.judge(ratio, (lo, hi))
        else:
            row.result = f"{ratio:.2f}x [{lo:.2f}-{hi:.2f}]"
        rows.append(row)
    ratio, lo, hi = cmp.ratio("no limits", "plain exec")
    rows.append(
        Row(
            "1'",
            "  context: Sandbox without limits vs plain exec of the same loop",
            measured=f"no limits {fmt_time(cmp.stats['no limits'].median)}",
            baseline=f"plain {fmt_time(cmp.stats['plain exec'].median)}",
            result=f"{ratio:.2f}x [{lo:.2f}-{hi:.2f}]",
        )
    )
    return rows


def bench_call(cfg: Config) -> list[Row]:
    """Rows 2a-2b: sb.call(noop) overhead, unlimited (unchanged) and with a timeout."""
    plain = Sandbox()
    timed = Sandbox(Policy.strict(limits=Limits(timeout=60.0)))
    fns = {
        name: (sb.call, sb.exec(SOURCE, filename="bench_limits.py")["noop"])
        for name, sb in (("unlimited", plain), ("timeout", timed))
    }
    direct_fn = fns["unlimited"][1]

    def runner(name: str) -> Runner:
        call, fn = fns[name]

        def run(n: int) -> float:
            t0 = perf_counter()
            for _ in range(n):
                call(fn)
            return perf_counter() - t0

        return run

    def direct(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            direct_fn()
        return perf_counter() - t0

    cmp = compare(
        {"direct": direct, "unlimited": runner("unlimited"), "timeout": runner("timeout")}, cfg
    )
    base = cmp.stats["direct"].median
    rows = []
    for row_id, name, target in (("2a", "unlimited", 5.0), ("2b", "timeout", None)):
        overhead = (cmp.stats[name].median - base) / US
        row = Row(
            row_id,
            f"sb.call(fn) overhead vs fn(), {name}",
            measured=f"sb.call {fmt_stats(cmp.stats[name])}",
            baseline=f"fn() {fmt_time(base)}",
            target=Target("<=", target, "us") if target is not None else None,
        )
        if target is not None:
            row.judge(overhead)
        else:
            row.result = f"{overhead:.2f} us"
        rows.append(row)
    return rows


def bench_host_thread(cfg: Config) -> list[Row]:
    """Row 3: a host thread's loop while another thread runs a Sandbox with a timeout."""
    ns: dict[str, object] = {}
    exec(compile(SOURCE, "host.py", "exec", dont_inherit=True), ns)
    host_spin = ns["spin"]
    stop = threading.Event()

    def background(call: Callable[[], object]) -> threading.Thread:
        def loop() -> None:
            while not stop.is_set():
                call()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        return thread

    def host(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            host_spin(ITERATIONS)  # type: ignore[operator]
        return perf_counter() - t0

    results = {}
    for name, policy in (
        ("beside unlimited", Policy.strict()),
        ("beside timeout", Policy.strict(limits=Limits(timeout=60.0))),
    ):
        sb = Sandbox(policy)
        fn = sb.exec(SOURCE, filename="bench_limits.py")["spin"]
        stop.clear()
        thread = background(lambda sb=sb, fn=fn: sb.call(fn, 200))
        results[name] = compare({name: host}, cfg, samples=max(6, cfg.samples // 4))
        stop.set()
        thread.join()
    a = results["beside timeout"].stats["beside timeout"]
    b = results["beside unlimited"].stats["beside unlimited"]
    return [
        Row(
            "3",
            "host thread's CPU loop beside a Sandbox with a timeout (not fired)",
            measured=f"beside timeout {fmt_stats(a)}",
            baseline=f"beside unlimited {fmt_time(b.median)}",
            result=f"{a.median / b.median:.2f}x",
        )
    ]


GROUPS = ("1", "2", "3")


def run_all(cfg: Config, only: set[str], *, verbose: bool) -> list[Row]:
    sections: list[tuple[str, str, Callable[[Config], list[Row]]]] = [
        ("1", "CPU loop under limits (1)", bench_loop),
        ("2", "sb.call overhead (2)", bench_call),
        ("3", "host thread beside a timed Sandbox (3)", bench_host_thread),
    ]
    return run_sections(sections, cfg, only, verbose=verbose)


def main(argv: list[str] | None = None) -> int:
    args, only = parse_args(__doc__, GROUPS, argv)
    cfg = QUICK if args.quick else FULL
    env = environment(args.quick)
    env.pop("temporalio", None)
    print(
        f"detsandbox {env['detsandbox']} ({env['commit']}, working tree) on "
        f"{env['implementation']} {env['python']}, {env['platform']}, {env['cpus']} CPUs"
    )
    print(
        f"{'quick' if args.quick else 'full'} run: {cfg.samples} samples per arm of "
        f"~{cfg.sample_time / MS:.0f} ms each, arms interleaved"
    )
    sys.stdout.flush()
    rows = run_all(cfg, only, verbose=args.verbose)
    report(rows, env, cfg, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
