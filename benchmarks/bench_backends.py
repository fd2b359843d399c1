#!/usr/bin/env python3
"""The subinterpreter and process backends, each measured against a baseline from the same run.

Run from the repository root::

    python benchmarks/bench_backends.py            # full run, a few minutes
    python benchmarks/bench_backends.py --quick    # smoke run, about half a minute
    python benchmarks/bench_backends.py --only 1,3 --json results.json

Timing, medians, interquartile ranges, interleaving and the table are those
of bench_core.py (imported from it). See benchmarks/README.md, "Backends",
for what each row measures. Rows of a backend this CPython lacks are SKIP.
"""

from __future__ import annotations

import gc
import hashlib
import os
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import (
    FULL,
    MS,
    QUICK,
    US,
    Config,
    Row,
    Target,
    _error_row,
    _skip_row,
    compare,
    environment,
    fmt_stats,
    fmt_time,
    parse_args,
    perf_counter,
    repeat,
    report,
)

from detsandbox import Sandbox
from detsandbox._backends import unavailable

SPIN = """\
def spin(n):
    total = 0
    for i in range(n):
        total += i
    return total
"""


def _run(backend: str) -> Callable[[], object]:
    """One whole run: a Sandbox, a small exec and a call, closed."""

    def run() -> object:
        with Sandbox(backend=backend) as sb:
            ns = sb.exec("def f(x):\n    return x + 1\n", filename="<bench>")
            return sb.call(ns["f"], 1)

    return run


def _paced(fn: Callable[[], object], pause: float) -> Callable[[int], float]:
    """A Runner timing ``fn`` only, with ``pause`` seconds between calls (the pool refills)."""

    if not pause:
        return repeat(fn)

    def run(n: int) -> float:
        total = 0.0
        for _ in range(n):
            time.sleep(pause)
            t0 = perf_counter()
            fn()
            total += perf_counter() - t0
        return total

    return run


