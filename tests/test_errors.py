"""The error tree, and clear errors for bad input.

Every exception detsandbox raises subclasses SandboxError and the builtin it
refines, so existing ``except ImportError`` / ``except SyntaxError`` code keeps
working; each pickles with its attributes (errors cross process boundaries in
workers); and bad input says what was expected.
"""

from __future__ import annotations

import copy
import importlib.machinery
import importlib.util
import itertools
import os
import pickle
import py_compile
import shutil
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import detsandbox
from detsandbox import (
    BackendError,
    BackendUnavailableError,
    InstructionLimitError,
    InvalidSourceError,
    JournalError,
    MemoryLimitError,
    NondeterminismError,
    OutputLimitError,
    Policy,
    PolicyError,
    RecursionLimitError,
    ResourceLimitError,
    RestrictedAccessError,
    RestrictedImportError,
    RestrictedSyntaxError,
    Sandbox,
    SandboxError,
    SandboxIndentationError,
    SandboxSyntaxError,
    SandboxTabError,
    TimeLimitError,
    TransferError,
    WorkerCrashedError,
)
from detsandbox import errors as errors_module

# detsandbox remembers where it found a module name for the whole process, so
# every module these tests write gets a name no other test has used.
_UNIQUE = itertools.count()

# -- the tree -----------------------------------------------------------------------------

TREE = [
    (SandboxError, Exception),
    (PolicyError, ValueError),
    (InvalidSourceError, TypeError),
    (SandboxSyntaxError, SyntaxError),
    (SandboxIndentationError, IndentationError),
    (SandboxTabError, TabError),
    (RestrictedImportError, ImportError),
    (RestrictedSyntaxError, SandboxSyntaxError),
    (RestrictedAccessError, Exception),
    (JournalError, ValueError),
    (NondeterminismError, Exception),
    (ResourceLimitError, Exception),
    (TimeLimitError, TimeoutError),
    (InstructionLimitError, ResourceLimitError),
    (MemoryLimitError, MemoryError),
    (RecursionLimitError, RecursionError),
    (OutputLimitError, ResourceLimitError),
    (BackendError, RuntimeError),
    (BackendUnavailableError, NotImplementedError),
    (TransferError, TypeError),
    (WorkerCrashedError, BackendError),
]


