"""Every escape attempt works under plain exec, and untrusted mode blocks it.

The plain-exec half runs in child interpreters (one for all ordinary
attempts, one each for the isolated ones) and only looks at which marker
files exist once they have exited, so atexit handlers and threads count. The
untrusted half runs in this process (backend="inprocess": the guards are what
is under test, without a worker process around them), and checks that the
attempt raised for the right reason, that no marker appeared (also after the
call returned, after garbage collection and after a short wait), and that
the host is as it was.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from detsandbox import Policy, Sandbox, SandboxError, SandboxSyntaxError

from .escapes import ADVISORIES, ATTEMPTS, CLASSES, Attempt, render
from .host import HostSnapshot

BY_ID = {attempt.id: attempt for attempt in ATTEMPTS}

PRESETS: dict[str, Callable[[], Policy]] = {
    "strict": lambda: Policy.strict(untrusted=True),
    "deterministic": lambda: Policy.deterministic(seed=1, untrusted=True),
}

# The plain-exec runner: each attempt gets fresh globals holding the real
# builtins, its exceptions are reported but do not stop the others, and
# everything an attempt left behind is collected before the next one.
PLAIN_RUNNER = textwrap.dedent(
    """
    import builtins, gc, json, os, sys, time
    report = {}
    for item in json.load(sys.stdin):
        if item["setup"]:
            exec(item["setup"], {"__builtins__": builtins.__dict__})
        source = item["source"].encode() if item["as_bytes"] else item["source"]
        namespace = {"__name__": "escape", "__builtins__": builtins.__dict__}
        try:
            exec(compile(source, "escape.py", "exec"), namespace)
        except BaseException as exc:
            report[item["id"]] = f"{type(exc).__name__}: {exc}"
        del namespace
        gc.collect()
        open(os.devnull).close()
    time.sleep(0.3)
    with open(sys.argv[1], "w") as out:
        json.dump(report, out)
    """
)


def _run_plain(attempts: list[Attempt], markers: Path) -> dict[str, str]:
    items = [
        {
            "id": a.id,
            "source": render(a, str(markers / a.id)),
            "setup": a.setup.replace("MARKER_PATH", repr(str(markers / a.id))),
            "as_bytes": a.as_bytes,
        }
        for a in attempts
    ]
    report = markers / f"report-{attempts[0].id}.json"
    proc = subprocess.run(
        [sys.executable, "-c", PLAIN_RUNNER, str(report)],
        input=json.dumps(items),
        capture_output=True,
        text=True,
        cwd=markers,
        timeout=120,
        check=False,
    )
    try:
        return dict(json.loads(report.read_text()))
    except (OSError, ValueError):
        return {a.id: f"runner exited {proc.returncode}: {proc.stderr[-2000:]}" for a in attempts}


@pytest.fixture(scope="module")
def plain_exec(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Run every attempt under plain exec; the marker directory and the errors seen."""
    markers = tmp_path_factory.mktemp("plain")
    errors = _run_plain([a for a in ATTEMPTS if not a.isolated], markers)
    for attempt in ATTEMPTS:
        if attempt.isolated:
            errors.update(_run_plain([attempt], markers))
    return markers, errors


def test_suite_covers_every_class_and_advisory() -> None:
    assert len(ATTEMPTS) >= 80
    assert len(BY_ID) == len(ATTEMPTS), "attempt ids are unique"
    assert {a.cls for a in ATTEMPTS} == set(CLASSES)
    assert {a.advisory for a in ATTEMPTS} - {None} == set(ADVISORIES)


@pytest.mark.parametrize("attempt", ATTEMPTS, ids=lambda a: a.id)
def test_real_escape_under_plain_exec(
    attempt: Attempt, plain_exec: tuple[Path, dict[str, str]]
) -> None:
    markers, errors = plain_exec
    if attempt.cls == 17 and errors.get(attempt.id, "").startswith("runner exited -"):
        # Memory corruption: the forged object's reads depend on the heap's
        # layout, so a run sometimes ends in a crash instead of the effect.
        # Either one is the interpreter compromised (a crash is a DoS).
        return
    assert (markers / attempt.id).exists(), (
        f"{attempt.id} had no effect under plain exec: {errors.get(attempt.id, 'no error')}"
    )


