#!/usr/bin/env python3
"""Core benchmarks of detsandbox, each against a baseline measured in the same run.

Run from the repository root::

    python benchmarks/bench_core.py            # full run, about a minute
    python benchmarks/bench_core.py --quick    # smoke run, a few seconds
    python benchmarks/bench_core.py --only 2,5 --json results.json

Every row is a median over many interleaved samples (arms alternate A B B A
so drift and noise from other processes hit both alike), and every ratio is
a ratio of two medians taken in this process. The bracket after a time is
its interquartile range; the bracket after a ratio is the interquartile
range of the per-round ratios, a rough noise band. See benchmarks/README.md
for what each row measures.
"""

from __future__ import annotations

import argparse
import asyncio
import builtins
import contextlib
import dataclasses
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import traceback
import tracemalloc
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKLOADS = HERE / "workloads"
# This checkout's detsandbox, and the workload modules as top-level modules.
for entry in (str(WORKLOADS), str(ROOT)):
    if entry in sys.path:
        sys.path.remove(entry)
    sys.path.insert(0, entry)

import detsandbox  # noqa: E402
from detsandbox import Sandbox  # noqa: E402

perf_counter = time.perf_counter
US = 1e-6
MS = 1e-3
MU = "\u00b5"  # micro sign


# -- timing -------------------------------------------------------------------

Runner = Callable[[int], float]
"""Runs the measured operation n times and returns the seconds that took."""


@dataclasses.dataclass(frozen=True)
class Config:
    samples: int  # samples per arm
    sample_time: float  # target seconds per sample (the inner loop is sized to it)
    mem_instances: int  # live Sandboxes per memory measurement
    mem_repeats: int
    thread_trials: int  # trials per arm in the thread-interference row
    thread_chunks: int  # timed host-work chunks per trial
    # Seconds one host-work chunk takes with the host alone: many GIL switch
    # intervals (5 ms), or the scheduling of single hand-offs dominates.
    chunk_time: float


FULL = Config(
    samples=200,
    sample_time=0.004,
    mem_instances=1000,
    mem_repeats=3,
    thread_trials=10,
    thread_chunks=3,
    chunk_time=0.1,
)
QUICK = Config(
    samples=12,
    sample_time=0.002,
    mem_instances=200,
    mem_repeats=1,
    thread_trials=3,
    thread_chunks=2,
    chunk_time=0.05,
)


@dataclasses.dataclass(frozen=True)
class Stats:
    """Per-operation seconds over samples."""

    median: float
    p25: float
    p75: float
    samples: int
    inner: int  # operations per sample

    @classmethod
    def of(cls, values: list[float], inner: int) -> Stats:
        if len(values) == 1:
            return cls(values[0], values[0], values[0], 1, inner)
        p25, p50, p75 = statistics.quantiles(values, n=4, method="inclusive")
        return cls(p50, p25, p75, len(values), inner)

    def as_json(self) -> dict[str, float]:
        return dataclasses.asdict(self)


