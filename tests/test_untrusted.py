"""Untrusted mode: what it compiles, what its guards refuse, what it lets code do.

The escape attempts live in tests/security; these tests pin the behaviour a
plugin author meets: the exact messages, the allow-list, and the ordinary
code that must keep working.
"""

from __future__ import annotations

import builtins
import contextlib
import decimal
import json
import sys
from typing import Any

import pytest

from detsandbox import (
    Limits,
    Policy,
    RestrictedAccessError,
    RestrictedImportError,
    RestrictedSyntaxError,
    Sandbox,
    SandboxSyntaxError,
)

UNTRUSTED = Policy.strict(untrusted=True)


def run(backend: str, source: str, policy: Policy = UNTRUSTED) -> dict[str, Any]:
    return Sandbox(policy, backend=backend).exec(source, filename="plugin.py")


def refused(backend: str, source: str, policy: Policy = UNTRUSTED) -> BaseException:
    with pytest.raises(Exception) as info:
        run(backend, source, policy)
    return info.value


# -- policy ---------------------------------------------------------------------------------


def test_every_preset_accepts_untrusted() -> None:
    assert Policy.strict(untrusted=True).untrusted
    assert Policy.deterministic(seed=1, untrusted=True).untrusted
    assert Policy.strict().evolve(untrusted=True).limits == Limits.untrusted()


def test_trusted_policies_are_unchanged(backend: str) -> None:
    ns = run(backend, "x = ().__class__.__name__\n", Policy.strict())
    assert ns["x"] == "tuple"


# -- compile time ---------------------------------------------------------------------------


def test_every_refusal_is_reported_at_once_with_its_line(backend: str) -> None:
    error = refused(backend, "a = ().__class__\nb = 1\ndef f(_getattr_, /):\n    pass\nexec('1')\n")
    assert type(error) is RestrictedSyntaxError
    assert isinstance(error, SandboxSyntaxError)
    assert error.errors == (
        'plugin.py:1: "__class__" is an invalid attribute name because it starts with "_".',
        'plugin.py:3: "_getattr_" is an invalid variable name because it starts with "_"',
        "plugin.py:5: Exec calls are not allowed.",
    )
    assert str(error) == (
        "untrusted code uses 3 constructs that untrusted mode refuses:\n"
        '  plugin.py:1: "__class__" is an invalid attribute name because it starts with "_".\n'
        '  plugin.py:3: "_getattr_" is an invalid variable name because it starts with "_"\n'
        "  plugin.py:5: Exec calls are not allowed.\n"
        "Rewrite the code without them (names starting with '_' are reserved), or run "
        "trusted code with Policy(untrusted=False). (plugin.py, line 1)"
    )
    assert (error.filename, error.lineno, error.text) == ("plugin.py", 1, "a = ().__class__")


@pytest.mark.parametrize(
    "body",
    [
        "try:\n        yield 1\n    finally:\n        pass",
        "try:\n        yield 1\n    except BaseException:\n        pass",
        "with x:\n        yield 1",
        "try:\n        yield from range(3)\n    finally:\n        pass",
    ],
)
def test_yield_inside_try_or_with_is_refused(backend: str, body: str) -> None:
    error = refused(backend, f"def g():\n    {body}\n")
    assert isinstance(error, RestrictedSyntaxError)
    assert error.errors == (
        "plugin.py:3: yield inside try or with is not allowed: the generator's handler "
        "would run when the host collects it, after the call returned",
    )


def test_plain_generators_and_try_in_nested_functions_compile(backend: str) -> None:
    ns = run(
        backend,
        "def g(n):\n"
        "    def safe():\n"
        "        try:\n"
        "            return 1\n"
        "        finally:\n"
        "            pass\n"
        "    for i in range(n):\n"
        "        yield i + safe()\n"
        "out = list(g(3))\n",
    )
    assert ns["out"] == [1, 2, 3]


def test_syntax_errors_stay_syntax_errors(backend: str) -> None:
    error = refused(backend, "def f(:\n")
    assert type(error) is SandboxSyntaxError
    assert (error.filename, error.lineno) == ("plugin.py", 1)


# -- attribute reads ------------------------------------------------------------------------


def test_underscore_names_built_at_run_time_are_refused(backend: str) -> None:
    error = refused(backend, "name = '__cl' + 'ass__'\nx = getattr((), name)\n")
    assert type(error) is RestrictedAccessError
    assert str(error) == (
        "attribute '__class__' is not allowed in untrusted code (plugin.py:2).\n\n"
        "    2 | x = getattr((), name)\n\n"
        "Names starting with '_' reach the interpreter's internals; untrusted code may not "
        "read or write them."
    )
    assert (error.qualname, error.filename, error.lineno) == (
        "<attribute>.__class__",
        "plugin.py",
        2,
    )


