"""pytest plugin: run test functions inside a Sandbox (entry point ``pytest11``).

* ``@pytest.mark.detsandbox(**policy)`` runs the test function in a fresh
  Sandbox: its module is imported fresh there (with everything it imports that
  is not passed through), the host's fixture values are passed in, and an
  illegal call fails the test with the RestrictedAccessError's message first.
* ``--detsandbox`` does the same for every test function, ``--detsandbox-seed``
  picks deterministic mode's seed (printed in the header; ``last`` reuses the
  previous session's), ``--detsandbox-repeat=N`` runs sandboxed tests N times
  and fails on diverging journals.
* The ``sandbox`` fixture hands a ready Sandbox to a test that drives one
  itself; such a test runs in the host.

A test that is not marked costs one marker lookup per test when
``--detsandbox`` is not given; nothing else runs. See docs/pytest.md.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import linecache
import os
import random
import subprocess
import sys
import tempfile
from collections.abc import Generator, Iterator
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Final, NoReturn

import pytest

if TYPE_CHECKING:
    from ._journal import Journal
    from ._policy import Policy
    from ._sandbox import Sandbox

__all__ = ["sandbox"]

MARKER: Final = "detsandbox"
# Test modules import pytest: a fresh copy of pytest in every Sandbox would be
# slow and would trip over pytest's own use of the host.
PYTEST_MODULES: Final = ("_pytest", "pytest")
# Keywords that make a marked test deterministic, besides mode="deterministic".
_DETERMINISTIC_KEYWORDS: Final = ("seed", "start", "timezone")
_CACHE_KEY: Final = "detsandbox/seed"
_PACKAGE_DIR: Final = os.path.dirname(os.path.abspath(__file__)) + os.sep


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Settings:
    everywhere: bool
    seed: int
    seed_note: str
    repeat: int
    processes: bool
    journal_out: str | None


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Plan:
    """What the plugin does with one test: the policy, and whether the test runs in it."""

    policy: Policy
    sandboxed: bool


_SETTINGS = pytest.StashKey[_Settings]()
_PLAN = pytest.StashKey[_Plan]()


# -- configuration --------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("detsandbox", "detsandbox: run tests inside a Sandbox")
    group.addoption(
        "--detsandbox",
        action="store_true",
        default=False,
        help="run every test function in a Sandbox, as if marked @pytest.mark.detsandbox",
    )
    group.addoption(
        "--detsandbox-seed",
        metavar="N|last",
        default=None,
        help="seed of deterministic-mode tests that do not set seed= "
        "(default: a new random seed, printed in the header; last: the previous run's)",
    )
    group.addoption(
        "--detsandbox-repeat",
        metavar="N",
        type=int,
        default=1,
        help="run each sandboxed test N times in deterministic mode, recording, "
        "and fail if the journals differ",
    )
    group.addoption(
        "--detsandbox-repeat-processes",
        action="store_true",
        default=False,
        help="with --detsandbox-repeat: make the repeats in fresh processes, each with "
        "its own PYTHONHASHSEED and TZ",
    )
    # A repeat in a fresh process runs pytest on one test with this option.
    group.addoption("--detsandbox-journal-out", default=None, help=argparse.SUPPRESS)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "detsandbox(**policy): run the test function in a detsandbox Sandbox; keywords are "
        "Policy fields (seed=, allow=, passthrough=, untrusted=, ...), policy=Policy(...), "
        "or enabled=False to run it in the host (see docs/pytest.md)",
    )
    repeat = config.getoption("detsandbox_repeat")
    if repeat < 1:
        raise pytest.UsageError(f"--detsandbox-repeat needs N >= 1, got {repeat}")
    processes = bool(config.getoption("detsandbox_repeat_processes"))
    if processes and repeat < 2:
        raise pytest.UsageError(
            "--detsandbox-repeat-processes makes the repeats in fresh processes: "
            "give --detsandbox-repeat=N with N >= 2 too"
        )
    journal_out = config.getoption("detsandbox_journal_out")
    seed, note = _session_seed(config)
    config.stash[_SETTINGS] = _Settings(
        everywhere=bool(config.getoption("detsandbox")),
        seed=seed,
        seed_note=note,
        repeat=1 if journal_out else repeat,
        processes=processes and not journal_out,
        journal_out=journal_out,
    )


def _session_seed(config: pytest.Config) -> tuple[int, str]:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "detsandbox_seed" in workerinput:
        return int(workerinput["detsandbox_seed"]), ""  # an xdist worker: the controller's
    raw = config.getoption("detsandbox_seed")
    cache = getattr(config, "cache", None)
    note = ""
    if raw == "last":
        if cache is None:
            raise pytest.UsageError(
                "--detsandbox-seed=last reads the seed from pytest's cache, which is "
                "disabled (-p no:cacheprovider): give the seed as a number"
            )
        last = cache.get(_CACHE_KEY, None)
        if isinstance(last, int):
            seed, note = last, " (the last run's)"
        else:
            seed = random.Random().getrandbits(32)
            note = " (no last seed was cached: a new one)"
    elif raw is None:
        seed = random.Random().getrandbits(32)
    else:
        try:
            seed = int(raw)
        except ValueError:
            seed = -1
        if seed < 0:
            raise pytest.UsageError(
                f"--detsandbox-seed takes an int >= 0 or 'last', got {raw!r}"
            ) from None
    if cache is not None and workerinput is None:
        cache.set(_CACHE_KEY, seed)
    return seed, note


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: every worker gets the controller's seed."""
    node.workerinput["detsandbox_seed"] = node.config.stash[_SETTINGS].seed


