#!/usr/bin/env python3
"""Deterministic mode and record/replay, each measured against a baseline from the same run.

Run from the repository root::

    python benchmarks/bench_determinism.py            # full run, about half a minute
    python benchmarks/bench_determinism.py --quick    # smoke run, a few seconds
    python benchmarks/bench_determinism.py --only 1,3 --json results.json

Timing, medians, interquartile ranges, interleaving and the table are those
of bench_core.py (imported from it). See benchmarks/README.md, "Deterministic
mode and record/replay", for what each row measures.
"""

from __future__ import annotations

import gc
import statistics
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

# bench_core's helpers; importing it puts this checkout's detsandbox first on sys.path.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import (
    FULL,
    MS,
    QUICK,
    US,
    Comparison,
    Config,
    Row,
    Target,
    _fmt_num,
    compare,
    environment,
    fmt_stats,
    fmt_time,
    parse_args,
    perf_counter,
    report,
    run_sections,
)

from detsandbox import Journal, Policy, Sandbox

Runner = Callable[[int], float]

FILENAME = "workflows/bench.py"  # recorded in every journal event, so it counts in row 4

# The workload: the same source runs in the host (plain exec, real modules)
# and in deterministic Sandboxes (substitutes). Each function makes n calls.
SOURCE = """\
import random
import time
import uuid


def clock(n):
    for _ in range(n):
        time.time()


def draw(n):
    for _ in range(n):
        random.random()


def ident(n):
    for _ in range(n):
        uuid.uuid4()


def mix(n):
    for _ in range(n):
        time.time()
        random.random()
        uuid.uuid4()


def workflow(n):
    total = 0.0
    for _ in range(n):
        total += time.time() * random.random()
    return total
"""

MIX_EVENTS = 3  # intercepted calls per iteration of mix()
REPLAY_EVENTS = 10_000  # events of the journal row 3 records and replays


def deterministic(**changes: Any) -> Policy:
    return Policy.deterministic(seed=1, **changes)


def sandboxed(policy: Policy) -> tuple[Sandbox, dict[str, Any]]:
    sb = Sandbox(policy)
    return sb, sb.exec(SOURCE, filename=FILENAME, name="bench_det")


def host_namespace() -> dict[str, Any]:
    ns: dict[str, Any] = {"__name__": "bench_det"}
    exec(compile(SOURCE, FILENAME, "exec", dont_inherit=True), ns)
    return ns


def looping(fn: Callable[[int], Any], call: Callable[..., Any] | None = None) -> Runner:
    """A Runner: ``fn(n)``, itself a loop of n calls, called once (through ``call``)."""

    def run(n: int) -> float:
        t0 = perf_counter()
        if call is None:
            fn(n)
        else:
            call(fn, n)
        return perf_counter() - t0

    return run


def fresh_each_time(policy: Policy, name: str) -> Runner:
    """A Runner timing ``name(n)`` in a new Sandbox (made outside the timed part)."""

    def run(n: int) -> float:
        sb, ns = sandboxed(policy)
        fn = ns[name]
        t0 = perf_counter()
        sb.call(fn, n)
        return perf_counter() - t0

    return run


def paired_band(cmp: Comparison, a: str, b: str, scale: float) -> tuple[float, float]:
    """IQR of the per-round differences (a - b) * scale: the noise band of a difference."""
    diffs = [(x - y) * scale for x, y in zip(cmp.raw[a], cmp.raw[b], strict=True)]
    if len(diffs) < 2:
        return diffs[0], diffs[0]
    lo, _, hi = statistics.quantiles(diffs, n=4, method="inclusive")
    return lo, hi


# -- rows -----------------------------------------------------------------------


