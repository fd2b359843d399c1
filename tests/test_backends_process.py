"""The process backend: hard limits, crashes, the hash seed, and nothing left behind."""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from child import child_env, run_child
from conftest import Tree

from detsandbox import (
    Limits,
    MemoryLimitError,
    Policy,
    RestrictedAccessError,
    Sandbox,
    TimeLimitError,
    TransferError,
    WorkerCrashedError,
)
from detsandbox._backends import unavailable
from detsandbox._backends._process import _PREFORK, POOL

pytestmark = pytest.mark.skipif(
    unavailable("process") is not None, reason=str(unavailable("process"))
)

CRASHED = (
    "the process worker running this Sandbox {how} (a crash in C code, os._exit() or "
    "abort()); the Sandbox gets a fresh worker on its next call and starts over with no "
    "modules"
)


# -- crashes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "args", "status", "how"),
    [
        (os._exit, (3,), 3, "exited with status 3"),
        (os.abort, (), -6, "was killed by SIGABRT"),
        (ctypes.string_at, (0,), -11, "was killed by SIGSEGV"),
    ],
    ids=["os._exit", "abort", "segfault"],
)
def test_a_crash_is_an_error_and_the_sandbox_recovers(
    fn: object, args: tuple[object, ...], status: int, how: str
) -> None:
    with Sandbox(backend="process") as sb:
        ns = sb.exec("def one():\n    return 1\n")
        # A host function runs in the worker as it would in the host: here it kills it.
        with pytest.raises(WorkerCrashedError) as info:
            sb.call(fn, *args)  # type: ignore[arg-type]
        assert str(info.value) == CRASHED.format(how=how)
        assert info.value.exitcode == status
        # A fresh worker: the modules are gone, and so are the refs to them.
        assert sb.exec("x = 2\n")["x"] == 2
        with pytest.raises(TransferError) as stale:
            sb.call(ns["one"])
    assert str(stale.value) == (
        "<detsandbox.RemoteRef function one> belongs to a worker this Sandbox has replaced "
        "(after a crash or a limit); get it again from the Sandbox"
    )


# -- limits -------------------------------------------------------------------------------


def test_a_timeout_kills_and_replaces_the_worker() -> None:
    policy = Policy.strict(limits=Limits(timeout=0.5))
    with Sandbox(policy, backend="process") as sb:
        before = sb.call(os.getpid)
        started = time.monotonic()
        with pytest.raises(TimeLimitError) as info:
            sb.call(time.sleep, 30)  # C code: nothing in the worker can interrupt it
        assert time.monotonic() - started < 5
        assert str(info.value) == (
            "the call ran past Limits.timeout=0.5 s; its worker process was killed and "
            "replaced, so this Sandbox starts over with no modules (RemoteRefs from before "
            "are void)"
        )
        assert (info.value.limit, info.value.value) == ("timeout", 0.5)
        assert sb.call(os.getpid) != before
        assert sb.exec("x = 1\n")["x"] == 1


def test_a_runaway_loop_is_stopped() -> None:
    policy = Policy.strict(limits=Limits(timeout=0.5))
    with Sandbox(policy, backend="process") as sb:
        with pytest.raises(TimeLimitError) as info:
            sb.exec("while True:\n    pass\n")
        assert info.value.limit == "timeout"
        assert sb.exec("x = 1\n")["x"] == 1


def test_memory_is_capped_by_the_address_space() -> None:
    policy = Policy.strict(limits=Limits(memory="64M"))
    with Sandbox(policy, backend="process") as sb:
        pid = sb.call(os.getpid)
        with pytest.raises(MemoryLimitError) as info:
            sb.exec("block = bytearray(2_000_000_000)\n")
        assert str(info.value) == (
            "Sandbox.exec() grew the process by more than Limits.memory=64 MiB (stopped at "
            "<sandbox>:1); make the code use less memory, or raise Policy.limits.memory"
        )
        assert (info.value.limit, info.value.value) == ("memory", 64 * 2**20)
        # The worker survives a refused allocation, and the cap is lifted between calls.
        assert sb.call(os.getpid) == pid
        assert sb.exec("block = bytearray(10_000_000)\nn = len(block)\n")["n"] == 10_000_000


# -- the hash seed ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 7, 123456])
def test_workers_hash_with_a_seed_derived_from_the_policy(seed: int) -> None:
    code = "hash('apple'), list({'apple', 'pear', 'fig', 'kiwi', 'plum'})"
    expected = run_child(f"print({code})", PYTHONHASHSEED=str(seed)).strip()
    with Sandbox(Policy.deterministic(seed=seed), backend="process") as sb:
        # Host code run in the worker, outside the sandbox's ordered sets.
        got = sb.call(eval, code)
    assert f"{got[0]} {got[1]}" == expected


# -- no state carries over ----------------------------------------------------------------