def pytest_report_header(config: pytest.Config) -> str:
    settings = config.stash[_SETTINGS]
    line = (
        f"detsandbox: seed {settings.seed}{settings.seed_note} "
        f"(--detsandbox-seed={settings.seed} repeats it)"
    )
    if settings.repeat > 1:
        where = "in fresh processes" if settings.processes else "in this process"
        line += f"; each sandboxed test runs {settings.repeat} times ({where} after the first)"
    return line


# -- deciding what to do with a test --------------------------------------------


def _plan(item: pytest.Item) -> _Plan | None:
    """The plugin's plan for ``item``, or None when the plugin leaves it alone."""
    plan = item.stash.get(_PLAN, None)
    if plan is not None:
        return plan
    settings = item.config.stash[_SETTINGS]
    markers = list(item.iter_markers(MARKER))
    if not markers and not (settings.everywhere or settings.journal_out):
        return None
    keywords: dict[str, Any] = {}
    for marker in reversed(markers):  # the closest marker wins
        if marker.args:
            _bad_marker(
                f"@pytest.mark.{MARKER} takes keywords only, got "
                f"{marker.args!r}: write @pytest.mark.{MARKER}(seed=1, allow=('time.time',))"
            )
        keywords.update(marker.kwargs)
    enabled = keywords.pop("enabled", True)
    if not isinstance(enabled, bool):
        _bad_marker(f"@pytest.mark.{MARKER}(enabled=...) takes True or False, got {enabled!r}")
    policy = _policy(item, dict(keywords), settings.seed)
    runnable = type(item) is pytest.Function
    drives_own = "sandbox" in getattr(item, "fixturenames", ())
    if markers and enabled and not runnable and not drives_own:
        _bad_marker(
            f"@pytest.mark.{MARKER} runs pytest test functions only, not a "
            f"{type(item).__name__} (unittest.TestCase methods and doctests run in the host): "
            "drive a Sandbox with the sandbox fixture instead"
        )
    if runnable and _is_async(item):
        if markers and enabled and not drives_own:
            _bad_marker(
                f"@pytest.mark.{MARKER} runs synchronous test functions only; "
                f"{item.name} is async: drive a Sandbox with the sandbox fixture instead"
            )
        runnable = False  # --detsandbox leaves it to pytest and its async plugin
    plan = _Plan(
        policy=policy,
        sandboxed=enabled and runnable and not drives_own,
    )
    item.stash[_PLAN] = plan
    return plan


def _is_async(item: pytest.Item) -> bool:
    fn = getattr(item, "obj", None)
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)


def _bad_marker(message: str) -> NoReturn:
    # A setup error that shows the message alone: the traceback would be the plugin's.
    pytest.fail(message, pytrace=False)