@pytest.mark.parametrize(("error", "builtin"), TREE, ids=[e.__name__ for e, _ in TREE])
def test_every_error_is_a_sandbox_error_and_refines_a_builtin(
    error: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(error, SandboxError)
    assert issubclass(error, builtin)
    assert error.__module__ == "detsandbox"
    assert getattr(detsandbox, error.__name__) is error
    assert getattr(errors_module, error.__name__) is error


def test_the_tree_is_exactly_these_classes() -> None:
    assert sorted(errors_module.__all__) == sorted(e.__name__ for e, _ in TREE)
    assert SandboxError.__bases__ == (Exception,)
    assert SandboxIndentationError.__bases__ == (SandboxSyntaxError, IndentationError)
    assert SandboxTabError.__bases__ == (SandboxIndentationError, TabError)
    # Only the builtin each one refines: no accidental extra bases.
    assert not issubclass(RestrictedAccessError, (ValueError, TypeError, ImportError))
    # Replay divergence is not a bad value the code could catch as ValueError.
    assert not issubclass(NondeterminismError, (ValueError, TypeError, ImportError))
    assert not issubclass(PolicyError, TypeError)
    assert not issubclass(InvalidSourceError, ValueError)


def test_existing_handlers_catch_sandbox_errors() -> None:
    with pytest.raises(ImportError):
        Sandbox(Policy.strict(deny=("json",))).exec("import json\n")
    with pytest.raises(SyntaxError):
        Sandbox().exec("def f(:\n")
    with pytest.raises(TypeError):
        Sandbox().exec(123)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Sandbox("strict")  # type: ignore[arg-type]
    with pytest.raises(SandboxError):
        Sandbox().exec("import time\ntime.time()\n")


# -- pickling ----------------------------------------------------------------------------------


def _roundtrips(error: BaseException) -> Iterator[BaseException]:
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        yield pickle.loads(pickle.dumps(error, protocol))
    yield copy.copy(error)
    yield copy.deepcopy(error)


def test_plain_errors_pickle() -> None:
    for error in (
        SandboxError("this Sandbox is closed; create a new Sandbox()"),
        PolicyError("Policy.mode must be one of 'strict', got 'lax'"),
        InvalidSourceError("Sandbox.call() expects a callable, got int"),
    ):
        for again in _roundtrips(error):
            assert type(again) is type(error)
            assert again.args == error.args
            assert str(again) == str(error)


@pytest.mark.parametrize(
    "error",
    [
        TimeLimitError,
        InstructionLimitError,
        MemoryLimitError,
        RecursionLimitError,
        OutputLimitError,
    ],
)
def test_limit_errors_pickle_with_their_attributes(error: type[ResourceLimitError]) -> None:
    original = error("the call ran past Limits.timeout=1.0 s", limit="timeout", value=1.0)
    for again in _roundtrips(original):
        assert type(again) is error
        assert (again.args, again.limit, again.value) == (original.args, "timeout", 1.0)


def test_restricted_access_error_pickles_with_its_attributes() -> None:
    error = RestrictedAccessError(
        "time.time() is not allowed", qualname="time.time", filename="wf.py", lineno=6
    )
    for again in _roundtrips(error):
        assert type(again) is RestrictedAccessError
        assert (again.args, again.qualname, again.filename, again.lineno) == (
            ("time.time() is not allowed",),
            "time.time",
            "wf.py",
            6,
        )
    bare = RestrictedAccessError("x", qualname="os.environ")
    assert (bare.filename, bare.lineno) == (None, None)
    again = pickle.loads(pickle.dumps(bare))
    assert (again.qualname, again.filename, again.lineno) == ("os.environ", None, None)


def test_worker_crashed_error_pickles_with_its_exit_code() -> None:
    error = WorkerCrashedError("the process worker was killed by SIGSEGV", exitcode=-11)
    for again in _roundtrips(error):
        assert type(again) is WorkerCrashedError
        assert (again.args, again.exitcode) == (error.args, -11)
    assert WorkerCrashedError("went away").exitcode is None


def test_restricted_access_error_attributes_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        RestrictedAccessError("message", "time.time")  # type: ignore[misc]


def test_restricted_import_error_pickles_with_name_and_path() -> None:
    error = RestrictedImportError("refused", name="socket", path="/x/socket.py")
    for again in _roundtrips(error):
        assert type(again) is RestrictedImportError
        assert (again.args, again.name, again.path) == (("refused",), "socket", "/x/socket.py")


def test_sandbox_syntax_error_pickles_with_its_location() -> None:
    error = SandboxSyntaxError("invalid syntax", ("wf.py", 2, 7, "def f(:\n", 2, 8))
    for again in _roundtrips(error):
        assert type(again) is SandboxSyntaxError
        assert (again.msg, again.filename, again.lineno, again.offset, again.text) == (
            "invalid syntax",
            "wf.py",
            2,
            7,
            "def f(:\n",
        )
        assert (again.end_lineno, again.end_offset) == (2, 8)
        assert str(again) == "invalid syntax (wf.py, line 2)"


def test_errors_raised_by_a_sandbox_pickle_with_their_attributes() -> None:
    with pytest.raises(RestrictedAccessError) as access:
        Sandbox().exec("import os\nos.getpid()\n", filename="pickled.py")
    with pytest.raises(RestrictedImportError) as refused:
        Sandbox(Policy.strict(deny=("csv",))).exec("import csv\n")
    with pytest.raises(SandboxSyntaxError) as syntax:
        Sandbox().exec("x = (\n", filename="pickled.py")
    for error in (access.value, refused.value, syntax.value):
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error)
        assert str(again) == str(error)
    again_access = pickle.loads(pickle.dumps(access.value))
    assert (again_access.qualname, again_access.filename, again_access.lineno) == (
        "os.getpid",
        "pickled.py",
        2,
    )
    assert pickle.loads(pickle.dumps(refused.value)).name == "csv"
    again_syntax = pickle.loads(pickle.dumps(syntax.value))
    assert (again_syntax.filename, again_syntax.lineno) == ("pickled.py", 1)


# -- bad source ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "type_name"),
    [(123, "int"), (None, "NoneType"), (["x = 1"], "list"), (3.5, "float")],
    ids=["int", "None", "list", "float"],
)
def test_non_str_source(source: object, type_name: str) -> None:
    with pytest.raises(InvalidSourceError) as info:
        Sandbox().exec(source)  # type: ignore[arg-type]
    assert str(info.value) == f"Sandbox.exec() expects the source as str or bytes, got {type_name}"


