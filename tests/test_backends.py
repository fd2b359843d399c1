"""One API on every backend: the shared conformance suite, and choosing a backend.

Every test taking ``backend`` (the fixture in conftest.py) runs on each backend
this CPython offers: ``inprocess`` always, ``process`` on POSIX,
``subinterpreter`` on 3.13+.
They assert only what does not depend on object identity with the host.
Backend-specific behaviour is in test_backends_process.py and
test_backends_interp.py.
"""

from __future__ import annotations

import concurrent.futures
import sys
import traceback
from typing import Any

import pytest
from conftest import Tree

from detsandbox import (
    BackendInfo,
    Journal,
    NondeterminismError,
    Policy,
    PolicyError,
    RemoteRef,
    RestrictedAccessError,
    RestrictedImportError,
    Sandbox,
    SandboxError,
    SandboxSyntaxError,
)
from detsandbox._backends import unavailable

ALL = ["inprocess", "process", "subinterpreter"]


WORKFLOW = """\
import json
import random
import time

GREETING = "hello"

def run(n, *, scale=1):
    return {"n": n * scale, "items": sorted({"pear", "apple", "fig"})}

def boom(message):
    raise ValueError(message)

def now():
    return time.time()

def draw():
    return [random.random() for _ in range(3)]
"""


# -- exec, call, import_module ------------------------------------------------------------


def test_exec_returns_values_and_callables(backend: str) -> None:
    with Sandbox(backend=backend) as sb:
        ns = sb.exec(WORKFLOW, filename="wf.py")
        assert ns["GREETING"] == "hello"
        assert sb.call(ns["run"], 2, scale=3) == {"n": 6, "items": ["apple", "fig", "pear"]}


def test_call_by_target_string(backend: str, tree: Tree) -> None:
    name = tree.name("wf")
    tree.write({f"{name}.py": WORKFLOW})
    with Sandbox(backend=backend) as sb:
        assert sb.call(f"{name}:run", 4) == {"n": 4, "items": ["apple", "fig", "pear"]}
        assert sb.call("json:dumps", {"a": [1]}) == '{"a": [1]}'


def test_import_module_gives_callables_and_values(backend: str, tree: Tree) -> None:
    name = tree.name("wf")
    tree.write({f"{name}.py": WORKFLOW})
    with Sandbox(backend=backend) as sb:
        mod = sb.import_module(name)
        assert mod.__name__ == name
        assert mod.GREETING == "hello"
        assert sb.call(mod.run, 1)["n"] == 1


def test_callables_pass_back_in_as_arguments(backend: str) -> None:
    with Sandbox(backend=backend) as sb:
        ns = sb.exec("def apply(f, x):\n    return f(x)\n\ndef double(x):\n    return 2 * x\n")
        assert sb.call(ns["apply"], ns["double"], 21) == 42


def test_state_stays_in_the_sandbox_between_calls(backend: str) -> None:
    with Sandbox(backend=backend) as sb:
        ns = sb.exec("seen = []\n\ndef add(x):\n    seen.append(x)\n    return len(seen)\n")
        assert [sb.call(ns["add"], i) for i in range(3)] == [1, 2, 3]
        assert sb.exec("import __main__ as m\ncount = len(m.seen)\n", name="other")["count"] == 3


def test_exec_name_registers_a_module_other_code_imports(backend: str) -> None:
    with Sandbox(backend=backend) as sb:
        sb.exec("VALUE = 7\n", name="helpers")
        assert sb.exec("import helpers\nx = helpers.VALUE * 6\n")["x"] == 42


# -- errors -------------------------------------------------------------------------------


def test_sandboxed_exceptions_arrive_with_type_and_traceback(backend: str) -> None:
    with Sandbox(backend=backend) as sb:
        ns = sb.exec(WORKFLOW, filename="wf.py")
        with pytest.raises(ValueError) as info:
            sb.call(ns["boom"], "no good")
    assert info.value.args == ("no good",)
    text = "".join(traceback.format_exception(info.value))
    assert 'File "wf.py", line 11, in boom' in text
    assert "raise ValueError(message)" in text


def test_restricted_access_error_crosses_with_its_location(backend: str) -> None:
    with Sandbox(backend=backend) as sb, pytest.raises(RestrictedAccessError) as info:
        sb.exec("import time\n\ntime.time()\n", filename="clock.py")
    error = info.value
    assert (error.qualname, error.filename, error.lineno) == ("time.time", "clock.py", 3)
    assert str(error).startswith("time.time() is not allowed in a strict sandbox (clock.py:3).")