def _outcome(attempt: Attempt, policy: Policy, marker: Path) -> BaseException | None:
    """Run the attempt in a fresh Sandbox; what it raised, or None."""
    source: str | bytes = render(attempt, str(marker))
    if attempt.as_bytes:
        source = source.encode()
    sandbox = Sandbox(policy, backend="inprocess")
    try:
        sandbox.exec(source, filename="escape.py")
    except BaseException as exc:
        return exc
    finally:
        sandbox.close()
        del sandbox
    return None


def _check_blocked(attempt: Attempt, outcome: BaseException | None) -> None:
    if outcome is None:
        if attempt.deferred:
            return
        pytest.fail(f"{attempt.id} ran to completion in untrusted mode")
    if isinstance(outcome, SandboxSyntaxError):
        # Every refusal names the sandboxed file and line.
        assert "escape.py" in str(outcome), str(outcome)
        return
    if isinstance(outcome, SandboxError):
        return
    ordinary = (NameError, AttributeError, *attempt.raises)
    if not isinstance(outcome, ordinary):
        raise AssertionError(
            f"{attempt.id} failed with {type(outcome).__name__}, neither a SandboxError "
            f"nor an exception of its own code ({', '.join(t.__name__ for t in ordinary)})"
        ) from outcome


def _settle(attempt: Attempt, threads: set[threading.Thread]) -> None:
    """Give deferred code every chance to run: collect, poke audit hooks, wait.

    Deferred attempts get long enough for their threads and timers (0.2 s at
    most) to fire; others only a collection, which is when finalisers run.
    """
    gc.collect()
    with open(__file__):  # an "open" audit event, for any hook left behind
        pass
    if attempt.deferred:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline and _threads() - threads:
            time.sleep(0.02)
        time.sleep(0.05)
        gc.collect()


def _threads() -> set[threading.Thread]:
    """Running threads, less detsandbox's own limits watchdog (started by Limits.untrusted())."""
    return {t for t in threading.enumerate() if t.name != "detsandbox-watchdog"}


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("attempt", [a for a in ATTEMPTS if not a.isolated], ids=lambda a: a.id)
def test_blocked_in_untrusted_mode(attempt: Attempt, preset: str, tmp_path: Path) -> None:
    marker = tmp_path / attempt.id
    host = HostSnapshot.take()
    threads = _threads()
    outcome = _outcome(attempt, PRESETS[preset](), marker)
    assert not marker.exists(), f"{attempt.id} escaped untrusted mode ({preset})"
    _settle(attempt, threads)
    assert not marker.exists(), f"{attempt.id} escaped after the call returned ({preset})"
    assert _threads() <= threads, "sandboxed code left a thread running"
    _check_blocked(attempt, outcome)
    host.assert_unchanged()


# Isolated attempts install process-wide state or may crash the interpreter
# when they succeed, so their untrusted run happens in a child interpreter:
# the child is the host here, and it must neither crash nor be escaped.
ISOLATED_RUNNER = textwrap.dedent(
    """
    import json, sys
    sys.path[:0] = json.loads(sys.argv[1])
    from security.test_escapes import run_isolated
    run_isolated(sys.argv[2], sys.argv[3], sys.argv[4])
    """
)


