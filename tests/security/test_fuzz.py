"""Fuzzing untrusted mode with generated sources and policies.

Sources are built from a grammar of risky fragments: attribute chains with
dunder and frame names (literal and built at run time), getattr/vars/type,
format strings, subscripts, imports of allowed, forbidden and missing
modules, comprehensions, lambdas, walrus, class bodies and decorators. Each
runs in a Sandbox with a random untrusted policy. Whatever the source does:

- the host does not crash and is unchanged afterwards;
- a failure is a SandboxError, or an ordinary exception of the code's own
  (never SystemExit/KeyboardInterrupt, never an exception detsandbox made
  up itself that is not a SandboxError).

Fragments never name a command, a file or a zero-argument call with a host
effect, so even an escape found here cannot hurt the test process; the
escapes themselves are test_escapes.py's business.
"""

from __future__ import annotations

import linecache
import os
import re
from pathlib import Path
from types import TracebackType

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import detsandbox
from detsandbox import Limits, Policy, PolicyError, Sandbox, SandboxError

from .host import HostSnapshot

PACKAGE_DIR = str(Path(detsandbox.__file__).resolve().parent) + os.sep


def _words(text: str) -> list[str]:
    return text.split()


MODULES = _words(
    # allowed in untrusted mode
    "math json re datetime random string collections itertools functools decimal fractions"
    " statistics dataclasses enum typing"
    # refused
    " os sys subprocess ctypes gc inspect importlib operator pickle marshal builtins io posix"
    " threading atexit traceback types codecs pkgutil runpy pydoc timeit weakref copyreg"
    # missing
    " no_such_module_ds json.no_such_ds"
)
FROM_NAMES = _words(
    "codecs sys enum bltns inspect operator Formatter get_type_hints dumps path modules"
    " system decoder abc"
)
DUNDERS = _words(
    "__class__ __base__ __bases__ __mro__ __subclasses__ __globals__ __builtins__ __dict__"
    " __code__ __closure__ __init__ __self__ __func__ __reduce_ex__ __getattribute__"
    " __loader__ __spec__ __import__ __traceback__ __module__ __wrapped__ __call__"
)
INSPECT = _words(
    "gi_frame f_back f_globals f_builtins f_locals tb_frame tb_next cr_frame ag_frame"
    " co_code gi_code f_code"
)
PUBLIC = _words(
    "codecs sys enum bltns inspect operator format format_map mro get_type_hints Formatter"
    " modules path loader get_data obj items keys dumps decoder real name args exceptions"
    " split"
)
# Expressions to start attribute chains from (one per line).
BASES = """\
()
[]
{}
''
0
1.5
None
len
print
json
json.dumps
re.compile('a')
datetime.date(2020, 1, 1)
(lambda: 0)
(x for x in [1])
Exception('e')
Plain
Plain()
str
range(3)
string
typing
functools.partial(len)
collections.OrderedDict()
enum
fractions.Fraction(1, 3)
random.Random(1)
itertools.count()
caught
ExceptionGroup('g', [KeyError()])
""".splitlines()
KEYS = _words("'__builtins__' 'open' '__import__' 'modules' 'codecs' 0 -1 1 'a' slice(None)")
PREAMBLE = """\
import json, re, datetime, string, typing, functools, collections, enum, fractions, random
import itertools
class Plain:
    pass
try:
    1 / 0
except ZeroDivisionError as exc:
    caught = exc
"""


def _constructed(name: str) -> st.SearchStrategy[str]:
    """Source of an expression whose value is ``name``, built at run time."""
    half = len(name) // 2
    shapes = [
        repr(name),
        f"{name[:half]!r} + {name[half:]!r}",
        f"''.join(reversed({name[::-1]!r}))",
        f"{name!r}[::-1][::-1]",
    ]
    if name.startswith("__"):
        shapes.append(f"chr(95) * 2 + {name.strip('_')!r} + chr(95) * 2")
    return st.sampled_from(shapes)


names = st.sampled_from(DUNDERS + INSPECT + PUBLIC)

# Expression shapes; {inner} is a smaller expression, {name} an attribute
# name, {built} the same name built at run time, {chain} a dotted chain of
# names for a format field, {key} a subscript and {func} a builtin.
EXPRESSION_SHAPES = [
    "{inner}.{name}",
    "getattr({inner}, {built})",
    "getattr({inner}, {built}, None)",
    "{inner}[{key}]",
    "'{{0.{chain}}}'.format({inner})",
    "'{{x.{chain}}}'.format_map({{'x': {inner}}})",
    'f"{{{inner}!r:>5}}"',
    "{func}({inner})",
    "hasattr({inner}, {built})",
    "[y for y in [{inner}] if y is not None]",
    "(lambda a: a)({inner})",
    "(w := {inner})",
    "{inner}()",
    "next(iter([{inner}]))",
    "max([{inner}], key=lambda v: 0)",
]
FUNCS = _words("vars dir type list sorted tuple repr iter")

# Statement shapes; {expr} is an expression.
STATEMENT_SHAPES = [
    "import {module}",
    "from {module} import {from_name}",
    "try:\n    v = {expr}\nexcept Exception as e:\n    v = getattr(e, 'obj', e)",
    "class C(Plain):\n    attr = {expr}\n    def m(self):\n        return {expr}",
    "def g():\n    yield {expr}\nv = next(g())",
    "@(lambda f: {expr})\ndef decorated():\n    pass",
    "for item in [{expr}]:\n    v = item",
    "v = {expr}\nv += v",
    "v = {expr}",
]


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    base = draw(st.sampled_from(BASES))
    if depth > 2:
        return base
    name = draw(names)
    return draw(st.sampled_from(EXPRESSION_SHAPES)).format(
        inner=draw(expressions(depth + 1)) if draw(st.booleans()) else base,
        name=name,
        built=draw(_constructed(name)),
        chain=".".join(draw(st.lists(names, min_size=1, max_size=3))),
        key=draw(st.sampled_from(KEYS)),
        func=draw(st.sampled_from(FUNCS)),
    )


