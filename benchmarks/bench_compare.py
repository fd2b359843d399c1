#!/usr/bin/env python3
"""detsandbox beside the alternatives: what each catches and what each costs, in one run.

Run from the repository root::

    python benchmarks/bench_compare.py                      # full run, a few minutes
    python benchmarks/bench_compare.py --quick              # smoke run
    python benchmarks/bench_compare.py --charts docs/img    # also draw the PNG charts
    python benchmarks/bench_compare.py --only 4             # the features table alone

Rows 1-3 time a trivial workflow run, a 100k-iteration attribute/item loop, and a
test that reads the clock and randomness, under each tool, with bench_core.py's
interleaved medians; every ratio is against a baseline measured in the same run.
Row 4 runs small probes (clock, randomness, uuid, environment, files, sockets,
module state, hash seed, hostile code) under each tool and tabulates what happened.
Tools that are not installed print why and are skipped. See benchmarks/README.md
and docs/comparison.md.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import importlib
import json
import logging
import operator
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# bench_core's helpers; importing it puts this checkout's detsandbox and the workloads first.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import (
    FULL,
    QUICK,
    ROOT,
    WORKLOADS,
    Comparison,
    Config,
    Row,
    Stats,
    Temporal,
    _error_row,
    _fmt_num,
    compare,
    environment,
    fmt_stats,
    fmt_time,
    load_temporal,
    parse_args,
    repeat,
    report,
    run_workflow,
)

from detsandbox import BackendUnavailableError, Policy, Sandbox

GROUPS = ("1", "2", "3", "4")
RESULTS = ROOT / "benchmarks" / "results" / "compare.json"
LOOP_N = 100_000
SECRET_ENV = "DSBENCH_SECRET"
NOT_IN_BUILD = "not available in this build"
PY313 = ("python3.13",)  # run with PYENV_VERSION so pyenv's shim finds it
PYENV_VERSION = "3.11.7:3.12.1:3.13.0"
# Where `npm install pyodide` put the package (the optional step; see benchmarks/README.md).
PYODIDE_DIR = Path(tempfile.gettempdir()) / "dsbench-pyodide"


def _read(module: str) -> str:
    return (WORKLOADS / f"{module}.py").read_text(encoding="utf-8")


# -- probes: what each tool catches -------------------------------------------

# Each probe is the source of a module defining probe(); the file, port and
# secret are filled in per run. A tool "runs" a probe in a fresh run of its
# own (a new Sandbox, workflow instance, orchestration, subinterpreter or
# tool activation) and the result or exception is classified below.
PROBES: dict[str, tuple[str, str, str]] = {
    # name: (feature, how the result is read, source)
    "clock": (
        "clock: time.time()",
        "repeat",
        "import time\ndef probe():\n    return time.time()\n",
    ),
    "datetime": (
        "clock: datetime.now()",
        "repeat",
        "import datetime\ndef probe():\n    return datetime.datetime.now().isoformat()\n",
    ),
    "random": (
        "randomness: random.random()",
        "repeat",
        "import random\ndef probe():\n    return random.random()\n",
    ),
    "uuid": (
        "uuid: uuid.uuid4()",
        "repeat",
        "import uuid\ndef probe():\n    return str(uuid.uuid4())\n",
    ),
    "env": (
        "environment: os.getenv()",
        "secret",
        "import os\ndef probe():\n    return os.getenv(@SECRET_ENV@)\n",
    ),
    "file": (
        "file I/O: open().read()",
        "secret",
        "def probe():\n    with open(@FILE@) as f:\n        return f.read()\n",
    ),
    "socket": (
        "sockets: connect to localhost",
        "connect",
        "import socket\n"
        "def probe():\n"
        "    conn = socket.create_connection(('127.0.0.1', @PORT@), timeout=10)\n"
        "    conn.close()\n"
        "    return 'connected'\n",
    ),
    "state": (
        "module state between runs",
        "counter",
        "import dsbench_counter\ndef probe():\n    return dsbench_counter.bump()\n",
    ),
    "hash": (
        "hash seed: set order across processes",
        "hash",
        "def probe():\n    return list({'alpha', 'beta', 'gamma', 'delta', 'epsilon'})\n",
    ),
    "hostile": (
        "hostile code: object graph to os.environ",
        "escape",
        "def probe():\n"
        "    for cls in ().__class__.__base__.__subclasses__():\n"
        "        if cls.__name__ == '_wrap_close':\n"
        "            return cls.__init__.__globals__['environ'][@SECRET_ENV@]\n",
    ),
}
# Pyodide's os module is emscripten's, so the hostile probe there goes
# through the JavaScript host instead: Node's process.env.
PYODIDE_HOSTILE = "import js\ndef probe():\n    return getattr(js.process.env, @SECRET_ENV@)\n"


@dataclasses.dataclass(frozen=True)
class Target:
    """What the probes reach: a secret in a file and the environment, a listening socket."""

    secret: str
    file: str
    port: int

    def source(self, name: str, template: str | None = None) -> str:
        text = template if template is not None else PROBES[name][2]
        return (
            text.replace("@SECRET_ENV@", repr(SECRET_ENV))
            .replace("@FILE@", repr(self.file))
            .replace("@PORT@", str(self.port))
        )

    def sources(self) -> dict[str, str]:
        return {name: self.source(name) for name in PROBES}

    def env(self) -> dict[str, str]:
        return {SECRET_ENV: self.secret, "DSBENCH_FILE": self.file, "DSBENCH_PORT": str(self.port)}

    @classmethod
    def from_env(cls) -> Target:
        return cls(
            os.environ[SECRET_ENV], os.environ["DSBENCH_FILE"], int(os.environ["DSBENCH_PORT"])
        )


@contextlib.contextmanager
def probe_target() -> Iterator[Target]:
    """A secret in a temporary file and in os.environ, and a socket listening on localhost."""
    secret = f"dsbench-{os.getpid()}-{time.perf_counter_ns()}"
    server = socket.create_server(("127.0.0.1", 0), backlog=64)
    saved = os.environ.get(SECRET_ENV)
    with tempfile.TemporaryDirectory(prefix="dsbench-probe-") as tmp:
        path = Path(tmp) / "secret.txt"
        path.write_text(secret, encoding="utf-8")
        os.environ[SECRET_ENV] = secret
        try:
            yield Target(secret, str(path), server.getsockname()[1])
        finally:
            server.close()
            if saved is None:
                os.environ.pop(SECRET_ENV, None)
            else:
                os.environ[SECRET_ENV] = saved


Outcome = tuple[str, Any]  # ("ok", value) or ("error", "TypeName: message")


def attempt(fn: Callable[[], Any]) -> Outcome:
    try:
        return ("ok", fn())
    except Exception as exc:
        return ("error", f"{type(exc).__name__}: {exc}".splitlines()[0][:200])


# Host functions that sandboxes patch while code runs: each must be the same
# object again once a run is over.
HOST_NAMES = (
    "asyncio.create_task",
    "asyncio.gather",
    "asyncio.sleep",
    "builtins.__import__",
    "builtins.isinstance",
    "builtins.open",
    "datetime.datetime",
    "os.getenv",
    "os.urandom",
    "random.getrandbits",
    "random.randint",
    "random.random",
    "random.randrange",
    "secrets.token_bytes",
    "secrets.token_hex",
    "socket.socket",
    "time.monotonic",
    "time.time",
    "time.time_ns",
    "uuid.uuid4",
)


def host_snapshot() -> dict[str, Any]:
    out = {}
    for qualname in HOST_NAMES:
        module, _, attr = qualname.rpartition(".")
        out[qualname] = getattr(importlib.import_module(module), attr)
    return out


def host_restore(snapshot: dict[str, Any]) -> list[str]:
    """Put back whatever a tool left patched; returns those names."""
    changed = []
    for qualname, original in snapshot.items():
        module, _, attr = qualname.rpartition(".")
        mod = importlib.import_module(module)
        if getattr(mod, attr) is not original:
            changed.append(qualname)
            setattr(mod, attr, original)
    return changed


@contextlib.contextmanager
def host_guard() -> Iterator[list[str]]:
    """Yields a list that receives the host names a run left patched (then restored)."""
    snapshot = host_snapshot()
    changed: list[str] = []
    try:
        yield changed
    finally:
        changed += host_restore(snapshot)


def host_cell(changed: list[str]) -> tuple[str, str]:
    return ("leaks", ", ".join(changed)) if changed else ("untouched", "")


def classify(name: str, first: Outcome, second: Outcome, secret: str) -> tuple[str, str]:
    """(cell, detail) for a probe's two runs (for "hash": two processes' runs)."""
    how = PROBES[name][1]
    errors = [o[1] for o in (first, second) if o[0] == "error"]
    if how == "escape":
        if errors:
            return "refused", errors[0]
        return (
            ("escapes", "read the secret") if first[1] == secret else ("contained", repr(first[1]))
        )
    if errors:
        if errors[0].startswith("FileNotFoundError"):
            return "not reachable", errors[0]  # its own file system, without the host's files
        return "raises", errors[0]
    a, b = first[1], second[1]
    if how == "repeat":
        return ("deterministic", repr(a)[:60]) if a == b else ("host value", "differs per run")
    if how == "secret":
        return ("host value", "read the secret") if a == secret else ("fake value", repr(a)[:60])
    if how == "connect":
        return "host value", "connected"
    if how == "counter":
        return ("isolated", f"{a}, {b}") if a == b else ("shared", f"{a}, {b}")
    if how == "hash":
        return ("fixed", ",".join(a)) if a == b else ("varies", "differs per process")
    raise ValueError(f"unknown probe kind {how!r}")


# -- harnesses: one fresh run of a source module under each tool ----------------


class Unavailable(Exception):
    """A tool this run cannot use; the message says why and how to get it."""


def host_run(source: str) -> Any:
    namespace: dict[str, Any] = {"__name__": "probe"}
    exec(compile(source, "probe.py", "exec", dont_inherit=True), namespace)
    return namespace["probe"]()


def untrusted_policy() -> Policy:
    """Policy.strict(untrusted=True), if this build enforces it."""
    try:
        policy = Policy.strict(untrusted=True)
    except Exception:
        raise Unavailable(f"untrusted mode: {NOT_IN_BUILD}") from None
    try:
        Sandbox(policy, backend="inprocess").exec("x = ().__class__", filename="<check>")
    except Exception:
        return policy  # refused: untrusted mode is enforced
    raise Unavailable(f"untrusted mode: {NOT_IN_BUILD}")


def limited_policy(**limits: Any) -> Callable[[], Policy]:
    """Policy.strict(limits=Limits(**limits)), if this build enforces limits.

    The check: a budget of 1,000 instructions must stop 200,000 loop iterations.
    """

    def make() -> Policy:
        try:
            from detsandbox import Limits

            policy = Policy.strict(limits=Limits(**limits))
            probe = Sandbox(Policy.strict(limits=Limits(instructions=1000)))
            spin = probe.exec(SPIN, filename="<check>")["spin"]
        except Exception:
            raise Unavailable(f"Limits: {NOT_IN_BUILD}") from None
        try:
            probe.call(spin, 200_000)
        except Exception:
            return policy  # stopped: limits are enforced
        raise Unavailable(f"Limits: {NOT_IN_BUILD} (a 1,000-instruction budget did not stop)")

    return make


SPIN = "def spin(n):\n    for _ in range(n):\n        pass\n"


SLOW_ARMS = ("ds-process", "ds-subinterpreter")
OPENED: list[Sandbox] = []  # remote-backend Sandboxes kept for the loop rows, closed after


def backend_sandbox(policy: Policy, backend: str) -> Sandbox:
    """A Sandbox on ``backend``; close it (a remote backend holds a worker)."""
    try:
        return Sandbox(policy, backend=backend)
    except TypeError as exc:
        if "backend" in str(exc):
            raise Unavailable(f"backend={backend!r}: {NOT_IN_BUILD}") from None
        raise
    except BackendUnavailableError as exc:
        raise Unavailable(f"backend={backend!r}: {exc}") from None


class Harness:
    key = ""
    label = ""

    def check(self) -> None:
        """Raise Unavailable if this tool cannot run here."""

    def run(self, source: str) -> Any:
        raise NotImplementedError


class DetsandboxHarness(Harness):
    def __init__(
        self, key: str, label: str, policy: Callable[[], Policy], backend: str | None = None
    ):
        self.key, self.label, self._policy, self._backend = key, label, policy, backend

    def sandbox(self) -> Sandbox:
        policy = self._policy()
        # The in-process column is in-process even for untrusted code,
        # which backend="auto" would run in a worker process.
        return backend_sandbox(policy, self._backend or "inprocess")

    def check(self) -> None:
        self.sandbox().close()

    def run(self, source: str) -> Any:
        with self.sandbox() as sb:
            namespace = sb.exec(source, filename="probe.py", name="probe")
            return sb.call(namespace["probe"])


class TemporalHarness(Harness):
    key, label = "temporal", "Temporal sandbox"

    def __init__(self) -> None:
        self._temporal = load_temporal()

    def check(self) -> None:
        if self._temporal is None:
            raise Unavailable("temporalio not installed: pip install -e '.[bench]'")

    def run(self, source: str) -> Any:
        temporal = self._temporal
        assert temporal is not None
        import dsbench_temporal_probe

        def once() -> Any:
            defn = temporal.definition(dsbench_temporal_probe.Probe)
            runner = temporal.runner()
            runner.prepare_workflow(defn)
            instance = runner.create_instance(temporal.details(defn))
            return temporal.activate(instance, temporal.start_activation(defn, source))

        return temporal.result(Temporal.in_loop(once))


class Dapr:
    """Drives durabletask's async orchestrations without a sidecar, in one sandbox mode.

    Each run is what a worker does for a new orchestration: a fresh
    ``_OrchestrationExecutor`` executes the OrchestratorStarted and
    ExecutionStarted events; an orchestrator that returns at once completes.
    """

    def __init__(self, mode: str) -> None:
        try:
            from durabletask.aio.sandbox import SandboxMode  # noqa: F401
        except ImportError:
            raise Unavailable(
                "durabletask sandbox modes not installed: they exist only in "
                "dapr/durabletask-python pull request #32 (see benchmarks/README.md)"
            ) from None
        import durabletask.internal.helpers as helpers
        from durabletask import worker

        self.mode = mode
        self._helpers = helpers
        self._executor = worker._OrchestrationExecutor
        self._registry = worker._Registry()
        self._log = logging.getLogger("dsbench.durabletask")
        self._log.setLevel(logging.ERROR)

    def register(self, fn: Callable[..., Any], name: str) -> str:
        return self._registry.add_async_orchestrator(  # type: ignore[no-any-return]
            fn, name=name, sandbox_mode=self.mode
        )

    def events(self, name: str, arg: Any) -> list[Any]:
        helpers = self._helpers
        return [
            helpers.new_orchestrator_started_event(),
            helpers.new_execution_started_event(name, "dsbench", encoded_input=json.dumps(arg)),
        ]

    def runner(self, events: list[Any], *, restore: bool = True) -> Callable[[], Any]:
        executor, registry, log = self._executor, self._registry, self._log
        # Its sandbox leaves random.randint patched after the run (the probe
        # "host after a run" shows it): put the host back, or every later row
        # and test runs with durabletask's randint. A few getattr calls.
        snapshot = host_snapshot()

        def once() -> Any:
            try:
                return executor(registry, log).execute("dsbench", [], events)
            finally:
                if restore:
                    host_restore(snapshot)

        return once

    @staticmethod
    def result(results: Any) -> Any:
        action = results.actions[0].completeOrchestration
        if action.HasField("failureDetails"):
            details = action.failureDetails
            raise RuntimeError(f"{details.errorType}: {details.errorMessage}")
        return json.loads(action.result.value)


async def _dapr_probe(ctx: Any, source: str) -> Any:
    namespace: dict[str, Any] = {"__name__": "probe"}
    exec(compile(source, "probe.py", "exec", dont_inherit=True), namespace)
    return namespace["probe"]()


class DaprHarness(Harness):
    def __init__(self, mode: str) -> None:
        self.key, self.label, self._mode = f"dapr-{mode}", f"durabletask {mode}", mode
        self._dapr: Dapr | None = None

    def check(self) -> None:
        self._dapr = Dapr(self._mode)
        self._name = self._dapr.register(_dapr_probe, "probe")

    def run(self, source: str) -> Any:
        dapr = self._dapr
        assert dapr is not None
        # Unrepaired, so that probe_host sees what a run leaves behind.
        return dapr.result(dapr.runner(dapr.events(self._name, source), restore=False)())


def restricted_globals() -> dict[str, Any]:
    """RestrictedPython's documented guards, and the host's __import__ (it ships none)."""
    from RestrictedPython import safe_builtins
    from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
    from RestrictedPython.Guards import (
        full_write_guard,
        guarded_iter_unpack_sequence,
        safer_getattr,
    )

    ops = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul}
    return {
        # limited_builtins' range() refuses more than 1,000 elements: the loop row
        # uses the builtin range, list and tuple instead.
        "__builtins__": {
            **safe_builtins,
            "list": list,
            "tuple": tuple,
            "range": range,
            "__import__": builtins.__import__,
        },
        "__name__": "probe",
        "__metaclass__": type,  # RestrictedPython compiles class statements to use it
        "_getattr_": safer_getattr,
        "_getitem_": default_guarded_getitem,
        "_getiter_": default_guarded_getiter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": lambda op, x, y: ops[op](x, y),
    }


def restricted_compile(source: str, filename: str = "probe.py") -> Any:
    from RestrictedPython import compile_restricted

    return compile_restricted(source, filename, "exec")


class RestrictedPythonHarness(Harness):
    key, label = "restrictedpython", "RestrictedPython alone"

    def run(self, source: str) -> Any:
        namespace = restricted_globals()
        exec(restricted_compile(source), namespace)
        return namespace["probe"]()


class HostToolHarness(Harness):
    """A testing tool active around a plain run in the host."""

    def __init__(
        self, key: str, label: str, active: Callable[[], contextlib.AbstractContextManager[Any]]
    ):
        self.key, self.label, self._active = key, label, active

    def check(self) -> None:
        with self._active():
            pass

    def run(self, source: str) -> Any:
        with self._active():
            return host_run(source)


FROZEN = datetime(2024, 1, 1, tzinfo=UTC)


def bench_tool(module: str, dist: str) -> Any:
    """Import a tool of the bench extra, or say how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise Unavailable(f"{dist} not installed: pip install -e '.[bench]'") from None