def test_str_format_is_refused_on_instances_classes_and_through_getattr(backend: str) -> None:
    for source in ("'{0}'.format(1)", "str.format('{0}', 1)", "getattr('{0}', 'format_map')"):
        error = refused(backend, f"x = {source}\n")
        assert isinstance(error, RestrictedAccessError), source
        assert "Use an f-string or %-formatting instead." in str(error)
    error = refused(backend, "x = '{0}'.format(1)\n")
    assert str(error) == (
        "str.format is not allowed in untrusted code (plugin.py:1).\n\n"
        "    1 | x = '{0}'.format(1)\n\n"
        "Format strings can reach any attribute of their arguments. "
        "Use an f-string or %-formatting instead."
    )


def test_mro_and_error_obj_and_frames_are_refused(backend: str) -> None:
    assert isinstance(refused(backend, "x = int.mro()\n"), RestrictedAccessError)
    error = refused(
        backend, "import json\ntry:\n    json.nothing\nexcept AttributeError as e:\n    x = e.obj\n"
    )
    assert isinstance(error, RestrictedAccessError)
    assert str(error).startswith("AttributeError.obj is not allowed in untrusted code")
    error = refused(backend, "def g():\n    yield 1\nx = getattr(g(), 'gi_' + 'frame')\n")
    assert str(error).startswith("attribute 'gi_frame' is not allowed in untrusted code")


def test_getattr_builtin_keeps_its_default_and_hasattr_works(backend: str) -> None:
    ns = run(backend, "x = getattr(1, 'nope', 5)\ny = hasattr(1, 'real')\nz = hasattr(1, 'nope')\n")
    assert (ns["x"], ns["y"], ns["z"]) == (5, True, False)


def test_non_str_attribute_names_are_refused(backend: str) -> None:
    error = refused(backend, "class S(str):\n    pass\nx = getattr(1, S('real'))\n")
    assert str(error).startswith("getattr() with a name of type S is not allowed")


# -- writes ---------------------------------------------------------------------------------


def test_code_writes_to_what_it_created(backend: str) -> None:
    ns = run(
        backend,
        "class Point:\n"
        "    count = 0\n"
        "    def __init__(self, x):\n"
        "        self.x = x\n"
        "p = Point(1)\n"
        "p.x = 2\n"
        "Point.count = 3\n"
        "setattr(p, 'y', 4)\n"
        "d = {}\n"
        "d['k'] = [1]\n"
        "d['k'][0] = 5\n"
        "del d['k']\n"
        "total = 1\n"
        "total += 2\n"
        "items = [1]\n"
        "items += [2]\n"
        "facts = (p.x, Point.count, p.y, d)\n",
    )
    assert ns["facts"] == (2, 3, 4, {})
    assert (ns["total"], ns["items"]) == (3, [1, 2])


def test_writes_to_shared_objects_are_refused(backend: str) -> None:
    before = json.dumps
    error = refused(backend, "import json\njson.dumps = None\n")
    assert str(error) == (
        "writing to module 'json' is not allowed in untrusted code (plugin.py:2).\n\n"
        "    2 | json.dumps = None\n\n"
        "Untrusted code may write only to objects it created: instances of its own "
        "classes, lists, dicts and sets. Build a new object instead."
    )
    assert json.dumps is before
    for source in (
        "import json\njson.JSONEncoder.item_separator = ';'\n",
        "import re\nre.IGNORECASE.x = 1\n",
        "import json\nsetattr(json.dumps, 'x', 1)\n",
    ):
        assert isinstance(refused(backend, source), RestrictedAccessError), source
    assert json.JSONEncoder.item_separator == ", "
    assert not hasattr(json.dumps, "x")


def test_classes_cannot_carry_other_dunders(backend: str) -> None:
    error = refused(backend, "class C:\n    pass\nsetattr(C, '__del__', print)\n")
    assert isinstance(error, RestrictedAccessError)


# -- classes, dataclasses, enums ------------------------------------------------------------


def test_ordinary_class_features_work(backend: str) -> None:
    ns = run(
        backend,
        "import dataclasses, enum, typing\n"
        "@dataclasses.dataclass(frozen=True)\n"
        "class P:\n"
        "    x: int\n"
        "    y: int = 0\n"
        "class Color(enum.Enum):\n"
        "    RED = 1\n"
        "    BLUE = 2\n"
        "class Pair(typing.NamedTuple):\n"
        "    a: int\n"
        "    b: str\n"
        "class Base:\n"
        "    def name(self):\n"
        "        return 'base'\n"
        "class Child(Base):\n"
        "    def name(self):\n"
        "        return 'child+' + super().name()\n"
        "p = P(1)\n"
        "out = ((p.x, p.y), Color.BLUE.name, Pair(1, 'x').b, Child().name(),\n"
        "       isinstance(Child(), Base))\n",
    )
    assert ns["out"] == ((1, 0), "BLUE", "x", "child+base", True)