def repeat(fn: Callable[[], object]) -> Runner:
    """A Runner that calls ``fn()`` n times."""

    def run(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            fn()
        return perf_counter() - t0

    return run


def calibrate(runner: Runner, sample_time: float) -> int:
    """How many operations one sample of ``runner`` needs to last ``sample_time``."""
    runner(1)  # warm-up: caches, compile, first-touch allocations
    n = 1
    while True:
        elapsed = runner(n)
        if elapsed >= sample_time / 4 or n >= 1 << 22:
            break
        n *= 2
    return max(1, round(n * sample_time / max(elapsed, 1e-9)))


@dataclasses.dataclass(frozen=True)
class Comparison:
    stats: dict[str, Stats]
    raw: dict[str, list[float]]

    def ratio(self, a: str, b: str) -> tuple[float, float, float]:
        """median(a) / median(b), and the IQR of the per-round ratios a/b."""
        ratio = self.stats[a].median / self.stats[b].median
        paired = [x / y for x, y in zip(self.raw[a], self.raw[b], strict=True)]
        if len(paired) < 2:
            return ratio, ratio, ratio
        lo, _, hi = statistics.quantiles(paired, n=4, method="inclusive")
        return ratio, lo, hi


def compare(arms: dict[str, Runner], cfg: Config, *, samples: int | None = None) -> Comparison:
    """Interleaved samples of every arm: per-operation seconds, A B B A order."""
    gc.collect()
    inner = {name: calibrate(run, cfg.sample_time) for name, run in arms.items()}
    raw: dict[str, list[float]] = {name: [] for name in arms}
    order = list(arms.items())
    for i in range(samples or cfg.samples):
        for name, run in order if i % 2 == 0 else reversed(order):
            raw[name].append(run(inner[name]) / inner[name])
    stats = {name: Stats.of(values, inner[name]) for name, values in raw.items()}
    return Comparison(stats, raw)


# -- results ------------------------------------------------------------------


@dataclasses.dataclass
class Target:
    op: str  # "<=" or ">="
    limit: float
    unit: str  # "x" or a unit label such as "us" / "KiB"

    def check(self, value: float) -> str:
        ok = value <= self.limit if self.op == "<=" else value >= self.limit
        return "PASS" if ok else "MISS"

    def __str__(self) -> str:
        return f"{self.op} {_fmt_num(self.limit)}{_unit(self.unit)}"


@dataclasses.dataclass
class Row:
    id: str
    what: str
    measured: str = ""
    baseline: str = ""
    result: str = ""
    target: Target | None = None
    verdict: str = "info"
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    def judge(self, value: float, band: tuple[float, float] | None = None) -> Row:
        assert self.target is not None
        self.result = f"{_fmt_num(value)}{_unit(self.target.unit)}"
        if band is not None:
            self.result += f" [{_fmt_num(band[0])}-{_fmt_num(band[1])}]"
        self.verdict = self.target.check(value)
        if band is not None and self.target.check(band[0]) != self.target.check(band[1]):
            self.verdict += "?"  # the noise band straddles the target: rerun this row
        self.data["value"] = value
        self.data["band"] = band
        return self

    def as_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["target"] = (
            None
            if self.target is None
            else {"op": self.target.op, "limit": self.target.limit, "unit": self.target.unit}
        )
        return out


def _unit(unit: str) -> str:
    if unit == "x":
        return "x"
    return " " + unit.replace("us", MU + "s")


def _fmt_num(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_time(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= MS:
        return f"{_fmt_num(seconds / MS)} ms"
    if seconds >= US:
        return f"{_fmt_num(seconds / US)} {MU}s"
    return f"{seconds / 1e-9:.0f} ns"


def fmt_stats(stats: Stats) -> str:
    spread = ""
    if stats.samples > 1:
        lo, hi = fmt_time(stats.p25), fmt_time(stats.p75)
        if lo.split()[-1] == hi.split()[-1]:
            lo = lo.split()[0]
        spread = f" [{lo}-{hi}]"
    return fmt_time(stats.median) + spread


def fmt_bytes(n: float) -> str:
    return f"{n / 1024:.2f} KiB" if abs(n) >= 1024 else f"{n:.0f} B"


# -- workloads ----------------------------------------------------------------


def _source(module: str) -> tuple[str, str]:
    path = str(WORKLOADS / f"{module}.py")
    with open(path, encoding="utf-8") as f:
        return f.read(), path


def floor_runner(module: str) -> tuple[Runner, Callable[[], dict[str, Any]]]:
    """The floor: the module's code object, compiled once, run in a fresh dict."""
    source, path = _source(module)
    code = compile(source, path, "exec", dont_inherit=True)

    def once() -> dict[str, Any]:
        ns = {"__name__": "wf", "__builtins__": builtins}
        exec(code, ns)
        return ns

    return repeat(once), once


def sandbox_import_call(module: str, *args: Any) -> Callable[[], Any]:
    """New Sandbox, fresh import of ``module``, one call of its ``run``."""

    def once() -> Any:
        sb = Sandbox()
        mod = sb.import_module(module)
        return sb.call(mod.run, *args)

    return once


def drive(coro: Any) -> Any:
    """Run a coroutine that never suspends to completion (no event loop needed)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    coro.close()
    raise RuntimeError("workflow suspended; expected it to finish in one step")


def run_workflow(cls: type, arg: Any) -> Any:
    return drive(cls().run(arg))


def sandbox_workflow(module: str, arg: Any) -> Callable[[], Any]:
    """New Sandbox, fresh import of ``module``, instantiate and run its workflow class."""
    cls_name = "ThirdParty" if "thirdparty" in module else "Trivial"

    def once() -> Any:
        sb = Sandbox()
        mod = sb.import_module(module)
        return sb.call(run_workflow, getattr(mod, cls_name), arg)

    return once


def fresh_floor(module: str, arg: Any) -> Callable[[], Any]:
    """The floor of row 4: the same module bodies, each run once in a fresh dict.

    The modules a Sandbox runs fresh for ``module`` (found by running it
    once) are compiled once, plainly. Each operation then runs them with the
    least machinery that lets their imports see each other: a table of fresh
    modules, an ``__import__`` in a copied builtins dict that executes a
    module's code in a new module on first import (relative imports,
    ``fromlist`` and parent attributes as CPython has them) and hands out
    the host's module for everything else, and a ``sys`` whose ``modules``
    is the table (pygments replaces its own entry in it). No policy, no
    views, no specs or loaders, no file checks: only what every isolated
    re-import must pay.
    """
    from detsandbox._views import real_module

    sb = Sandbox()
    cls_name = "ThirdParty" if "thirdparty" in module else "Trivial"
    sb.call(run_workflow, getattr(sb.import_module(module), cls_name), arg)
    codes: dict[str, tuple[Any, str, list[str] | None]] = {}
    for name, mod in dict(sb.modules).items():
        if name == "builtins" or real_module(mod) is not None:
            continue
        origin = mod.__spec__.origin
        with open(origin, "rb") as f:
            code = compile(f.read(), origin, "exec", dont_inherit=True)
        codes[name] = (code, origin, getattr(mod, "__path__", None))

    def once() -> Any:
        table: dict[str, ModuleType] = {}
        ns_builtins = dict(builtins.__dict__)

        def load(name: str) -> ModuleType:
            mod = table.get(name)
            if mod is not None:
                return mod
            if name == "sys":
                mod = table[name] = ModuleType("sys")
                mod.__dict__.update(sys.__dict__)
                mod.modules = table  # type: ignore[attr-defined]
                return mod
            entry = codes.get(name)
            if entry is None:
                __import__(name)
                mod = table[name] = sys.modules[name]
                return mod
            parent, _, child = name.rpartition(".")
            parent_mod = load(parent) if parent else None
            if name in table:  # importing the parent imported it
                return table[name]
            code, origin, path = entry
            mod = table[name] = ModuleType(name)
            ns = mod.__dict__
            ns["__builtins__"] = ns_builtins
            ns["__file__"] = origin
            ns["__package__"] = name if path is not None else parent
            if path is not None:
                ns["__path__"] = path
            if parent_mod is not None:
                setattr(parent_mod, child, mod)
            exec(code, ns)
            return table[name]

        def import_(
            name: str,
            globals: dict[str, Any] | None = None,
            locals: Any = None,
            fromlist: Any = (),
            level: int = 0,
        ) -> ModuleType:
            if level:
                assert globals is not None
                base = globals["__package__"].rsplit(".", level - 1)[0]
                name = f"{base}.{name}" if name else base
            mod = load(name)
            if not fromlist:
                return mod if level or "." not in name else load(name.partition(".")[0])
            for x in fromlist:
                if f"{name}.{x}" in codes and not hasattr(mod, x):
                    load(f"{name}.{x}")
            return mod

        ns_builtins["__import__"] = import_
        return run_workflow(getattr(load(module), cls_name), arg)

    return once


# -- Temporal -----------------------------------------------------------------


class Temporal:
    """Drives temporalio's workflow sandbox without a server.

    What a worker does per new workflow run: ``create_instance`` with the
    run's details, then ``activate`` with the activation carrying the
    InitializeWorkflow job. A workflow that returns at once completes in that
    first activation. ``create_instance`` must run on a thread with a running
    asyncio loop (wrap calls in :meth:`in_loop`); ``activate`` sets and then
    clears the running loop, so the caller's loop is restored afterwards, as
    temporalio's own inline activation path does.
    """

    def __init__(self) -> None:
        import temporalio
        import temporalio.converter
        import temporalio.workflow
        from temporalio.api.common.v1 import Payloads
        from temporalio.bridge.proto import workflow_activation as wa
        from temporalio.worker._workflow_instance import WorkflowInstanceDetails
        from temporalio.worker.workflow_sandbox import (
            SandboxedWorkflowRunner,
            SandboxRestrictions,
            _runner,
        )

        self.version = getattr(temporalio, "__version__", "?")
        self._wa = wa
        self._workflow = temporalio.workflow
        self._details_cls = WorkflowInstanceDetails
        self._runner_cls = SandboxedWorkflowRunner
        self._restrictions = SandboxRestrictions.default
        self._fake_info = _runner._fake_info
        self._payloads = Payloads
        self._converter = temporalio.converter.DataConverter.default

    @staticmethod
    def in_loop(fn: Callable[[], Any]) -> Any:
        async def main() -> Any:
            return fn()

        return asyncio.run(main())

    def runner(self, *passthrough: str) -> Any:
        restrictions = self._restrictions
        if passthrough:
            restrictions = restrictions.with_passthrough_modules(*passthrough)
        return self._runner_cls(restrictions=restrictions)

    def definition(self, cls: type) -> Any:
        return self._workflow._Definition.must_from_class(cls)

    def details(self, defn: Any) -> Any:
        info = dataclasses.replace(
            self._fake_info,
            workflow_type=defn.name,
            workflow_id="bench-workflow",
            run_id="bench-run",
            namespace="default",
            task_queue="bench",
        )
        return self._details_cls(
            payload_converter_factory=self._converter._new_payload_converter,
            failure_converter_class=self._converter.failure_converter_class,
            interceptor_classes=[],
            defn=defn,
            info=info,
            randomness_seed=1234,
            extern_functions={},
            disable_eager_activity_execution=False,
            worker_level_failure_exception_types=[],
            patch_activation_callback=None,
            last_completion_result=self._payloads(),
            last_failure=None,
        )

    def start_activation(self, defn: Any, *args: Any) -> Any:
        wa = self._wa
        init = wa.InitializeWorkflow(
            workflow_type=defn.name,
            workflow_id="bench-workflow",
            arguments=self._converter.payload_converter.to_payloads(list(args)),
            randomness_seed=1234,
            first_execution_run_id="bench-run",
        )
        job = wa.WorkflowActivationJob(initialize_workflow=init)
        return wa.WorkflowActivation(run_id="bench-run", jobs=[job])

    def signal_activation(self, name: str) -> Any:
        wa = self._wa
        # A real history event id: with 0, temporalio logs a warning per signal.
        signal = wa.SignalWorkflow(signal_name=name, originating_event_id=5)
        job = wa.WorkflowActivationJob(signal_workflow=signal)
        return wa.WorkflowActivation(run_id="bench-run", jobs=[job])

    @staticmethod
    def activate(instance: Any, activation: Any) -> Any:
        loop = asyncio._get_running_loop()
        try:
            return instance.activate(activation)
        finally:
            asyncio._set_running_loop(loop)

    def result(self, completion: Any) -> Any:
        """The workflow's return value from a completion; raises if it failed."""
        if completion.HasField("failed"):
            raise RuntimeError(f"activation failed: {completion.failed.failure.message}")
        for command in completion.successful.commands:
            if command.HasField("complete_workflow_execution"):
                payload = command.complete_workflow_execution.result
                return self._converter.payload_converter.from_payload(payload)
            if command.HasField("fail_workflow_execution"):
                failure = command.fail_workflow_execution.failure
                raise RuntimeError(f"workflow failed: {failure.message}")
        return None

    def create_and_run(self, runner: Any, details: Any, activation: Any) -> Callable[[], Any]:
        def once() -> Any:
            instance = runner.create_instance(details)
            return self.activate(instance, activation)

        return once


def load_temporal() -> Temporal | None:
    try:
        return Temporal()
    except ImportError:
        return None


# -- rows ---------------------------------------------------------------------


def bench_floor(cfg: Config) -> list[Row]:
    """Rows 1 and 2: new Sandbox + import + call vs exec of the cached code."""
    rows = []
    for tag, module, label in (
        ("a", "dsbench_plain", "plain classes/functions"),
        ("b", "dsbench_dataclasses", "dataclasses + enum"),
    ):
        floor, floor_once = floor_runner(module)
        sandboxed = sandbox_import_call(module, 1)
        expected = floor_once()["run"](1)
        got = sandboxed()
        if got != expected:
            raise RuntimeError(f"{module}.run(1): sandbox gave {got!r}, plain exec {expected!r}")

        def floor_and_call(once: Callable[[], dict[str, Any]] = floor_once) -> Any:
            return once()["run"](1)

        cmp = compare(
            {
                "floor": floor,
                "sandbox": repeat(sandboxed),
                "floor_call": repeat(floor_and_call),
            },
            cfg,
        )
        floor_s, sb_s = cmp.stats["floor"], cmp.stats["sandbox"]
        rows.append(
            Row(
                f"1{tag}",
                f"floor: exec cached code in fresh dict, {label}",
                measured=fmt_stats(floor_s),
                data={"module": module, "floor": floor_s.as_json()},
            )
        )
        ratio, lo, hi = cmp.ratio("sandbox", "floor")
        rows.append(
            Row(
                f"2{tag}",
                f"new Sandbox + import_module + call, {label}",
                measured=fmt_stats(sb_s),
                baseline=f"floor {fmt_time(floor_s.median)}",
                target=Target("<=", 2, "x"),
                data={"module": module, "sandbox": sb_s.as_json(), "floor": floor_s.as_json()},
            ).judge(ratio, (lo, hi))
        )
        ratio, lo, hi = cmp.ratio("sandbox", "floor_call")
        rows.append(
            Row(
                f"2{tag}'",
                "  same vs floor + the same call of run() in plain code",
                measured=fmt_stats(sb_s),
                baseline=f"floor+call {fmt_time(cmp.stats['floor_call'].median)}",
                result=f"{_fmt_num(ratio)}x [{_fmt_num(lo)}-{_fmt_num(hi)}]",
                data={"floor_call": cmp.stats["floor_call"].as_json()},
            )
        )
    return rows


def bench_temporal_trivial(cfg: Config, temporal: Temporal) -> list[Row]:
    """Row 3: create-and-run of a trivial workflow, detsandbox vs Temporal's sandbox."""
    import dsbench_temporal_trivial as twf

    def measure() -> list[Row]:
        defn = temporal.definition(twf.Trivial)
        details = temporal.details(defn)
        activation = temporal.start_activation(defn, 41)
        default = temporal.runner()
        passthrough = temporal.runner("dsbench_temporal_trivial")
        for runner in (default, passthrough):
            runner.prepare_workflow(defn)
        t_default = temporal.create_and_run(default, details, activation)
        t_passthrough = temporal.create_and_run(passthrough, details, activation)
        ours = sandbox_workflow("dsbench_trivial", 41)
        for name, fn in (("default", t_default), ("passthrough", t_passthrough)):
            value = temporal.result(fn())
            if value != 42:
                raise RuntimeError(f"Temporal ({name}) returned {value!r}, expected 42")
        if ours() != 42:
            raise RuntimeError("detsandbox trivial workflow did not return 42")

        def create_only() -> Any:
            return default.create_instance(details)

        cmp = compare(
            {
                "detsandbox": repeat(ours),
                "temporal": repeat(t_default),
                "temporal_passthrough": repeat(t_passthrough),
                "temporal_create_only": repeat(create_only),
            },
            cfg,
        )
        # Per-activation cost on a live instance: a workflow waiting on a
        # condition, woken by one signal per activation.
        pinger = temporal.definition(twf.Pinger)
        pinger_details = temporal.details(pinger)
        instance = default.create_instance(pinger_details)
        temporal.result(temporal.activate(instance, temporal.start_activation(pinger)))
        signal = temporal.signal_activation("ping")
        per_act = compare(
            {"activation": repeat(lambda: temporal.activate(instance, signal))}, cfg
        ).stats["activation"]
        return _temporal_rows(cmp, per_act)

    return Temporal.in_loop(measure)  # type: ignore[no-any-return]


def _temporal_rows(cmp: Comparison, per_act: Stats) -> list[Row]:
    s = cmp.stats
    ds = s["detsandbox"]
    rows = [
        Row(
            "3",
            "trivial workflow: new Sandbox + import + run",
            measured=fmt_stats(ds),
            data={"detsandbox": ds.as_json()},
        ),
    ]
    ratio, lo, hi = cmp.ratio("temporal", "detsandbox")
    rows.append(
        Row(
            "3a",
            "  speedup vs Temporal create+activate (wf module re-imported)",
            measured=fmt_stats(s["temporal"]),
            baseline=f"detsandbox {fmt_time(ds.median)}",
            target=Target(">=", 15, "x"),
            data={"temporal": s["temporal"].as_json()},
        ).judge(ratio, (lo, hi))
    )
    ratio, lo, hi = cmp.ratio("temporal_passthrough", "detsandbox")
    rows.append(
        Row(
            "3b",
            "  speedup vs Temporal create+activate (wf module passthrough)",
            measured=fmt_stats(s["temporal_passthrough"]),
            baseline=f"detsandbox {fmt_time(ds.median)}",
            target=Target(">=", 15, "x"),
            data={"temporal_passthrough": s["temporal_passthrough"].as_json()},
        ).judge(ratio, (lo, hi))
    )
    rows.append(
        Row(
            "3c",
            "  Temporal create_instance alone (wf module re-imported)",
            measured=fmt_stats(s["temporal_create_only"]),
            data={"temporal_create_only": s["temporal_create_only"].as_json()},
        )
    )
    rows.append(
        Row(
            "3d",
            "  Temporal one more activation of a live instance (signal)",
            measured=fmt_stats(per_act),
            data={"temporal_activation": per_act.as_json()},
        )
    )
    return rows


def bench_thirdparty(cfg: Config, temporal: Temporal | None) -> list[Row]:
    """Row 4: idna + packaging + pygments re-imported fresh, detsandbox vs Temporal."""
    rows: list[Row] = []
    variants = (
        ("4", "dsbench_thirdparty", "dsbench_temporal_thirdparty", "idna+packaging+pygments"),
        ("4'", "dsbench_thirdparty_nopkg", "dsbench_temporal_thirdparty_nopkg", "idna+pygments"),
    )
    for row_id, ours_module, theirs_module, label in variants:
        ours = sandbox_workflow(ours_module, 3)
        try:
            expected = ours()
        except Exception as exc:
            rows.append(_error_row(row_id, f"3rd-party ({label}): new Sandbox + import + run", exc))
            continue  # try the fallback variant
        floor = fresh_floor(ours_module, 3)
        if floor() != expected:
            raise RuntimeError(f"the floor of {ours_module} returned {floor()!r}, not {expected!r}")
        if temporal is None:
            cmp = compare({"detsandbox": repeat(ours), "floor": repeat(floor)}, cfg)
            rows.append(
                Row(
                    row_id,
                    f"3rd-party ({label}): new Sandbox + import + run",
                    measured=fmt_stats(cmp.stats["detsandbox"]),
                )
            )
            rows.append(_skip_row(f"{row_id}a", "  speedup vs Temporal"))
            rows.append(_floor_row(f"{row_id}b", cmp))
            return rows

        def measure(
            ours: Any = ours,
            theirs_module: str = theirs_module,
            expected: Any = expected,
            floor: Any = floor,
        ) -> Comparison:
            module = __import__(theirs_module)
            defn = temporal.definition(module.ThirdParty)
            runner = temporal.runner()
            runner.prepare_workflow(defn)
            theirs = temporal.create_and_run(
                runner, temporal.details(defn), temporal.start_activation(defn, 3)
            )
            value = temporal.result(theirs())
            if value != expected:
                raise RuntimeError(f"Temporal returned {value!r}, detsandbox {expected!r}")
            arms = {"detsandbox": repeat(ours), "temporal": repeat(theirs), "floor": repeat(floor)}
            return compare(arms, cfg)

        cmp = Temporal.in_loop(measure)
        ds = cmp.stats["detsandbox"]
        rows.append(
            Row(
                row_id,
                f"3rd-party ({label}): new Sandbox + import + run",
                measured=fmt_stats(ds),
                data={"module": ours_module, "detsandbox": ds.as_json()},
            )
        )
        ratio, lo, hi = cmp.ratio("temporal", "detsandbox")
        rows.append(
            Row(
                f"{row_id}a",
                "  speedup vs Temporal create+activate (pkgs re-imported)",
                measured=fmt_stats(cmp.stats["temporal"]),
                baseline=f"detsandbox {fmt_time(ds.median)}",
                target=Target(">=", 5, "x"),
                data={"module": theirs_module, "temporal": cmp.stats["temporal"].as_json()},
            ).judge(ratio, (lo, hi))
        )
        rows.append(_floor_row(f"{row_id}b", cmp))
        ratio, lo, hi = cmp.ratio("temporal", "floor")
        rows.append(
            Row(
                f"{row_id}c",
                "  Temporal / floor: 4a's ceiling if detsandbox cost nothing",
                measured=fmt_stats(cmp.stats["temporal"]),
                baseline=f"floor {fmt_time(cmp.stats['floor'].median)}",
                result=f"{_fmt_num(ratio)}x [{_fmt_num(lo)}-{_fmt_num(hi)}]",
            )
        )
        break
    return rows


def _floor_row(row_id: str, cmp: Comparison) -> Row:
    ratio, lo, hi = cmp.ratio("detsandbox", "floor")
    return Row(
        row_id,
        "  floor: the same module bodies in fresh dicts, minimal importer",
        measured=fmt_stats(cmp.stats["floor"]),
        baseline=f"detsandbox {fmt_time(cmp.stats['detsandbox'].median)}",
        result=f"{_fmt_num(ratio)}x [{_fmt_num(lo)}-{_fmt_num(hi)}]",
        data={"floor": cmp.stats["floor"].as_json()},
    )


def bench_call(cfg: Config) -> list[Row]:
    """Row 5: Sandbox.call(fn) on an existing Sandbox vs fn()."""
    sb = Sandbox()
    fn = sb.exec("def fn():\n    return 1\n", filename="<bench-call>", name="bench_call")["fn"]
    call = sb.call

    def direct(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            fn()
        return perf_counter() - t0

    def through(n: int) -> float:
        t0 = perf_counter()
        for _ in range(n):
            call(fn)
        return perf_counter() - t0

    cmp = compare({"direct": direct, "call": through}, cfg)
    d, c = cmp.stats["direct"], cmp.stats["call"]
    overhead = (c.median - d.median) / US
    return [
        Row(
            "5",
            "sb.call(fn) overhead vs fn() (trivial fn)",
            measured=f"sb.call {fmt_stats(c)}",
            baseline=f"fn() {fmt_time(d.median)}",
            target=Target("<=", 5, "us"),
            data={"direct": d.as_json(), "call": c.as_json()},
        ).judge(overhead)
    ]


def _per_instance(make: Callable[[], object], n: int) -> float:
    """Traced bytes per object made by ``make``, all ``n`` kept alive at once."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    keep = [make() for _ in range(n)]
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    size = after - before - sys.getsizeof(keep)
    del keep
    gc.collect()
    return size / n


def _retained(make: Callable[[], object], n: int) -> float:
    """Traced bytes still held per object after ``n`` were made and dropped."""
    gc.collect()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(n):
        make()
    gc.collect()
    return (tracemalloc.get_traced_memory()[0] - before) / n


def bench_memory(cfg: Config) -> list[Row]:
    """Row 6: memory per live Sandbox, net of the module objects it holds."""
    empty_code = compile("", "<empty>", "exec", dont_inherit=True)
    tiny_source, tiny_path = _source("dsbench_tiny")
    tiny_code = compile(tiny_source, tiny_path, "exec", dont_inherit=True)

    def bare() -> object:
        return Sandbox()

    def with_exec() -> object:
        sb = Sandbox()
        sb.exec("", filename="<empty>", name="empty")
        return sb

    def with_tiny() -> object:
        sb = Sandbox()
        sb.import_module("dsbench_tiny")
        return sb

    def with_stdlib() -> object:
        sb = Sandbox()
        sb.call(sb.import_module("dsbench_dataclasses").run, 1)
        return sb

    def plain_module(name: str, code: Any) -> Callable[[], object]:
        def make() -> object:
            module = ModuleType(name)
            module.__dict__["__builtins__"] = builtins
            exec(code, module.__dict__)
            return module

        return make

    makers = {
        "bare": bare,
        "exec_empty": with_exec,
        "tiny": with_tiny,
        "plain_empty": plain_module("empty", empty_code),
        "plain_tiny": plain_module("dsbench_tiny", tiny_code),
    }
    for make in [*makers.values(), with_stdlib]:  # warm caches outside the trace
        for _ in range(3):
            make()
    results: dict[str, list[float]] = {name: [] for name in makers}
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        for _ in range(cfg.mem_repeats):
            for name, make in makers.items():
                results[name].append(_per_instance(make, cfg.mem_instances))
        dropped = max(10, cfg.mem_instances // 10)
        retained = _retained(with_stdlib, dropped)
    finally:
        if not was_tracing:
            tracemalloc.stop()
    m = {name: statistics.median(values) for name, values in results.items()}
    target = Target("<=", 8, "KiB")
    data = {"bytes_per_instance": m, "instances": cfg.mem_instances}
    return [
        Row(
            "6a",
            f"memory per live Sandbox, nothing imported ({cfg.mem_instances} alive)",
            measured=fmt_bytes(m["bare"]),
            target=target,
            data=data,
        ).judge(m["bare"] / 1024),
        Row(
            "6b",
            "  ... after exec of empty source, net of a plain empty module",
            measured=fmt_bytes(m["exec_empty"]),
            baseline=f"plain module {fmt_bytes(m['plain_empty'])}",
            target=target,
        ).judge((m["exec_empty"] - m["plain_empty"]) / 1024),
        Row(
            "6c",
            "  ... with dsbench_tiny imported, net of the same module run plainly",
            measured=fmt_bytes(m["tiny"]),
            baseline=f"plain module {fmt_bytes(m['plain_tiny'])}",
            target=target,
        ).judge((m["tiny"] - m["plain_tiny"]) / 1024),
        Row(
            "6d",
            f"  retained after dropping {dropped} Sandboxes that imported dsbench_dataclasses",
            measured=f"{fmt_bytes(retained)} per Sandbox",
            target=Target("<=", 1, "KiB"),
            data={"retained_bytes_per_dropped_sandbox": retained, "dropped": dropped},
        ).judge(retained / 1024),
    ]


ATTR_SOURCE = """\
import json
import math


def attr_loop(n):
    total = 0.0
    dumps = None
    for _ in range(n):
        total += math.pi
        dumps = json.dumps
    return total, dumps


def base_loop(n):
    pi = 3.14
    fn = None
    total = 0.0
    dumps = None
    for _ in range(n):
        total += pi
        dumps = fn
    return total, dumps
"""


def bench_views(cfg: Config) -> list[Row]:
    """Row 7: module attribute reads through passthrough views vs the real modules."""
    loops = 2000
    plain: dict[str, Any] = {"__name__": "bench_attr", "__builtins__": builtins}
    exec(compile(ATTR_SOURCE, "<bench-attr>", "exec", dont_inherit=True), plain)
    sb = Sandbox()
    boxed = sb.exec(ATTR_SOURCE, filename="<bench-attr>", name="bench_attr")
    if boxed["attr_loop"](3)[0] != plain["attr_loop"](3)[0]:
        raise RuntimeError("sandboxed attr_loop disagrees with plain attr_loop")

    def host(fn: Callable[[int], Any]) -> Callable[[], Any]:
        return lambda: fn(loops)

    def inside(fn: Callable[[int], Any]) -> Callable[[], Any]:
        return lambda: sb.call(fn, loops)

    cmp = compare(
        {
            "host": repeat(host(plain["attr_loop"])),
            "sandbox": repeat(inside(boxed["attr_loop"])),
            "host_base": repeat(host(plain["base_loop"])),
            "sandbox_base": repeat(inside(boxed["base_loop"])),
        },
        cfg,
    )
    s = cmp.stats
    ratio, lo, hi = cmp.ratio("sandbox", "host")
    accesses = 2 * loops
    net_host = (s["host"].median - s["host_base"].median) / accesses
    net_sb = (s["sandbox"].median - s["sandbox_base"].median) / accesses
    per_iter = {k: fmt_time(v.median / loops) for k, v in s.items()}
    return [
        Row(
            "7",
            "loop reading math.pi + json.dumps: sandbox vs host",
            measured=f"{per_iter['sandbox']}/iter",
            baseline=f"host {per_iter['host']}/iter",
            target=Target("<=", 3, "x"),
            data={k: v.as_json() for k, v in s.items()} | {"loops_per_call": loops},
        ).judge(ratio, (lo, hi)),
        Row(
            "7'",
            "  per attribute read, net of the same loop without reads",
            measured=fmt_time(net_sb),
            baseline=f"host {fmt_time(net_host)}",
            result=f"{_fmt_num(net_sb / net_host)}x" if net_host > 0 else "n/a",
            data={"net_sandbox": net_sb, "net_host": net_host},
        ),
    ]


class _Point:
    __slots__ = ("x", "y")

    def __init__(self, x: int, y: int) -> None:
        self.x = x
        self.y = y


def host_work(n: int) -> int:
    """Unrelated host CPU work: isinstance checks and attribute reads."""
    p = _Point(1, 2)
    acc = 0
    for i in range(n):
        if isinstance(p, _Point):
            acc += p.x
        if isinstance(i, int):
            acc += p.y
    return acc


def bench_threads(cfg: Config) -> list[Row]:
    """Row 8: a host thread's throughput beside sandbox work vs beside plain work."""
    _, plain_once = floor_runner("dsbench_plain")
    sandboxed = sandbox_import_call("dsbench_plain", 1)
    module_path = str(WORKLOADS / "dsbench_plain.py")
    stat = os.stat

    def plain() -> Any:
        return plain_once()["run"](1)

    def plain_stat() -> Any:
        # The sandbox stats a fresh module's file on every import (to notice
        # edits), which releases the GIL; this arm does the same syscall so
        # both background threads hand the GIL over at the same points.
        stat(module_path)
        return plain_once()["run"](1)

    background = {"sandbox": sandboxed, "plain": plain, "plain_stat": plain_stat}
    for fn in background.values():
        fn()
    # Size one chunk of host work to cfg.chunk_time with the host alone.
    n = 1000
    while (elapsed := _time_call(host_work, n)) < cfg.chunk_time / 4:
        n *= 2
    n = max(1, round(n * cfg.chunk_time / elapsed))

    wall: dict[str, list[float]] = {"alone": []} | {arm: [] for arm in background}
    cpu: dict[str, list[float]] = {"alone": []} | {arm: [] for arm in background}
    bg_rate: dict[str, list[float]] = {arm: [] for arm in background}
    rounds: list[dict[str, float]] = []  # per round: each arm's median chunk
    order = list(background)
    for trial in range(cfg.thread_trials):
        this_round = {}
        for arm in order if trial % 2 == 0 else reversed(order):
            times, rate = _trial(background[arm], n, cfg.thread_chunks)
            wall[arm].extend(t[0] for t in times)
            cpu[arm].extend(t[1] for t in times)
            bg_rate[arm].append(rate)
            this_round[arm] = statistics.median(t[0] for t in times)
        rounds.append(this_round)
        for _ in range(cfg.thread_chunks):
            w, c = _time_chunk(n)
            wall["alone"].append(w)
            cpu["alone"].append(c)
    ws = {arm: Stats.of(values, n) for arm, values in wall.items()}
    cs = {arm: Stats.of(values, n) for arm, values in cpu.items()}
    rates = {arm: statistics.median(values) for arm, values in bg_rate.items()}
    target = Target("<=", 1.05, "x")

    def band(baseline: str) -> tuple[float, float] | None:
        paired = [r["sandbox"] / r[baseline] for r in rounds]
        if len(paired) < 2:
            return None
        lo, _, hi = statistics.quantiles(paired, n=4, method="inclusive")
        return lo, hi

    return [
        Row(
            "8",
            "host thread: wall time per chunk beside sandbox vs beside plain exec",
            measured=fmt_stats(ws["sandbox"]),
            baseline=f"plain {fmt_time(ws['plain'].median)}",
            target=target,
            data={
                "wall": {arm: st.as_json() for arm, st in ws.items()},
                "cpu": {arm: st.as_json() for arm, st in cs.items()},
                "bg_per_second": rates,
                "host_work_n": n,
            },
        ).judge(ws["sandbox"].median / ws["plain"].median, band("plain")),
        Row(
            "8b",
            "  same, plain arm also stats the module file (same GIL hand-offs)",
            measured=fmt_stats(ws["sandbox"]),
            baseline=f"plain+stat {fmt_time(ws['plain_stat'].median)}",
            target=target,
        ).judge(ws["sandbox"].median / ws["plain_stat"].median, band("plain_stat")),
        Row(
            "8c",
            "  host thread CPU time per chunk (thread_time), sandbox vs plain",
            measured=fmt_stats(cs["sandbox"]),
            baseline=f"plain {fmt_time(cs['plain'].median)}",
            result=f"{_fmt_num(cs['sandbox'].median / cs['plain'].median)}x",
        ),
        Row(
            "8'",
            "  host alone; background runs/s: sandbox, plain, plain+stat",
            measured=f"{fmt_time(ws['alone'].median)} (cpu {fmt_time(cs['alone'].median)})",
            baseline=" / ".join(f"{rates[arm]:.0f}" for arm in order),
        ),
    ]


def _time_call(fn: Callable[[int], Any], n: int) -> float:
    t0 = perf_counter()
    fn(n)
    return perf_counter() - t0


def _time_chunk(n: int) -> tuple[float, float]:
    """Wall and this thread's CPU seconds of one chunk of host work."""
    c0 = time.thread_time()
    t0 = perf_counter()
    host_work(n)
    t1 = perf_counter()
    return t1 - t0, time.thread_time() - c0


def _trial(work: Callable[[], Any], n: int, chunks: int) -> tuple[list[tuple[float, float]], float]:
    """Host-work chunk times while ``work`` runs in a loop on another thread."""
    stop = threading.Event()
    started = threading.Event()
    done: list[tuple[int, float]] = []

    def loop() -> None:
        count = 0
        work()
        started.set()
        t0 = perf_counter()
        while not stop.is_set():
            work()
            count += 1
        done.append((count, perf_counter() - t0))

    thread = threading.Thread(target=loop, name="bench-background", daemon=True)
    thread.start()
    started.wait()
    times = [_time_chunk(n) for _ in range(chunks)]
    stop.set()
    thread.join()
    count, elapsed = done[0]
    return times, count / elapsed


# -- driver -------------------------------------------------------------------


def _error_row(row_id: str, what: str, exc: BaseException) -> Row:
    message = f"{type(exc).__name__}: {exc}".splitlines()[0].rstrip(": ")
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:  # where it was raised: enough to tell a benchmark bug from a sandbox one
        last = frames[-1]
        message += f" at {Path(last.filename).name}:{last.lineno}"
    return Row(row_id, what, measured=message[:90], verdict="ERROR", data={"error": message})


def _skip_row(
    row_id: str, what: str, why: str = "temporalio not installed: pip install -e '.[bench]'"
) -> Row:
    return Row(row_id, what, measured=why, verdict="SKIP")


GROUPS = ("1", "2", "3", "4", "5", "6", "7", "8")


def run_all(cfg: Config, only: set[str], *, verbose: bool) -> list[Row]:
    temporal = load_temporal() if only & {"3", "4"} else None
    rows: list[Row] = []

    def section(ids: set[str], what: str, fn: Callable[[], list[Row]]) -> None:
        if not ids & only:
            return
        t0 = perf_counter()
        print(f"  running {what} ...", end="", file=sys.stderr, flush=True)
        try:
            rows.extend(r for r in fn() if r.id.rstrip("abcd'") in only)
        except Exception as exc:
            if verbose:
                traceback.print_exc()
            rows.append(_error_row(min(ids & only), what, exc))
        print(f" {perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    section({"1", "2"}, "floor and new-Sandbox rows (1, 2)", lambda: bench_floor(cfg))
    if temporal is not None:
        trivial = lambda: bench_temporal_trivial(cfg, temporal)  # noqa: E731
        section({"3"}, "Temporal trivial workflow (3)", trivial)
    elif "3" in only:
        rows.append(_skip_row("3", "trivial workflow vs Temporal"))
    section({"4"}, "third-party packages (4)", lambda: bench_thirdparty(cfg, temporal))
    section({"5"}, "Sandbox.call overhead (5)", lambda: bench_call(cfg))
    section({"6"}, "memory (6)", lambda: bench_memory(cfg))
    section({"7"}, "attribute access through views (7)", lambda: bench_views(cfg))
    section({"8"}, "host-thread interference (8)", lambda: bench_threads(cfg))
    return rows


def render(rows: list[Row]) -> str:
    header = ("ID", "Measurement", "Measured: median [p25-p75]", "Baseline", "Result", "Target", "")
    table = [header] + [
        (r.id, r.what, r.measured, r.baseline, r.result, str(r.target or ""), r.verdict)
        for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    out = []
    for i, line in enumerate(table):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _git_commit() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode == 0:
            return done.stdout.strip()
    return "?"


def environment(quick: bool) -> dict[str, Any]:
    try:
        import temporalio

        temporal_version = getattr(temporalio, "__version__", "?")
    except ImportError:
        temporal_version = None
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg": load,
        "detsandbox": detsandbox.__version__,
        "detsandbox_path": str(Path(detsandbox.__file__).parent),
        "commit": _git_commit(),
        "temporalio": temporal_version,
        "quick": quick,
        "gc": gc.isenabled(),
        "switchinterval": sys.getswitchinterval(),
    }


def parse_args(
    doc: str | None,
    groups: Iterable[str],
    argv: list[str] | None,
    configure: Callable[[argparse.ArgumentParser], None] | None = None,
) -> tuple[argparse.Namespace, set[str]]:
    """The command line the benchmark scripts share: (options, row numbers to run).

    ``configure`` adds a script's own options to the shared ones.
    """
    groups = list(groups)
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--only",
        metavar="IDS",
        help=f"comma-separated row numbers to run (of {','.join(groups)}); default all",
    )
    parser.add_argument("--verbose", action="store_true", help="print tracebacks of errors")
    if configure is not None:
        configure(parser)
    args = parser.parse_args(argv)
    only = set(groups)
    if args.only:
        only = {part.strip() for part in args.only.split(",") if part.strip()}
        unknown = only - set(groups)
        if unknown:
            parser.error(f"unknown row(s) {sorted(unknown)}; rows are {', '.join(groups)}")
    with contextlib.suppress(AttributeError, ValueError):
        sys.stdout.reconfigure(errors="replace")  # type: ignore[union-attr]
    return args, only


def main(argv: list[str] | None = None) -> int:
    args, only = parse_args(__doc__, GROUPS, argv)
    if "2" in only:
        only.add("1")  # row 2 is a ratio against row 1
    cfg = QUICK if args.quick else FULL
    env = environment(args.quick)
    print(
        f"detsandbox {env['detsandbox']} ({env['commit']}) on {env['implementation']} "
        f"{env['python']}, {env['platform']}, {env['cpus']} CPUs"
        + (f", temporalio {env['temporalio']}" if env["temporalio"] else "")
    )
    print(
        f"{'quick' if args.quick else 'full'} run: {cfg.samples} samples per arm of "
        f"~{cfg.sample_time / MS:.0f} ms each, arms interleaved; loadavg at start "
        f"{env['loadavg'] and ' '.join(f'{x:.2f}' for x in env['loadavg'])}",
    )
    if env["temporalio"] is None and only & {"3", "4"}:
        print("temporalio not installed: pip install -e '.[bench]'")
    sys.stdout.flush()
    rows = run_all(cfg, only, verbose=args.verbose)
    report(rows, env, cfg, args.json, busy_note="row 8 most of all")
    return 0


def report(
    rows: list[Row],
    env: dict[str, Any],
    cfg: Config,
    json_path: str | None,
    busy_note: str = "",
    extra: dict[str, Any] | None = None,
) -> None:
    """Print the table, the verdict counts, and write ``json_path`` if given.

    ``extra`` holds more top-level keys for the JSON (a script's own results).
    """
    if hasattr(os, "getloadavg"):
        env["loadavg_end"] = os.getloadavg()
        busy = max(env["loadavg"][0], env["loadavg_end"][0]) > 0.5 * (os.cpu_count() or 1)
        note = f"  (machine busy: expect noisy rows{', ' + busy_note if busy_note else ''})"
        print(
            f"loadavg at end {' '.join(f'{x:.2f}' for x in env['loadavg_end'])}"
            + (note if busy else "")
        )
    print()
    print(render(rows))
    verdicts = [r.verdict for r in rows]
    print()
    print(
        ", ".join(
            f"{verdicts.count(v)} {v}"
            for v in ("PASS", "PASS?", "MISS", "MISS?", "ERROR", "SKIP")
            if v in verdicts
        )
        + (
            "  (?: the row's noise band straddles its target; rerun it with --only)"
            if any(v.endswith("?") for v in verdicts)
            else ""
        )
    )
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump(
                {"environment": env, "config": dataclasses.asdict(cfg)}
                | {"rows": [r.as_json() for r in rows]}
                | (extra or {}),
                f,
                indent=2,
            )
        print(f"wrote {json_path}")


if __name__ == "__main__":
    sys.exit(main())


def run_sections(
    sections: list[tuple[str, str, Callable[[Config], list[Row]]]],
    cfg: Config,
    only: set[str],
    *,
    verbose: bool,
) -> list[Row]:
    """Run the (group, label, bench) sections selected by ``only``; a failure is a row."""
    rows: list[Row] = []
    for group, what, fn in sections:
        if group not in only:
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