def run_isolated(attempt_id: str, preset: str, marker: str) -> None:
    """Child side of test_isolated_blocked_in_untrusted_mode."""
    attempt = BY_ID[attempt_id]
    host = HostSnapshot.take()
    threads = _threads()
    outcome = _outcome(attempt, PRESETS[preset](), Path(marker))
    _settle(attempt, threads)
    assert not Path(marker).exists(), f"{attempt_id} escaped after the call returned"
    assert _threads() <= threads, "sandboxed code left a thread running"
    _check_blocked(attempt, outcome)
    host.assert_unchanged()
    print("blocked:", type(outcome).__name__)


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("attempt", [a for a in ATTEMPTS if a.isolated], ids=lambda a: a.id)
def test_isolated_blocked_in_untrusted_mode(attempt: Attempt, preset: str, tmp_path: Path) -> None:
    marker = tmp_path / attempt.id
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            ISOLATED_RUNNER,
            json.dumps([str(root), str(root / "tests")]),
            attempt.id,
            preset,
            str(marker),
        ],
        capture_output=True,
        text=True,
        cwd=root,
        timeout=60,
        check=False,
    )
    assert not marker.exists(), f"{attempt.id} escaped untrusted mode ({preset})"
    assert proc.returncode == 0, f"the host process failed (exit {proc.returncode}):\n{proc.stderr}"
    assert proc.stdout.startswith("blocked:"), proc.stdout


def test_sandbox_stays_usable_after_an_attempt(tmp_path: Path) -> None:
    # A refused attempt must not leave the Sandbox or detsandbox broken.
    sandbox = Sandbox(Policy.strict(untrusted=True), backend="inprocess")
    with pytest.raises(SandboxError):
        sandbox.exec(
            render(BY_ID["subclass-walk-wrap-close"], str(tmp_path / "m")), filename="escape.py"
        )
    ns = sandbox.exec("import json\nresult = json.dumps({'a': [1, 2]})\n", filename="ok.py")
    assert ns["result"] == '{"a": [1, 2]}'
    assert not (tmp_path / "m").exists()


# -- Host state that no file marker shows ---------------------------------------------
#
# Some routes change the host without creating anything: they write to shared
# classes, functions or registries. Each case runs in a child interpreter
# (a failure must not leave this process changed) and names what must hold
# in the host afterwards.

HOST_CHANGES: dict[str, tuple[str, str]] = {
    "dataclass-decorates-host-class": (
        "import dataclasses, json\ndataclasses.dataclass(json.JSONDecoder)\n",
        "'__dataclass_fields__' not in vars(json.JSONDecoder)",
    ),
    "update-wrapper-sets-host-class-attribute": (
        "import functools, json\n"
        "class Holder:\n    pass\n"
        "holder = Holder()\nholder.default = len\n"
        "functools.update_wrapper(json.JSONEncoder, holder, assigned=('default',), updated=())\n",
        "json.JSONEncoder.default.__module__ == 'json.encoder'",
    ),
    "update-wrapper-renames-host-function": (
        "import functools, json\nfunctools.update_wrapper(json.dumps, len)\n",
        "json.dumps.__name__ == 'dumps' and not hasattr(json.dumps, '__wrapped__')",
    ),
    "update-wrapper-fills-host-function-dict": (
        "import functools, json\n"
        "class Holder:\n    pass\n"
        "holder = Holder()\nholder.extra = 1\n"
        "functools.update_wrapper(json.dumps, holder, assigned=(), updated=('__dict__',))\n",
        "vars(json.dumps) == {}",
    ),
    "typing-final-marks-host-function": (
        "import typing, json\ntyping.final(json.dumps)\n",
        "not hasattr(json.dumps, '__final__')",
    ),
    "typing-no-type-check-marks-host-class": (
        "import typing, json\ntyping.no_type_check(json.JSONDecoder)\n",
        "not hasattr(json.JSONDecoder, '__no_type_check__')",
    ),
    "abc-register-on-own-subclass": (
        "import collections.abc\n"
        "class Mine(collections.abc.Sized):\n    pass\n"
        "Mine.register(int)\n",
        "not isinstance(5, collections.abc.Sized)",
    ),
    "abc-register-builtin-type": (
        "import collections.abc\ncollections.abc.Sequence.register(int)\n",
        "not isinstance(5, collections.abc.Sequence)",
    ),
}