def test_each_sandbox_gets_a_fresh_worker(tree: Tree) -> None:
    name = tree.name("counter")
    source = "SEEN = []\n\ndef bump():\n    SEEN.append(1)\n    return len(SEEN)\n"
    tree.write({f"{name}.py": source})
    policy = Policy.strict(passthrough=(name,))
    pids = set()
    for _ in range(3):
        with Sandbox(policy, backend="process") as sb:
            # Passthrough state is the worker's, and each worker starts clean.
            assert [sb.call(f"{name}:bump") for _ in range(2)] == [1, 2]
            pids.add(sb.call(os.getpid))
    assert len(pids) == 3
    with Sandbox(policy) as sb:  # in-process, the host's module state is shared
        assert sb.call(f"{name}:bump") == 1
        assert sb.call(f"{name}:bump") == 2


def test_workers_see_the_host_environment_as_it_is_when_the_sandbox_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DETSANDBOX_PROBE", "1")
    with Sandbox(backend="process") as sb:
        assert sb.call(os.getenv, "DETSANDBOX_PROBE") == "1"
        # Not the zygote's: it was started with its own PYTHONHASHSEED and PYTHONPATH.
        assert sb.call(eval, "dict(__import__('os').environ)") == dict(os.environ)
    monkeypatch.setenv("DETSANDBOX_PROBE", "2")
    monkeypatch.setenv("PYTHONHASHSEED", "99")
    with Sandbox(backend="process") as sb:
        assert sb.call(os.getenv, "DETSANDBOX_PROBE") == "2"
        assert sb.call(os.getenv, "PYTHONHASHSEED") == "99"
    monkeypatch.delenv("DETSANDBOX_PROBE")
    with Sandbox(backend="process") as sb:
        assert sb.call(os.getenv, "DETSANDBOX_PROBE") is None
        assert sb.call(eval, "dict(__import__('os').environ)") == dict(os.environ)


def test_a_spare_made_ahead_for_one_policy_serves_another() -> None:
    # A spare makes the last Sandbox's Policy ahead; one of another Policy (same hash
    # seed, so the same zygote) must get its own.
    strict, det = Policy.strict(), Policy.deterministic(seed=0, start=981173106)
    for policy in (strict, strict, det, det, strict, det):
        with Sandbox(policy, backend="process") as sb:
            if policy is det:
                assert sb.exec("import time\nt = time.time()\n")["t"] == 981173106.0
            else:
                with pytest.raises(RestrictedAccessError):
                    sb.exec("import time\nt = time.time()\n")


CACHED = "sorted(k[:2] for k in __import__('detsandbox._compile').__dict__['_compile']._STRINGS)"
LINES = "sorted(__import__('detsandbox._source').__dict__['_source']._SOURCES)"


def test_later_workers_find_an_exec_source_compiled_but_not_its_lines() -> None:
    source = f"def f():\n    return {time.monotonic_ns()}\n"
    with Sandbox(backend="process") as sb:
        assert ("taught.py", source) not in sb.call(eval, CACHED)
        expected = sb.call(sb.exec(source, filename="taught.py")["f"])
    # The zygote compiles it when that Sandbox closes; spares forked before do not have it.
    POOL.settle()  # the lesson is given between runs: on a busy machine, after a while
    for _ in range(_PREFORK + 1):
        with Sandbox(backend="process") as sb:
            cached, lines = sb.call(eval, CACHED), sb.call(eval, LINES)
    assert ("taught.py", source) in cached
    # No later run sees what an earlier one ran: the source lines stay behind.
    assert "taught.py" not in lines
    with Sandbox(backend="process") as sb:
        assert sb.call(sb.exec(source, filename="taught.py")["f"]) == expected


@pytest.mark.parametrize("limits", [Limits(instructions=10**7), Limits(recursion=200)])
def test_budgeted_source_is_compiled_ahead_unless_it_sets_monitoring_state(
    limits: Limits,
) -> None:
    from detsandbox._budget import COUNT_DEPTH
    from detsandbox._views import views_for

    policy = Policy.strict(limits=limits)
    source = f"def f():\n    return {time.monotonic_ns()}\n"
    with Sandbox(policy, backend="process") as sb:
        sb.exec(source, filename="budgeted.py")
    POOL.settle()
    for _ in range(_PREFORK + 1):
        with Sandbox(policy, backend="process") as sb:
            cached = sb.call(eval, CACHED)
    learned = COUNT_DEPTH not in views_for(policy).hot
    assert (("budgeted.py", source) in cached) == learned


def test_untrusted_source_is_not_compiled_ahead() -> None:
    source = f"def f():\n    return {time.monotonic_ns()}\n"
    with Sandbox(Policy.strict(untrusted=True), backend="process") as sb:
        sb.exec(source, filename="untaught.py")
    POOL.settle()
    for _ in range(_PREFORK + 1):
        with Sandbox(Policy.strict(untrusted=True), backend="process") as sb:
            cached = sb.call(eval, CACHED)
    assert ("untaught.py", source) not in cached