def test_refused_import_crosses(backend: str) -> None:
    sb = Sandbox(Policy.strict(deny=("json",)), backend=backend)
    with sb, pytest.raises(RestrictedImportError) as info:
        sb.exec("import json\n")
    assert info.value.name == "json"


def test_syntax_error_crosses_with_its_location(backend: str) -> None:
    with Sandbox(backend=backend) as sb, pytest.raises(SandboxSyntaxError) as info:
        sb.exec("x = 1\ndef f(:\n", filename="bad.py")
    assert (info.value.filename, info.value.lineno) == ("bad.py", 2)


def test_the_sandbox_stays_usable_after_an_exception(backend: str) -> None:
    with Sandbox(backend=backend) as sb:
        with pytest.raises(ZeroDivisionError):
            sb.exec("1 / 0\n")
        assert sb.exec("x = 2\n")["x"] == 2


def test_closed_sandbox_refuses(backend: str) -> None:
    sb = Sandbox(backend=backend)
    ns = sb.exec("def f():\n    return 1\n")
    sb.close()
    assert repr(sb) == "<detsandbox.Sandbox strict, closed>"
    uses = (lambda: sb.exec("x = 1"), lambda: sb.call(ns["f"]), lambda: sb.import_module("j"))
    for use in uses:
        with pytest.raises(SandboxError) as info:
            use()
        assert str(info.value) == "this Sandbox is closed; create a new Sandbox()"


# -- determinism, journal, replay ---------------------------------------------------------


def _deterministic_run(backend: str) -> tuple[Any, ...]:
    with Sandbox(Policy.deterministic(seed=42, record=True), backend=backend) as sb:
        ns = sb.exec(WORKFLOW, filename="wf.py")
        first = sb.call(ns["now"])
        sb.clock.advance(90)
        second = sb.call(ns["now"])
        return (first, second, sb.call(ns["draw"]), sb.seed, sb.journal)


def test_deterministic_results_are_the_same_on_every_backend(backend: str) -> None:
    first, second, draws, seed, journal = _deterministic_run(backend)
    assert (first, second - first, seed) == (946684800.0, 90.0, 42)
    _, _, draws_here, _, journal_here = _deterministic_run("inprocess")
    assert (draws, journal) == (draws_here, journal_here)
    assert isinstance(journal, Journal)
    assert len(journal) == 5


def test_replay_on_every_backend(backend: str) -> None:
    journal = _deterministic_run("inprocess")[-1]
    with Sandbox(Policy.replay(journal), backend=backend) as sb:
        ns = sb.exec(WORKFLOW, filename="wf.py")
        assert sb.call(ns["now"]) == 946684800.0
        sb.clock.advance(90)
        assert sb.call(ns["now"]) == 946684890.0
        with pytest.raises(NondeterminismError) as info:
            sb.finish_replay()
    assert info.value.index == 2


def test_strict_mode_has_no_journal_on_any_backend(backend: str) -> None:
    with Sandbox(backend=backend) as sb, pytest.raises(SandboxError) as info:
        sb.journal  # noqa: B018
    assert str(info.value) == (
        "Sandbox.journal exists in deterministic and replay mode, not in 'strict' mode: "
        "use Policy.deterministic()"
    )


# -- concurrency --------------------------------------------------------------------------


def test_sandboxes_from_many_host_threads(backend: str) -> None:
    def one(i: int) -> int:
        with Sandbox(backend=backend) as sb:
            ns = sb.exec("def sq(x):\n    return x * x\n")
            return int(sb.call(ns["sq"], i)) + sum(sb.call(ns["sq"], j) for j in range(3))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert list(pool.map(one, range(12))) == [i * i + 5 for i in range(12)]


def test_one_sandbox_shared_by_host_threads(backend: str) -> None:
    with Sandbox(backend=backend) as sb:
        ns = sb.exec("def ident(x):\n    return x\n")
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            assert list(pool.map(lambda i: sb.call(ns["ident"], i), range(40))) == list(range(40))


# -- choosing a backend -------------------------------------------------------------------