HOST_CHANGE_RUNNER = textwrap.dedent(
    """
    import collections.abc, json, sys
    from detsandbox import Policy, Sandbox
    cases, preset = json.loads(sys.argv[1]), sys.argv[2]
    policies = {
        "strict": lambda: Policy.strict(untrusted=True),
        "deterministic": lambda: Policy.deterministic(seed=1, untrusted=True),
    }
    unchanged = {}
    for case, (source, check) in cases.items():
        try:
            if preset == "plain":
                exec(source, {"__name__": "escape"})
            else:
                Sandbox(policies[preset](), backend="inprocess").exec(source, filename="escape.py")
        except Exception:
            pass
        unchanged[case] = eval(check)
    print(json.dumps(unchanged))
    """
)


@pytest.fixture(scope="module")
def host_unchanged() -> dict[str, dict[str, bool]]:
    """For each way of running the cases (one child each), which left the host alone."""
    root = Path(__file__).resolve().parents[2]
    results = {}
    for preset in ("plain", *sorted(PRESETS)):
        proc = subprocess.run(
            [sys.executable, "-c", HOST_CHANGE_RUNNER, json.dumps(HOST_CHANGES), preset],
            capture_output=True,
            text=True,
            cwd=root,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        results[preset] = json.loads(proc.stdout.splitlines()[-1])
    return results


@pytest.mark.parametrize("case", sorted(HOST_CHANGES))
def test_host_change_is_real_under_plain_exec(
    case: str, host_unchanged: dict[str, dict[str, bool]]
) -> None:
    assert host_unchanged["plain"][case] is False


@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("case", sorted(HOST_CHANGES))
def test_untrusted_code_leaves_host_objects_alone(
    case: str, preset: str, host_unchanged: dict[str, dict[str, bool]]
) -> None:
    source, check = HOST_CHANGES[case]
    assert host_unchanged[preset][case], f"after {source!r} the host no longer has {check}"


LATE_GENERATORS = {
    "generator-expression": "late = (print('late') or x for x in [1, 2])\n",
    "started-generator": (
        "def gen():\n    yield 1\n    print('late')\n    yield 2\nlate = gen()\nnext(late)\n"
    ),
}


@pytest.mark.parametrize("case", sorted(LATE_GENERATORS))
def test_generators_run_only_inside_a_call(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Functions check on entry that a Sandbox call is running; a generator
    # the host resumes after the call returned must not run untrusted code
    # either (here: its print would reach the host's stdout).
    sandbox = Sandbox(Policy.strict(untrusted=True), backend="inprocess")
    ns = sandbox.exec(LATE_GENERATORS[case], filename="late.py")
    with pytest.raises(SandboxError):
        next(ns["late"])
    assert "late" not in capsys.readouterr().out


# -- Refusals that must hold on every route ---------------------------------------------
#
# Untrusted mode refuses str.format (it traverses attributes named in the
# format string) and type() with three arguments (a class built from a dict,
# around the checks on class bodies). These routes reach the same thing.

REFUSED_ROUTES = {
    "str-format-through-super-instance": (
        "class Text(str):\n    pass\n"
        "leak = super(Text, Text('{0.__init__.__globals__}')).format(Text)\n"
    ),
    "str-format-map-through-super-instance": (
        "class Text(str):\n    pass\n"
        "leak = super(Text, Text('{x.__init__}')).format_map({'x': Text})\n"
    ),
    "str-format-through-super-class": (
        "class Text(str):\n    pass\nleak = super(Text, Text).format('{0.__init__}', Text)\n"
    ),
    "type-three-arguments-through-type-of-a-class": (
        "Meta = type(int)\nBuilt = Meta('Built', (), {'__del__': len})\n"
    ),
}


@pytest.mark.parametrize("route", sorted(REFUSED_ROUTES))
def test_refusals_hold_on_every_route(route: str) -> None:
    sandbox = Sandbox(Policy.strict(untrusted=True), backend="inprocess")
    with pytest.raises(SandboxError):
        sandbox.exec(REFUSED_ROUTES[route], filename="route.py")