@contextlib.contextmanager
def freezegun_active() -> Iterator[None]:
    freezegun = bench_tool("freezegun", "freezegun")
    with freezegun.freeze_time(FROZEN):
        yield


@contextlib.contextmanager
def time_machine_active() -> Iterator[None]:
    time_machine = bench_tool("time_machine", "time-machine")
    with time_machine.travel(FROZEN, tick=False):
        yield


@contextlib.contextmanager
def pytest_socket_active() -> Iterator[None]:
    pytest_socket = bench_tool("pytest_socket", "pytest-socket")
    pytest_socket.disable_socket()
    try:
        yield
    finally:
        pytest_socket.enable_socket()


def harnesses() -> list[Harness]:
    """Every in-process tool, in table order (unavailable ones included)."""
    return [
        DetsandboxHarness("ds-strict", "detsandbox strict", Policy.strict),
        DetsandboxHarness(
            "ds-det", "detsandbox deterministic", lambda: Policy.deterministic(seed=1)
        ),
        DetsandboxHarness("ds-untrusted", "detsandbox untrusted", untrusted_policy),
        DetsandboxHarness("ds-process", "detsandbox process backend", Policy.strict, "process"),
        DetsandboxHarness(
            "ds-subinterpreter",
            "detsandbox subinterpreter backend",
            Policy.strict,
            "subinterpreter",
        ),
        TemporalHarness(),
        DaprHarness("best_effort"),
        DaprHarness("strict"),
        RestrictedPythonHarness(),
        HostToolHarness("freezegun", "freezegun", freezegun_active),
        HostToolHarness("time-machine", "time-machine", time_machine_active),
        HostToolHarness("pytest-socket", "pytest-socket", pytest_socket_active),
    ]