def test_auto_keeps_trusted_code_in_process() -> None:
    info = Sandbox().backend_info
    assert isinstance(info, BackendInfo)
    assert (info.name, info.requested) == ("inprocess", "auto")
    assert info.reason == (
        "backend='auto' keeps a trusted Sandbox in-process: sandboxed values and functions "
        "are the host's own objects (no pickling) and a call costs about a microsecond"
    )
    assert set(info.others) == {"subinterpreter", "process"}
    if unavailable("subinterpreter") is None:
        assert info.others["subinterpreter"].startswith("auto does not choose it")
    else:
        assert info.others["subinterpreter"] == unavailable("subinterpreter")
    assert str(info).splitlines()[0] == f"inprocess: {info.reason}"


@pytest.mark.parametrize(
    "policy",
    [Policy.strict(untrusted=True), Policy.deterministic(seed=3, untrusted=True, limits=None)],
    ids=["strict", "deterministic without limits"],
)
def test_auto_runs_untrusted_code_in_a_worker_process(policy: Policy) -> None:
    if unavailable("process") is not None:
        pytest.skip(f"no process backend here: {unavailable('process')}")
    with Sandbox(policy) as sb:
        info = sb.backend_info
        ns = sb.exec("def double(x):\n    return 2 * x\n", filename="plugin.py")
        assert isinstance(ns["double"], RemoteRef)  # it lives in the worker
        assert sb.call(ns["double"], 21) == 42
    assert (info.name, info.requested) == ("process", "auto")
    assert info.reason == (
        "backend='auto' runs untrusted code in a worker process: only there are its memory "
        "and CPU limits hard, a timeout kills even a long C call, and a crash stays in the "
        "worker; pass backend='inprocess' to keep it in the host"
    )
    assert info.others["inprocess"] == (
        "auto does not choose it for untrusted code: in-process limits cannot stop a long "
        "C call or a single huge allocation; pass backend='inprocess' to choose it anyway"
    )
    if unavailable("subinterpreter") is None:
        assert info.others["subinterpreter"].startswith("auto does not choose it for untrusted")
    else:
        assert info.others["subinterpreter"] == unavailable("subinterpreter")
    # Asked for by name, untrusted code stays where it was put.
    assert Sandbox(policy, backend="inprocess").backend_info.name == "inprocess"


def test_asked_for_backend_is_reported(backend: str) -> None:
    with Sandbox(backend=backend) as sb:
        info = sb.backend_info
    assert (info.name, info.requested, info.reason) == (
        backend,
        backend,
        f"asked for with backend={backend!r}",
    )
    assert set(info.others) == set(ALL) - {backend}


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(PolicyError) as info:
        Sandbox(backend="thread")
    assert str(info.value) == (
        "Sandbox(backend=...) must be one of 'auto', 'inprocess', 'subinterpreter', "
        "'process', got 'thread'"
    )


def test_subinterpreter_refusal_says_why() -> None:
    from detsandbox import BackendUnavailableError

    if sys.version_info >= (3, 13):
        assert unavailable("subinterpreter") is None
        return
    with pytest.raises(BackendUnavailableError) as info:
        Sandbox(backend="subinterpreter")
    if sys.version_info < (3, 12):
        assert str(info.value) == (
            "the subinterpreter backend needs CPython 3.13+: 3.11's subinterpreters share "
            "the main interpreter's GIL (no parallelism), and can report an exception only "
            "as a string"
        )
    else:
        assert str(info.value) == (
            "the subinterpreter backend needs CPython 3.13+: 3.12's isolated interpreters "
            "leak ~2.5 MB per create/destroy cycle (gh-110411, gh-113055), crash on destroy "
            "with a double free once two of them imported datetime or decimal, and cannot "
            "import _datetime, _decimal or zoneinfo"
        )


def test_untrusted_mode_on_every_backend(backend: str) -> None:
    from detsandbox import RestrictedSyntaxError

    with Sandbox(Policy.strict(untrusted=True), backend=backend) as sb:
        ns = sb.exec("def squares(n):\n    return [i * i for i in range(n)]\n")
        assert sb.call(ns["squares"], 4) == [0, 1, 4, 9]
        with pytest.raises(RestrictedSyntaxError) as info:
            sb.exec("x = ().__class__\n", filename="evil.py")
    assert str(info.value).startswith("untrusted code uses 1 construct that untrusted mode")