@st.composite
def statements(draw: st.DrawFn) -> str:
    return draw(st.sampled_from(STATEMENT_SHAPES)).format(
        module=draw(st.sampled_from(MODULES)),
        from_name=draw(st.sampled_from(FROM_NAMES)),
        expr=draw(expressions()),
    )


@st.composite
def sources(draw: st.DrawFn) -> str:
    body = draw(st.lists(statements(), min_size=1, max_size=5))
    tail = draw(st.sampled_from(["", "def main():\n    return {expr}\n"]))
    if tail:
        tail = tail.format(expr=draw(expressions()))
    return PREAMBLE + "\n".join(body) + "\n" + tail


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    fields: dict[str, object] = {
        "allow": tuple(draw(st.sets(st.sampled_from(["time.monotonic", "random.random"])))),
        "deny": tuple(draw(st.sets(st.sampled_from(["json.dumps", "re", "string.Formatter"])))),
        "isolate": tuple(draw(st.sets(st.sampled_from(["json", "string", "fractions"])))),
    }
    if draw(st.booleans()):
        fields["limits"] = Limits.untrusted(
            instructions=draw(st.sampled_from([None, 1_000, 100_000])),
            output=draw(st.sampled_from([None, 0, 100])),
        )
    try:
        if draw(st.booleans()):
            return Policy.strict(untrusted=True, **fields)
        return Policy.deterministic(
            seed=draw(st.integers(0, 2**32)),
            untrusted=True,
            record=draw(st.booleans()),
            timezone=draw(st.sampled_from(["UTC", "Europe/Paris"])),
            **fields,
        )
    except PolicyError as exc:  # the strategy only means to build valid policies
        raise AssertionError(f"invalid policy from the fuzz strategy: {exc}") from exc


# Exceptions a line of detsandbox may raise on purpose that are not
# SandboxErrors: the "not there" answers plain Python would give too.
NOT_THERE = (AttributeError, NameError, KeyError, ImportError)
_NEW_EXCEPTION = re.compile(r"raise [A-Z]\w*\(")


def _innermost(tb: TracebackType | None) -> TracebackType | None:
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb


def check_failure(exc: BaseException) -> None:
    """A failure is a SandboxError or the code's own ordinary exception."""
    if not isinstance(exc, Exception):
        raise AssertionError(f"{type(exc).__name__} escaped the Sandbox") from exc
    if isinstance(exc, (SandboxError, *NOT_THERE)):
        return
    tb = _innermost(exc.__traceback__)
    if tb is None:
        return
    filename = tb.tb_frame.f_code.co_filename
    line = linecache.getline(filename, tb.tb_lineno).strip()
    if filename.startswith(PACKAGE_DIR) and _NEW_EXCEPTION.match(line):
        raise AssertionError(
            f"detsandbox raised {type(exc).__name__} itself at "
            f"{filename[len(PACKAGE_DIR) :]}:{tb.tb_lineno} ({line}): not a SandboxError"
        ) from exc


@pytest.fixture
def full_tracebacks(monkeypatch: pytest.MonkeyPatch) -> None:
    # detsandbox trims its own frames from tracebacks; the check above needs
    # to see where an exception was raised.
    import detsandbox._sandbox

    monkeypatch.setattr(detsandbox._sandbox, "_clean_traceback", lambda exc: None)


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    # No explain phase: it is slow, and on failure it writes patch files.
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(source=sources(), policy=policies())
def test_fuzz_untrusted_mode(source: str, policy: Policy, full_tracebacks: None) -> None:
    host = HostSnapshot.take()
    sandbox = Sandbox(policy, backend="inprocess")
    try:
        ns = sandbox.exec(source, filename="fuzz.py")
        if "main" in ns:
            sandbox.call(ns["main"])
    except BaseException as exc:
        check_failure(exc)
    finally:
        sandbox.close()
    host.assert_unchanged()


def test_check_failure_tells_detsandbox_errors_from_the_codes() -> None:
    # The oracle itself: a TypeError detsandbox makes up is flagged; the
    # code's own, or one a C function raises under a guard, is not.
    fake = PACKAGE_DIR + "_fuzz_oracle.py"
    lines = [
        "def guard(obj):\n",
        "    raise TypeError('made up')\n",
        "def passes(obj):\n",
        "    return obj + 1\n",
    ]
    linecache.cache[fake] = (sum(map(len, lines)), None, lines, fake)
    namespace: dict[str, object] = {}
    exec(compile("".join(lines), fake, "exec"), namespace)
    try:
        for name, expected in (("guard", "detsandbox raised TypeError itself"), ("passes", None)):
            try:
                namespace[name]("")  # type: ignore[operator]
            except TypeError as exc:
                if expected is None:
                    check_failure(exc)
                else:
                    with pytest.raises(AssertionError, match=expected):
                        check_failure(exc)
        try:
            exec(compile("raise TypeError('own')", "fuzz.py", "exec"), {})
        except TypeError as exc:
            check_failure(exc)
        with pytest.raises(AssertionError, match="SystemExit escaped the Sandbox"):
            check_failure(SystemExit(0))
    finally:
        del linecache.cache[fake]