def test_spares_under_threads_with_several_policies_and_seeds() -> None:
    policies = [Policy.strict(), Policy.deterministic(seed=0), Policy.deterministic(seed=5)]
    code = "list({'apple', 'pear', 'fig', 'kiwi', 'plum'})"
    expected = {
        0: run_child(f"print({code})", PYTHONHASHSEED="0").strip(),
        5: run_child(f"print({code})", PYTHONHASHSEED="5").strip(),
    }

    def one(i: int) -> bool:
        policy = policies[i % 3]
        with Sandbox(policy, backend="process") as sb:
            ns = sb.exec(f"def f():\n    return {i}\n", filename=f"t{i % 4}.py")
            return sb.call(ns["f"]) == i and str(sb.call(eval, code)) == expected[policy.seed]

    with concurrent.futures.ThreadPoolExecutor(6) as threads:
        assert all(threads.map(one, range(60)))


def test_the_zygote_imports_the_hosts_detsandbox_whatever_the_working_directory(
    tmp_path: Path,
) -> None:
    (tmp_path / "work" / "detsandbox").mkdir(parents=True)
    (tmp_path / "work" / "detsandbox" / "__init__.py").write_text("raise ImportError('not me')\n")
    script = tmp_path / "host.py"
    script.write_text(
        "from detsandbox import Sandbox\n"
        "with Sandbox(backend='process') as sb:\n"
        "    print(sb.exec('x = 1\\n')['x'])\n"
    )
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path / "work",
        env=child_env(),
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (0, "1\n"), proc.stderr


def test_many_runs_leak_no_descriptors() -> None:
    def fds() -> int:
        POOL.settle()  # spares are forked between runs: count once they have arrived
        return len(os.listdir("/proc/self/fd"))

    for _ in range(5):
        with Sandbox(backend="process") as sb:
            sb.exec("x = 1\n")
    before = fds()
    for _ in range(50):
        with Sandbox(backend="process") as sb:
            sb.exec("x = 1\n")
    unclosed = Sandbox(backend="process")
    unclosed.exec("x = 1\n")
    del unclosed  # its finalizer gives the worker back
    assert fds() == before


# -- nothing outlives the host ------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


HOST = textwrap.dedent(
    """
    import os, sys, threading, time
    from detsandbox import Sandbox
    from detsandbox._backends._process import _PREFORK, POOL

    kept = [Sandbox(backend="process") for _ in range(2)]
    busy = Sandbox(backend="process")
    threading.Thread(target=busy.call, args=(time.sleep, 60), daemon=True).start()
    pids = [sb.call(os.getpid) for sb in kept] + POOL.pids()
    time.sleep(0.3)
    print(*pids, flush=True)
    if sys.argv[1] == "abrupt":
        os._exit(0)
    """
)


@pytest.mark.parametrize("how", ["exit", "abrupt"])
def test_no_orphan_processes_when_the_host_exits(how: str, tmp_path: Path) -> None:
    script = tmp_path / "host.py"
    script.write_text(HOST)
    proc = subprocess.run(
        [sys.executable, str(script), how],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    pids = [int(pid) for pid in proc.stdout.split()]
    assert len(pids) == 3
    deadline = time.monotonic() + 10
    while any(map(_alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pids if _alive(pid)] == []


def test_closing_a_sandbox_ends_its_worker() -> None:
    with Sandbox(backend="process") as sb:
        pid = sb.call(os.getpid)
        assert _alive(pid)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(pid)


# 3.12+ warns on fork() in a process with threads: here the zygotes' refill threads,
# which the child drops without touching their locks.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_host_starts_its_own_zygote() -> None:
    with Sandbox(backend="process") as sb:
        sb.exec("x = 1\n")
    parents = POOL.pids()
    # CPython cannot fork a process in which subinterpreters exist (3.13: the
    # child dies in PyThreadState_Get), and an earlier test may have left a pool.
    interp = sys.modules.get("detsandbox._backends._interp")
    if interp is not None:
        interp.POOL.shutdown()
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child must not take the parent's spares or talk to its zygote
        try:
            os.close(r)
            with Sandbox(backend="process") as sb:
                ok = sb.exec("x = 2\n")["x"] == 2 and POOL.pids() != parents
            os.write(w, b"ok" if ok else b"no")
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 2)
    os.close(r)
    os.waitpid(pid, 0)
    assert got == b"ok"
    with Sandbox(backend="process") as sb:
        assert sb.exec("x = 3\n")["x"] == 3
    assert POOL.pids() == parents


def test_shutdown_ends_the_zygotes() -> None:
    with Sandbox(backend="process") as sb:
        sb.exec("x = 1\n")
    pids = POOL.pids()
    assert pids
    POOL.shutdown()
    assert POOL.pids() == []
    assert not any(map(_alive, pids))
    with Sandbox(backend="process") as sb:  # the pool starts again on demand
        assert sb.exec("x = 1\n")["x"] == 1