def bench_substitutes(cfg: Config) -> list[Row]:
    """Row 1: a substituted call in a deterministic Sandbox vs the real call in the host."""
    host = host_namespace()
    sb, ns = sandboxed(deterministic())
    rows = []
    for tag, name, label in (
        ("a", "clock", "time.time()"),
        ("b", "draw", "random.random()"),
        ("c", "ident", "uuid.uuid4()"),
    ):
        cmp = compare(
            {"host": looping(host[name]), "sandbox": looping(ns[name], sb.call)},
            cfg,
        )
        s, h = cmp.stats["sandbox"], cmp.stats["host"]
        ratio, lo, hi = cmp.ratio("sandbox", "host")
        rows.append(
            Row(
                f"1{tag}",
                f"{label}: substitute in a deterministic Sandbox, per call",
                measured=fmt_stats(s),
                baseline=f"host {fmt_time(h.median)} (x{_fmt_num(ratio)})",
                target=Target("<=", 1, "us"),
                data={
                    "sandbox": s.as_json(),
                    "host": h.as_json(),
                    "ratio": ratio,
                    "ratio_band": (lo, hi),
                },
            ).judge(s.median / US, (s.p25 / US, s.p75 / US))
        )
    return rows


def bench_journal_overhead(cfg: Config) -> list[Row]:
    """Row 2: the same loop recorded and not recorded; the difference per event."""
    cmp = compare(
        {
            "plain": fresh_each_time(deterministic(), "mix"),
            "record": fresh_each_time(deterministic(record=True), "mix"),
        },
        cfg,
    )
    p, r = cmp.stats["plain"], cmp.stats["record"]
    per_event = (r.median - p.median) / MIX_EVENTS
    band = paired_band(cmp, "record", "plain", 1 / MIX_EVENTS / US)
    return [
        Row(
            "2",
            "journal: added per event, record=True vs False (clock/random/uuid loop)",
            measured=f"{fmt_time(r.median / MIX_EVENTS)}/event recorded",
            baseline=f"{fmt_time(p.median / MIX_EVENTS)}/event not",
            target=Target("<=", 1, "us"),
            data={"plain": p.as_json(), "record": r.as_json(), "events_per_op": MIX_EVENTS},
        ).judge(per_event / US, band)
    ]