def test_three_argument_type_is_refused(backend: str) -> None:
    error = refused(backend, "X = type('X', (), {})\n")
    assert str(error).startswith("type() with three arguments is not allowed in untrusted code")
    assert run(backend, "x = type(1) is int\n")["x"] is True


# -- imports --------------------------------------------------------------------------------


def test_allowed_modules_import_and_others_are_refused(backend: str) -> None:
    ns = run(
        backend,
        "import math, json, re, datetime, random, string, collections, itertools\n"
        "import functools, decimal, fractions, statistics, dataclasses, enum, typing\n"
        "from collections import abc, Counter\n"
        "import collections.abc\n"
        "x = (math.sqrt(9), json.dumps([1]), Counter('aab')['a'], abc.Mapping is "
        "collections.abc.Mapping)\n",
    )
    assert ns["x"] == (3.0, "[1]", 2, True)
    error = refused(backend, "import os\n")
    assert type(error) is RestrictedImportError
    assert error.name == "os"
    assert str(error) == (
        "import of 'os' is not allowed in untrusted code (plugin.py:1): it may import only "
        "the allowed modules (docs/security.md). If 'os' is safe for untrusted code to use, "
        "share it: Policy.strict(untrusted=True, passthrough=('os',))"
    )
    for source in ("import sys\n", "import importlib\n", "import gc\n", "import ctypes\n"):
        assert isinstance(refused(backend, source), RestrictedImportError), source
    # RestrictedPython reserves this name outright.
    assert isinstance(refused(backend, "import builtins\n"), RestrictedSyntaxError)


def test_submodules_and_gadgets_are_not_attributes_of_allowed_modules(backend: str) -> None:
    for source in (
        "import json\nx = json.codecs\n",
        "import re\nx = re.enum\n",
        "import datetime\nx = datetime.sys\n",
        "import typing\nx = typing.get_type_hints\n",
        "import string\nx = string.Formatter\n",
        "import functools\nx = functools.singledispatch\n",
        "import decimal\nx = decimal.getcontext\n",
    ):
        assert type(refused(backend, source)) is AttributeError, source


def test_from_import_cannot_reach_the_hosts_submodules(backend: str) -> None:
    error = refused(backend, "from json import decoder\n")
    assert type(error) is RestrictedImportError
    assert str(error) == (
        "cannot import name 'decoder' from 'json' in untrusted code (plugin.py:1): untrusted "
        "code sees only the public, safe names of allowed modules"
    )


def test_module_level_containers_are_shared_frozen(backend: str) -> None:
    import hashlib

    before = set(hashlib.algorithms_available)
    error = refused(backend, "import hashlib\nhashlib.algorithms_available.add('x')\n")
    assert type(error) is AttributeError
    assert hashlib.algorithms_available == before


def test_passthrough_extends_and_deny_shrinks_the_allow_list(backend: str) -> None:
    ns = run(
        backend, "import html\nx = html.escape('<')\n", UNTRUSTED.evolve(passthrough=("html",))
    )
    assert ns["x"] == "&lt;"
    assert isinstance(
        refused(backend, "import json\n", UNTRUSTED.evolve(deny=("json",))), ImportError
    )


def test_strict_interception_still_applies_inside_allowed_modules(backend: str) -> None:
    error = refused(backend, "import time\nx = time.time()\n")
    assert isinstance(error, RestrictedAccessError)
    assert error.qualname == "time.time"
    error = refused(backend, "import datetime\nx = datetime.datetime.now()\n")
    assert isinstance(error, RestrictedAccessError)
    assert error.qualname == "datetime.datetime.now"


def test_deterministic_untrusted_code_gets_substitutes(backend: str) -> None:
    source = "import random, time, uuid\nx = (random.random(), time.time(), str(uuid.uuid4()))\n"
    policy = Policy.deterministic(seed=3, untrusted=True)
    first = Sandbox(policy, backend=backend).exec(source)["x"]
    assert first == Sandbox(policy, backend=backend).exec(source)["x"]
    assert first[1] == 946684800.0