def _policy(item: pytest.Item, keywords: dict[str, Any], session_seed: int) -> Policy:
    from .errors import PolicyError

    try:
        return _make_policy(keywords, session_seed)
    except PolicyError as exc:
        _bad_marker(f"@pytest.mark.{MARKER}(...) makes no valid Policy: {exc}")


def _make_policy(keywords: dict[str, Any], session_seed: int) -> Policy:
    from ._policy import Policy

    policy = keywords.pop("policy", None)
    if policy is not None:
        if keywords:
            _bad_marker(
                f"@pytest.mark.{MARKER}(policy=...) takes the whole policy; "
                f"give {sorted(keywords)[0]!r} through Policy, not beside it"
            )
        if not isinstance(policy, Policy):
            _bad_marker(
                f"@pytest.mark.{MARKER}(policy=...) needs a detsandbox.Policy, "
                f"got {type(policy).__name__}"
            )
        return policy
    mode = keywords.pop("mode", None)
    if mode is None:
        mode = "deterministic" if any(k in keywords for k in _DETERMINISTIC_KEYWORDS) else "strict"
    if mode == "strict":
        return Policy.strict(**keywords)
    if mode == "deterministic":
        keywords.setdefault("seed", session_seed)
        return Policy.deterministic(**keywords)
    _bad_marker(
        f"@pytest.mark.{MARKER}(mode=...) is 'strict' or 'deterministic', "
        f"got {mode!r} (replay a journal with the sandbox fixture and Policy.replay())"
    )


