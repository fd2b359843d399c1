"""The import machinery of a Sandbox behaves like importlib, on every route.

Fixture packages live in tests/fixtures (``fixtures_path``); tests that need
module names of their own write them with the ``tree`` fixture (conftest.py).
Where CPython's own behaviour is the reference, the test runs the same thing
on the host and compares.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.machinery
import os
import pickle
import py_compile
import shutil
import sys
import sysconfig
import textwrap
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import remote

import detsandbox
import detsandbox._compile
from detsandbox import (
    InvalidSourceError,
    Policy,
    PolicyError,
    RestrictedAccessError,
    RestrictedImportError,
    Sandbox,
)

FIXTURES = Path(__file__).parent / "fixtures"
PKG_DIR = str(FIXTURES / "dsfix_pkg")


# Why a test stays in-process. The worker of a remote backend runs this same
# in-process Sandbox, but its module objects stay there: import_module hands the
# host a snapshot, and sb.modules is in-process only.
COMPILES_HERE = "counts compiles by patching this process's compiler"
MODULE_OBJECTS = "inspects the Sandbox's module objects (identity, spec, loader, table)"


def run(sb: Sandbox, source: str, **kwargs: Any) -> dict[str, Any]:
    return sb.exec(textwrap.dedent(source), **kwargs)


def inside(sb: Sandbox, source: str) -> Any:
    """Run ``source`` in ``sb`` (its asserts included) and return its ``value``.

    Checks on module objects run where the objects live, so they hold on every
    backend; ``sys.modules`` inside is the Sandbox's own table.
    """
    return sb.exec("import sys\n" + textwrap.dedent(source), name="inside").get("value")


def outcome(fn: Callable[[], object]) -> tuple[object, ...]:
    """What calling ``fn`` does, comparable across host and sandbox."""
    try:
        value = fn()
    except Exception as exc:
        return (type(exc), exc.args, getattr(exc, "name", None))
    return ("ok", value)


_REASONS = {
    "time.time": "It reads the host clock. Pass times in from the host",
    "os.getpid": (
        "It reads a fact about the host (environment, process, machine, locale or time "
        "zone). Pass the value in from the host"
    ),
}


def refused_call(qualname: str, filename: str, lineno: int, line: str) -> tuple[str]:
    """The args of the RestrictedAccessError for calling ``qualname`` at that line."""
    return (
        f"{qualname}() is not allowed in a strict sandbox ({filename}:{lineno}).\n\n"
        f"    {lineno} | {line}\n\n"
        f"{_REASONS[qualname]}, or allow it: policy.evolve(allow=({qualname!r},)).",
    )


# -- packages, modules and their metadata -------------------------------------


@pytest.mark.inprocess_only(MODULE_OBJECTS)
def test_package_metadata_matches_importlib(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    pkg = sb.import_module("dsfix_pkg")
    init = os.path.join(PKG_DIR, "__init__.py")

    assert pkg.__name__ == "dsfix_pkg"
    assert pkg.__package__ == "dsfix_pkg"
    assert pkg.__file__ == init
    assert pkg.__path__ == [PKG_DIR]
    assert type(pkg.__path__) is list
    # What the package's own body saw while it ran.
    seen = (pkg.INIT_NAME, pkg.INIT_PACKAGE, pkg.INIT_FILE, pkg.INIT_PATH)
    assert seen == ("dsfix_pkg", "dsfix_pkg", init, [PKG_DIR])
    spec = pkg.__spec__
    assert (spec.name, spec.origin, spec.parent, spec.has_location) == (
        "dsfix_pkg",
        init,
        "dsfix_pkg",
        True,
    )
    assert spec.submodule_search_locations == [PKG_DIR]
    assert pkg.__loader__ is spec.loader
    assert pkg.__loader__.is_package("dsfix_pkg") is True
    assert pkg.__loader__.get_filename("dsfix_pkg") == init
    assert pkg.__loader__.get_source("dsfix_pkg") == Path(init).read_text()

    host = importlib.import_module("dsfix_pkg")
    assert host is not pkg
    assert (host.__name__, host.__package__, host.__file__, list(host.__path__)) == (
        pkg.__name__,
        pkg.__package__,
        pkg.__file__,
        pkg.__path__,
    )
    assert host.__spec__.cached == spec.cached
    assert pkg.__cached__ == host.__cached__


@pytest.mark.inprocess_only(MODULE_OBJECTS)
def test_module_metadata_matches_importlib(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    base = sb.import_module("dsfix_pkg.base")
    path = os.path.join(PKG_DIR, "base.py")

    assert (base.__name__, base.__package__, base.__file__) == ("dsfix_pkg.base", "dsfix_pkg", path)
    assert (base.SEEN_NAME, base.SEEN_PACKAGE) == ("dsfix_pkg.base", "dsfix_pkg")
    assert not hasattr(base, "__path__")
    spec = base.__spec__
    assert (spec.name, spec.origin, spec.parent) == ("dsfix_pkg.base", path, "dsfix_pkg")
    assert spec.submodule_search_locations is None
    assert base.__loader__ is spec.loader
    assert base.__loader__.is_package("dsfix_pkg.base") is False
    assert base.__loader__.get_source("dsfix_pkg.base") == Path(path).read_text()
    assert sb.modules["dsfix_pkg.base"] is base
    assert sb.modules["dsfix_pkg"].base is base


def test_fresh_module_is_a_new_object_even_if_the_host_has_it(
    backend: str, fixtures_path: Path
) -> None:
    host = importlib.import_module("dsfix_pkg.base")
    host.BASE = "changed by the host"
    first = Sandbox(backend=backend).import_module("dsfix_pkg.base")
    second = Sandbox(backend=backend).import_module("dsfix_pkg.base")

    assert first is not host and second is not host and first is not second
    assert first.BASE == second.BASE == "base"
    assert sys.modules["dsfix_pkg.base"] is host
    assert host.BASE == "changed by the host"


@pytest.mark.inprocess_only(MODULE_OBJECTS)
def test_fresh_module_builtins_are_the_sandbox_s(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    base = sb.import_module("dsfix_pkg.base")
    ns = run(sb, "import dsfix_pkg.base as b\nsame = b.__builtins__ is __builtins__")

    assert ns["same"] is True
    assert base.__builtins__ is not builtins.__dict__
    assert base.__builtins__["__import__"] is not builtins.__import__
    assert sb.modules["builtins"].__dict__ is base.__builtins__


@pytest.mark.inprocess_only(MODULE_OBJECTS)
def test_exec_module_metadata_and_registration(backend: str) -> None:
    sb = Sandbox(backend=backend)
    source = "import sys\nme = sys.modules[__name__]\n"
    ns = sb.exec(source, filename="wf.py", name="wf")

    module = sb.modules["wf"]
    assert module.__dict__ is ns
    assert ns["me"] is module
    assert ns["__name__"] == "wf"
    assert ns["__file__"] == "wf.py"
    assert (ns["__spec__"].name, ns["__spec__"].origin) == ("wf", "wf.py")
    assert ns["__loader__"] is ns["__spec__"].loader
    assert ns["__loader__"].get_source("wf") == source
    assert ns["__loader__"].is_package("wf") is False
    # A pseudo file name (the default "<sandbox>") is no __file__, as for exec().
    assert "__file__" not in Sandbox(backend=backend).exec("x = 1")
    assert Sandbox(backend=backend).exec("x = 1")["__name__"] == "__main__"
    # Other sandboxed code imports the exec'd module by its name.
    assert run(sb, "import wf\nok = wf.me is wf", name="other")["ok"] is True


# -- relative imports ---------------------------------------------------------


def test_relative_imports_resolve_in_the_sandbox(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    sb.import_module("dsfix_pkg.rel")
    names = inside(
        sb,
        """
        mods = sys.modules
        rel = mods['dsfix_pkg.rel']
        assert rel.base is mods['dsfix_pkg.base']
        assert rel.BASE == 'base'
        assert rel.leaf is mods['dsfix_pkg.sub.leaf']
        assert rel.LEAF == 'base/leaf'
        assert rel.ROOT is mods['dsfix_pkg']
        assert rel.leaf.parent_base is mods['dsfix_pkg.base']
        assert rel.leaf.sibling is mods['dsfix_pkg.sub.sibling']
        assert rel.leaf.SIBLING == 'sibling'
        value = sorted(n for n in mods if n.startswith('dsfix'))
        """,
    )
    assert names == [
        "dsfix_pkg",
        "dsfix_pkg.base",
        "dsfix_pkg.rel",
        "dsfix_pkg.sub",
        "dsfix_pkg.sub.leaf",
        "dsfix_pkg.sub.sibling",
    ]
    assert "dsfix_pkg" not in sys.modules


def test_exec_under_a_dotted_name_imports_relative_to_its_package(
    backend: str, fixtures_path: Path
) -> None:
    sb = Sandbox(backend=backend)
    ns = run(
        sb,
        """
        from . import base
        from .sub import leaf
        from .sub.leaf import LEAF
        """,
        name="dsfix_pkg.runner",
    )
    assert ns["LEAF"] == "base/leaf"
    inside(
        sb,
        """
        runner = sys.modules['dsfix_pkg.runner']
        assert runner.base is sys.modules['dsfix_pkg.base']
        assert runner.leaf is sys.modules['dsfix_pkg.sub.leaf']
        """,
    )
    if not remote(backend):  # the namespace a remote exec returns is a copy
        assert sb.modules["dsfix_pkg.runner"].__dict__ is ns


@pytest.mark.parametrize(
    ("source", "name", "message"),
    [
        ("from . import x", "__main__", "attempted relative import with no known parent package"),
        ("from .x import y", "toplevel", "attempted relative import with no known parent package"),
        (
            "from ... import base",
            "dsfix_pkg.runner",
            "attempted relative import beyond top-level package",
        ),
    ],
)
def test_relative_import_errors_match_cpython(
    backend: str, fixtures_path: Path, source: str, name: str, message: str
) -> None:
    with pytest.raises(ImportError) as excinfo:
        Sandbox(backend=backend).exec(source, name=name)
    assert type(excinfo.value) is ImportError
    assert excinfo.value.args == (message,)


def test_exec_dotted_name_package_is_parent(backend: str, fixtures_path: Path) -> None:
    # `from . import base` from "dsfix_pkg.sub.runner" is dsfix_pkg.sub.base: missing.
    with pytest.raises(ImportError) as excinfo:
        Sandbox(backend=backend).exec("from . import base", name="dsfix_pkg.sub.runner")
    assert excinfo.value.args == (
        f"cannot import name 'base' from 'dsfix_pkg.sub' ({PKG_DIR}/sub/__init__.py)",
    )
    assert excinfo.value.name == "dsfix_pkg.sub"


# -- submodules, dotted imports ------------------------------------------------


def test_submodules_are_set_as_attributes_of_their_parent(
    backend: str, fixtures_path: Path
) -> None:
    sb = Sandbox(backend=backend)
    run(sb, "import dsfix_pkg.sub.leaf")
    inside(
        sb,
        """
        import __main__
        pkg = __main__.dsfix_pkg
        mods = sys.modules
        assert pkg is mods['dsfix_pkg']
        assert pkg.sub is mods['dsfix_pkg.sub']
        assert pkg.sub.leaf is mods['dsfix_pkg.sub.leaf']
        assert pkg.sub.sibling is mods['dsfix_pkg.sub.sibling']  # imported by leaf
        assert pkg.base is mods['dsfix_pkg.base']  # imported by leaf
        assert not hasattr(pkg, 'rel')  # never imported
        assert 'dsfix_pkg.rel' not in mods
        """,
    )


def test_import_dotted_name_binds_like_cpython(backend: str, fixtures_path: Path) -> None:
    ns = run(
        Sandbox(backend=backend),
        """
        import dsfix_pkg.sub.leaf
        import dsfix_pkg.sub.sibling as sib
        from dsfix_pkg.sub import leaf
        from dsfix_pkg import sub
        bound = (dsfix_pkg.__name__, sib is dsfix_pkg.sub.sibling, leaf is dsfix_pkg.sub.leaf,
                 sub is dsfix_pkg.sub)
        """,
    )
    names = {k for k in ns if not k.startswith("__")}
    assert names == {"dsfix_pkg", "sib", "leaf", "sub", "bound"}
    assert ns["bound"] == ("dsfix_pkg", True, True, True)


def test_import_table_is_the_same_every_run(backend: str, fixtures_path: Path) -> None:
    def one_run() -> tuple[object, ...]:
        sb = Sandbox(backend=backend)
        run(sb, "import dsfix_pkg.rel, dsfix_cycles.from_a, dsfix_initcycle")
        return tuple(
            inside(
                sb,
                """
                mods = sys.modules
                value = (tuple(n for n in mods if n.startswith('dsfix')),
                         mods['dsfix_pkg'].rel.LEAF, mods['dsfix_initcycle'].AFTER)
                """,
            )
        )

    results = {one_run() for _ in range(10)}
    assert len(results) == 1  # the table's order included
    names, leaf, after = results.pop()
    assert sorted(names) == [
        "dsfix_cycles",
        "dsfix_cycles.from_a",
        "dsfix_cycles.from_b",
        "dsfix_initcycle",
        "dsfix_initcycle.child",
        "dsfix_pkg",
        "dsfix_pkg.base",
        "dsfix_pkg.rel",
        "dsfix_pkg.sub",
        "dsfix_pkg.sub.leaf",
        "dsfix_pkg.sub.sibling",
    ]
    assert (leaf, after) == ("base/leaf", "set before the child is imported")


# -- circular imports ------------------------------------------------------------


@pytest.mark.parametrize(
    "pair",
    [("mod_a", "mod_b"), ("from_a", "from_b"), ("rel_a", "rel_b")],
    ids=["import-a.b", "from-pkg-import-sub", "from-dot-import-sub"],
)
def test_circular_imports_complete_like_cpython(
    backend: str, fixtures_path: Path, pair: tuple[str, str]
) -> None:
    first, second = (f"dsfix_cycles.{m}" for m in pair)
    sb = Sandbox(backend=backend)
    sb.import_module(first)
    result = inside(
        sb,
        f"""
        a, b = sys.modules['{first}'], sys.modules['{second}']
        parent = sys.modules['dsfix_cycles']
        assert getattr(parent, '{pair[0]}') is a
        assert getattr(parent, '{pair[1]}') is b
        value = (a.other(), b.other())
        """,
    )
    host_a = importlib.import_module(first)
    host_b = sys.modules[second]
    assert result == (host_a.other(), host_b.other()) == ("b", "a")


def test_circular_import_as_completes_like_cpython(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    a = sb.import_module("dsfix_cycles.as_a")
    assert sb.call(a.other) == "b"
    assert sb.call("dsfix_cycles.as_b:other") == "a"
    host = importlib.import_module("dsfix_cycles.as_a")
    assert (host.other(), host.b.other()) == ("b", "a")


@pytest.mark.inprocess_only(MODULE_OBJECTS)
def test_circular_import_as_never_binds_the_host_module(backend: str, fixtures_path: Path) -> None:
    host = importlib.import_module("dsfix_cycles.as_a")
    sb = Sandbox(backend=backend)
    a = sb.import_module("dsfix_cycles.as_a")
    b = sb.modules["dsfix_cycles.as_b"]
    assert b.a is not host
    assert b.a is a


def test_circular_from_import_of_an_undefined_name_fails_like_cpython(
    backend: str,
    fixtures_path: Path,
) -> None:
    sb = Sandbox(backend=backend)
    with pytest.raises(ImportError) as excinfo:
        sb.import_module("dsfix_cycles.name_a")
    assert type(excinfo.value) is ImportError
    assert excinfo.value.name == "dsfix_cycles.name_a"
    assert excinfo.value.path == str(FIXTURES / "dsfix_cycles" / "name_a.py")
    # Both modules failed, so neither is left behind.
    left = inside(sb, "value = sorted(n for n in sys.modules if n.startswith('dsfix_cycles'))")
    assert left == ["dsfix_cycles"]


def test_circular_from_import_message_names_the_partial_module(
    backend: str, fixtures_path: Path
) -> None:
    with pytest.raises(ImportError) as host_info:
        importlib.import_module("dsfix_cycles.name_a")
    with pytest.raises(ImportError) as excinfo:
        Sandbox(backend=backend).import_module("dsfix_cycles.name_a")
    path = FIXTURES / "dsfix_cycles" / "name_a.py"
    expected = (
        "cannot import name 'A' from partially initialized module 'dsfix_cycles.name_a' "
        f"(most likely due to a circular import) ({path})",
    )
    assert host_info.value.args == expected
    assert excinfo.value.args == expected


def test_cycle_through_package_init(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    sb.import_module("dsfix_initcycle")
    inside(
        sb,
        """
        pkg, child = sys.modules['dsfix_initcycle'], sys.modules['dsfix_initcycle.child']
        assert child.PARENT is pkg
        assert pkg.child is child
        assert child.SEEN == pkg.AFTER == 'set before the child is imported'
        """,
    )


# -- a module whose body raises ---------------------------------------------------


def test_failed_import_is_rolled_back_and_reexecuted(backend: str, tree: Any) -> None:
    p = tree.name("pkg")
    tree.write(
        {
            f"{p}/__init__.py": "",
            f"{p}/good.py": "GOOD = 1\n",
            f"{p}/bad.py": f"""
                import tracker
                from {p} import good
                tracker.RUNS.append(__name__)
                raise RuntimeError("body failed")
            """,
        }
    )
    sb = Sandbox(backend=backend)
    sb.exec("RUNS = []", name="tracker")
    runs = "import tracker\nvalue = list(tracker.RUNS)"
    for _ in range(2):
        with pytest.raises(RuntimeError) as excinfo:
            sb.import_module(f"{p}.bad")
        assert excinfo.value.args == ("body failed",)
        gone = f"value = ('{p}.bad' in sys.modules, hasattr(sys.modules['{p}'], 'bad'))"
        assert inside(sb, gone) == (False, False)
    assert inside(sb, runs) == [f"{p}.bad", f"{p}.bad"]
    # What the failed module imported stays imported, as with importlib.
    assert inside(sb, f"value = sys.modules['{p}.good'].GOOD") == 1
    # The same through an import statement, caught inside the sandbox.
    ns = run(
        sb,
        f"""
        try:
            import {p}.bad
        except RuntimeError as exc:
            caught = exc.args
        import sys
        present = "{p}.bad" in sys.modules
        """,
        name="third",
    )
    assert ns["caught"] == ("body failed",)
    assert ns["present"] is False
    assert inside(sb, runs) == [f"{p}.bad"] * 3


def test_exec_that_raises_is_removed_from_the_table(backend: str) -> None:
    sb = Sandbox(backend=backend)
    with pytest.raises(ZeroDivisionError):
        sb.exec("x = 1\n1 / 0", name="wf")
    assert inside(sb, "value = 'wf' in sys.modules") is False
    with pytest.raises(ModuleNotFoundError) as excinfo:
        sb.exec("import wf", name="other")
    assert excinfo.value.args == ("No module named 'wf'",)


def test_module_replacing_itself_in_sys_modules(backend: str, tree: Any) -> None:
    p = tree.name("pkg")
    tree.write(
        {
            f"{p}/__init__.py": "",
            f"{p}/swap.py": """
                import sys, types
                replacement = types.ModuleType(__name__)
                replacement.SWAPPED = True
                sys.modules[__name__] = replacement
            """,
        }
    )
    sb = Sandbox(backend=backend)
    run(sb, f"import {p}.swap as s\nfrom {p} import swap")
    inside(
        sb,
        f"""
        import __main__ as ns
        assert ns.s.SWAPPED is True
        assert ns.swap is ns.s is sys.modules['{p}.swap']
        assert sys.modules['{p}'].swap is ns.s
        """,
    )


# -- __import__ called directly ---------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "result"),
    [
        ("__import__('dsfix_pkg.sub.leaf')", "dsfix_pkg"),
        ("__import__('dsfix_pkg.sub.leaf', globals(), None, ['LEAF'])", "dsfix_pkg.sub.leaf"),
        ("__import__('dsfix_pkg', fromlist=['base'])", "dsfix_pkg"),
        ("__import__('dsfix_pkg', fromlist=('*',))", "dsfix_pkg"),
        ("__import__('dsfix_pkg', fromlist=['no_such_name'])", "dsfix_pkg"),
        ("__import__('base', {'__package__': 'dsfix_pkg'}, None, ['BASE'], 1)", "dsfix_pkg.base"),
        ("__import__('base', {'__name__': 'dsfix_pkg.x'}, None, ['BASE'], 1)", "dsfix_pkg.base"),
        ("__import__('', {'__package__': 'dsfix_pkg.sub'}, None, ['leaf'], 1)", "dsfix_pkg.sub"),
        ("__import__('sub.leaf', {'__package__': 'dsfix_pkg'}, None, [], 1)", "dsfix_pkg.sub"),
        (
            "__import__('sub.leaf', {'__package__': 'dsfix_pkg'}, None, ['x'], 1)",
            "dsfix_pkg.sub.leaf",
        ),
        (
            "__import__('base', {'__package__': 'dsfix_pkg.sub'}, None, ['BASE'], 2)",
            "dsfix_pkg.base",
        ),
        ("__import__('', {'__package__': 'dsfix_pkg.sub'}, None, ['base'], 2)", "dsfix_pkg"),
    ],
)
def test_dunder_import_returns_what_cpython_returns(
    backend: str, fixtures_path: Path, expr: str, result: str
) -> None:
    sb = Sandbox(backend=backend)
    got = run(sb, f"import sys\nm = {expr}\ngot = (m.__name__, m is sys.modules[{result!r}])")
    assert got["got"] == (result, True)
    assert eval(expr, {"__builtins__": builtins}).__name__ == result


def test_dunder_import_fromlist_imports_submodules(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    run(sb, "pkg = __import__('dsfix_pkg', fromlist=['base', 'sub'])")
    inside(
        sb,
        """
        import __main__ as ns
        assert ns.pkg.base is sys.modules['dsfix_pkg.base']
        assert ns.pkg.sub is sys.modules['dsfix_pkg.sub']
        assert 'dsfix_pkg.sub.leaf' not in sys.modules
        """,
    )


def test_every_dunder_import_is_the_sandbox_s(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    ns = run(
        sb,
        """
        import builtins, importlib
        a = builtins.__import__('dsfix_pkg')
        b = __builtins__['__import__']('dsfix_pkg')
        c = importlib.__import__('dsfix_pkg')
        import sys
        same = a is b is c is sys.modules['dsfix_pkg']
        """,
    )
    assert ns["same"] is True


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            "__import__('dsfix_pkg', fromlist=[1])",
            (TypeError, "Item in ``from list'' must be str, not int"),
        ),
        ("__import__('dsfix_pkg.nope')", (ModuleNotFoundError, "No module named 'dsfix_pkg.nope'")),
        (
            "__import__('no_such_module_ds')",
            (ModuleNotFoundError, "No module named 'no_such_module_ds'"),
        ),
        (
            "__import__('base', {'__package__': 'dsfix_pkg'}, None, [], 3)",
            (ImportError, "attempted relative import beyond top-level package"),
        ),
        (
            "__import__('base', {'__package__': ''}, None, [], 1)",
            (ImportError, "attempted relative import with no known parent package"),
        ),
    ],
)
def test_dunder_import_errors_match_cpython(
    backend: str, fixtures_path: Path, expr: str, expected: tuple[type[Exception], str]
) -> None:
    sb_result = outcome(lambda: run(Sandbox(backend=backend), f"value = {expr}")["value"])
    host_result = outcome(lambda: eval(expr, {"__builtins__": builtins}))
    assert sb_result[:2] == (expected[0], (expected[1],))
    assert sb_result == host_result


@pytest.mark.parametrize(
    "expr",
    [
        pytest.param("__import__('')", id="empty-name"),
        pytest.param("__import__(5)", id="non-str-name"),
        pytest.param("__import__('dsfix_pkg', level=-1)", id="negative-level"),
        pytest.param("importlib.import_module('')", id="import_module-empty-name"),
        pytest.param("importlib.import_module('.base', 5)", id="import_module-non-str-package"),
    ],
)
def test_import_argument_checks_match_cpython(backend: str, fixtures_path: Path, expr: str) -> None:
    sb_result = outcome(
        lambda: run(Sandbox(backend=backend), f"import importlib\nvalue = {expr}")["value"]
    )
    host_result = outcome(lambda: eval(expr, {"__builtins__": builtins, "importlib": importlib}))
    assert host_result[0] in (ValueError, TypeError)
    assert sb_result == host_result


# -- importlib.import_module ---------------------------------------------------------


def test_importlib_import_module_absolute_and_relative(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    ns = run(
        sb,
        """
        import importlib
        pkg = importlib.import_module('dsfix_pkg')
        leaf = importlib.import_module('dsfix_pkg.sub.leaf')
        rel_leaf = importlib.import_module('.sub.leaf', package='dsfix_pkg')
        up = importlib.import_module('..base', 'dsfix_pkg.sub')
        same_pkg = importlib.import_module('.', 'dsfix_pkg')
        import dsfix_pkg
        import sys
        mods = sys.modules
        same = (
            pkg is dsfix_pkg is same_pkg is mods['dsfix_pkg'],
            leaf is rel_leaf is mods['dsfix_pkg.sub.leaf'],
            up is mods['dsfix_pkg.base'],
        )
        """,
    )
    assert ns["same"] == (True, True, True)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (
            "importlib.import_module('.base')",
            (
                TypeError,
                ("the 'package' argument is required to perform a relative import for '.base'",),
                None,
            ),
        ),
        (
            "importlib.import_module('...base', 'dsfix_pkg.sub')",
            (ImportError, ("attempted relative import beyond top-level package",), None),
        ),
        (
            "importlib.import_module('.nope', 'dsfix_pkg')",
            (ModuleNotFoundError, ("No module named 'dsfix_pkg.nope'",), "dsfix_pkg.nope"),
        ),
        ("importlib.import_module(5)", None),
    ],
)
def test_importlib_import_module_errors(
    backend: str, fixtures_path: Path, expr: str, expected: tuple[object, ...] | None
) -> None:
    sb_result = outcome(
        lambda: run(Sandbox(backend=backend), f"import importlib\nvalue = {expr}")["value"]
    )
    if expected is None:
        # CPython fails with an AttributeError on a non-str name; a clearer
        # TypeError is fine, anything but success is.
        assert sb_result == (TypeError, ("module name must be str, not int",), None)
        return
    host_result = outcome(lambda: eval(expr, {"importlib": importlib}))
    assert sb_result == host_result == expected


# -- importlib.reload -----------------------------------------------------------------


def test_reload_of_a_fresh_module_reexecutes_in_place(backend: str, tree: Any) -> None:
    name = tree.name("reloadme")
    path = Path(tree.path(f"{name}.py"))
    tree.write({f"{name}.py": "LOADS = globals().get('LOADS', 0) + 1\nOLD = 'old'\n"})
    sb = Sandbox(backend=backend)
    ns = run(
        sb,
        f"""
        import importlib, {name} as m
        m.LOCAL = 'kept'
        first_loads = m.LOADS
        again = importlib.reload(m)
        import sys
        facts = (again is m is sys.modules['{name}'], m.LOADS, m.LOCAL)
        """,
    )
    assert ns["first_loads"] == 1
    # The same module and dict: its old globals are still there.
    assert ns["facts"] == (True, 2, "kept")

    # An edited file is re-read; names the new source drops stay, as with importlib.
    path.write_text("LOADS = globals().get('LOADS', 0) + 1\nNEW = 'new'\n")
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    ns = run(
        sb,
        f"import importlib, __main__, {name} as m\nagain = importlib.reload(m)\n"
        "facts = (again is __main__.m, m.LOADS, m.OLD, m.NEW)\n",
        name="second",
    )
    assert ns["facts"] == (True, 3, "old", "new")


@pytest.mark.inprocess_only(MODULE_OBJECTS)
def test_reload_of_a_view_drops_local_writes_and_never_reloads_the_host(
    backend: str, tree: Any
) -> None:
    name = tree.name("shared")
    tree.write({f"{name}.py": "EXECUTIONS = globals().get('EXECUTIONS', 0) + 1\nVALUE = 'v'\n"})
    host = importlib.import_module(name)
    sb = Sandbox(Policy.strict().evolve(passthrough=(name,)), backend=backend)
    ns = run(
        sb,
        f"""
        import importlib, string, {name} as m
        m.VALUE = 'local write'
        m.EXTRA = 'local'
        string.capwords = 'local write'
        during = (m.VALUE, string.capwords)
        again = importlib.reload(m)
        string_again = importlib.reload(string)
        after = (m.VALUE, hasattr(m, 'EXTRA'), callable(string.capwords))
        """,
    )
    assert ns["during"] == ("local write", "local write")
    assert ns["after"] == ("v", False, True)
    assert ns["again"] is ns["m"] and ns["string_again"] is ns["string"]
    assert ns["m"] is not host
    assert host.EXECUTIONS == 1
    assert host.VALUE == "v"
    assert sys.modules[name] is host
    import string

    assert ns["string"].capwords is string.capwords


@pytest.mark.inprocess_only(MODULE_OBJECTS)
def test_reload_refuses_what_is_not_this_sandbox_s_module(
    backend: str, fixtures_path: Path
) -> None:
    other = Sandbox(backend=backend).import_module("dsfix_pkg.base")
    sb = Sandbox(backend=backend)
    code = "import importlib\nimportlib.reload(target)"
    with pytest.raises(ImportError) as excinfo:
        sb.exec(code.replace("target", "__import__('types').ModuleType('zz')"))
    assert excinfo.value.args == ("module zz not in sys.modules",)
    assert excinfo.value.name == "zz"

    def reload_other() -> None:
        sb.modules["importlib"].reload(other)

    sb.exec("import importlib")
    with pytest.raises(ImportError) as excinfo:
        sb.call(reload_other)
    assert excinfo.value.args == ("module dsfix_pkg.base not in sys.modules",)
    with pytest.raises(TypeError) as type_info:
        sb.exec("import importlib\nimportlib.reload(5)")
    assert type_info.value.args == ("reload() argument must be a module",)


def test_reload_whose_body_raises_keeps_the_module(backend: str, tree: Any) -> None:
    name = tree.name("flaky")
    path = Path(tree.path(f"{name}.py"))
    tree.write({f"{name}.py": "STATE = 'first'\n"})
    sb = Sandbox(backend=backend)
    sb.exec(f"import {name}\nFIRST = {name}\n", name="holder")
    path.write_text("STATE = 'second'\nraise LookupError('second run failed')\n")
    os.utime(path, ns=(1_500_000_000_000_000_000, 1_500_000_000_000_000_000))
    with pytest.raises(LookupError):
        run(sb, f"import importlib, {name}\nimportlib.reload({name})")
    kept = f"import holder\nvalue = (sys.modules['{name}'] is holder.FIRST, holder.FIRST.STATE)"
    assert inside(sb, kept) == (True, "second")


# -- sys.modules as seen from inside ---------------------------------------------------


@pytest.mark.inprocess_only(MODULE_OBJECTS)
def test_sys_modules_inside_is_the_sandbox_table(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    ns = run(
        sb,
        """
        import sys, dsfix_pkg.base
        table = sys.modules
        me = sys.modules['__main__']
        base = sys.modules['dsfix_pkg.base']
        names = sorted(sys.modules)
        """,
    )
    assert ns["table"] is not sys.modules
    assert ns["me"] is sb.modules["__main__"]
    assert ns["base"] is sb.modules["dsfix_pkg.base"]
    assert ns["names"] == sorted(sb.modules)
    assert "dsfix_pkg.base" not in sys.modules
    second = run(sb, "import sys\ntable = sys.modules", name="second")
    assert second["table"] is ns["table"]
    with pytest.raises(TypeError):
        sb.modules["x"] = types.ModuleType("x")  # type: ignore[index]


def test_sys_modules_writes_are_seen_by_import_and_stay_inside(backend: str) -> None:
    sb = Sandbox(backend=backend)
    ns = run(
        sb,
        """
        import sys, types
        fake = types.ModuleType('injected_ds')
        fake.VALUE = 42
        sys.modules['injected_ds'] = fake
        import injected_ds
        from injected_ds import VALUE
        same = injected_ds is fake is sys.modules['injected_ds']
        """,
    )
    assert ns["same"] is True
    assert ns["VALUE"] == 42
    assert "injected_ds" not in sys.modules


@pytest.mark.parametrize(
    "statement",
    [
        "import dsfix_pkg",
        "import dsfix_pkg.base",
        "from dsfix_pkg import base",
        "__import__('dsfix_pkg')",
        "import importlib; importlib.import_module('dsfix_pkg')",
        "import json",
    ],
)
def test_none_in_sys_modules_blocks_import(
    backend: str, fixtures_path: Path, statement: str
) -> None:
    blocked = "json" if "json" in statement else "dsfix_pkg"
    sb = Sandbox(backend=backend)
    with pytest.raises(ModuleNotFoundError) as excinfo:
        run(sb, f"import sys\nsys.modules[{blocked!r}] = None\n{statement}")
    assert excinfo.value.args == (f"import of {blocked} halted; None in sys.modules",)
    assert excinfo.value.name == blocked


def test_none_for_a_submodule_blocks_from_import(backend: str, fixtures_path: Path) -> None:
    code = "import sys\nsys.modules['dsfix_pkg.base'] = None\nfrom dsfix_pkg import base"
    with pytest.raises(ModuleNotFoundError) as excinfo:
        run(Sandbox(backend=backend), code)
    assert excinfo.value.args == ("import of dsfix_pkg.base halted; None in sys.modules",)
    assert excinfo.value.name == "dsfix_pkg.base"


@pytest.mark.inprocess_only(MODULE_OBJECTS)
def test_sys_modules_lazily_finds_a_host_imported_stdlib_module(backend: str) -> None:
    import json

    sb = Sandbox(backend=backend)
    ns = run(
        sb,
        """
        import sys
        present = 'json' in sys.modules
        looked_up = sys.modules['json']
        got = sys.modules.get('json')
        import json
        """,
    )
    assert ns["present"] is True
    assert ns["looked_up"] is ns["got"] is ns["json"] is sb.modules["json"]
    assert ns["json"] is not json
    assert ns["json"].dumps([1]) == "[1]"


def test_sys_modules_does_not_list_stdlib_the_host_never_imported(backend: str) -> None:
    candidates = ["colorsys", "tabnanny", "netrc", "codeop", "pyclbr"]
    name = next((c for c in candidates if c not in sys.modules), None)
    if name is None:
        pytest.skip(f"the host has imported every candidate module: {candidates}")
    ns = run(
        Sandbox(backend=backend),
        f"""
        import sys
        present = {name!r} in sys.modules
        got = sys.modules.get({name!r}, 'missing')
        try:
            sys.modules[{name!r}]
        except KeyError as exc:
            error = exc.args
        import {name}
        after = sys.modules[{name!r}] is {name}
        """,
    )
    assert (ns["present"], ns["got"], ns["error"], ns["after"]) == (False, "missing", (name,), True)


def test_sys_modules_does_not_show_host_modules_that_would_run_fresh(
    backend: str, fixtures_path: Path
) -> None:
    importlib.import_module("dsfix_pkg.base")
    ns = run(
        Sandbox(backend=backend),
        """
        import sys
        present = 'dsfix_pkg.base' in sys.modules
        got = sys.modules.get('dsfix_pkg.base')
        """,
    )
    assert ns["present"] is False
    assert ns["got"] is None


# -- namespace packages ---------------------------------------------------------------


def test_namespace_package(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    ns = run(
        sb,
        """
        import dsfix_ns.top_level_portion as portion
        import dsfix_ns as pkg
        facts = (portion.PORTION, pkg.top_level_portion is portion, list(pkg.__path__),
                 pkg.__spec__.origin, pkg.__spec__.has_location, pkg.__package__,
                 portion.__package__)
        """,
    )
    path = [str(FIXTURES / "dsfix_ns")]
    assert ns["facts"] == ("top", True, path, None, False, "dsfix_ns", "dsfix_ns")


@pytest.mark.inprocess_only(MODULE_OBJECTS)
def test_namespace_package_file_is_none(backend: str, fixtures_path: Path) -> None:
    host = importlib.import_module("dsfix_ns")
    assert host.__file__ is None
    pkg = Sandbox(backend=backend).import_module("dsfix_ns")
    assert pkg.__file__ is None


def test_nested_namespace_package(backend: str, fixtures_path: Path) -> None:
    deep = Sandbox(backend=backend).import_module("dsfix_ns.inner.deep")
    assert deep.DEEP == "deep"
    assert importlib.import_module("dsfix_ns.inner.deep").DEEP == "deep"


def test_namespace_package_spans_sys_path_entries(backend: str, tree: Any, tmp_path: Path) -> None:
    p = tree.name("nspkg")
    other = tmp_path / "other_site"
    (other / p).mkdir(parents=True)
    (other / p / "second.py").write_text("WHERE = 'second'\n")
    tree.write({f"{p}/first.py": "WHERE = 'first'\n"})
    sys.path.append(str(other))
    try:
        ns = run(
            Sandbox(backend=backend),
            f"import {p}.first, {p}.second\nimport {p} as pkg\n"
            "facts = (pkg.first.WHERE, pkg.second.WHERE, list(pkg.__path__))\n",
        )
    finally:
        sys.path.remove(str(other))
    assert ns["facts"] == ("first", "second", [tree.path(p), str(other / p)])


def test_from_namespace_package_import_missing_name(backend: str, tree: Any) -> None:
    p = tree.name("nspkg")
    tree.write({f"{p}/only.py": ""})
    with pytest.raises(ImportError) as excinfo:
        Sandbox(backend=backend).exec(f"from {p} import missing")
    assert excinfo.value.args == (f"cannot import name 'missing' from '{p}' (unknown location)",)
    assert excinfo.value.name == p


# -- from pkg import * -------------------------------------------------------------------


def _star_names(namespace: dict[str, Any]) -> set[str]:
    return {k for k in namespace if not k.startswith("__")}


def test_star_import_with_all(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    ns = run(sb, "from dsfix_star import *")
    assert _star_names(ns) == {"public", "_listed_private", "exported_sub"}
    assert inside(
        sb,
        """
        import __main__
        value = (__main__.exported_sub is sys.modules['dsfix_star.exported_sub'],
                 'dsfix_star.unlisted_sub' in sys.modules)
        """,
    ) == (True, False)
    host: dict[str, Any] = {}
    exec("from dsfix_star import *", host)
    assert _star_names(host) == _star_names(ns)


def test_star_import_without_all(backend: str, fixtures_path: Path) -> None:
    sb = Sandbox(backend=backend)
    ns = run(sb, "from dsfix_star_noall import *")
    assert _star_names(ns) == {"public", "string", "imported_sub"}
    assert inside(
        sb,
        """
        import __main__
        value = (__main__.imported_sub is sys.modules['dsfix_star_noall.imported_sub'],
                 __main__.string is sys.modules['string'],
                 'dsfix_star_noall.never_imported' in sys.modules)
        """,
    ) == (True, True, False)
    host: dict[str, Any] = {}
    exec("from dsfix_star_noall import *", host)
    assert _star_names(host) == _star_names(ns)


def test_star_import_with_bad_all_entries(backend: str, tree: Any) -> None:
    p = tree.name("pkg")
    q = tree.name("pkg")
    tree.write(
        {
            f"{p}/__init__.py": "__all__ = ['ok', 5]\nok = 1\n",
            f"{q}/__init__.py": "__all__ = ['ok', 'missing']\nok = 1\n",
        }
    )
    with pytest.raises(TypeError) as excinfo:
        Sandbox(backend=backend).exec(f"from {p} import *")
    assert excinfo.value.args == (f"Item in {p}.__all__ must be str, not int",)
    with pytest.raises(AttributeError) as attr_info:
        Sandbox(backend=backend).exec(f"from {q} import *")
    assert attr_info.value.args == (f"module '{q}' has no attribute 'missing'",)


# -- ModuleNotFoundError and friends ------------------------------------------------------


@pytest.mark.parametrize(
    ("statement", "cls", "message", "name"),
    [
        (
            "import no_such_module_ds",
            ModuleNotFoundError,
            "No module named 'no_such_module_ds'",
            "no_such_module_ds",
        ),
        (
            "import dsfix_pkg.nope",
            ModuleNotFoundError,
            "No module named 'dsfix_pkg.nope'",
            "dsfix_pkg.nope",
        ),
        ("from dsfix_pkg.sub import nope", ImportError, None, "dsfix_pkg.sub"),
        (
            "import dsfix_pkg.base.nope",
            ModuleNotFoundError,
            "No module named 'dsfix_pkg.base.nope'; 'dsfix_pkg.base' is not a package",
            "dsfix_pkg.base.nope",
        ),
        ("from dsfix_pkg import nope", ImportError, None, "dsfix_pkg"),
        ("from dsfix_pkg.base import nope", ImportError, None, "dsfix_pkg.base"),
    ],
)
def test_import_errors_match_cpython(
    backend: str,
    fixtures_path: Path,
    statement: str,
    cls: type[Exception],
    message: str | None,
    name: str,
) -> None:
    with pytest.raises(ImportError) as excinfo:
        Sandbox(backend=backend).exec(statement)
    host: dict[str, Any] = {}
    with pytest.raises(ImportError) as host_info:
        exec(statement, host)
    assert type(excinfo.value) is type(host_info.value) is cls
    assert excinfo.value.args == host_info.value.args
    assert excinfo.value.name == host_info.value.name == name
    if message is not None:
        assert excinfo.value.args == (message,)
    else:
        assert str(excinfo.value).startswith(f"cannot import name 'nope' from '{name}' (")


def test_import_module_rejects_a_malformed_name(backend: str) -> None:
    with pytest.raises(InvalidSourceError) as excinfo:
        Sandbox(backend=backend).import_module("not a.name")
    assert excinfo.value.args == (
        "Sandbox.import_module() expects a module name such as 'app.workflow', got 'not a.name'",
    )


# -- modules the sandbox cannot run fresh ---------------------------------------------------


def _extension_message(name: str, origin: str, top: str) -> tuple[str]:
    return (
        f"{name!r} is a C extension module ({origin}) and cannot be re-imported fresh in a "
        f"sandbox; share it with the host: policy.evolve(passthrough=({top!r},))",
    )


def _stdlib_extension() -> importlib.machinery.ModuleSpec | None:
    for name in ("array", "math", "_json", "_csv", "cmath", "binascii", "zlib", "select"):
        spec = importlib.machinery.PathFinder.find_spec(name)
        if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            return spec
    return None


def _third_party_extension() -> tuple[str, str] | None:
    """A top-level C extension module outside the standard library, if installed."""
    paths = sysconfig.get_paths()
    stdlib = {os.path.realpath(paths[key]) for key in ("stdlib", "platstdlib")}
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    for entry in sys.path:
        if not entry or not os.path.isdir(entry) or os.path.realpath(entry) in stdlib:
            continue
        if "lib-dynload" in entry:
            continue
        for filename in sorted(os.listdir(entry)):
            if not filename.endswith(suffixes):
                continue
            stem = filename.partition(".")[0]
            if not stem.isidentifier() or stem in sys.stdlib_module_names:
                continue
            spec = importlib.machinery.PathFinder.find_spec(stem)
            if spec is not None and isinstance(
                spec.loader, importlib.machinery.ExtensionFileLoader
            ):
                assert spec.origin is not None
                return stem, spec.origin
    return None


def test_third_party_c_extension_is_refused(backend: str) -> None:
    found = _third_party_extension()
    if found is None:
        pytest.skip("no top-level third-party C extension module on this interpreter's sys.path")
    name, origin = found
    with pytest.raises(RestrictedImportError) as excinfo:
        Sandbox(backend=backend).import_module(name)
    assert excinfo.value.args == _extension_message(name, origin, name)
    assert (excinfo.value.name, excinfo.value.path) == (name, origin)


def test_real_c_extension_in_a_fresh_package_is_refused(backend: str, tree: Any) -> None:
    spec = _stdlib_extension()
    if spec is None or spec.origin is None:
        pytest.skip("this CPython has no standard-library C extension file to copy")
    p = tree.name("cpkg")
    stem = spec.name
    tree.write({f"{p}/__init__.py": ""})
    target = tree.path(f"{p}/{os.path.basename(spec.origin)}")
    shutil.copyfile(spec.origin, target)
    full = f"{p}.{stem}"
    host = importlib.import_module(full)  # a real, loadable extension module
    assert host.__name__ == full
    with pytest.raises(RestrictedImportError) as excinfo:
        Sandbox(backend=backend).import_module(full)
    assert excinfo.value.args == _extension_message(full, target, p)
    assert (excinfo.value.name, excinfo.value.path) == (full, target)
    assert isinstance(excinfo.value, ImportError)


def test_isolated_stdlib_c_extension_is_refused(backend: str) -> None:
    spec = _stdlib_extension()
    if spec is None or spec.origin is None:
        pytest.skip("this CPython has no standard-library C extension module in a file")
    sb = Sandbox(Policy.strict().evolve(isolate=(spec.name,)), backend=backend)
    with pytest.raises(RestrictedImportError) as excinfo:
        sb.exec(f"import {spec.name}")
    assert excinfo.value.args == (
        f"{spec.name!r} is a C extension module ({spec.origin}) and cannot be re-imported "
        f"fresh in a sandbox; remove {spec.name!r} from Policy.isolate",
    )
    assert (excinfo.value.name, excinfo.value.path) == (spec.name, spec.origin)
    # Shared by default, it is a view of the host's module.
    view = Sandbox(backend=backend).import_module(spec.name)
    assert view.__name__ == spec.name
    assert view is not sys.modules.get(spec.name)


def test_builtin_module_cannot_be_isolated() -> None:
    name = next(
        n for n in ("itertools", "errno", "_functools", "time") if n in sys.builtin_module_names
    )
    with pytest.raises(PolicyError) as excinfo:
        Policy.strict().evolve(isolate=(name,))
    assert excinfo.value.args == (
        f"Policy.isolate cannot name {name!r}: it is built into CPython and cannot run fresh",
    )


def test_c_extension_refusal_lets_a_pure_python_fallback_run(backend: str, tree: Any) -> None:
    p = tree.name("speedy")
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    tree.write(
        {
            f"{p}/__init__.py": """
                try:
                    from ._speedups import escape
                    IMPL = 'c'
                except ImportError as exc:
                    IMPL = 'python'
                    ERROR = (type(exc).__name__, exc.name)
            """,
            f"{p}/_speedups{suffix}": "",  # never loaded: refused by its file type
        }
    )
    pkg = Sandbox(backend=backend).import_module(p)
    error = pkg.ERROR
    assert pkg.IMPL == "python"
    assert error == ("RestrictedImportError", f"{p}._speedups")
    with pytest.raises(RestrictedImportError) as excinfo:
        Sandbox(backend=backend).exec(f"import {p}._speedups")
    origin = tree.path(f"{p}/_speedups{suffix}")
    assert excinfo.value.args == _extension_message(f"{p}._speedups", origin, p)


def test_bytecode_only_module_is_refused(backend: str, tree: Any, tmp_path: Path) -> None:
    name = tree.name("compiled")
    source = tmp_path / "src.py"
    source.write_text("X = 1\n")
    target = tree.path(f"{name}.pyc")
    py_compile.compile(str(source), cfile=target, doraise=True)
    tree.write({})
    assert importlib.import_module(name).X == 1  # the host can run it
    with pytest.raises(RestrictedImportError) as excinfo:
        Sandbox(backend=backend).import_module(name)
    assert excinfo.value.args == (
        f"{name!r} has only compiled bytecode ({target}), which a sandbox cannot check; "
        f"install it with its source, or share it with the host: "
        f"policy.evolve(passthrough=({name!r},))",
    )
    assert (excinfo.value.name, excinfo.value.path) == (name, target)


DENIED = (
    "import of 'socket' is refused by this sandbox's policy (Policy.deny); "
    "remove it from Policy.deny to allow it",
)


@pytest.mark.parametrize(
    "statement",
    [
        "import socket",
        "from socket import socket",
        "import importlib; importlib.import_module('socket')",
        "__import__('socket')",
        "import http.client; http.client.socket",
    ],
)
def test_denied_module_is_refused_on_every_route(backend: str, statement: str) -> None:
    import http.client  # noqa: F401  (so the attribute route has something to find)
    import socket  # noqa: F401  (so sys.modules could hand it out lazily)

    sb = Sandbox(Policy.strict().evolve(deny=("socket",)), backend=backend)
    with pytest.raises(RestrictedImportError) as excinfo:
        sb.exec(statement)
    assert excinfo.value.args == DENIED
    assert excinfo.value.name == "socket"
    ns = run(
        sb, "import sys\nfound = ('socket' in sys.modules, sys.modules.get('socket'))", name="m"
    )
    assert ns["found"] == (False, None)


def test_denied_fresh_module_is_refused(backend: str, tree: Any) -> None:
    name = tree.name("forbidden")
    tree.write({f"{name}.py": "X = 1\n"})
    sb = Sandbox(Policy.strict().evolve(deny=(name,)), backend=backend)
    with pytest.raises(RestrictedImportError) as excinfo:
        sb.exec(f"import {name}")
    assert excinfo.value.args == (
        f"import of {name!r} is refused by this sandbox's policy (Policy.deny); "
        "remove it from Policy.deny to allow it",
    )
    assert Sandbox(backend=backend).import_module(name).X == 1


# -- the compile cache ------------------------------------------------------------------------


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """File names detsandbox compiles, in order."""
    seen: list[str] = []
    real = detsandbox._compile.compile_source

    def counting(source: str, filename: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(filename)
        return real(source, filename, *args, **kwargs)

    monkeypatch.setattr(detsandbox._compile, "compile_source", counting)
    return seen


@pytest.mark.inprocess_only(COMPILES_HERE)
def test_second_sandbox_reuses_compiled_code_but_reexecutes(
    backend: str, tree: Any, compiles: list[str]
) -> None:
    name = tree.name("cached")
    path = tree.path(f"{name}.py")
    tree.write({f"{name}.py": "import tracker\ntracker.RUNS.append(1)\nVALUE = 'v1'\n"})

    results = []
    for _ in range(3):
        sb = Sandbox(backend=backend)
        tracker = sb.exec("RUNS = []", name="tracker")
        results.append((sb.import_module(name).VALUE, tracker["RUNS"]))
    assert results == [("v1", [1])] * 3
    assert compiles.count(path) == 1


@pytest.mark.inprocess_only(COMPILES_HERE)
def test_edited_file_is_recompiled(backend: str, tree: Any, compiles: list[str]) -> None:
    name = tree.name("edited")
    path = Path(tree.path(f"{name}.py"))
    tree.write({f"{name}.py": "VALUE = 'v1'\n"})
    assert Sandbox(backend=backend).import_module(name).VALUE == "v1"
    assert Sandbox(backend=backend).import_module(name).VALUE == "v1"
    # Same size, new content and mtime: only the mtime tells them apart.
    path.write_text("VALUE = 'v2'\n")
    os.utime(path, ns=(1_234_567_890_000_000_000, 1_234_567_890_000_000_000))
    assert Sandbox(backend=backend).import_module(name).VALUE == "v2"
    assert Sandbox(backend=backend).import_module(name).VALUE == "v2"
    assert compiles.count(str(path)) == 2


@pytest.mark.inprocess_only(COMPILES_HERE)
def test_exec_source_is_compiled_once(backend: str, tree: Any, compiles: list[str]) -> None:
    filename = tree.name("once") + ".py"
    source = "VALUE = [1, 2, 3]\n"
    results = [Sandbox(backend=backend).exec(source, filename=filename)["VALUE"] for _ in range(3)]
    assert results == [[1, 2, 3]] * 3
    assert results[0] is not results[1]
    assert compiles.count(filename) == 1


def test_violation_quotes_the_line_that_ran_after_a_cache_hit(backend: str) -> None:
    first = "import time\nx = 1\ntime.time()\n"
    other = "import os\nos.getpid()\ny = 'unrelated'\n"
    for source in (first, other, first):
        with pytest.raises(RestrictedAccessError) as excinfo:
            Sandbox(backend=backend).exec(source, filename="<cachehit>")
    assert excinfo.value.args == refused_call("time.time", "<cachehit>", 3, "time.time()")


@pytest.mark.inprocess_only(MODULE_OBJECTS)
def test_invalidate_caches_inside_finds_a_new_file(backend: str, tree: Any) -> None:
    name = tree.name("late")
    sb = Sandbox(backend=backend)
    with pytest.raises(ModuleNotFoundError):
        sb.import_module(name)
    tree.write({f"{name}.py": "VALUE = 'late'\n"})
    ns = run(sb, f"import importlib\nimportlib.invalidate_caches()\nimport {name} as m")
    assert ns["m"].VALUE == "late"


def test_new_sys_path_entry_is_searched_after_a_miss(
    backend: str, tmp_path: Path, tree: Any
) -> None:
    name = tree.name("latecomer")
    with pytest.raises(ModuleNotFoundError):
        Sandbox(backend=backend).import_module(name)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / f"{name}.py").write_text("VALUE = 'found'\n")
    sys.path.insert(0, str(extra))
    try:
        assert importlib.import_module(name).VALUE == "found"  # the host finds it
        assert Sandbox(backend=backend).import_module(name).VALUE == "found"
    finally:
        sys.path.remove(str(extra))
        sys.modules.pop(name, None)


def test_sys_path_inside_is_the_sandbox_s_own(backend: str, tree: Any, tmp_path: Path) -> None:
    name = tree.name("private")
    extra = tmp_path / "private_site"
    extra.mkdir()
    (extra / f"{name}.py").write_text("VALUE = 'private'\n")
    before = list(sys.path)
    sb = Sandbox(backend=backend)
    ns = run(
        sb,
        f"import sys\nsys.path.insert(0, {str(extra)!r})\nimport {name} as m\n"
        "facts = (m.VALUE, m.__file__)\n",
    )
    assert ns["facts"] == ("private", str(extra / f"{name}.py"))
    assert sys.path == before
    with pytest.raises(ModuleNotFoundError) as excinfo:
        Sandbox(backend=backend).import_module(name)
    assert excinfo.value.args == (f"No module named {name!r}",)


# -- no route hands sandboxed code a restricted host module ----------------------------------

ROUTES = [
    ("time.time", "importlib.import_module('time').time()"),
    ("time.time", "__import__('time').time()"),
    ("time.time", "sys.modules['time'].time()"),
    ("time.time", "sys.modules.get('time').time()"),
    ("time.time", "importlib.reload(importlib.import_module('time')).time()"),
    ("time.time", "importlib.__import__('time').time()"),
    ("time.time", "builtins.__import__('time').time()"),
    ("time.time", "vars(sys.modules['time'])['time']()"),
    ("time.time", "sys.modules['time'].__dict__['time']()"),
    ("time.time", "__import__('time', fromlist=['time']).time()"),
    ("time.time", "importlib.import_module('logging').time.time()"),
    ("time.time", "importlib.import_module('email.utils').time.time()"),
    ("os.getpid", "sys.modules['os'].getpid()"),
    ("os.getpid", "importlib.import_module('os').getpid()"),
    ("os.getpid", "importlib.import_module('.path', 'os').os.getpid()"),
    ("os.getpid", "__import__('os.path').getpid()"),
    ("os.getpid", "getattr(__import__('os'), 'getpid')()"),
    ("os.getpid", "sys.modules['posix'].getpid()"),
]


@pytest.mark.parametrize(("qualname", "expr"), ROUTES, ids=[r[1] for r in ROUTES])
def test_no_route_reaches_a_restricted_host_function(
    backend: str, qualname: str, expr: str
) -> None:
    import email.utils  # noqa: F401  (host-imported: found lazily and as attributes)
    import logging  # noqa: F401

    filename = f"route_{ROUTES.index((qualname, expr))}.py"
    source = f"import builtins, importlib, sys\n{expr}\n"
    with pytest.raises(RestrictedAccessError) as excinfo:
        Sandbox(backend=backend).exec(source, filename=filename)
    assert excinfo.value.qualname == qualname
    assert excinfo.value.args == refused_call(qualname, filename, 2, expr)
    assert (excinfo.value.filename, excinfo.value.lineno) == (filename, 2)


def test_fresh_module_attribute_holds_a_view(backend: str, tree: Any) -> None:
    name = tree.name("holder")
    tree.write({f"{name}.py": "import time as clock\nfrom os import getpid\n"})
    sb = Sandbox(backend=backend)
    sb.import_module(name)
    assert inside(sb, f"import {name}\nvalue = {name}.clock is sys.modules['time']") is True
    with pytest.raises(RestrictedAccessError) as excinfo:
        sb.call(f"{name}:clock.time")
    assert excinfo.value.qualname == "time.time"


# -- guards handed to the host -------------------------------------------------
#
# A guard or class view pickles as the real object it stands for. On a remote
# backend it must not cross as that: the worker keeps it and the host gets a
# RemoteRef, so passing it back (to call, as an argument, in a container)
# reaches the guard again, as the object itself does in-process.

HOLDER = """\
from os import getpid
from random import Random
from time import time