def bench_replay(cfg: Config) -> list[Row]:
    """Row 3: replaying a 10,000-event journal vs recording it."""
    iterations = REPLAY_EVENTS // 2  # workflow() makes two intercepted calls per iteration
    sb, ns = sandboxed(deterministic(record=True))
    expected = sb.call(ns["workflow"], iterations)
    journal = sb.journal
    if len(journal) != REPLAY_EVENTS:
        raise RuntimeError(f"recorded {len(journal)} events, expected {REPLAY_EVENTS}")
    text = journal.to_json()
    replay_policy = Policy.replay(Journal.from_json(text))
    check, check_ns = sandboxed(replay_policy)
    if check.call(check_ns["workflow"], iterations) != expected:
        raise RuntimeError("replay returned a different result than the recording")
    check.finish_replay()

    def record(n: int) -> float:
        elapsed = 0.0
        for _ in range(n):
            sb, ns = sandboxed(deterministic(record=True))
            t0 = perf_counter()
            sb.call(ns["workflow"], iterations)
            elapsed += perf_counter() - t0
        return elapsed

    def replay(n: int) -> float:
        elapsed = 0.0
        for _ in range(n):
            sb, ns = sandboxed(replay_policy)
            t0 = perf_counter()
            sb.call(ns["workflow"], iterations)
            sb.finish_replay()
            elapsed += perf_counter() - t0
        return elapsed

    def dump(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            journal.to_json()
        return perf_counter() - t0

    def load(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            Journal.from_json(text)
        return perf_counter() - t0

    # One operation is a whole 10,000-event run: fewer, longer samples.
    samples = max(5, cfg.samples // 8)
    cmp = compare({"record": record, "replay": replay}, cfg, samples=samples)
    io = compare({"to_json": dump, "from_json": load}, cfg, samples=samples)
    rec, rep = cmp.stats["record"], cmp.stats["replay"]
    ratio, lo, hi = cmp.ratio("replay", "record")
    dumped, loaded = io.stats["to_json"], io.stats["from_json"]
    return [
        Row(
            "3",
            f"replay of a {REPLAY_EVENTS:,}-event journal vs recording it (ratio)",
            measured=f"replay {fmt_stats(rep)}",
            baseline=f"record {fmt_time(rec.median)}",
            target=Target("<=", 1, "x"),
            data={"record": rec.as_json(), "replay": rep.as_json(), "events": REPLAY_EVENTS},
        ).judge(ratio, (lo, hi)),
        Row(
            "3'",
            "  per event: record, replay",
            measured=f"replay {fmt_time(rep.median / REPLAY_EVENTS)}",
            baseline=f"record {fmt_time(rec.median / REPLAY_EVENTS)}",
        ),
        Row(
            "3''",
            f"  Journal.to_json() / Journal.from_json() of those {REPLAY_EVENTS:,} events",
            measured=f"to_json {fmt_stats(dumped)}",
            baseline=f"from_json {fmt_time(loaded.median)}",
            result=(
                f"{fmt_time(dumped.median / REPLAY_EVENTS)} / "
                f"{fmt_time(loaded.median / REPLAY_EVENTS)} per event"
            ),
            data={"to_json": dumped.as_json(), "from_json": loaded.as_json(), "bytes": len(text)},
        ),
    ]


def _journal_of(name: str, n: int) -> Journal:
    sb, ns = sandboxed(deterministic(record=True))
    sb.call(ns[name], n)
    return sb.journal


def bench_size(cfg: Config) -> list[Row]:
    """Row 4: journal bytes per event (JSON), and memory per event while recording."""
    n = 1000
    sizes: dict[str, float] = {}
    for name in ("mix", "clock", "draw", "ident"):
        journal = _journal_of(name, n)
        sizes[name] = len(journal.to_json().encode()) / len(journal)
    # Memory held by the live journal: a recorded Sandbox minus an unrecorded one.
    held: dict[bool, float] = {}
    iterations = 2000
    tracemalloc.start()
    try:
        for record in (False, True):
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            sb, ns = sandboxed(deterministic(record=record))
            sb.call(ns["mix"], iterations)
            gc.collect()
            held[record] = tracemalloc.get_traced_memory()[0] - before
            del sb, ns
    finally:
        tracemalloc.stop()
    memory = (held[True] - held[False]) / (iterations * MIX_EVENTS)
    return [
        Row(
            "4",
            "journal JSON bytes per event, clock/random/uuid mix",
            measured=f"{sizes['mix']:.0f} B/event",
            baseline=(
                f"time.time {sizes['clock']:.0f} B, random {sizes['draw']:.0f} B, "
                f"uuid4 {sizes['ident']:.0f} B"
            ),
            data={"bytes_per_event": sizes, "filename": FILENAME, "events": n},
        ),
        Row(
            "4'",
            "  memory held per recorded event (tracemalloc)",
            measured=f"{memory:.0f} B/event",
            data={"bytes_per_event": memory, "events": iterations * MIX_EVENTS},
        ),
    ]


# -- driver -------------------------------------------------------------------

GROUPS = ("1", "2", "3", "4")


def run_all(cfg: Config, only: set[str], *, verbose: bool) -> list[Row]:
    sections: list[tuple[str, str, Callable[[Config], list[Row]]]] = [
        ("1", "substituted calls (1)", bench_substitutes),
        ("2", "journal overhead (2)", bench_journal_overhead),
        ("3", "replay vs record (3)", bench_replay),
        ("4", "journal size (4)", bench_size),
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
        f"~{cfg.sample_time / MS:.0f} ms each (row 3: {max(5, cfg.samples // 8)} whole runs), "
        "arms interleaved; loadavg at start "
        f"{env['loadavg'] and ' '.join(f'{x:.2f}' for x in env['loadavg'])}"
    )
    sys.stdout.flush()
    rows = run_all(cfg, only, verbose=args.verbose)
    report(rows, env, cfg, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