def available(harness: Harness) -> str | None:
    """None if the harness runs here, else why not."""
    try:
        harness.check()
    except Unavailable as exc:
        return str(exc)
    return None


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Probes fail on purpose: keep the tools' failure logs and warnings off the console."""
    logger = logging.getLogger("temporalio")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def probe_harness(
    harness: Harness, target: Target, names: Iterator[str] | None = None
) -> dict[str, list[Outcome]]:
    """Two fresh runs of each probe (the hash probe once: processes are compared elsewhere)."""
    out: dict[str, list[Outcome]] = {}
    for name in names or iter(PROBES):
        source = target.source(name)
        runs = 1 if PROBES[name][1] == "hash" else 2
        with quiet(), host_guard():
            out[name] = [attempt(lambda source=source: harness.run(source)) for _ in range(runs)]
    return out


def probe_host(harness: Harness, target: Target) -> tuple[str, str]:
    """Whether a run of the tool leaves host functions patched once it is over."""
    with quiet(), host_guard() as changed:
        attempt(lambda: harness.run(target.source("random")))
    return host_cell(changed)


# Cited, not probed: what a recorded run and a replay API look like in each tool.
REPLAY: dict[str, tuple[str, str]] = {
    "temporal": (
        "yes",
        "temporalio.worker.Replayer replays a workflow history and raises on divergence "
        "(temporalio/worker/_replayer.py)",
    ),
    "dapr-best_effort": (
        "yes",
        "each activation replays the orchestration's history and raises NonDeterminismError "
        "when its actions differ (durabletask/worker.py: _OrchestrationExecutor.execute, "
        "_get_non_determinism_error)",
    ),
}
REPLAY["dapr-strict"] = REPLAY["dapr-best_effort"]


def replay_probe() -> Outcome:
    """detsandbox deterministic: record a run, replay it, and catch an edited one."""
    from detsandbox import Journal, NondeterminismError

    source = "import random, time\ndef probe():\n    return time.time() + random.random()\n"
    edited = "import random, time\ndef probe():\n    return random.random() + time.time()\n"

    def run() -> str:
        recording = Sandbox(Policy.deterministic(seed=7, record=True))
        value = recording.call(recording.exec(source, filename="wf.py")["probe"])
        text = recording.journal.to_json()
        replaying = Sandbox(Policy.replay(Journal.from_json(text)))
        if replaying.call(replaying.exec(source, filename="wf.py")["probe"]) != value:
            raise AssertionError("replay returned a different value")
        diverging = Sandbox(Policy.replay(Journal.from_json(text)))
        try:
            diverging.call(diverging.exec(edited, filename="wf.py")["probe"])
        except NondeterminismError:
            return "yes"
        raise AssertionError("an edited workflow replayed without NondeterminismError")

    return attempt(run)


# -- child processes: hash seeds, CPython 3.13 subinterpreters, Pyodide ---------


def run_child(cmd: list[str], env: dict[str, str], timeout: float) -> Any:
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **env}, check=False
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"{Path(cmd[0]).name} exited {done.returncode}: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_hash() -> dict[str, Any]:
    """In a child process: the hash probe under every available in-process tool."""
    target = Target.from_env()
    out: dict[str, Any] = {}
    for harness in harnesses():
        if available(harness) is None:
            with quiet(), host_guard():
                out[harness.key] = attempt(lambda h=harness: h.run(target.source("hash")))
    return out


def hash_orders(target: Target) -> tuple[dict[str, Any], dict[str, Any]]:
    """The hash probe's outcome per tool in two processes with different PYTHONHASHSEEDs."""
    script = str(Path(__file__).resolve())
    env = target.env()
    return tuple(  # type: ignore[return-value]
        run_child([sys.executable, script, "--child", "hash"], {**env, "PYTHONHASHSEED": seed}, 120)
        for seed in ("1", "2")
    )


def python313() -> list[str] | None:
    exe = shutil.which(PY313[0])
    return None if exe is None else [exe]


def subinterpreter_probes() -> dict[str, Any]:
    """In CPython 3.13: each probe in fresh isolated subinterpreters (the hash probe once)."""
    import _interpreters as interp  # type: ignore[import-not-found]

    target = Target.from_env()
    probes: dict[str, Any] = {}
    with host_guard() as changed:  # the child's main interpreter is the host here
        for name in PROBES:
            runs = 1 if PROBES[name][1] == "hash" else 2
            probes[name] = [sub_probe(interp, target.source(name)) for _ in range(runs)]
    probes["host"] = changed
    return probes