def apply(f, *args):
    return f(*args)

def apply_all(calls):
    return [f() for f in calls["calls"]]

def give():
    return [getpid, {"R": Random}]

def now():
    return time()
"""

GETPID_FROM_THE_HOST = (
    "os.getpid() is not allowed in a strict sandbox.\n\n"
    f"{_REASONS['os.getpid']}, or allow it: policy.evolve(allow=('os.getpid',)).",
)
RANDOM_FROM_THE_HOST = (
    "random.Random() is not allowed in a strict sandbox.\n\n"
    "It draws entropy from the host. Constructed with a seed it is allowed. Use a seeded "
    "random.Random(seed), or allow it: policy.evolve(allow=('random.Random',)).",
)


def _holder(tree: Any, sb: Sandbox) -> tuple[Any, str]:
    name = tree.name("holder")
    tree.write({f"{name}.py": HOLDER})
    return sb.import_module(name), tree.path(f"{name}.py")


def test_a_guard_from_the_sandbox_stays_refused_in_call(backend: str, tree: Any) -> None:
    sb = Sandbox(backend=backend)
    holder, _ = _holder(tree, sb)
    with pytest.raises(RestrictedAccessError) as excinfo:
        sb.call(holder.getpid)
    assert excinfo.value.qualname == "os.getpid"
    assert excinfo.value.args == GETPID_FROM_THE_HOST
    kind = "detsandbox.RemoteRef restricted" if remote(backend) else "restricted"
    assert repr(holder.getpid) == f"<{kind} os.getpid>"
    # Pickled by the host, it is what a guard pickles to: the real function there.
    assert pickle.loads(pickle.dumps(holder.getpid)) is os.getpid


def test_a_guard_passed_back_as_an_argument_stays_refused(backend: str, tree: Any) -> None:
    sb = Sandbox(backend=backend)
    holder, path = _holder(tree, sb)
    with pytest.raises(RestrictedAccessError) as excinfo:
        sb.call(holder.apply, holder.getpid)
    assert excinfo.value.args == refused_call("os.getpid", path, 6, "return f(*args)")
    with pytest.raises(RestrictedAccessError) as excinfo:
        sb.call(holder.apply_all, {"calls": [holder.getpid]})
    assert excinfo.value.args == refused_call(
        "os.getpid", path, 9, 'return [f() for f in calls["calls"]]'
    )
    ns = sb.exec("from os import getpid as pid\n")
    with pytest.raises(RestrictedAccessError) as excinfo:
        sb.call(holder.apply, ns["pid"])
    assert excinfo.value.args == refused_call("os.getpid", path, 6, "return f(*args)")


def test_guards_returned_in_a_container_stay_guards(backend: str, tree: Any) -> None:
    sb = Sandbox(backend=backend)
    holder, path = _holder(tree, sb)
    getpid, classes = sb.call(holder.give)
    if remote(backend):
        assert list(map(repr, (getpid, classes["R"]))) == [
            "<detsandbox.RemoteRef restricted os.getpid>",
            "<detsandbox.RemoteRef restricted random.Random>",
        ]
    with pytest.raises(RestrictedAccessError) as excinfo:
        sb.call(getpid)
    assert excinfo.value.args == GETPID_FROM_THE_HOST
    with pytest.raises(RestrictedAccessError) as excinfo:
        sb.call(holder.apply, getpid)
    assert excinfo.value.args == refused_call("os.getpid", path, 6, "return f(*args)")


def test_a_class_view_from_the_sandbox_still_checks_construction(backend: str, tree: Any) -> None:
    import random

    sb = Sandbox(backend=backend)
    holder, path = _holder(tree, sb)
    with pytest.raises(RestrictedAccessError) as excinfo:
        sb.call(holder.Random)
    assert excinfo.value.args == RANDOM_FROM_THE_HOST
    with pytest.raises(RestrictedAccessError) as excinfo:
        sb.call(holder.apply, holder.Random)
    assert excinfo.value.args == (
        f"random.Random() is not allowed in a strict sandbox ({path}:6).\n\n"
        "    6 | return f(*args)\n\n" + RANDOM_FROM_THE_HOST[0].split("\n\n", 1)[1],
    )
    seeded = sb.call(holder.apply, holder.Random, 5)  # a real Random: crosses as one
    assert type(seeded) is random.Random
    assert seeded.random() == random.Random(5).random()


def test_a_deterministic_substitute_from_the_sandbox_still_answers(backend: str, tree: Any) -> None:
    sb = Sandbox(Policy.deterministic(), backend=backend)
    holder, _ = _holder(tree, sb)
    # The Sandbox's clock (2000-01-01), not the host's, wherever the function comes from.
    assert sb.call(holder.apply, holder.time) == sb.call(holder.now) == 946684800.0


def test_an_untrusted_sandbox_hands_out_guards_as_guards(backend: str, tree: Any) -> None:
    policy = Policy.strict(untrusted=True, passthrough=("os", "random", "time"))
    sb = Sandbox(policy, backend=backend)
    holder, _ = _holder(tree, sb)
    getpid, classes = sb.call(holder.give)
    with pytest.raises(RestrictedAccessError) as excinfo:
        sb.call(getpid)
    assert excinfo.value.args == GETPID_FROM_THE_HOST
    with pytest.raises(RestrictedAccessError) as excinfo:
        sb.call(classes["R"])
    assert excinfo.value.args == RANDOM_FROM_THE_HOST


def test_passthrough_module_attribute_that_is_a_fresh_module_is_fresh(
    backend: str, tree: Any
) -> None:
    shared = tree.name("shared")
    helper = tree.name("helper")
    tree.write(
        {
            f"{helper}.py": "STATE = []\n",
            f"{shared}.py": f"import {helper} as helper\n",
        }
    )
    host_shared = importlib.import_module(shared)
    sb = Sandbox(Policy.strict().evolve(passthrough=(shared,)), backend=backend)
    ns = run(
        sb,
        f"import sys, {shared}\nh = {shared}.helper\nh.STATE.append('sandbox')\n"
        f"facts = (h is sys.modules['{helper}'], h.STATE)\n",
    )
    assert ns["facts"] == (True, ["sandbox"])
    assert host_shared.helper.STATE == []
    if not remote(backend):  # a remote module never is a host object
        assert ns["h"] is not host_shared.helper