def test_bytes_source_is_decoded_like_importlib_does() -> None:
    assert Sandbox().exec(b"x = 1\n")["x"] == 1
    assert Sandbox().exec(bytearray(b"x = 2\n"))["x"] == 2
    assert Sandbox().exec("s = 'é'\n".encode())["s"] == "é"
    latin = "# -*- coding: latin-1 -*-\ns = 'é'\n".encode("latin-1")
    assert Sandbox().exec(latin)["s"] == "é"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (b"\xff\xfe x = 1\n", "invalid or missing encoding declaration"),
        (b"# -*- coding: bogus -*-\nx = 1\n", "unknown encoding: bogus"),
        (b"s = '\xe9'\n", "invalid or missing encoding declaration"),
    ],
    ids=["not utf-8", "unknown coding line", "latin-1 without a coding line"],
)
def test_undecodable_bytes(source: bytes, reason: str) -> None:
    with pytest.raises(InvalidSourceError) as info:
        Sandbox().exec(source)
    assert str(info.value) == (
        f"Sandbox.exec() could not decode the source bytes ({reason}); "
        "pass str, or bytes in UTF-8 or with a PEP 263 coding line"
    )
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ is True


def test_bad_filename_and_module_name() -> None:
    sb = Sandbox()
    with pytest.raises(InvalidSourceError) as info:
        sb.exec("x = 1\n", filename=5)  # type: ignore[arg-type]
    assert str(info.value) == "Sandbox.exec() expects filename as str, got int"
    for name in ("a-b", "", "1x", "a..b"):
        with pytest.raises(InvalidSourceError) as info:
            sb.exec("x = 1\n", name=name)
        assert str(info.value) == (
            f"Sandbox.exec() expects name to be a module name such as 'wf', got {name!r}"
        )


# -- syntax errors ------------------------------------------------------------------------------

SYNTAX_ERRORS = [
    pytest.param("x = 1\ndef f(:\n    pass\n", id="invalid syntax"),
    pytest.param("x = 1\ny = (\n", id="never closed"),
    pytest.param("x = 1\nreturn x\n", id="return outside function"),
    pytest.param("x = 1\n\nprint 'hello'\n", id="print statement"),
    pytest.param("x = 1\0\n", id="null byte"),
    pytest.param("f(**x, *y)\n", id="unpacking order"),
]