def child_subinterpreters(quick: bool, probes_only: bool = False) -> dict[str, Any]:
    """In CPython 3.13: subinterpreter costs against detsandbox and plain code, and the probes."""
    import _interpreters as interp  # type: ignore[import-not-found]

    if probes_only:
        return {"python": sys.version.split()[0], "probes": subinterpreter_probes()}

    cfg = QUICK if quick else FULL
    trivial = _read("dsbench_trivial") + "\n" + TRIVIAL_MAIN
    code = compile(trivial, "dsbench_trivial.py", "exec", dont_inherit=True)

    def plain() -> Any:
        namespace: dict[str, Any] = {"__name__": "wf"}
        exec(code, namespace)
        return namespace["result"]

    def create_exec_destroy() -> None:
        iid = interp.create("isolated")
        try:
            failed = interp.exec(iid, trivial)
            if failed is not None:
                raise RuntimeError(failed.formatted)
        finally:
            interp.destroy(iid)

    warm = interp.create("isolated")
    interp.exec(warm, _read("dsbench_trivial"))

    def warm_exec() -> None:
        failed = interp.exec(warm, TRIVIAL_MAIN)
        if failed is not None:
            raise RuntimeError(failed.formatted)

    detsandbox_run = detsandbox_trivial(Policy.strict)
    cmp = compare(
        {
            "plain": repeat(plain),
            "ds-strict": repeat(detsandbox_run),
            "sub-create": repeat(create_exec_destroy),
            "sub-warm": repeat(warm_exec),
        },
        cfg,
        samples=min(cfg.samples, 40),
    )
    loop_source = _read("dsbench_loop")
    loop_ns: dict[str, Any] = {}
    exec(compile(loop_source, "dsbench_loop.py", "exec", dont_inherit=True), loop_ns)
    interp.exec(warm, loop_source)

    def sub_loop() -> None:
        failed = interp.exec(warm, f"loop({LOOP_N})")
        if failed is not None:
            raise RuntimeError(failed.formatted)

    loops = compare(
        {"plain": repeat(lambda: loop_ns["loop"](LOOP_N)), "sub": repeat(sub_loop)},
        cfg,
        samples=min(cfg.samples, 10 if quick else 20),
    )
    interp.destroy(warm)
    return {
        "python": sys.version.split()[0],
        "run": {k: dataclasses.asdict(v) for k, v in cmp.stats.items()},
        "run_ratios": {
            "sub-create": cmp.ratio("sub-create", "ds-strict"),
            "sub-warm": cmp.ratio("sub-warm", "ds-strict"),
            "ds-strict/plain": cmp.ratio("ds-strict", "plain"),
            "sub-create/plain": cmp.ratio("sub-create", "plain"),
            "sub-warm/plain": cmp.ratio("sub-warm", "plain"),
        },
        "loop": {k: dataclasses.asdict(v) for k, v in loops.stats.items()},
        "loop_ratio": loops.ratio("sub", "plain"),
        "probes": subinterpreter_probes(),
    }


TRIVIAL_MAIN = """
def _drive(coro):
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("suspended")
result = _drive(Trivial().run(41))
"""


def sub_probe(interp: Any, source: str) -> Outcome:
    """Run one probe in a fresh isolated subinterpreter; its result comes back through a pipe."""
    read_fd, write_fd = os.pipe()
    iid = interp.create("isolated")
    try:
        script = (
            f"import sys, json, os\nsys.path[:0] = {[str(WORKLOADS)]!r}\n{source}\n"
            "try:\n    out = ['ok', probe()]\n"
            "except Exception as exc:\n"
            "    out = ['error', (type(exc).__name__ + ': ' + str(exc)).splitlines()[0][:200]]\n"
            f"os.write({write_fd}, json.dumps(out).encode())\n"
        )
        failed = interp.exec(iid, script)
        if failed is not None:
            return ("error", f"{failed.type.__name__}: {failed.msg}")
        os.close(write_fd)
        write_fd = -1
        chunks = []
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
        kind, value = json.loads(b"".join(chunks))
        return (kind, value)
    finally:
        interp.destroy(iid)
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)


def subinterpreter_runs(
    target: Target, quick: bool, *, probes_only: bool = False
) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """Two python3.13 children (PYTHONHASHSEED 1 and 2), or why they cannot run."""
    exe = python313()
    if exe is None:
        return "python3.13 not found on PATH: raw subinterpreter rows skipped"
    script = str(Path(__file__).resolve())
    cmd = [*exe, script, "--child", "subinterpreters"] + (["--quick"] if quick else [])
    cmd += ["--probes-only"] if probes_only else []
    # pyenv exports the parent's own version; the shim needs one list naming 3.13 too.
    env = {**target.env(), "PYENV_VERSION": PYENV_VERSION}
    try:
        return tuple(  # type: ignore[return-value]
            run_child(cmd, {**env, "PYTHONHASHSEED": seed}, 900) for seed in ("1", "2")
        )
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as exc:
        return f"python3.13 child failed: {exc}"


