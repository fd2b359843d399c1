"""Shared fixtures: fixture packages on sys.path, throwaway packages in tmp_path, and
the ``backend`` every core test runs on.

A test that takes ``backend`` runs once per backend this CPython offers (the
library says which: ``inprocess`` always, ``process`` on POSIX,
``subinterpreter`` on 3.13+), and builds its Sandboxes with
``Sandbox(policy, backend=backend)``. Two markers shape that:

- ``@pytest.mark.inprocess_only("reason")``: the test checks something that
  exists only in-process (object identity with the host, ``Sandbox.modules``,
  the host's own hash secret); it runs on ``inprocess`` alone.
- ``@pytest.mark.xfail_backend("process", reason="backend bug: ...")`` (on a
  test or on one ``pytest.param``): a strict xfail on that backend only, for a
  known bug (the fix shows up as an XPASS) or a documented known limit.
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from detsandbox import Sandbox
from detsandbox._backends import unavailable

FIXTURES = Path(__file__).parent / "fixtures"

# detsandbox caches where it found a module by name for the whole process, so
# every generated module gets a name no other test (or test run) has used.
_names = itertools.count()


@pytest.fixture
def fixtures_path() -> Iterator[Path]:
    """tests/fixtures on sys.path for the duration of one test."""
    entry = str(FIXTURES)
    sys.path.insert(0, entry)
    try:
        yield FIXTURES
    finally:
        sys.path.remove(entry)
        _forget_host_modules(entry)


def _forget_host_modules(entry: str) -> None:
    """Drop host modules loaded from under ``entry`` (namespace packages too)."""
    prefix = entry + os.sep
    doomed = []
    for name, module in list(sys.modules.items()):
        spec = getattr(module, "__spec__", None)
        places = [getattr(module, "__file__", None) or ""]
        places += list(getattr(spec, "submodule_search_locations", None) or ())
        if any(str(place).startswith(prefix) for place in places):
            doomed.append(name)
    for name in doomed:
        del sys.modules[name]


class Tree:
    """A directory on sys.path to write modules into, with unique names."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def name(self, stem: str = "mod") -> str:
        """A module name no other test uses: ``stem`` plus a process-unique suffix."""
        return f"{stem}_ds{os.getpid()}_{next(_names)}"

    def write(self, files: dict[str, str]) -> None:
        """Write ``{relative path: source}``; sources are dedented."""
        for rel, source in files.items():
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))
        importlib.invalidate_caches()

    def path(self, rel: str) -> str:
        return str(self.root / rel)


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    """A fresh sys.path entry in tmp_path; host imports from it are undone after."""
    root = tmp_path / "site"
    root.mkdir()
    entry = str(root)
    sys.path.insert(0, entry)
    try:
        yield Tree(root)
    finally:
        sys.path.remove(entry)
        _forget_host_modules(entry)


# -- backends ---------------------------------------------------------------------------

#: Every backend detsandbox offers on this CPython and platform, in-process first.
BACKENDS: tuple[str, ...] = tuple(
    name for name in ("inprocess", "process", "subinterpreter") if unavailable(name) is None
)
#: Backends where values cross pickled and sandboxed functions come back as RemoteRefs.
REMOTE: frozenset[str] = frozenset({"process", "subinterpreter"})


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "inprocess_only(reason): runs on the in-process backend only; the reason says why "
        "(object identity with the host, Sandbox.modules, ...)",
    )
    config.addinivalue_line(
        "markers",
        "xfail_backend(*backends, reason): a strict xfail on those backends only; the reason "
        "starts with 'backend bug: ' or 'known limit: '",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``backend`` over BACKENDS, or in-process alone for inprocess_only tests."""
    if "backend" not in metafunc.fixturenames:
        return
    only = metafunc.definition.get_closest_marker("inprocess_only")
    if only is not None and not (only.args and str(only.args[0]).strip()):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: inprocess_only needs a reason")
    names = ("inprocess",) if only is not None else BACKENDS
    metafunc.parametrize("backend", names, ids=names)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Turn ``xfail_backend`` (on a test or on one of its params) into a strict xfail."""
    for item in items:
        backend = getattr(item, "callspec", None) and item.callspec.params.get("backend")
        for mark in item.iter_markers("xfail_backend"):
            reason = mark.kwargs.get("reason", "")
            if not reason.startswith(("backend bug: ", "known limit: ")):
                raise pytest.UsageError(
                    f"{item.nodeid}: xfail_backend's reason must start with "
                    "'backend bug: ' or 'known limit: '"
                )
            if backend in mark.args:
                item.add_marker(pytest.mark.xfail(strict=True, reason=reason))


@pytest.fixture(autouse=True)
def _remote_sandboxes_closed(request: pytest.FixtureRequest) -> Iterator[None]:
    """Keep every remote Sandbox a test makes alive until the test ends, then close it.

    A test that drops a remote Sandbox without closing it (one whose exception
    holds it in a reference cycle, say) would leave its worker busy until the
    garbage collector runs its finalizer, at some arbitrary point of a later
    test (and a finalizer that runs inside the subinterpreter pool's lock
    deadlocks the run: a backend bug). Closing at teardown gives each test its
    own workers and no more.
    """
    if "backend" not in request.fixturenames or not remote(request.getfixturevalue("backend")):
        yield
        return
    made: list[Sandbox] = []
    original = Sandbox._open_remote

    def tracked(self: Sandbox, backend: str) -> None:
        original(self, backend)
        made.append(self)

    Sandbox._open_remote = tracked  # type: ignore[method-assign]
    try:
        yield
    finally:
        Sandbox._open_remote = original  # type: ignore[method-assign]
        for sb in made:
            sb.close()


def remote(backend: str) -> bool:
    """True when ``backend`` runs the Sandbox in another interpreter or process."""
    return backend in REMOTE