def _host_syntax_error(source: str, filename: str) -> SyntaxError:
    try:
        compile(source, filename, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return exc
    raise AssertionError("the host compiled it")


@pytest.mark.parametrize("source", SYNTAX_ERRORS)
def test_syntax_errors_carry_the_sandboxed_location(source: str) -> None:
    with pytest.raises(SandboxSyntaxError) as info:
        Sandbox().exec(source, filename="syntax_wf.py")
    err = info.value
    host = _host_syntax_error(source, "syntax_wf.py")
    assert err.filename == "syntax_wf.py"
    assert (err.msg, err.lineno, err.offset, err.text) == (
        host.msg,
        host.lineno,
        host.offset,
        host.text,
    )
    assert (err.end_lineno, err.end_offset) == (host.end_lineno, host.end_offset)
    assert err.__cause__ is None
    assert err.__suppress_context__ is True


def test_syntax_error_message_and_caret_read_like_the_builtin() -> None:
    source = "x = 1\ndef f(:\n    pass\n"
    with pytest.raises(SandboxSyntaxError) as info:
        Sandbox().exec(source, filename="caret_wf.py")
    host = _host_syntax_error(source, "caret_wf.py")
    assert str(info.value) == str(host) == "invalid syntax (caret_wf.py, line 2)"
    ours = traceback.format_exception_only(type(info.value), info.value)
    theirs = traceback.format_exception_only(type(host), host)
    assert ours[:-1] == theirs[:-1]  # file, line, source text and caret
    assert ours[-1] == "detsandbox.SandboxSyntaxError: invalid syntax\n"


def test_syntax_error_inside_sandboxed_exec_and_eval() -> None:
    ns = Sandbox().exec(
        """
caught = []
for call in (lambda: exec('1 +'), lambda: eval('1 +'), lambda: compile('1 +', 'c.py', 'exec')):
    try:
        call()
    except SyntaxError as exc:
        caught.append((type(exc).__name__, exc.filename, exc.lineno))
""",
        filename="inner_wf.py",
    )
    assert ns["caught"] == [
        ("SandboxSyntaxError", "<string>", 1),
        ("SandboxSyntaxError", "<string>", 1),
        ("SandboxSyntaxError", "c.py", 1),
    ]


def test_syntax_error_in_an_imported_module(tmp_path: Path) -> None:
    name = f"dserr_broken_{os.getpid()}_{next(_UNIQUE)}"
    path = tmp_path / f"{name}.py"
    path.write_text("x = 1\nif x\n    y = 2\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(SandboxSyntaxError) as info:
            Sandbox().import_module(name)
    finally:
        sys.path.remove(str(tmp_path))
    assert (info.value.filename, info.value.lineno) == (str(path), 2)
    assert info.value.text == "if x\n"
    assert name not in sys.modules


INDENTATION_ERRORS = [
    pytest.param("if True:\nx = 1\n", SandboxIndentationError, id="expected an indented block"),
    pytest.param("x = 1\n    y = 2\n", SandboxIndentationError, id="unexpected indent"),
    pytest.param("if True:\n        x = 1\n    y = 2\n", SandboxIndentationError, id="unindent"),
    pytest.param("if True:\n\tx = 1\n        y = 2\n", SandboxTabError, id="TabError"),
]


@pytest.mark.parametrize(("source", "error"), INDENTATION_ERRORS)
def test_syntax_error_subclasses_are_kept(source: str, error: type[SyntaxError]) -> None:
    host = _host_syntax_error(source, "indent_wf.py")
    with pytest.raises(SandboxSyntaxError) as info:
        Sandbox().exec(source, filename="indent_wf.py")
    err = info.value
    assert type(err) is error
    assert isinstance(err, type(host))  # `except IndentationError/TabError` catches it
    assert str(err) == str(host)
    assert (err.msg, err.filename, err.lineno, err.offset, err.text) == (
        host.msg,
        host.filename,
        host.lineno,
        host.offset,
        host.text,
    )
    assert err.__cause__ is None and err.__suppress_context__ is True
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is error and str(again) == str(err)
    assert traceback.format_exception_only(type(err), err)[-1] == (
        f"detsandbox.{error.__name__}: {host.msg}\n"
    )


def test_indentation_errors_inside_sandboxed_exec_and_compile() -> None:
    ns = Sandbox().exec(
        """
caught = []
for call in (lambda: exec('if 1:\\npass'), lambda: compile('\\tx = 1', 'c.py', 'exec')):
    try:
        call()
    except IndentationError as exc:
        caught.append(type(exc).__name__)
""",
        filename="inner_indent_wf.py",
    )
    assert ns["caught"] == ["SandboxIndentationError", "SandboxIndentationError"]


# -- misuse of the API -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "type_name"),
    [(5, "int"), (None, "NoneType"), ("len", "'len'"), ([len], "list")],
    ids=["int", "None", "str", "list"],
)
def test_call_requires_a_callable(fn: object, type_name: str) -> None:
    with pytest.raises(InvalidSourceError) as info:
        Sandbox().call(fn)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"Sandbox.call() expects a callable or 'package.module:function', got {type_name}"
    )


def test_call_passes_arguments_and_errors_through() -> None:
    sb = Sandbox()
    ns = sb.exec("def f(a, /, b, *, c):\n    return (a, b, c)\ndef g():\n    raise KeyError('k')\n")
    assert sb.call(ns["f"], 1, 2, c=3) == (1, 2, 3)
    assert sb.call(ns["f"], 1, b=2, c=3) == (1, 2, 3)
    with pytest.raises(KeyError) as info:
        sb.call(ns["g"])
    assert info.value.args == ("k",)


@pytest.mark.parametrize("name", [123, None, "", "a..b", "1pkg", "app/workflow", b"json"], ids=repr)
def test_import_module_requires_a_module_name(name: object) -> None:
    with pytest.raises(InvalidSourceError) as info:
        Sandbox().import_module(name)  # type: ignore[arg-type]
    assert str(info.value) == (
        f"Sandbox.import_module() expects a module name such as 'app.workflow', got {name!r}"
    )


def test_import_module_of_a_missing_module() -> None:
    name = f"dserr_missing_{os.getpid()}_{next(_UNIQUE)}"
    with pytest.raises(ModuleNotFoundError) as info:
        Sandbox().import_module(name)
    assert info.value.name == name
    assert str(info.value) == f"No module named {name!r}"


def test_a_module_that_raises_is_not_left_behind() -> None:
    sb = Sandbox()
    with pytest.raises(ZeroDivisionError):
        sb.exec("x = 1 / 0\n", name="boom")
    assert "boom" not in sb.modules
    with pytest.raises(ModuleNotFoundError):
        sb.exec("import boom\n")