PYODIDE_JS = r"""
const { loadPyodide } = require("pyodide");
const fs = require("fs");
(async () => {
  const job = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const t0 = performance.now();
  const py = await loadPyodide();
  const cold = performance.now() - t0;
  const version = py.runPython("import sys; sys.version.split()[0]");
  py.FS.writeFile("/home/pyodide/dsbench_counter.py", job.counter);
  const time = (code, n) => {
    const out = [];
    for (let i = 0; i < n; i++) {
      const s = performance.now();
      py.runPython(code);
      out.push((performance.now() - s) / 1000);
    }
    return out;
  };
  py.runPython(job.trivial);
  const trivial = time(job.trivial_main, job.runs);
  py.runPython(job.loop);
  const loop = time(`loop(${job.loop_n})`, job.loop_runs);
  const probes = {};
  for (const [name, src] of Object.entries(job.probes)) {
    const runs = name === "hash" ? 1 : 2;
    probes[name] = [];
    for (let i = 0; i < runs; i++) {
      try {
        const code = src + "\nimport json as _j\n_j.dumps(probe())";
        probes[name].push(["ok", JSON.parse(py.runPython(code, { globals: py.toPy({}) }))]);
      } catch (e) {
        const lines = String(e.message || e).trim().split("\n");
        probes[name].push(["error", lines[lines.length - 1].slice(0, 200)]);
      }
    }
  }
  console.log(JSON.stringify({ version, cold, trivial, loop, probes }));
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""


def pyodide_runs(
    target: Target, quick: bool, where: Path, *, probes_only: bool = False
) -> tuple[dict[str, Any], dict[str, Any]] | str:
    """Two Node processes running Pyodide (cold load, warm runs, probes), or why not."""
    node = shutil.which("node")
    if node is None:
        return "node not found on PATH: Pyodide rows skipped"
    if not (where / "node_modules" / "pyodide").is_dir():
        return f"pyodide not installed in {where}: run `npm install --prefix {where} pyodide`"
    sources = target.sources()
    sources["hostile"] = target.source("hostile", PYODIDE_HOSTILE)
    job = {
        "counter": _read("dsbench_counter"),
        "trivial": _read("dsbench_trivial"),
        "trivial_main": TRIVIAL_MAIN,
        "runs": 0 if probes_only else 30 if quick else 300,
        "loop": _read("dsbench_loop"),
        "loop_n": LOOP_N,
        "loop_runs": 0 if probes_only else 3 if quick else 10,
        "probes": sources,
    }
    (where / "dsbench.js").write_text(PYODIDE_JS, encoding="utf-8")
    (where / "dsbench-job.json").write_text(json.dumps(job), encoding="utf-8")
    cmd = [node, str(where / "dsbench.js"), str(where / "dsbench-job.json")]
    try:
        return tuple(  # type: ignore[return-value]
            run_child(cmd, target.env(), 600) for _ in range(2)
        )
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as exc:
        return f"node child failed: {exc}"


# -- row 1: create + run a trivial workflow ------------------------------------


def detsandbox_trivial(
    policy: Callable[[], Policy], backend: str | None = None
) -> Callable[[], Any]:
    """New Sandbox, fresh import of dsbench_trivial (code compiled once per file), run it.

    Untrusted mode refuses ``async def`` and imports only its allow-list: it
    runs SYNC_TRIVIAL through ``Sandbox.exec`` (compiled once per text) instead.
    """
    untrusted = policy().untrusted  # raises Unavailable
    if backend is not None:
        backend_sandbox(policy(), backend).close()  # raises Unavailable
        source = _read("dsbench_trivial") + "\n" + TRIVIAL_MAIN

        def remote() -> Any:  # values cross pickled: run the driver inside, return the int
            with backend_sandbox(policy(), backend) as sb:
                return sb.exec(source, filename="dsbench_trivial.py", name="dsbench_trivial")[
                    "result"
                ]

        return remote

    def once() -> Any:
        sb = Sandbox(policy(), backend="inprocess")
        if untrusted:
            return sb.call(sb.exec(SYNC_TRIVIAL, filename="sync_trivial.py")["main"], 41)
        return sb.call(run_workflow, sb.import_module("dsbench_trivial").Trivial, 41)

    return once


def plain_trivial() -> Callable[[], Any]:
    code = compile(
        _read("dsbench_trivial") + TRIVIAL_MAIN, "dsbench_trivial.py", "exec", dont_inherit=True
    )

    def once() -> Any:
        namespace: dict[str, Any] = {"__name__": "wf", "__builtins__": builtins}
        exec(code, namespace)
        return namespace["result"]

    return once


async def _dapr_trivial(ctx: Any, x: int) -> int:
    return x + 1


async def _dapr_loop(ctx: Any, n: int) -> int:
    import dsbench_loop

    return dsbench_loop.loop(n)  # type: ignore[no-any-return]


@dataclasses.dataclass
class Arm:
    key: str
    label: str
    run: Callable[[], Any] | None  # None: skipped, see why
    why: str = ""


def _arm(key: str, label: str, make: Callable[[], Callable[[], Any]]) -> Arm:
    try:
        return Arm(key, label, make())
    except Unavailable as exc:
        return Arm(key, label, None, str(exc))


def run_arms(temporal: Temporal | None) -> list[Arm]:
    arms = [
        Arm("plain", "plain Python: exec cached module code, run", plain_trivial()),
        _arm(
            "ds-strict",
            "detsandbox strict: new Sandbox + import + run",
            lambda: detsandbox_trivial(Policy.strict),
        ),
        _arm(
            "ds-det",
            "detsandbox deterministic: new Sandbox + import + run",
            lambda: detsandbox_trivial(lambda: Policy.deterministic(seed=1)),
        ),
        _arm(
            "ds-untrusted",
            "detsandbox untrusted: new Sandbox + exec + run (sync class)",
            lambda: detsandbox_trivial(untrusted_policy),
        ),
        _arm(
            "ds-process",
            "detsandbox process backend: new Sandbox + import + run",
            lambda: detsandbox_trivial(Policy.strict, "process"),
        ),
        _arm(
            "ds-subinterpreter",
            "detsandbox subinterpreter backend: new Sandbox + import + run",
            lambda: detsandbox_trivial(Policy.strict, "subinterpreter"),
        ),
    ]
    if temporal is None:
        why = "temporalio not installed: pip install -e '.[bench]'"
        arms += [Arm("temporal", "Temporal sandbox: create_instance + activate", None, why)]
    else:
        import dsbench_temporal_trivial as twf

        defn = temporal.definition(twf.Trivial)
        details, activation = temporal.details(defn), temporal.start_activation(defn, 41)
        default, passthrough = temporal.runner(), temporal.runner("dsbench_temporal_trivial")
        for runner in (default, passthrough):
            runner.prepare_workflow(defn)
        arms += [
            Arm(
                "temporal",
                "Temporal sandbox: create_instance + activate",
                _temporal_checked(temporal, temporal.create_and_run(default, details, activation)),
            ),
            Arm(
                "temporal-pt",
                "Temporal sandbox, workflow module passed through",
                _temporal_checked(
                    temporal, temporal.create_and_run(passthrough, details, activation)
                ),
            ),
        ]
    for mode in ("off", "best_effort", "strict"):
        arms.append(
            _arm(
                f"dapr-{mode}",
                f"durabletask sandbox_mode={mode!r}: execute",
                lambda mode=mode: _dapr_trivial_run(mode),
            )
        )
    arms += [
        Arm(
            "rp-compile",
            "RestrictedPython: compile_restricted + exec + run (sync class)",
            _rp_trivial(cached=False),
        ),
        Arm(
            "rp-cached",
            "RestrictedPython: exec cached restricted code + run (sync class)",
            _rp_trivial(cached=True),
        ),
    ]
    return arms


def _temporal_checked(temporal: Temporal, once: Callable[[], Any]) -> Callable[[], Any]:
    value = temporal.result(once())
    if value != 42:
        raise RuntimeError(f"Temporal returned {value!r}, expected 42")
    return once


def _dapr_trivial_run(mode: str) -> Callable[[], Any]:
    dapr = Dapr(mode)
    once = dapr.runner(dapr.events(dapr.register(_dapr_trivial, "trivial"), 41))
    value = dapr.result(once())
    if value != 42:
        raise RuntimeError(f"durabletask ({mode}) returned {value!r}, expected 42")
    return once


# RestrictedPython (and so untrusted mode) refuses async def: their side of row 1
# is the same class with a plain run(), and a function that runs it.
SYNC_TRIVIAL = (
    "class Trivial:\n    def run(self, x):\n        return x + 1\n\n\n"
    "def main(x):\n    return Trivial().run(x)\n"
)


def _rp_trivial(*, cached: bool) -> Callable[[], Any]:
    source = SYNC_TRIVIAL
    code = restricted_compile(source, "rp_trivial.py")

    def once() -> Any:
        namespace = restricted_globals()
        exec(code if cached else restricted_compile(source, "rp_trivial.py"), namespace)
        return namespace["main"](41)

    return once


def bench_run(cfg: Config, temporal: Temporal | None, children: dict[str, Any]) -> list[Row]:
    """Row 1: per-run cost of a trivial workflow under each tool."""

    def measure() -> tuple[list[Arm], list[Comparison]]:
        arms = run_arms(temporal)
        live = {a.key: repeat(a.run) for a in arms if a.run is not None}
        for arm in arms:  # Temporal's and durabletask's arms check their own results
            if arm.run is not None and arm.key[:4] not in ("temp", "dapr") and arm.run() != 42:
                raise RuntimeError(f"{arm.label} did not return 42")
        # A remote backend starts a worker per Sandbox: timed apart, with few
        # samples, beside the same baselines.
        slow = {k: live.pop(k) for k in SLOW_ARMS if k in live}
        cmps = [compare(live, cfg)]
        if slow:
            slow |= {"plain": live["plain"], "ds-strict": live["ds-strict"]}
            cmps.append(compare(slow, cfg, samples=min(cfg.samples, 3 if cfg is QUICK else 15)))
        return arms, cmps

    arms, cmps = Temporal.in_loop(measure) if temporal is not None else measure()
    cmp = cmps[0]
    rows = _ratio_rows("1", arms, cmps, base="ds-strict", floor="plain", chart="run")
    rows += _subinterpreter_run_rows(children.get("subinterpreters"))
    rows += _pyodide_run_rows(children.get("pyodide"), cmp.stats["ds-strict"])
    return rows


def _ratio_rows(
    group: str,
    arms: list[Arm],
    cmps: Comparison | list[Comparison],
    *,
    base: str,
    floor: str,
    chart: str,
) -> list[Row]:
    """One row per arm; each arm's ratios come from the comparison that timed it."""
    cmps = cmps if isinstance(cmps, list) else [cmps]
    rows = []
    for i, arm in enumerate(arms):
        row_id = f"{group}{chr(ord('a') + i)}"
        if arm.run is None:
            rows.append(Row(row_id, arm.label, measured=arm.why, verdict="SKIP"))
            continue
        cmp = next(c for c in cmps if arm.key in c.stats)
        stats = cmp.stats[arm.key]
        row = Row(
            row_id,
            arm.label,
            measured=fmt_stats(stats),
            data={"key": arm.key, "chart": chart, "stats": stats.as_json()},
        )
        if arm.key != floor:
            r, lo, hi = cmp.ratio(arm.key, floor)
            row.baseline = f"{_fmt_num(r)}x {floor}"
            row.data["vs_floor"] = [r, lo, hi]
        if arm.key not in (base, floor) and base in cmp.stats:
            r, lo, hi = cmp.ratio(arm.key, base)
            row.result = f"{_fmt_num(r)}x [{_fmt_num(lo)}-{_fmt_num(hi)}]"
            row.data["vs_base"] = [r, lo, hi]
        rows.append(row)
    return rows


