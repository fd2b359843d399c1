"""The pytest plugin, driven through pytester.

Most runs are in-process (``runpytest()``); the repeats in fresh processes and
pytest-xdist start processes of their own. When detsandbox is not installed
(no ``pytest11`` entry point), every run loads the plugin with ``-p``.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

Run = Callable[..., pytest.RunResult]


@pytest.fixture
def plugin_args(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """How a pytester run loads the plugin: explicitly, with autoloading off.

    So the runs see only the plugins a test names (not whatever else the
    environment has installed, which can cost seconds per run), whether or not
    detsandbox is installed. Child processes (xdist workers, repeats,
    runpytest_subprocess) inherit the environment and import this checkout.
    """
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return ["-p", "detsandbox.pytest_plugin"]


@pytest.fixture
def run(pytester: pytest.Pytester, plugin_args: list[str]) -> Run:
    """``pytester.runpytest`` with the plugin loaded."""

    def runner(*args: str) -> pytest.RunResult:
        return pytester.runpytest(*plugin_args, *args)

    return runner


def write(pytester: pytest.Pytester, **files: str) -> None:
    for name, source in files.items():
        pytester.path.joinpath(f"{name}.py").write_text(textwrap.dedent(source))


CLOCKMOD = """
import time

calls = 0

def stamp():
    global calls
    calls += 1
    return time.time()