def test_own_packages_import_each_other(
    backend: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "untrusted_pkg_a"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from . import helpers\nfrom .helpers import double\n")
    (pkg / "helpers.py").write_text("def double(x):\n    return x * 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sb = Sandbox(UNTRUSTED, backend=backend)
    module = sb.import_module("untrusted_pkg_a")
    assert sb.call(module.double, 4) == 8
    ns = sb.exec("import untrusted_pkg_a.helpers\nx = untrusted_pkg_a.helpers.double(2)\n")
    assert ns["x"] == 4
    # Its code is untrusted too: compiled restricted.
    (pkg / "bad.py").write_text("x = ().__class__\n")
    with pytest.raises(RestrictedSyntaxError):
        sb.import_module("untrusted_pkg_a.bad")


# -- nothing runs after the call returns ----------------------------------------------------


@pytest.mark.inprocess_only(
    "calls sandboxed functions directly; a remote backend hands out handles"
)
def test_untrusted_functions_run_only_inside_a_sandbox_call(backend: str) -> None:
    sb = Sandbox(UNTRUSTED, backend=backend)
    ns = sb.exec(
        'def f(x):\n    """doc"""\n    return x + 1\ng = lambda y: y * 2\n', filename="p.py"
    )
    assert (sb.call(ns["f"], 1), sb.call(ns["g"], 2)) == (2, 4)
    with pytest.raises(RestrictedAccessError) as info:
        ns["f"](1)
    assert str(info.value) == (
        "running untrusted code outside a Sandbox call is not allowed in untrusted code "
        "(p.py:1).\n\n"
        "    1 | def f(x):\n\n"
        "The host called a function of untrusted code directly, or the interpreter did after "
        "the call returned (__del__, a callback). Call it through Sandbox.call(fn, ...), which "
        "applies the policy and its limits."
    )
    with pytest.raises(RestrictedAccessError):
        ns["g"](1)


@pytest.mark.inprocess_only("watches the host's unraisablehook and stdout, where __del__ would run")
def test_a_del_smuggled_in_through_enum_names_does_not_run_later(
    backend: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    unraisable: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: unraisable.append(info.exc_value))
    sb = Sandbox(UNTRUSTED, backend=backend)
    sb.exec(
        "import enum\n"
        "def late(self):\n"
        "    print('ran after the call')\n"
        "X = enum.Enum('X', {'A': 1, '__del__': late})\n"
    )
    del sb
    gc.collect()
    assert "ran after the call" not in capsys.readouterr().out
    assert [type(e) for e in unraisable] == [RestrictedAccessError]
    assert str(unraisable[0]).startswith("running untrusted code outside a Sandbox call")


# -- builtins and print ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["open", "compile", "globals", "locals", "vars", "input", "help", "memoryview"]
)
def test_dangerous_builtins_are_absent(backend: str, name: str) -> None:
    error = refused(backend, f"x = {name}\n")
    assert type(error) is NameError
    assert str(error) == f"name {name!r} is not defined"


@pytest.mark.parametrize("source", ["eval('1')", "exec('1')", "breakpoint"])
def test_some_builtins_are_refused_at_compile_time(backend: str, source: str) -> None:
    assert type(refused(backend, f"x = {source}\n")) is RestrictedSyntaxError


@pytest.mark.parametrize("name", ["eval", "exec"])
def test_eval_and_exec_are_not_even_names(backend: str, name: str) -> None:
    assert type(refused(backend, f"x = {name}\n")) is NameError


@pytest.mark.parametrize("name", ["SystemExit", "KeyboardInterrupt", "BaseException"])
def test_code_cannot_raise_what_would_stop_the_host(backend: str, name: str) -> None:
    error = refused(backend, f"raise {name}\n")
    assert type(error) is NameError


def test_print_output_reaches_sandbox_output_and_printed(
    backend: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = "def f():\n    print('a', 1)\n    print('b', end='')\n    return printed\nx = f()\n"
    sb = Sandbox(UNTRUSTED, backend=backend)  # Limits.untrusted() caps output: print is collected
    assert sb.exec(source, filename="plugin.py")["x"] == "a 1\nb"
    assert sb.output == "a 1\nb" and capsys.readouterr().out == ""


@pytest.mark.inprocess_only("reads the host's sys.stdout; a remote worker prints to its own")
def test_print_without_an_output_limit_goes_to_stdout(
    backend: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = "def f():\n    print('a', 1)\n    print('b', end='')\n    return printed\nx = f()\n"
    no_cap = Sandbox(UNTRUSTED.evolve(limits=Limits.untrusted(output=None)), backend=backend)
    assert no_cap.exec(source, filename="plugin.py")["x"] == "a 1\nb"
    assert capsys.readouterr().out == "a 1\nb"  # without Limits.output it goes to stdout


def test_the_host_is_unchanged_after_untrusted_runs(backend: str) -> None:
    modules = set(sys.modules)
    names = dict(vars(builtins))
    context = decimal.getcontext().prec
    for source in (
        "import json\njson.dumps = 1\n",
        "import decimal\nx = decimal.Decimal(1) / 3\n",
        "x = 1 / 0\n",
        "import collections\nx = collections.Counter('ab')\n",
    ):
        with contextlib.suppress(Exception):
            run(backend, source)
    assert set(sys.modules) <= modules | {"html"}
    assert vars(builtins) == names
    assert decimal.getcontext().prec == context