def _skip_or_error(row_id: str, what: str, result: Any) -> list[Row] | None:
    if result is None:
        return []
    if isinstance(result, str):
        return [Row(row_id, what, measured=result, verdict="SKIP")]
    return None


def _subinterpreter_run_rows(result: Any) -> list[Row]:
    skipped = _skip_or_error("1s", "raw subinterpreters (CPython 3.13, _interpreters)", result)
    if skipped is not None:
        return skipped
    child = result[0]
    version, stats, ratios = child["python"], child["run"], child["run_ratios"]
    rows = [
        Row(
            "1s0",
            f"  [{version} child] detsandbox strict, its baseline there",
            measured=fmt_stats(Stats(**stats["ds-strict"])),
            baseline=f"{_fmt_num(ratios['ds-strict/plain'][0])}x plain",
            data={"key": "py313-ds-strict", "stats": stats["ds-strict"]},
        )
    ]
    for row_id, key, label in (
        ("1s1", "sub-create", "raw subinterpreter: create + exec + destroy"),
        ("1s2", "sub-warm", "raw subinterpreter: exec on a warm interpreter"),
    ):
        r, lo, hi = ratios[key]
        rows.append(
            Row(
                row_id,
                f"{label} ({version} child)",
                measured=fmt_stats(Stats(**stats[key])),
                baseline=f"{_fmt_num(ratios[key + '/plain'][0])}x plain",
                result=f"{_fmt_num(r)}x [{_fmt_num(lo)}-{_fmt_num(hi)}]",
                data={
                    "key": key,
                    "chart": "run",
                    "stats": stats[key],
                    "vs_base": [r, lo, hi],
                    "python": version,
                },
            )
        )
    return rows


def _median(values: list[float]) -> float:
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def _pyodide_run_rows(result: Any, ds: Stats) -> list[Row]:
    skipped = _skip_or_error("1p", "Pyodide in Node", result)
    if skipped is not None:
        return skipped
    first = result[0]
    version = first["version"]
    cold = _median([r["cold"] / 1000 for r in result])
    warm = _median(first["trivial"])
    return [
        Row(
            "1p0",
            f"Pyodide {version} in Node: cold loadPyodide()",
            measured=fmt_time(cold),
            result=f"{_fmt_num(cold / ds.median)}x (other process)",
            data={"key": "pyodide-cold", "seconds": cold, "vs_base": [cold / ds.median] * 3},
        ),
        Row(
            "1p1",
            f"Pyodide {version} in Node: warm runPython of the workflow",
            measured=fmt_time(warm),
            result=f"{_fmt_num(warm / ds.median)}x (other process)",
            data={
                "key": "pyodide-warm",
                "chart": "run",
                "seconds": warm,
                "vs_base": [warm / ds.median] * 3,
            },
        ),
    ]


# -- row 2: steady state, the 100k loop -----------------------------------------


def loop_arms(temporal: Temporal | None) -> list[Arm]:
    import dsbench_loop

    def existing(policy: Callable[[], Policy], backend: str | None = None) -> Callable[[], Any]:
        sb = backend_sandbox(policy(), backend or "inprocess")
        if backend is not None:
            OPENED.append(sb)
        if sb.policy.untrusted:  # it imports only its allow-list: run the module's source
            fn = sb.exec(_read("dsbench_loop"), filename="dsbench_loop.py")["loop"]
        else:
            fn = sb.import_module("dsbench_loop").loop
        return lambda: sb.call(fn, LOOP_N)

    arms = [
        Arm("plain", "plain Python: loop(100k)", lambda: dsbench_loop.loop(LOOP_N)),
        _arm(
            "ds-strict", "detsandbox strict: sb.call(loop, 100k)", lambda: existing(Policy.strict)
        ),
        _arm(
            "ds-det",
            "detsandbox deterministic",
            lambda: existing(lambda: Policy.deterministic(seed=1)),
        ),
        _arm("ds-untrusted", "detsandbox untrusted", lambda: existing(untrusted_policy)),
        _arm(
            "ds-timeout",
            "detsandbox strict, Limits(timeout=3600)",
            lambda: existing(limited_policy(timeout=3600.0)),
        ),
        _arm(
            "ds-instructions",
            "detsandbox strict, Limits(instructions=10**12)",
            lambda: existing(limited_policy(instructions=10**12)),
        ),
        _arm(
            "ds-process", "detsandbox process backend", lambda: existing(Policy.strict, "process")
        ),
        _arm(
            "ds-subinterpreter",
            "detsandbox subinterpreter backend",
            lambda: existing(Policy.strict, "subinterpreter"),
        ),
        Arm("rp", "RestrictedPython, standard guards", _rp_loop()),
    ]
    return arms


def _rp_loop() -> Callable[[], Any]:
    namespace = restricted_globals()
    exec(restricted_compile(_read("dsbench_loop"), "dsbench_loop.py"), namespace)
    loop = namespace["loop"]
    return lambda: loop(LOOP_N)


def net_arms(
    temporal: Temporal | None,
) -> list[tuple[str, str, Callable[[int], Callable[[], Any]] | None, str]]:
    """Tools whose loop runs only inside a whole workflow run: timed net of a run with n=0."""
    out: list[tuple[str, str, Callable[[int], Callable[[], Any]] | None, str]] = []
    if temporal is None:
        out.append(
            (
                "temporal",
                "Temporal sandbox (net of the run)",
                None,
                "temporalio not installed: pip install -e '.[bench]'",
            )
        )
    else:
        import dsbench_temporal_loop as tloop

        defn = temporal.definition(tloop.Loop)
        runner = temporal.runner()
        runner.prepare_workflow(defn)
        details = temporal.details(defn)

        def temporal_run(n: int) -> Callable[[], Any]:
            return temporal.create_and_run(runner, details, temporal.start_activation(defn, n))

        out.append(("temporal", "Temporal sandbox (net of the run)", temporal_run, ""))
    for mode in ("best_effort", "strict"):
        try:
            dapr = Dapr(mode)
        except Unavailable as exc:
            out.append((f"dapr-{mode}", f"durabletask {mode} (net of the run)", None, str(exc)))
            continue
        name = dapr.register(_dapr_loop, "loop")

        def dapr_run(n: int, dapr: Dapr = dapr, name: str = name) -> Callable[[], Any]:
            return dapr.runner(dapr.events(name, n))

        out.append((f"dapr-{mode}", f"durabletask {mode} (net of the run)", dapr_run, ""))
    return out