"""


# -- running a marked test in a Sandbox -------------------------------------------


def test_marked_test_runs_in_fresh_modules_with_host_fixtures(
    pytester: pytest.Pytester, run: Run
) -> None:
    write(
        pytester,
        clockmod=CLOCKMOD,
        conftest="""
        import pytest

        SEEN = []

        @pytest.fixture
        def seen():
            return SEEN
        """,
        test_fresh="""
        import pytest
        import clockmod

        RUNS = []

        @pytest.mark.detsandbox(allow=("time.time",))
        @pytest.mark.parametrize("n", [1, 2])
        def test_fresh(n, seen, tmp_path):
            RUNS.append(n)
            clockmod.stamp()
            assert RUNS == [n] and clockmod.calls == 1      # module state is per test
            assert __builtins__["__detsandbox__"].policy.allow == ("time.time",)
            seen.append(n)                                  # a host object, shared

        def test_host_untouched(seen):
            assert RUNS == [] and clockmod.calls == 0
            assert seen == [1, 2]
            assert "__detsandbox__" not in __builtins__
        """,
    )
    run().assert_outcomes(passed=3)


def test_illegal_call_fails_with_the_error_message_first(
    pytester: pytest.Pytester, run: Run
) -> None:
    write(
        pytester,
        clockmod=CLOCKMOD,
        test_clock="""
        import pytest
        import clockmod

        @pytest.mark.detsandbox
        def test_clock():
            value = 1
            clockmod.stamp()
        """,
    )
    result = run("-ra", "-vv")
    result.assert_outcomes(failed=1)
    path = pytester.path / "clockmod.py"
    message = f"time.time() is not allowed in a strict sandbox ({path}:9)."
    result.stdout.fnmatch_lines(
        [
            "*_ test_clock _*",
            f"detsandbox.RestrictedAccessError: {message}",
            "",
            "    9 | return time.time()",
            "",
            "It reads the host clock. *",
            "",
            "Sandboxed traceback (most recent call last):",
            "  test_clock.py:8: in test_clock",
            "    clockmod.stamp()",
            "  clockmod.py:9: in stamp",
            "    return time.time()",
            "=* short test summary info *=",
            f"FAILED test_clock.py::test_clock - detsandbox.RestrictedAccessError: {message}",
        ],
        consecutive=True,
    )
    # --tb=native keeps Python's own traceback.
    native = run("--tb=native")
    native.stdout.fnmatch_lines(["Traceback (most recent call last):", "*clockmod.py*line 9*"])


def test_assertions_are_rewritten_in_the_sandbox(pytester: pytest.Pytester, run: Run) -> None:
    write(
        pytester,
        test_assert="""
        import pytest

        @pytest.mark.detsandbox
        def test_compare():
            numbers = [1, 2]
            assert numbers == [1, 3]
        """,
    )
    result = run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["E       assert [1, 2] == [1, 3]", "E         At index 1 diff: 2 != 3"]
    )
    plain = run("--assert=plain")
    plain.stdout.fnmatch_lines(["E       AssertionError"])


def test_classes_markers_and_import_modes(pytester: pytest.Pytester, run: Run) -> None:
    write(
        pytester,
        test_shapes="""
        import pytest

        pytestmark = pytest.mark.detsandbox(seed=4)

        def policy():
            return __builtins__["__detsandbox__"].policy

        class TestClass:
            def setup_method(self):
                self.value = 5                    # set in the host, copied in

            def test_method(self):
                assert self.value == 5
                assert type(self).__module__ == "test_shapes"
                assert (policy().mode, policy().seed) == ("deterministic", 4)

            @pytest.mark.detsandbox(seed=6)
            def test_closest_marker_wins(self):
                assert policy().seed == 6

        @pytest.mark.detsandbox(enabled=False)
        def test_opted_out():
            assert "__detsandbox__" not in __builtins__
        """,
    )
    run().assert_outcomes(passed=3)
    run("-p", "no:cacheprovider", "--import-mode=importlib").assert_outcomes(passed=3)


def test_fixture_values_and_setup_errors(pytester: pytest.Pytester, run: Run) -> None:
    write(
        pytester,
        test_bad="""
        import unittest

        import pytest

        @pytest.mark.detsandbox("strict")
        def test_positional():
            pass

        @pytest.mark.detsandbox(mode="replay")
        def test_replay():
            pass

        @pytest.mark.detsandbox(alow=("time.time",))
        def test_typo():
            pass

        @pytest.mark.detsandbox(policy="strict")
        def test_policy_type():
            pass

        class TestCase(unittest.TestCase):
            @pytest.mark.detsandbox
            def test_unittest(self):
                pass

        @pytest.mark.detsandbox
        async def test_async():
            pass
        """,
    )
    result = run("-ra", "-vv")
    result.assert_outcomes(errors=6)
    result.stdout.fnmatch_lines(
        [
            "ERROR test_bad.py::test_positional - Failed: @pytest.mark.detsandbox takes "
            "keywords only, got ('strict',): write @pytest.mark.detsandbox(seed=1, "
            "allow=('time.time',))",
            "ERROR test_bad.py::test_replay - Failed: @pytest.mark.detsandbox(mode=...) is "
            "'strict' or 'deterministic', got 'replay' (replay a journal with the sandbox "
            "fixture and Policy.replay())",
            "ERROR test_bad.py::test_typo - Failed: @pytest.mark.detsandbox(...) makes no "
            "valid Policy: Policy has no field 'alow'; fields are: *",
            "ERROR test_bad.py::test_policy_type - Failed: @pytest.mark.detsandbox(policy=...)"
            " needs a detsandbox.Policy, got str",
            "ERROR test_bad.py::TestCase::test_unittest - Failed: @pytest.mark.detsandbox "
            "runs pytest test functions only, not a TestCaseFunction (unittest.TestCase methods "
            "and doctests run in the host): drive a Sandbox with the sandbox fixture instead",
            "ERROR test_bad.py::test_async - Failed: @pytest.mark.detsandbox runs synchronous "
            "test functions only; test_async is async: drive a Sandbox with the sandbox "
            "fixture instead",
        ]
    )


def test_untrusted_and_policy_keywords_reach_the_policy(
    pytester: pytest.Pytester, run: Run
) -> None:
    write(
        pytester,
        test_policy_keywords="""
        import pytest
        from detsandbox import Limits, Policy

        @pytest.mark.detsandbox(untrusted=True)
        def test_untrusted(sandbox):
            assert sandbox.policy.untrusted is True
            assert sandbox.policy.limits == Limits.untrusted()

        @pytest.mark.detsandbox(policy=Policy.strict(deny=("json.dumps",)))
        def test_whole_policy():
            assert __builtins__["__detsandbox__"].policy.deny == ("json.dumps",)

        @pytest.mark.detsandbox(passthrough=("clockmod",))
        def test_passthrough():
            import clockmod
            assert __builtins__["__detsandbox__"].policy.passthrough == (
                "_pytest", "clockmod", "pytest"
            )
        """,
        clockmod=CLOCKMOD,
        # RestrictedPython compiles the whole module, which may not name __builtins__.
        test_untrusted_module="""
        import pytest

        @pytest.mark.detsandbox(untrusted=True)
        def test_untrusted_runs_in_the_sandbox():
            assert sorted([3, 1, 2]) == [1, 2, 3]
        """,
    )
    run().assert_outcomes(passed=4)


# -- precedence of marker, fixture and command line -------------------------------

MATRIX_TESTS = """
import json

