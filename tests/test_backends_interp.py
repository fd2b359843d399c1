"""The subinterpreter backend (CPython 3.13+): a pool reused between Sandboxes, clean exit."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from child import child_env

from detsandbox import BackendUnavailableError, Policy, Sandbox
from detsandbox._backends import unavailable

pytestmark = pytest.mark.skipif(
    unavailable("subinterpreter") is not None, reason=str(unavailable("subinterpreter"))
)


def test_sequential_sandboxes_reuse_one_interpreter() -> None:
    from detsandbox._backends._interp import POOL

    with Sandbox(backend="subinterpreter") as sb:
        sb.exec("x = 1\n")
    created, idle = POOL.size()
    assert idle >= 1
    for i in range(20):
        with Sandbox(backend="subinterpreter") as sb:
            assert sb.exec(f"import json\nx = json.dumps({i})\n")["x"] == str(i)
    assert POOL.size() == (created, idle)


def test_concurrent_sandboxes_get_their_own_interpreters() -> None:
    from detsandbox._backends._interp import POOL

    barrier = threading.Barrier(2)

    def one(i: int) -> int:
        with Sandbox(backend="subinterpreter") as sb:
            ns = sb.exec("def f(x):\n    return x + 1\n")
            barrier.wait(10)  # both Sandboxes are open at once
            return int(sb.call(ns["f"], i))

    with concurrent.futures.ThreadPoolExecutor(2) as threads:
        assert list(threads.map(one, [1, 2])) == [2, 3]
    assert POOL.size()[0] >= 2


def test_a_passthrough_module_that_cannot_load_is_refused() -> None:
    sb = Sandbox(Policy.strict(passthrough=("readline",)), backend="subinterpreter")
    with sb, pytest.raises(BackendUnavailableError) as info:
        sb.exec("x = 1\n")
    assert str(info.value) == (
        "passthrough module 'readline' cannot load in a subinterpreter (module readline does "
        "not support loading in subinterpreters); C extensions such as numpy and "
        "pydantic_core support only the main interpreter: use backend='process' or "
        "'inprocess' for this Policy"
    )


def test_an_import_that_cannot_load_says_which_backend_to_use() -> None:
    with Sandbox(backend="subinterpreter") as sb, pytest.raises(ImportError) as info:
        sb.exec("import readline\n")
    assert str(info.value) == "module readline does not support loading in subinterpreters"
    assert info.value.__notes__[0] == (
        "readline cannot load in a subinterpreter: run this Sandbox with backend='process' "
        "or 'inprocess'"
    )


HOST = textwrap.dedent(
    """
    import threading
    from detsandbox import Policy, Sandbox
    from detsandbox._backends._interp import POOL

    barrier = threading.Barrier(3)
    kept = []

    def one():
        sb = Sandbox(Policy.deterministic(), backend="subinterpreter")
        sb.exec("import datetime, decimal, zoneinfo\\nx = datetime.datetime.now()\\n")
        kept.append(sb)
        barrier.wait(10)

    threads = [threading.Thread(target=one) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept[0].close()
    print(POOL.size())
    """
)


def test_the_host_exits_cleanly_with_interpreters_that_imported_datetime(
    tmp_path: Path,
) -> None:
    # The research notes saw 3.13 segfault destroying such interpreters in
    # creation order, so the pool destroys them newest first. (This scenario
    # exits cleanly in either order on 3.13.0 here; it guards the exit path.)
    script = tmp_path / "host.py"
    script.write_text(HOST)
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=child_env(),
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stderr, proc.stdout) == (0, "", "(3, 1)\n")


def test_shutdown_destroys_every_interpreter() -> None:
    import _interpreters  # type: ignore[import-not-found]

    from detsandbox._backends._interp import POOL

    with Sandbox(backend="subinterpreter") as sb:
        sb.exec("x = 1\n")
    POOL.shutdown()
    assert POOL.size() == (0, 0)
    assert len(_interpreters.list_all()) == 1  # only the main interpreter is left
    with Sandbox(backend="subinterpreter") as sb:  # the pool starts again on demand
        assert sb.exec("x = 1\n")["x"] == 1