# -- import refusals ------------------------------------------------------------------------------


def test_denied_module_import() -> None:
    with pytest.raises(RestrictedImportError) as info:
        Sandbox(Policy.strict(deny=("csv",))).exec("import csv\n")
    assert info.value.name == "csv"
    assert str(info.value) == (
        "import of 'csv' is refused by this sandbox's policy (Policy.deny); "
        "remove it from Policy.deny to allow it"
    )


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))


def test_a_c_extension_outside_the_stdlib_cannot_run_fresh(site: Path) -> None:
    # Any extension file will do: the sandbox refuses it before loading it.
    suffix = importlib.machinery.EXTENSION_SUFFIXES[0]
    # From the interpreter's own lib-dynload (a venv's platstdlib has none).
    donor = [
        spec.origin
        for spec in map(importlib.machinery.PathFinder.find_spec, ("array", "_json", "math"))
        if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader)
    ]
    assert donor, "no extension module found to copy"
    name = f"dserr_ext_{os.getpid()}_{next(_UNIQUE)}"
    path = site / f"{name}{suffix}"
    shutil.copy(donor[0], path)
    with pytest.raises(RestrictedImportError) as info:
        Sandbox().import_module(name)
    assert (info.value.name, info.value.path) == (name, str(path))
    assert str(info.value) == (
        f"{name!r} is a C extension module ({path}) and cannot be re-imported fresh in a "
        f"sandbox; share it with the host: policy.evolve(passthrough=({name!r},))"
    )
    again = pickle.loads(pickle.dumps(info.value))
    assert (again.name, again.path, str(again)) == (name, str(path), str(info.value))


def test_an_isolated_c_extension_stdlib_module_says_to_remove_it_from_isolate() -> None:
    spec = importlib.util.find_spec("_bisect")
    assert spec is not None and spec.origin is not None
    if not spec.origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)):
        pytest.skip("_bisect is built into this interpreter")
    with pytest.raises(RestrictedImportError) as info:
        Sandbox(Policy.strict(isolate=("_bisect",))).exec("import _bisect\n")
    assert (info.value.name, info.value.path) == ("_bisect", spec.origin)
    assert str(info.value) == (
        f"'_bisect' is a C extension module ({spec.origin}) and cannot be re-imported fresh "
        "in a sandbox; remove '_bisect' from Policy.isolate"
    )


def test_bytecode_without_source_cannot_run_fresh(site: Path) -> None:
    name = f"dserr_pyc_{os.getpid()}_{next(_UNIQUE)}"
    source = site / f"{name}.py"
    source.write_text("x = 1\n")
    compiled = site / f"{name}.pyc"
    py_compile.compile(str(source), cfile=str(compiled))
    source.unlink()
    importlib.invalidate_caches()
    with pytest.raises(RestrictedImportError) as info:
        Sandbox().import_module(name)
    assert (info.value.name, info.value.path) == (name, str(compiled))
    assert str(info.value) == (
        f"{name!r} has only compiled bytecode ({compiled}), which a sandbox cannot check; "
        f"install it with its source, or share it with the host: "
        f"policy.evolve(passthrough=({name!r},))"
    )


# -- a closed Sandbox -----------------------------------------------------------------------------

CLOSED = "this Sandbox is closed; create a new Sandbox()"


@pytest.mark.parametrize(
    "use",
    [
        lambda sb: sb.exec("x = 1\n"),
        lambda sb: sb.call(len, []),
        lambda sb: sb.import_module("json"),
    ],
    ids=["exec", "call", "import_module"],
)
def test_a_closed_sandbox_refuses_to_run(use: Any) -> None:
    sb = Sandbox()
    sb.exec("import json\n")
    sb.close()
    with pytest.raises(SandboxError) as info:
        use(sb)
    assert type(info.value) is SandboxError
    assert str(info.value) == CLOSED


def test_close_is_idempotent_and_drops_the_modules() -> None:
    sb = Sandbox()
    sb.exec("import json\n", name="wf")
    assert "wf" in sb.modules
    sb.close()
    sb.close()
    assert dict(sb.modules) == {}
    assert repr(sb) == "<detsandbox.Sandbox strict, closed>"


def test_a_sandbox_used_as_a_context_manager_is_closed_after() -> None:
    with Sandbox() as sb:
        assert sb.exec("x = 2\n")["x"] == 2
    with pytest.raises(SandboxError) as info:
        sb.exec("x = 1\n")
    assert str(info.value) == CLOSED