import pytest

def state(sandbox=None):
    sb = __builtins__.get("__detsandbox__")
    if sb is not None:
        return ["in", sb.policy.mode, sb.policy.seed]
    if sandbox is not None:
        return ["fixture", sandbox.policy.mode, sandbox.policy.seed]
    return ["host", None, None]

MARKS = {
    "none": lambda f: f,
    "plain": pytest.mark.detsandbox,
    "det": pytest.mark.detsandbox(mode="deterministic"),
    "seed5": pytest.mark.detsandbox(seed=5),
    "off": pytest.mark.detsandbox(enabled=False),
}

for _name, _mark in MARKS.items():
    def test_no_fixture(record_property):
        record_property("state", json.dumps(state()))
    def test_fixture(record_property, sandbox):
        record_property("state", json.dumps(state(sandbox)))
    globals()[f"test_{_name}_no_fixture"] = _mark(test_no_fixture)
    globals()[f"test_{_name}_fixture"] = _mark(test_fixture)
del test_no_fixture, test_fixture
"""

# (marker, fixture) -> what the test saw, for each command line; "S" is the
# session's seed (random unless --detsandbox-seed gives it).
H: list[object] = ["host", None, None]
F_STRICT: list[object] = ["fixture", "strict", 0]
IN_STRICT: list[object] = ["in", "strict", 0]
NO_OPTIONS = {
    ("none", False): H,
    ("none", True): F_STRICT,
    ("plain", False): IN_STRICT,
    ("plain", True): F_STRICT,
    ("det", False): ["in", "deterministic", "S"],
    ("det", True): ["fixture", "deterministic", "S"],
    ("seed5", False): ["in", "deterministic", 5],
    ("seed5", True): ["fixture", "deterministic", 5],
    ("off", False): H,
    ("off", True): F_STRICT,
}
# --detsandbox changes one cell: an unmarked test without the fixture.
EVERYWHERE = {**NO_OPTIONS, ("none", False): IN_STRICT}


def seeded(table: dict[tuple[str, bool], list[object]]) -> dict[tuple[str, bool], list[object]]:
    """``table`` under --detsandbox-seed=9: the session seed is 9."""
    return {key: [9 if part == "S" else part for part in value] for key, value in table.items()}


MATRIX = {
    (): NO_OPTIONS,
    ("--detsandbox",): EVERYWHERE,
    ("--detsandbox-seed=9",): seeded(NO_OPTIONS),
    ("--detsandbox", "--detsandbox-seed=9"): seeded(EVERYWHERE),
}


@pytest.mark.parametrize("cli", list(MATRIX), ids=lambda cli: " ".join(cli) or "no-options")
def test_precedence_of_marker_fixture_and_command_line(
    pytester: pytest.Pytester, plugin_args: list[str], cli: tuple[str, ...]
) -> None:
    write(pytester, test_matrix=MATRIX_TESTS)
    reprec = pytester.inline_run(*plugin_args, *cli)
    reprec.assertoutcome(passed=10)
    # The session seed is random unless given; the plugin caches it for "last".
    session_seed = json.loads((pytester.path / ".pytest_cache/v/detsandbox/seed").read_text())
    seen = {}
    for report in reprec.getreports("pytest_runtest_logreport"):
        if report.when == "call":
            marker, _, fixture = report.nodeid.partition("::test_")[2].partition("_")
            seen[(marker, fixture == "fixture")] = json.loads(dict(report.user_properties)["state"])
    expected = {
        key: [session_seed if part == "S" else part for part in value]
        for key, value in MATRIX[cli].items()
    }
    assert seen == expected


# -- seeds --------------------------------------------------------------------------


def test_seed_in_header_and_last(pytester: pytest.Pytester, run: Run) -> None:
    write(
        pytester,
        test_seed="""
        import pytest

        @pytest.mark.detsandbox(mode="deterministic")
        def test_seed():
            print("SEED", __builtins__["__detsandbox__"].seed)
        """,
    )
    first = run("-s")
    seed = re.search(
        r"^detsandbox: seed (\d+) \(--detsandbox-seed=\1 repeats it\)$",
        first.stdout.str(),
        re.MULTILINE,
    )
    assert seed is not None
    first.stdout.fnmatch_lines([f"*SEED {seed[1]}"])
    again = run("-s", "--detsandbox-seed=last")
    again.stdout.fnmatch_lines(
        [
            f"detsandbox: seed {seed[1]} (the last run's) (--detsandbox-seed={seed[1]} repeats it)",
            f"*SEED {seed[1]}",
        ]
    )
    fixed = run("-s", "--detsandbox-seed=17")
    fixed.stdout.fnmatch_lines(
        ["detsandbox: seed 17 (--detsandbox-seed=17 repeats it)", "*SEED 17"]
    )
    run("-s", "--detsandbox-seed=last").stdout.fnmatch_lines(["*SEED 17"])


def test_bad_options_are_usage_errors(pytester: pytest.Pytester, run: Run) -> None:
    for args, message in [
        (("--detsandbox-seed=abc",), "--detsandbox-seed takes an int >= 0 or 'last', got 'abc'"),
        (("--detsandbox-seed=-1",), "--detsandbox-seed takes an int >= 0 or 'last', got '-1'"),
        (
            ("-p", "no:cacheprovider", "--detsandbox-seed=last"),
            "--detsandbox-seed=last reads the seed from pytest's cache, which is disabled "
            "(-p no:cacheprovider): give the seed as a number",
        ),
        (("--detsandbox-repeat=0",), "--detsandbox-repeat needs N >= 1, got 0"),
        (
            ("--detsandbox-repeat-processes",),
            "--detsandbox-repeat-processes makes the repeats in fresh processes: give "
            "--detsandbox-repeat=N with N >= 2 too",
        ),
    ]:
        result = run(*args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"ERROR: {message}"])


# -- the sandbox fixture ------------------------------------------------------------


def test_sandbox_fixture_is_ready_and_closed_after(pytester: pytest.Pytester, run: Run) -> None:
    write(
        pytester,
        test_fixture="""
        import pytest
        from detsandbox import RestrictedAccessError

        KEPT = []

        def test_drive(sandbox):
            source = "import time\\ndef f():\\n    return time.time()\\n"
            ns = sandbox.exec(source, filename="wf.py")
            with pytest.raises(RestrictedAccessError):
                sandbox.call(ns["f"])
            KEPT.append(sandbox)

        @pytest.mark.detsandbox(seed=3, record=True)
        def test_deterministic(sandbox):
            ns = sandbox.exec("import random\\nvalue = random.random()\\n")
            assert [e.qualname for e in sandbox.journal] == ["random.random"]

        def test_closed():
            assert repr(KEPT[0]) == "<detsandbox.Sandbox strict, closed>"
        """,
    )
    run().assert_outcomes(passed=3)


# -- repeats ------------------------------------------------------------------------


def test_repeat_passes_deterministic_tests(pytester: pytest.Pytester, run: Run) -> None:
    write(
        pytester,
        test_repeat="""
        import random
        import time

        import pytest

        RUNS = []

        @pytest.mark.detsandbox
        def test_strict_runs_deterministic():
            RUNS.append(time.time())               # no RestrictedAccessError when repeated
            assert RUNS == [946684800.0]

        @pytest.mark.detsandbox(seed=2)
        def test_random():
            random.random()
        """,
    )
    result = run("--detsandbox-repeat=3")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "detsandbox: seed * repeats it); each sandboxed test runs 3 times "
            "(in this process after the first)"
        ]
    )


def test_repeat_reports_the_first_diverging_event(pytester: pytest.Pytester, run: Run) -> None:
    write(
        pytester,
        shared_counter="""
        import itertools
        counter = itertools.count()
        """,
        test_diverge="""
        import time

        import pytest
        import shared_counter

        @pytest.mark.detsandbox(seed=1, passthrough=("shared_counter",))
        def test_diverges():
            time.sleep(next(shared_counter.counter))     # host state: 0, then 1, then 2
            time.time()

        @pytest.mark.detsandbox(passthrough=("shared_counter",))
        def test_fails_later():
            assert next(shared_counter.counter) < 4
        """,
    )
    result = run("--detsandbox-repeat=3", "-ra", "-vv")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "*_ test_diverges _*",
            "detsandbox: test_diverge.py::test_diverges is not deterministic: run 2 "
            "(in-process) diverged from run 1 (in-process) at journal event 1:",
            f"  run 1 (in-process): time.sleep(0) at {pytester.path / 'test_diverge.py'}:9 -> None",
            f"  run 2 (in-process): time.sleep(1) at {pytester.path / 'test_diverge.py'}:9 -> None",
            "*_ test_fails_later _*",
            "detsandbox: test_diverge.py::test_fails_later is not deterministic: run 2 "
            "(in-process) raised AssertionError: assert 4 < 4",
            "*",
            "where run 1 (in-process) passed",
        ],
        consecutive=False,
    )


def test_repeat_in_fresh_processes_varies_the_hash_seed(
    pytester: pytest.Pytester, run: Run
) -> None:
    write(
        pytester,
        # Shared with the host, so hash() is the process's own, seeded by PYTHONHASHSEED
        # (sandboxed code's hash() of a str does not depend on it in deterministic mode).
        hashing="""
        def host_hash(text):
            return hash(text)
        """,
        test_hash="""
        import time

        import pytest
        import hashing

        @pytest.mark.detsandbox(passthrough=("hashing",))
        def test_hash_dependent():
            time.sleep(hashing.host_hash("detsandbox") % 1000 + 1000)

        def test_stable():
            time.sleep(1)
        """,
    )
    result = run(
        "--detsandbox", "--detsandbox-repeat=2", "--detsandbox-repeat-processes", "-ra", "-vv"
    )
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines(
        [
            "detsandbox: seed * repeats it); each sandboxed test runs 2 times "
            "(in fresh processes after the first)",
            "*",
            "detsandbox: test_hash.py::test_hash_dependent is not deterministic: process run 1 "
            "(PYTHONHASHSEED=1, TZ=UTC) diverged from run 1 (in-process) at journal event 1:",
            "  run 1 (in-process): time.sleep(1*) at *test_hash.py:9 -> None",
            "  process run 1 (PYTHONHASHSEED=1, TZ=UTC): time.sleep(1*) at *test_hash.py:9 -> None",
        ]
    )


# -- beside other plugins -------------------------------------------------------------


def test_xdist_workers_share_the_seed(pytester: pytest.Pytester, run: Run) -> None:
    write(
        pytester,
        clockmod=CLOCKMOD,
        test_dist="""
        import pytest
        import clockmod

        @pytest.mark.detsandbox(mode="deterministic")
        @pytest.mark.parametrize("n", range(4))
        def test_seed(n):
            pytest.fail(f"seed {__builtins__['__detsandbox__'].seed}")

        @pytest.mark.detsandbox
        def test_clock():
            clockmod.stamp()
        """,
    )
    result = run("-p", "xdist.plugin", "-n", "2", "-ra", "-vv")
    result.assert_outcomes(failed=5)
    seed = re.search(r"^detsandbox: seed (\d+)", result.stdout.str(), re.MULTILINE)
    assert seed is not None
    summary = [
        line for line in result.stdout.lines if line.startswith("FAILED test_dist.py::test_seed")
    ]
    assert len(summary) == 4
    assert all(line.endswith(f"Failed: seed {seed[1]}") for line in summary)
    result.stdout.fnmatch_lines(
        [
            "FAILED test_dist.py::test_clock - detsandbox.RestrictedAccessError: time.time() is "
            f"not allowed in a strict sandbox ({pytester.path / 'clockmod.py'}:9)."
        ]
    )


def test_beside_freezegun_time_machine_and_pytest_socket(
    pytester: pytest.Pytester, plugin_args: list[str]
) -> None:
    # In a fresh process: views built while freezegun is active would keep its
    # fakes for the rest of this process (see the known limit below).
    write(
        pytester,
        conftest="""
        import pytest
        from freezegun import freeze_time

        @pytest.fixture
        def frozen():
            with freeze_time("2020-01-02 03:04:05"):
                yield
        """,
        test_together="""
        import datetime
        import socket
        import time

        import pytest
        from detsandbox import RestrictedAccessError

        TRAVEL = datetime.datetime(2021, 5, 6, tzinfo=datetime.timezone.utc)

        def test_freezegun_in_the_host(frozen):
            assert datetime.datetime.now() == datetime.datetime(2020, 1, 2, 3, 4, 5)

        @pytest.mark.detsandbox
        def test_frozen_strict_still_refuses(frozen):
            with pytest.raises(RestrictedAccessError):
                datetime.datetime.now()

        @pytest.mark.detsandbox(seed=1)
        def test_frozen_deterministic_reads_the_logical_clock(frozen):
            assert datetime.datetime.now() == datetime.datetime(2000, 1, 1)

        def test_time_machine_in_the_host(time_machine):
            time_machine.move_to(TRAVEL, tick=False)
            assert time.time() == TRAVEL.timestamp()

        @pytest.mark.detsandbox(seed=1)
        def test_travel_does_not_move_the_logical_clock(time_machine):
            time_machine.move_to(TRAVEL, tick=False)
            assert time.time() == 946684800.0

        @pytest.mark.detsandbox(allow=("time.time",))
        def test_travel_reaches_an_allowed_clock(time_machine):
            time_machine.move_to(TRAVEL, tick=False)
            assert time.time() == TRAVEL.timestamp()

        @pytest.mark.detsandbox
        def test_sandbox_refuses_sockets_first():
            with pytest.raises(RestrictedAccessError):
                socket.socket()

        # Shared, so that the error class is the host's, which pytest-socket raises.
        @pytest.mark.detsandbox(allow=("socket.socket",), passthrough=("pytest_socket",))
        def test_pytest_socket_blocks_an_allowed_socket():
            from pytest_socket import SocketBlockedError
            with pytest.raises(SocketBlockedError):
                socket.socket()
        """,
    )
    result = pytester.runpytest_subprocess(
        *plugin_args,
        *("-p", "time_machine", "-p", "pytest_socket", "--disable-socket"),
        *("-W", "ignore::UserWarning"),
    )
    result.assert_outcomes(passed=8)


def test_freezegun_cannot_be_imported_in_a_sandboxed_module(
    pytester: pytest.Pytester, run: Run
) -> None:
    write(
        pytester,
        test_import="""
        import pytest
        from freezegun import freeze_time

        @pytest.mark.detsandbox
        def test_nothing():
            pass
        """,
    )
    result = run("-ra", "-vv")
    result.assert_outcomes(failed=1)
    # Which error depends on the installed dateutil: a clock read at import time, or
    # six.moves, which six provides through a meta path finder a Sandbox does not use.
    result.stdout.fnmatch_lines(
        [
            "*from freezegun import freeze_time",
            "*",
            "FAILED test_import.py::test_nothing - *Error: *",
        ]
    )


def test_the_entry_point_names_the_plugin() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = pyproject["project"]["entry-points"]["pytest11"]
    assert declared == {"detsandbox": "detsandbox.pytest_plugin"}
    installed = [
        ep.value
        for ep in importlib.metadata.entry_points(group="pytest11")
        if ep.dist is not None and ep.dist.name == "detsandbox"
    ]
    assert installed in ([], ["detsandbox.pytest_plugin"])  # [] when run from a checkout


@pytest.mark.xfail(
    strict=True,
    reason="known limit: a Sandbox's views of shared modules are built from templates "
    "taken when the first Sandbox of a policy is made, so a host monkeypatch in effect "
    "then is seen by every later Sandbox of that policy",
)
def test_host_monkeypatch_does_not_leak_into_later_sandboxed_tests(
    pytester: pytest.Pytester, run: Run
) -> None:
    write(
        pytester,
        conftest="""
        import json

        import pytest

        @pytest.fixture
        def patched(monkeypatch):
            monkeypatch.setattr(json, "dumps", lambda value: "patched")    # in the host
        """,
        test_leak="""
        import json

        import pytest

        @pytest.mark.detsandbox(deny=("json.loads",))
        def test_patched(patched):
            assert json.dumps(1) == "patched"

        @pytest.mark.detsandbox(deny=("json.loads",))
        def test_later():
            assert json.dumps(1) == "1"
        """,
    )
    run().assert_outcomes(passed=2)