def _run_policy(policy: Policy, settings: _Settings) -> Policy:
    """The policy a sandboxed test runs under: pytest shared, recording when repeated."""
    passthrough = tuple(set(policy.passthrough) | set(PYTEST_MODULES))
    policy = policy.evolve(passthrough=passthrough)
    if settings.repeat > 1 or settings.journal_out:
        if policy.mode == "strict":
            # Strict mode has no journal to compare: repeats run deterministically.
            policy = policy.evolve(mode="deterministic", seed=settings.seed)
        policy = policy.evolve(record=True)
    return policy


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _plan(item)  # a malformed marker fails the test here, before any fixture runs


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A Sandbox for a test that drives one itself; the test runs in the host.

    Its policy is the test's ``@pytest.mark.detsandbox`` keywords (with the
    session seed), or ``Policy.strict()`` for an unmarked test. It is closed
    after the test.
    """
    from ._policy import Policy
    from ._sandbox import Sandbox

    plan = _plan(request.node)
    # In-process on every policy: the test holds the Sandbox's objects directly.
    sb = Sandbox(plan.policy if plan is not None else Policy.strict(), backend="inprocess")
    try:
        yield sb
    finally:
        sb.close()


# -- running a test in a Sandbox ------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    plan = pyfuncitem.stash.get(_PLAN, None)
    if plan is None or not plan.sandboxed:
        return None
    settings = pyfuncitem.config.stash[_SETTINGS]
    policy = _run_policy(plan.policy, settings)
    funcargs = pyfuncitem.funcargs
    kwargs = {name: funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    if settings.journal_out:
        journal, result = _run_once(pyfuncitem, policy, kwargs)
        _write_journal(settings.journal_out, pyfuncitem.nodeid, journal, result)
    elif settings.repeat > 1:
        _run_repeated(pyfuncitem, policy, kwargs, settings)
    else:
        _run_once(pyfuncitem, policy, kwargs)
    return True


def _run_once(
    item: pytest.Function, policy: Policy, kwargs: dict[str, Any]
) -> tuple[Journal | None, str]:
    from ._sandbox import Sandbox

    # In-process: the test function, its fixtures and its result are host objects.
    sb = Sandbox(policy, backend="inprocess")
    try:
        fn = _sandboxed_function(sb, item)
        result = sb.call(fn, **kwargs)
        if result is not None:
            item.warn(
                pytest.PytestReturnNotNoneWarning(
                    f"Test functions should return None, but {item.nodeid} returned "
                    f"{type(result)!r}."
                )
            )
        return (sb.journal if policy.record else None), repr(result)
    finally:
        sb.close()


def _sandboxed_function(sb: Sandbox, item: pytest.Function) -> Any:
    """The test function as the Sandbox has it: from the test module imported fresh."""
    module = _import_test_module(sb, item)
    owner: Any = module
    if item.cls is not None:
        cls: Any = module
        for part in item.cls.__qualname__.split("."):
            cls = getattr(cls, part)
        owner = sb.call(cls)
        # setup_method and fixtures ran in the host, on pytest's instance.
        if item.instance is not None:
            vars(owner).update(vars(item.instance))
    return getattr(owner, item.originalname)


def _import_test_module(sb: Sandbox, item: pytest.Function) -> ModuleType:
    name = item.module.__name__
    _prepare_assertion_rewrite(sb, item)
    try:
        return sb.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not (name == exc.name or name.startswith(exc.name + ".")):
            raise  # the test module itself imports something missing
    # Not importable by name (--import-mode=importlib): run its file as that module.
    with open(item.path, "rb") as f:
        source = f.read()
    ns = sb.exec(source, filename=str(item.path), name=name)
    return sb.modules[ns["__name__"]]


def _prepare_assertion_rewrite(sb: Sandbox, item: pytest.Function) -> None:
    """Give the Sandbox the test module compiled with pytest's assertion rewriting.

    The Sandbox compiles a module once per file and rule set (detsandbox._compile),
    so the rewritten code is put where that cache will find it. Modules the
    test imports are compiled as usual, as pytest leaves them plain too.
    """
    from _pytest.assertion.rewrite import rewrite_asserts

    from . import _compile, _source

    path = getattr(item.module, "__file__", None)
    if not path or not path.endswith(".py"):
        return
    hot = sb._views.hot
    key = (path, hot)
    hit = _compile._FILES.get(key)
    if item.config.getoption("assertmode") != "rewrite" or sb.policy.untrusted:
        if hit is not None and hit[2] in _REWRITTEN:
            with _compile._LOCK:
                _compile._FILES.pop(key, None)  # compiled plain again
        return
    st = os.stat(path)
    if hit is not None and hit[:2] == (st.st_mtime_ns, st.st_size) and hit[2] in _REWRITTEN:
        return
    with open(path, "rb") as f:
        raw = f.read()
    text = _source.as_text(raw, what=f"importing {path}")
    tree = ast.parse(text, path)
    rewrite_asserts(tree, raw, path, item.config)
    _fix_end_positions(tree)
    code = _compile.compile_source(tree, path, hot)
    _source.remember(path, text)
    with _compile._LOCK:
        _compile._FILES[key] = (st.st_mtime_ns, st.st_size, code)
    _REWRITTEN.add(code)


_REWRITTEN: set[Any] = set()


def _fix_end_positions(tree: ast.AST) -> None:
    # pytest's rewriter gives its nodes a start and no end; compile() accepts
    # that, but ast.fix_missing_locations() (which the Sandbox's compiler
    # runs) would give them an end before their start.
    for node in ast.walk(tree):
        lineno = getattr(node, "lineno", None)
        if lineno is None:
            continue
        end = getattr(node, "end_lineno", None)
        if end is None or end < lineno:
            node.end_lineno = lineno  # type: ignore[attr-defined]
            node.end_col_offset = getattr(node, "col_offset", 0)  # type: ignore[attr-defined]


# -- repeats ----------------------------------------------------------------------


def _run_repeated(
    item: pytest.Function, policy: Policy, kwargs: dict[str, Any], settings: _Settings
) -> None:
    from .testing import _check_same

    journals: list[Journal] = []
    results: list[str] = []
    labels: list[str] = []
    in_process = 1 if settings.processes else settings.repeat
    for n in range(in_process):
        label = f"run {n + 1} (in-process)"
        try:
            journal, result = _run_once(item, policy, kwargs)
        except BaseException as exc:
            if n == 0:
                raise
            pytest.fail(
                f"detsandbox: {item.nodeid} is not deterministic: {label} raised "
                f"{type(exc).__name__}: {exc}\nwhere run 1 (in-process) passed",
                pytrace=False,
            )
        assert journal is not None
        journals.append(journal)
        results.append(result)
        labels.append(label)
    if settings.processes:
        for n in range(settings.repeat - 1):
            journal, result, label = _run_in_process(item, n)
            journals.append(journal)
            results.append(result)
            labels.append(label)
    try:
        _check_same(labels, journals, results)
    except AssertionError as exc:
        pytest.fail(f"detsandbox: {item.nodeid} is not deterministic: {exc}", pytrace=False)


def _write_journal(path: str, nodeid: str, journal: Journal | None, result: str) -> None:
    assert journal is not None
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"nodeid": nodeid, "journal": journal.to_json(), "result": result}))
        f.write("\n")


def _run_in_process(item: pytest.Function, n: int) -> tuple[Journal, str, str]:
    """Run ``item`` once more by pytest in a fresh process: its journal, result and label."""
    from ._journal import Journal
    from .testing import _child_env

    config = item.config
    settings = config.stash[_SETTINGS]
    env = _child_env(n)
    label = f"process run {n + 1} (PYTHONHASHSEED={env['PYTHONHASHSEED']}, TZ={env['TZ']})"
    selection = f"{item.path}::{item.nodeid.split('::', 1)[1]}"
    with tempfile.TemporaryDirectory(prefix="detsandbox-") as tmp:
        out = os.path.join(tmp, "journal.jsonl")
        args = [sys.executable, "-m", "pytest", selection, "-q", "-p", "no:cacheprovider"]
        args += [f"--rootdir={config.rootpath}", f"--detsandbox-seed={settings.seed}"]
        args += [f"--detsandbox-journal-out={out}"]
        if config.inipath is not None:
            args += ["-c", str(config.inipath)]
        if settings.everywhere:
            args.append("--detsandbox")
        name = config.pluginmanager.get_name(sys.modules[__name__])
        if name == __name__:  # loaded with -p, not through the entry point
            args += ["-p", __name__]
        proc = subprocess.run(
            args,
            cwd=config.invocation_params.dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        records = []
        if os.path.exists(out):
            with open(out, encoding="utf-8") as f:
                records = [json.loads(line) for line in f]
    if proc.returncode != 0 or len(records) != 1:
        output = (proc.stdout + proc.stderr).strip()
        pytest.fail(
            f"detsandbox: {item.nodeid} is not deterministic: {label} failed where run 1 "
            f"(in-process) passed:\n{output}",
            pytrace=False,
        )
    record = records[0]
    return Journal.from_json(record["journal"]), record["result"], label


# -- reports ------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    plan = item.stash.get(_PLAN, None)
    excinfo = call.excinfo
    if (
        plan is None
        or not plan.sandboxed
        or excinfo is None
        or call.when != "call"
        or item.config.getoption("tbstyle") in ("no", "line", "native")
    ):
        return report
    from .errors import RestrictedAccessError

    if isinstance(excinfo.value, RestrictedAccessError):
        report.longrepr = _access_failure(item, excinfo.value)
    return report


def _access_failure(item: pytest.Item, exc: BaseException) -> str:
    """The error's own message first, then the sandboxed frames that led to it."""
    kind = type(exc)
    lines = [f"{kind.__module__}.{kind.__qualname__}: {exc}", ""]
    frames = _sandboxed_frames(item, exc.__traceback__)
    if frames:
        lines.append("Sandboxed traceback (most recent call last):")
        base = str(item.config.invocation_params.dir)
        for filename, lineno, name in frames:
            shown = os.path.relpath(filename, base) if filename.startswith(base) else filename
            lines.append(f"  {shown}:{lineno}: in {name}")
            text = linecache.getline(filename, lineno).strip()
            if text:
                lines.append(f"    {text}")
    return "\n".join(lines)


def _sandboxed_frames(item: pytest.Item, tb: TracebackType | None) -> list[tuple[str, int, str]]:
    """(file, line, function) from the test function down; detsandbox's frames left out."""
    test_file = str(item.path)
    frames: list[tuple[str, int, str]] = []
    started = False
    while tb is not None:
        code = tb.tb_frame.f_code
        started = started or code.co_filename == test_file
        if (
            started
            and not code.co_filename.startswith(_PACKAGE_DIR)
            and not tb.tb_frame.f_locals.get("__tracebackhide__", False)
        ):
            frames.append((code.co_filename, tb.tb_lineno, code.co_name))
        tb = tb.tb_next
    return frames