def bench_latency(cfg: Config, backend: str, row: str, target: Target) -> list[Row]:
    """A whole run on a warm pool vs the same run in-process."""
    warm = _run(backend)
    for _ in range(5):
        warm()
    pause = 0.1 if backend == "process" else 0.0
    arms = {"inprocess": _paced(_run("inprocess"), pause), backend: _paced(warm, pause)}
    cmp = compare(arms, cfg, samples=max(10, cfg.samples // 4))
    base, remote = cmp.stats["inprocess"], cmp.stats[backend]
    data = {"inprocess": base.as_json(), backend: remote.as_json()}
    overhead = backend != "process"  # the subinterpreter target is over in-process
    rows = [
        Row(
            row,
            f"{backend}: Sandbox + exec + call + close, warm pool"
            + (", over in-process" if overhead else " (per run)"),
            measured=f"{backend} {fmt_stats(remote)}",
            baseline=f"in-process {fmt_time(base.median)}",
            target=target,
            data=data,
        ).judge((remote.median - base.median) / US if overhead else remote.median / MS)
    ]
    if backend == "process":
        t0 = perf_counter()
        n = 50 if cfg is QUICK else 300
        for _ in range(n):
            warm()
        rows.append(
            Row(
                row + "'",
                "  back to back, no pause (bound by the zygote's forks)",
                measured=f"{fmt_time((perf_counter() - t0) / n)} per run",
            )
        )
    with Sandbox(backend=backend) as sb:
        fn = sb.exec("def fn():\n    return 1\n")["fn"]
        call = repeat(lambda: sb.call(fn))
        cmp = compare({"call": call}, cfg, samples=max(10, cfg.samples // 4))
    rows.append(
        Row(
            row + "c",
            f"  {backend}: sb.call(fn) round trip on an open Sandbox",
            measured=fmt_stats(cmp.stats["call"]),
        )
    )
    return rows


def _spin_size(seconds: float) -> int:
    ns: dict[str, object] = {}
    exec(SPIN, ns)
    spin: Callable[[int], int] = ns["spin"]  # type: ignore[assignment]
    n = 100_000
    while True:
        t0 = perf_counter()
        spin(n)
        if perf_counter() - t0 > seconds / 4:
            return int(n * seconds / (perf_counter() - t0))
        n *= 2


def _bare_pair(n: int) -> tuple[Callable[[], float], Callable[[], float]]:
    """Serial and parallel timers for two bare forked processes spinning ``n``: the
    most any process backend can get from this machine at this moment."""
    ns: dict[str, object] = {}
    exec(SPIN, ns)
    spin: Callable[[int], int] = ns["spin"]  # type: ignore[assignment]

    def start() -> int:
        pid = os.fork()
        if pid == 0:
            try:
                spin(n)
            finally:
                os._exit(0)
        return pid

    def serial() -> float:
        t0 = perf_counter()
        for _ in range(2):
            os.waitpid(start(), 0)
        return perf_counter() - t0

    def parallel() -> float:
        t0 = perf_counter()
        for pid in [start(), start()]:
            os.waitpid(pid, 0)
        return perf_counter() - t0

    return serial, parallel


def bench_parallel(cfg: Config, backend: str, row: str, seconds: float = 0.25) -> list[Row]:
    """Two CPU-bound Sandboxes at once, vs one after the other."""
    n = _spin_size(0.1 if cfg is QUICK else seconds)
    boxes = [Sandbox(backend=backend) for _ in range(2)]
    fns = [sb.exec(SPIN)["spin"] for sb in boxes]

    def one(i: int) -> None:
        boxes[i].call(fns[i], n)

    def serial() -> float:
        t0 = perf_counter()
        one(0)
        one(1)
        return perf_counter() - t0

    busy: list[float] = []  # process CPU seconds per wall second, in-process threads only

    def parallel(work: Callable[[int], object] = one) -> float:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
        c0, t0 = time.process_time(), perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = perf_counter() - t0
        busy.append((time.process_time() - c0) / elapsed)
        return elapsed

    data = b"x" * 20_000_000

    def gil_free(i: int) -> None:
        hashlib.sha256(data).digest()  # releases the GIL: what two cores allow

    parallel()
    rounds = 3 if cfg is QUICK else 10
    # The process rows also time two bare processes, interleaved with the Sandboxes:
    # on a shared machine whether a second core is free decides the ratio.
    bare = _bare_pair(n) if backend == "process" else None
    s, p, bs, bp, cores, free = [], [], [], [], [], []
    for _ in range(rounds):
        s.append(serial())
        p.append(parallel())
        if bare is not None:
            bs.append(bare[0]())
            bp.append(bare[1]())
        else:  # a subinterpreter's CPU is this process's: count the cores it kept busy
            cores.append(busy[-1])
            parallel(gil_free)
            free.append(busy[-1])
    for sb in boxes:
        sb.close()
    ratio = statistics.median(s) / statistics.median(p)
    rows = [
        Row(
            row,
            f"{backend}: 2 CPU-bound Sandboxes in parallel vs one after the other",
            measured=f"parallel {fmt_time(statistics.median(p))}",
            baseline=f"serial {fmt_time(statistics.median(s))}",
            target=Target(">=", 1.8, "x"),
            data={"serial": s, "parallel": p},
        ).judge(ratio)
    ]
    if bare is not None:
        rows.append(
            Row(
                row + "'",
                "  the machine's ceiling: 2 bare forked processes, same work, interleaved",
                measured=f"parallel {fmt_time(statistics.median(bp))}",
                baseline=f"serial {fmt_time(statistics.median(bs))}",
                result=f"{statistics.median(bs) / statistics.median(bp):.2f}x",
                data={"serial": bs, "parallel": bp},
            )
        )
    else:
        rows.append(
            Row(
                row + "'",
                "  cores busy during the parallel runs vs GIL-free C code on 2 threads",
                measured=f"{statistics.median(cores):.2f} cores",
                baseline=f"sha256 {statistics.median(free):.2f} cores",
                data={"cores": cores, "gil_free": free},
            )
        )
    return rows


def _rss() -> int:
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _fds(backend: str) -> int:
    if backend == "process":
        from detsandbox._backends._process import POOL

        POOL.settle()  # spares are forked between runs: count once they have arrived
    return len(os.listdir("/proc/self/fd"))


def bench_growth(cfg: Config, backend: str, row: str, runs: int, target: Target) -> list[Row]:
    """Host RSS and descriptors after many runs, against after a warm-up."""
    run = _run(backend)
    for _ in range(max(50, runs // 10)):
        run()
    gc.collect()
    rss0, fds0 = _rss(), _fds(backend)
    t0 = perf_counter()
    for _ in range(runs):
        run()
    elapsed = perf_counter() - t0
    gc.collect()
    rss1, fds1 = _rss(), _fds(backend)
    growth = 100 * (rss1 - rss0) / rss0
    return [
        Row(
            row,
            f"{backend}: host RSS growth over {runs:,} runs (after a warm-up)",
            measured=f"{rss0 / 2**20:.1f} -> {rss1 / 2**20:.1f} MiB",
            baseline=f"fds {fds0} -> {fds1}; {fmt_time(elapsed / runs)} per run",
            target=target,
            data={"rss": [rss0, rss1], "fds": [fds0, fds1], "runs": runs},
        ).judge(growth)
    ]


GROUPS = ("1", "2", "3", "4", "5", "6")


def run_all(cfg: Config, only: set[str], *, verbose: bool) -> list[Row]:
    quick = cfg is QUICK
    sections: list[tuple[str, str, str, Callable[[Config], list[Row]]]] = [
        ("1", "process", "process latency (1)",
         lambda c: bench_latency(c, "process", "1", Target("<=", 1, "ms"))),
        ("2", "process", "process parallel (2)",
         lambda c: bench_parallel(c, "process", "2", seconds=0.3)),
        ("3", "process", "process growth (3)",
         lambda c: bench_growth(c, "process", "3", 500 if quick else 10_000,
                                Target("<=", 1, "%"))),
        ("4", "subinterpreter", "subinterpreter latency (4)",
         lambda c: bench_latency(c, "subinterpreter", "4", Target("<=", 100, "us"))),
        ("5", "subinterpreter", "subinterpreter parallel (5)",
         lambda c: bench_parallel(c, "subinterpreter", "5", seconds=0.3)),
        ("6", "subinterpreter", "subinterpreter growth (6)",
         lambda c: bench_growth(c, "subinterpreter", "6", 1000, Target("<=", 5, "%"))),
    ]  # fmt: skip
    rows: list[Row] = []
    for group, backend, what, fn in sections:
        if group not in only:
            continue
        why = unavailable(backend)
        if why is not None:
            rows.append(_skip_row(group, what, why))
            continue
        t0 = perf_counter()
        print(f"  running {what} ...", end="", file=sys.stderr, flush=True)
        try:
            rows.extend(fn(cfg))
        except Exception as exc:
            if verbose:
                traceback.print_exc()
            rows.append(_error_row(group, what, exc))
        print(f" {perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return rows


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
        f"{'quick' if args.quick else 'full'} run, arms interleaved; loadavg at start "
        f"{env['loadavg'] and ' '.join(f'{x:.2f}' for x in env['loadavg'])}"
    )
    sys.stdout.flush()
    rows = run_all(cfg, only, verbose=args.verbose)
    report(rows, env, cfg, args.json, busy_note="the parallel rows most of all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