def bench_loop(cfg: Config, temporal: Temporal | None, children: dict[str, Any]) -> list[Row]:
    """Row 2: the 100k-iteration loop under each tool, against plain Python."""
    import dsbench_loop

    expected = dsbench_loop.loop(LOOP_N)
    samples = min(cfg.samples, 3 if cfg is QUICK else 20)

    def measure() -> tuple[list[Arm], Comparison, list[Row]]:
        arms = loop_arms(temporal)
        live = {a.key: repeat(a.run) for a in arms if a.run is not None}
        for arm in arms:
            if arm.run is not None and arm.run() != expected:
                raise RuntimeError(f"{arm.label}: loop gave a different result")
        nets = net_arms(temporal)
        for key, _, make, _ in nets:
            if make is not None:
                full, empty = make(LOOP_N), make(0)
                for fn in (full, empty):
                    result = (temporal.result if key == "temporal" else Dapr.result)(fn())  # type: ignore[union-attr]
                    if result not in (expected, dsbench_loop.loop(0)):
                        raise RuntimeError(f"{key}: loop gave {result!r}")
                live[key] = repeat(full)
                live[key + "-0"] = repeat(empty)
        cmp = compare(live, cfg, samples=samples)
        extra = []
        plain = cmp.stats["plain"].median
        for i, (key, label, make, why) in enumerate(nets):
            row_id = f"2n{i + 1}"
            if make is None:
                extra.append(Row(row_id, label, measured=why, verdict="SKIP"))
                continue
            paired = sorted(a - b for a, b in zip(cmp.raw[key], cmp.raw[key + "-0"], strict=True))
            net = _median(paired)
            lo, hi = paired[len(paired) // 4], paired[(3 * len(paired)) // 4]
            extra.append(
                Row(
                    row_id,
                    label,
                    measured=f"{fmt_time(net)} [{fmt_time(lo)}-{fmt_time(hi)}]",
                    baseline=f"run with n=0: {fmt_time(cmp.stats[key + '-0'].median)}",
                    result=f"{_fmt_num(net / plain)}x plain",
                    data={
                        "key": key,
                        "chart": "loop",
                        "net": net,
                        "vs_floor": [net / plain, lo / plain, hi / plain],
                    },
                )
            )
        return arms, cmp, extra

    try:
        arms, cmp, extra = Temporal.in_loop(measure) if temporal is not None else measure()
    finally:
        while OPENED:
            OPENED.pop().close()
    rows = _ratio_rows("2", arms, cmp, base="ds-strict", floor="plain", chart="loop")
    for row in rows:  # for the loop the interesting ratio is against plain code
        if "vs_floor" in row.data:
            r, lo, hi = row.data["vs_floor"]
            row.result, row.baseline = f"{_fmt_num(r)}x plain [{_fmt_num(lo)}-{_fmt_num(hi)}]", ""
    rows += extra
    sub = children.get("subinterpreters")
    skipped = _skip_or_error("2s", "raw subinterpreter: loop(100k)", sub)
    if skipped is None:
        child = sub[0]
        r, lo, hi = child["loop_ratio"]
        skipped = [
            Row(
                "2s",
                f"raw subinterpreter: exec loop(100k) ({child['python']} child)",
                measured=fmt_stats(Stats(**child["loop"]["sub"])),
                baseline=f"main interpreter {fmt_time(child['loop']['plain']['median'])}",
                result=f"{_fmt_num(r)}x plain [{_fmt_num(lo)}-{_fmt_num(hi)}]",
                data={"key": "subinterpreter", "chart": "loop", "vs_floor": [r, lo, hi]},
            )
        ]
    rows += skipped
    pyo = children.get("pyodide")
    skipped = _skip_or_error("2p", "Pyodide in Node: loop(100k)", pyo)
    if skipped is None:
        loop = _median(pyo[0]["loop"])
        ratio = loop / cmp.stats["plain"].median
        skipped = [
            Row(
                "2p",
                f"Pyodide {pyo[0]['version']} in Node: loop(100k)",
                measured=fmt_time(loop),
                result=f"{_fmt_num(ratio)}x plain (other process)",
                data={"key": "pyodide", "chart": "loop", "vs_floor": [ratio] * 3},
            )
        ]
    rows += skipped
    return rows


# -- row 3: testing tools --------------------------------------------------------


def test_arms() -> tuple[list[Arm], list[Arm]]:
    """(one test: set up, read the clock and randomness, tear down; 1,000 clock reads inside)."""
    import dsbench_testbody as body

    def with_tool(
        active: Callable[[], contextlib.AbstractContextManager[Any]],
    ) -> Callable[[], Any]:
        with active():
            pass  # raises Unavailable

        def once() -> Any:
            with active():
                return body.body()

        return once

    def reads(active: Callable[[], contextlib.AbstractContextManager[Any]]) -> Callable[[], Any]:
        with active():
            pass

        def once() -> Any:
            with active():
                body.reads(1000)

        return once

    def sandbox_new() -> Any:
        sb = Sandbox(Policy.deterministic(seed=1))
        return sb.call(sb.import_module("dsbench_testbody").body)

    existing = Sandbox(Policy.deterministic(seed=1))
    ex_mod = existing.import_module("dsbench_testbody")
    tools = (
        ("freezegun", "freezegun freeze_time()", freezegun_active),
        ("time-machine", "time-machine travel(tick=False)", time_machine_active),
        ("pytest-socket", "pytest-socket disable_socket()", pytest_socket_active),
    )
    one = [Arm("bare", "bare test, no tool", body.body)]
    one += [_arm(key, label, lambda a=active: with_tool(a)) for key, label, active in tools]
    one += [
        Arm("ds-new", "detsandbox deterministic: new Sandbox + import + call", sandbox_new),
        Arm(
            "ds-call",
            "detsandbox deterministic: call in an existing Sandbox",
            lambda: existing.call(ex_mod.body),
        ),
    ]
    many = [Arm("bare", "1,000 time.time() reads, no tool", lambda: body.reads(1000))]
    many += [
        _arm(key, f"1,000 reads under {label}", lambda a=active: reads(a))
        for key, label, active in tools
    ]
    many.append(
        Arm(
            "ds-call",
            "1,000 reads in a deterministic Sandbox",
            lambda: existing.call(ex_mod.reads, 1000),
        )
    )
    return one, many


def bench_testing(quick: bool) -> list[Row]:
    """Row 3, in a child process that loads only what a test process would.

    freezegun's start scans every loaded module, so its cost depends on how
    many there are; the parent has loaded temporalio, grpc and more.
    """
    script = str(Path(__file__).resolve())
    cmd = [sys.executable, script, "--child", "testing"] + (["--quick"] if quick else [])
    fields = {f.name for f in dataclasses.fields(Row)}
    return [
        Row(**{k: v for k, v in row.items() if k in fields and k != "target"})
        for row in run_child(cmd, {}, 900)
    ]


def child_testing(cfg: Config) -> list[Row]:
    """Row 3: what a clock- and random-reading test costs with each testing tool active."""
    one, many = test_arms()
    modules = len(sys.modules)
    rows: list[Row] = []
    for group, arms, chart in (("3", one, "testing"), ("3r", many, "reads")):
        cmp = compare({a.key: repeat(a.run) for a in arms if a.run is not None}, cfg)
        part = _ratio_rows(
            group,
            arms,
            cmp,
            base="ds-call" if group == "3r" else "ds-new",
            floor="bare",
            chart=chart,
        )
        for row in part:
            if "vs_floor" in row.data:
                r, lo, hi = row.data["vs_floor"]
                row.result, row.baseline = (
                    f"{_fmt_num(r)}x bare [{_fmt_num(lo)}-{_fmt_num(hi)}]",
                    "",
                )
        rows += part
    rows[0].what += f" ({modules} modules loaded: freezegun scans them all)"
    return rows


# -- row 4: the features table -------------------------------------------------------


@dataclasses.dataclass
class Column:
    key: str
    label: str
    cells: dict[str, tuple[str, str]]  # probe or "replay" -> (cell, detail)
    why: str = ""  # set when the tool did not run


def feature_columns(
    target: Target, children: dict[str, Any], *, hashes: bool = True
) -> list[Column]:
    """Run every probe under every available tool and classify the outcomes."""
    columns: list[Column] = []
    orders = hash_orders(target) if hashes else None
    for harness in harnesses():
        why = available(harness)
        if why is not None:
            columns.append(Column(harness.key, harness.label, {}, why))
            continue
        names = iter(n for n in PROBES if n != "hash")
        outcomes = probe_harness(harness, target, names)
        cells = {name: classify(name, *runs, target.secret) for name, runs in outcomes.items()}
        if orders is not None:
            first, second = (o.get(harness.key, ("error", "not run")) for o in orders)
            cells["hash"] = classify("hash", tuple(first), tuple(second), target.secret)  # type: ignore[arg-type]
        cells["host"] = probe_host(harness, target)
        cells["replay"] = replay_cell(harness.key)
        columns.append(Column(harness.key, harness.label, cells))
    for key, label, result in (
        ("subinterpreter", "raw subinterpreter (3.13)", children.get("subinterpreters")),
        ("pyodide", "Pyodide in Node", children.get("pyodide")),
    ):
        if result is None:
            continue
        if isinstance(result, str):
            columns.append(Column(key, label, {}, result))
            continue
        columns.append(Column(key, label, child_cells(key, result, target)))
    return columns


def child_cells(key: str, result: Any, target: Target) -> dict[str, tuple[str, str]]:
    """Cells from two child processes' probe runs (each ran every probe in fresh runs)."""
    first, second = (r["probes"] for r in result)
    cells = {}
    for name in PROBES:
        if PROBES[name][1] == "counter":  # two runs inside one child
            runs = [tuple(o) for o in first[name]]
        else:  # one run in each child (the hash seeds differ between them)
            runs = [tuple(first[name][0]), tuple(second[name][0])]
        cells[name] = classify(name, runs[0], runs[1], target.secret)  # type: ignore[arg-type]
    if "host" in first:
        cells["host"] = host_cell(first["host"])
    else:  # Python-level code there cannot reach Node's functions
        cells["host"] = ("n/a", "the host is Node")
    cells["replay"] = replay_cell(key)
    return cells


def replay_cell(key: str) -> tuple[str, str]:
    if key == "ds-det":
        kind, value = replay_probe()
        return ("yes", "recorded, replayed, edit caught") if kind == "ok" else ("broken", value)
    return REPLAY.get(key, ("no", "no record/replay API"))


FEATURE_ROWS = [(name, PROBES[name][0]) for name in PROBES] + [
    ("host", "host functions after a run"),
    ("replay", "record and replay"),
]


def render_features(columns: list[Column]) -> str:
    ran = [c for c in columns if not c.why]
    header = ["probe"] + [c.label for c in ran]
    table = [header] + [
        [label] + [c.cells.get(name, ("?", ""))[0] for c in ran] for name, label in FEATURE_ROWS
    ]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += [f"not run: {c.label}: {c.why}" for c in columns if c.why]
    return "\n".join(lines)


def markdown_features(columns: list[Column]) -> str:
    ran = [c for c in columns if not c.why]
    out = ["| probe | " + " | ".join(c.label for c in ran) + " |", "|---" * (len(ran) + 1) + "|"]
    for name, label in FEATURE_ROWS:
        out.append(
            f"| {label} | " + " | ".join(c.cells.get(name, ("?", ""))[0] for c in ran) + " |"
        )
    out += [""] + [f"Not run: {c.label}: {c.why}." for c in columns if c.why]
    return "\n".join(out)


def markdown_rows(rows: list[Row], group: str) -> str:
    ratios = "x plain | x detsandbox strict" if group == "1" else "baseline | ratio"
    out = [f"| id | what | median [p25-p75] | {ratios} |", "|---|---|---|---|---|"]
    for r in rows:
        if r.id.startswith(group):
            out.append(f"| {r.id} | {r.what.strip()} | {r.measured} | {r.baseline} | {r.result} |")
    return "\n".join(out)


# -- charts ------------------------------------------------------------------------


def draw_charts(rows: list[Row], where: Path) -> list[Path]:
    """One horizontal bar chart per timed group; returns the files written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no charts (pip install -e '.[bench]')")
        return []
    specs = {
        "run": ("Create + run a trivial workflow (median, log scale)", "seconds per run", "median"),
        "loop": (
            "100k-iteration attribute/item loop: slowdown vs plain Python",
            "x plain Python",
            "vs_floor",
        ),
        "testing": (
            "One clock/random-reading test with the tool active",
            "x bare test",
            "vs_floor",
        ),
        "reads": ("1,000 time.time() reads with the tool active", "x bare reads", "vs_floor"),
    }
    where.mkdir(parents=True, exist_ok=True)
    written = []
    for chart, (title, xlabel, field) in specs.items():
        points = []
        for r in rows:
            if r.data.get("chart") != chart:
                continue
            if field == "median":
                value = r.data["stats"]["median"] if "stats" in r.data else r.data.get("seconds")
            else:
                value = (r.data.get("vs_floor") or [None])[0]
            if value:
                points.append((r.what.strip().replace(" (net of the run)", ""), value))
        if not points:
            continue
        fig, ax = plt.subplots(figsize=(9, 0.36 * len(points) + 1.3))
        labels = [p[0] for p in points][::-1]
        values = [p[1] for p in points][::-1]
        colors = ["#2b7bba" if "detsandbox" in label else "#9a9a9a" for label in labels]
        ax.barh(range(len(values)), values, color=colors)
        ax.set_yticks(range(len(values)), labels, fontsize=8)
        ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel)
        for y, v in enumerate(values):
            text = fmt_time(v) if field == "median" else f"{_fmt_num(v)}x"
            ax.text(v, y, " " + text, va="center", fontsize=8)
        ax.margins(x=0.25)
        fig.tight_layout()
        path = where / f"comparison-{chart}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


# -- main ----------------------------------------------------------------------------


def run_children(only: set[str], target: Target, args: Any) -> dict[str, Any]:
    children: dict[str, Any] = {}
    t0 = time.perf_counter()
    print("  running python3.13 subinterpreter children ...", end="", file=sys.stderr, flush=True)
    children["subinterpreters"] = subinterpreter_runs(target, args.quick)
    print(f" {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if args.no_pyodide:
        children["pyodide"] = "Pyodide step not requested (--no-pyodide)"
    else:
        t0 = time.perf_counter()
        print("  running Pyodide in Node ...", end="", file=sys.stderr, flush=True)
        children["pyodide"] = pyodide_runs(target, args.quick, Path(args.pyodide_dir))
        print(f" {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    for key, value in children.items():
        if isinstance(value, str):
            print(f"{key}: {value}")
    return children


def extra_options(parser: Any) -> None:
    parser.add_argument("--charts", metavar="DIR", help="write PNG charts into DIR (docs/img)")
    parser.add_argument("--markdown", metavar="PATH", help="write the tables as Markdown")
    parser.add_argument(
        "--pyodide-dir",
        default=str(PYODIDE_DIR),
        metavar="DIR",
        help="where `npm install --prefix DIR pyodide` put Pyodide (default: %(default)s)",
    )
    parser.add_argument("--no-pyodide", action="store_true", help="skip the Pyodide step")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        quick = "--quick" in argv
        if argv[1] == "testing":
            out: Any = [r.as_json() for r in child_testing(QUICK if quick else FULL)]
        elif argv[1] == "hash":
            out = child_hash()
        else:
            out = child_subinterpreters(quick, probes_only="--probes-only" in argv)
        print(json.dumps(out))
        return 0
    args, only = parse_args(__doc__, GROUPS, argv, configure=extra_options)
    cfg = QUICK if args.quick else FULL
    env = environment(args.quick)
    env["modules_loaded"] = len(sys.modules)
    print(
        f"detsandbox {env['detsandbox']} ({env['commit']}) on {env['implementation']} "
        f"{env['python']}, {env['platform']}, {env['cpus']} CPUs; "
        f"{'quick' if args.quick else 'full'} run, loadavg "
        f"{env['loadavg'] and ' '.join(f'{x:.2f}' for x in env['loadavg'])}"
    )
    temporal = load_temporal() if only & {"1", "2"} else None
    rows: list[Row] = []
    columns: list[Column] = []
    with probe_target() as target:
        children = run_children(only, target, args) if only & {"1", "2", "4"} else {}
        env["children"] = {
            k: (v if isinstance(v, str) else [c.get("python") or c.get("version") for c in v])
            for k, v in children.items()
        }

        def section(group: str, what: str, fn: Callable[[], list[Row]]) -> None:
            if group not in only:
                return
            t0 = time.perf_counter()
            print(f"  running {what} ...", end="", file=sys.stderr, flush=True)
            try:
                rows.extend(fn())
            except Exception as exc:
                if args.verbose:
                    traceback.print_exc()
                rows.append(_error_row(group, what, exc))
            print(f" {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

        section("1", "trivial workflow per run (1)", lambda: bench_run(cfg, temporal, children))
        section("2", "100k loop (2)", lambda: bench_loop(cfg, temporal, children))
        section("3", "testing tools (3)", lambda: bench_testing(args.quick))
        if "4" in only:
            columns = feature_columns(target, children)
    json_path = args.json or (None if args.quick else str(RESULTS))
    features = {
        c.key: {"label": c.label, "why": c.why, "cells": {k: list(v) for k, v in c.cells.items()}}
        for c in columns
    }
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    report(rows, env, cfg, json_path, extra={"features": features})
    if columns:
        print()
        print(render_features(columns))
    if args.charts:
        for path in draw_charts(rows, Path(args.charts)):
            print(f"wrote {path}")
    if args.markdown:
        parts = [f"<!-- {env['commit']} {env['python']} {time.strftime('%Y-%m-%d')} -->"]
        for group, title in (("1", "Per run"), ("2", "Loop"), ("3", "Testing tools")):
            if group in only:
                parts += [f"### {title}", "", markdown_rows(rows, group), ""]
        if columns:
            parts += ["### Features", "", markdown_features(columns), ""]
        Path(args.markdown).write_text("\n".join(parts), encoding="utf-8")
        print(f"wrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
