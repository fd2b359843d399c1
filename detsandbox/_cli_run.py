"""``detsandbox run``: run a file or module in a Sandbox and classify how it ended.

The outcome of a run is data (:class:`Outcome`), so that the human report,
the ``--json`` object and ``detsandbox check`` all read the same thing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import io
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from typing import Any, Final, TextIO

from ._importer import _find_spec
from ._journal import Journal
from ._limits import Limits
from ._policy import Policy
from ._sandbox import Sandbox
from .errors import (
    JournalError,
    NondeterminismError,
    PolicyError,
    ResourceLimitError,
    RestrictedAccessError,
    RestrictedImportError,
    RestrictedSyntaxError,
    SandboxError,
)

__all__ = ["ExitCode", "Outcome", "RunOptions", "UsageError", "execute", "policy_summary"]

_PATH_SETUP: Final = "import sys\nsys.path.insert(0, {entry!r})\n"
_PACKAGE_DIR: Final = os.path.dirname(os.path.abspath(__file__)) + os.sep
#: Version of the ``--json`` layout; bumped on any incompatible change.
JSON_FORMAT: Final = 1


class ExitCode(enum.IntEnum):
    """What ``detsandbox run`` and ``detsandbox check`` exit with."""

    OK = 0
    #: The code raised an exception (or called ``sys.exit`` with a failure).
    RAISED = 1
    #: The command line was wrong: an unknown option, a missing file or module.
    USAGE = 2
    #: The code made a call the policy refuses (``RestrictedAccessError``).
    RESTRICTED = 3
    #: Replay diverged from the journal, or ``check``'s runs disagree.
    NONDETERMINISM = 4
    #: The code used up a resource limit (``ResourceLimitError``).
    LIMIT = 5


class UsageError(Exception):
    """A command-line mistake found after parsing: one line on stderr, exit 2.

    ``check`` also uses it, with ``exit_code=1``, for a run that crashed.
    """

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunOptions:
    """What ``run`` was asked to do, validated."""

    file: str | None
    module: str | None
    policy: Policy
    backend: str | None = None
    record: str | None = None
    capture: bool = False

    @property
    def target(self) -> str:
        return self.file if self.file is not None else f"-m {self.module}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Outcome:
    """How one run ended: its exit code, what it printed, and the error."""

    status: str  # ok | exit | error | restricted | nondeterminism | limit
    exit_code: int
    output: str
    stderr: str = ""  # what the code wrote to stderr, with --json (else it went there)
    error: BaseException | None = None
    journal: Journal | None = None

    def error_json(self) -> dict[str, Any] | None:
        exc = self.error
        if exc is None:
            return None
        data: dict[str, Any] = {"type": type(exc).__name__, "message": str(exc)}
        if isinstance(exc, RestrictedAccessError):
            data.update(qualname=exc.qualname, filename=exc.filename, lineno=exc.lineno)
        elif isinstance(exc, NondeterminismError):
            data.update(
                index=exc.index, expected=_describe(exc.expected), actual=_describe(exc.actual)
            )
        elif isinstance(exc, ResourceLimitError):
            data.update(limit=exc.limit, value=exc.value)
        else:
            filename, lineno = _where(exc)
            data.update(filename=filename, lineno=lineno)
            if isinstance(exc, RestrictedImportError):
                data["name"] = exc.name
            elif isinstance(exc, RestrictedSyntaxError):
                data["errors"] = list(exc.errors)
            elif not isinstance(exc, SystemExit):
                data["traceback"] = "".join(traceback.format_exception(exc))
        return data


def _describe(event: object) -> str | None:
    if event is None:
        return None
    describe = getattr(event, "describe", None)
    return str(describe()) if callable(describe) else repr(event)


def _where(exc: BaseException) -> tuple[str | None, int | None]:
    """The innermost traceback frame: where sandboxed code raised."""
    if isinstance(exc, SyntaxError):
        return exc.filename, exc.lineno
    tb = exc.__traceback__
    if tb is None:
        return None, None
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_filename, tb.tb_lineno


def policy_summary(policy: Policy, backend: str | None) -> dict[str, Any]:
    """The parts of a Policy the command line sets, for ``--json``."""
    limits = policy.limits if policy.limits is not None else Limits()
    return {
        "mode": policy.mode,
        "seed": policy.seed if policy.mode != "strict" else None,
        "untrusted": policy.untrusted,
        "allow": list(policy.allow),
        "limits": dataclasses.asdict(limits),
        "backend": backend,
    }


def read_journal(path: str) -> Journal:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise UsageError(f"cannot read journal {path!r}: {exc.strerror}") from None
    try:
        return Journal.from_json(text)
    except JournalError as exc:
        raise UsageError(f"{path}: {exc}") from None


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except IsADirectoryError:
        raise UsageError(f"cannot run {path!r}: it is a directory") from None
    except OSError as exc:
        raise UsageError(f"cannot open {path!r}: {exc.strerror}") from None


def make_sandbox(policy: Policy, backend: str | None) -> Sandbox:
    """``Sandbox(policy)``, with ``backend=`` only when one was asked for."""
    if backend is None:
        return Sandbox(policy)
    try:
        return Sandbox(policy, backend=backend)
    except (SandboxError, ValueError) as exc:  # an unknown name, or not on this CPython
        raise UsageError(f"--backend {backend}: {exc}") from None


def _module_source(sb: Sandbox, name: str, first: str) -> tuple[str, str]:
    """Find ``name`` as ``python -m`` does; return (source, filename).

    Parent packages are imported in the Sandbox (their ``__init__`` runs
    there, as under runpy); the module itself is only located on the file
    system and read, so its body runs once, as ``__main__``. The file
    system, not the imported packages, says where: on a worker backend the
    host gets copies of modules.
    """
    if not all(part.isidentifier() for part in name.split(".")):
        raise UsageError(f"-m expects a module name such as 'app.workflow', got {name!r}")
    parent = name.rpartition(".")[0]
    if parent:
        try:
            sb.import_module(parent)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (parent + ".").startswith(exc.name + "."):
                raise UsageError(f"No module named {exc.name!r}") from None
            raise
    spec = _locate(name, [first, *sys.path])
    if spec.submodule_search_locations is not None:
        sb.import_module(name)  # the package itself runs first, as under runpy
        main = f"{name}.__main__"
        found = _find_spec(main, _locations(spec))
        if found is None:
            raise UsageError(
                f"No module named {main!r}; {name!r} is a package and cannot be directly executed"
            )
        spec, name = found, main
    loader: Any = spec.loader
    source = loader.get_source(name) if hasattr(loader, "get_source") else None
    if source is None or spec.origin is None:
        raise UsageError(f"cannot run {name!r}: it has no Python source ({spec.origin})")
    return source, spec.origin


def _locate(name: str, path: list[str]) -> ModuleSpec:
    """The spec of dotted ``name``, found package by package from ``path``."""
    parts = name.split(".")
    for n in range(1, len(parts) + 1):
        prefix = ".".join(parts[:n])
        spec = _find_spec(prefix, path)
        if spec is None:
            raise UsageError(f"No module named {name!r}")
        if n == len(parts):
            return spec
        if spec.submodule_search_locations is None:
            raise UsageError(f"No module named {name!r}; {prefix!r} is not a package")
        path = _locations(spec)
    raise AssertionError(name)  # pragma: no cover - the loop always returns


def _locations(spec: ModuleSpec) -> list[str]:
    locations = spec.submodule_search_locations or []
    # A namespace package's _NamespacePath would look its parent up in the host.
    return list(getattr(locations, "_path", locations))


@dataclasses.dataclass
class _Captured:
    """What the code wrote to stdout and stderr, through ``sys`` and at the descriptor."""

    out: io.StringIO = dataclasses.field(default_factory=io.StringIO)
    err: io.StringIO = dataclasses.field(default_factory=io.StringIO)
    out_fd: io.StringIO = dataclasses.field(default_factory=io.StringIO)
    err_fd: io.StringIO = dataclasses.field(default_factory=io.StringIO)

    @property
    def output(self) -> str:
        return self.out.getvalue() + self.out_fd.getvalue()

    @property
    def stderr(self) -> str:
        return self.err.getvalue() + self.err_fd.getvalue()


@contextlib.contextmanager
def _captured(capture: bool) -> Iterator[_Captured]:
    """Capture both streams for ``--json``, whose stdout must hold only the JSON.

    ``print`` is caught through ``sys.stdout``; writes to ``sys.__stdout__``
    or the descriptor itself (a worker process or interpreter) at fd 1.
    """
    streams = _Captured()
    if not capture:
        yield streams
        return
    with contextlib.ExitStack() as stack:
        stack.enter_context(_fd_captured(1, streams.out_fd))
        stack.enter_context(_fd_captured(2, streams.err_fd))
        stack.enter_context(contextlib.redirect_stdout(streams.out))
        stack.enter_context(contextlib.redirect_stderr(streams.err))
        yield streams


@contextlib.contextmanager
def _fd_captured(fd: int, sink: io.StringIO) -> Iterator[None]:
    try:
        saved = os.dup(fd)
    except OSError:  # no such descriptor: nothing to capture
        yield
        return
    try:
        with tempfile.TemporaryFile() as tmp:
            _flush(fd)
            os.dup2(tmp.fileno(), fd)
            try:
                yield
            finally:
                _flush(fd)
                os.dup2(saved, fd)
                tmp.seek(0)
                sink.write(tmp.read().decode("utf-8", "replace"))
    finally:
        os.close(saved)


def _flush(fd: int) -> None:
    for stream in (sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(AttributeError, ValueError, OSError):
            if stream is not None and stream.fileno() == fd:
                stream.flush()


def execute(options: RunOptions) -> Outcome:
    """Run the target; classify the way it ended. Raises UsageError before running."""
    source = read_file(options.file) if options.file is not None else None
    policy = options.policy
    with contextlib.ExitStack() as stack:
        # Opened first, so that an unwritable journal stops the run before it starts.
        record = stack.enter_context(_open_journal(options.record)) if options.record else None
        # The Sandbox is made inside the capture, so that a worker process it
        # starts writes to the captured descriptors too.
        streams = stack.enter_context(_captured(options.capture))
        sb = make_sandbox(policy, options.backend)
        stack.callback(sb.close)
        status, code, error = _execute(sb, options, source)
        held = ""
        if policy.limits is not None and policy.limits.output is not None:
            # With an output limit, the Sandbox collects what print writes.
            collected = getattr(sb, "output", None)
            held = collected if isinstance(collected, str) else ""
        journal = sb.journal if policy.record else None
        if record is not None and journal is not None:
            record.write(journal.to_json())
    if error is not None:
        _drop_cli_frames(error)
    return Outcome(
        status=status,
        exit_code=int(code),
        output=streams.output + held,
        stderr=streams.stderr,
        error=error,
        journal=journal,
    )


def _open_journal(path: str) -> TextIO:
    try:
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write journal {path!r}: {exc.strerror}") from None


def _execute(
    sb: Sandbox, options: RunOptions, source: bytes | None
) -> tuple[str, int, BaseException | None]:
    """Run the code in ``sb``: (status, exit code, error)."""
    # As python does: the script's directory, or the current one for -m,
    # comes first on the Sandbox's sys.path. Set by sandboxed code, so that
    # it happens wherever the backend runs the code.
    first = os.path.dirname(os.path.abspath(options.file)) if options.file else os.getcwd()
    with contextlib.suppress(RestrictedImportError, RestrictedAccessError):
        # A policy that refuses sys imports only modules it names anyway.
        sb.exec(_PATH_SETUP.format(entry=first), filename="<detsandbox run>", name="__main__")
    try:
        if source is not None and options.file is not None:
            sb.exec(source, filename=options.file, name="__main__")
        else:
            assert options.module is not None
            text, filename = _module_source(sb, options.module, first)
            sb.exec(text, filename=filename, name="__main__")
        if options.policy.mode == "replay":
            sb.finish_replay()
    except UsageError:
        raise
    except SystemExit as exc:
        return "exit", _exit_status(exc), exc
    except (RestrictedAccessError, RestrictedImportError, RestrictedSyntaxError) as exc:
        return "restricted", ExitCode.RESTRICTED, exc
    except NondeterminismError as exc:
        return "nondeterminism", ExitCode.NONDETERMINISM, exc
    except ResourceLimitError as exc:
        return "limit", ExitCode.LIMIT, exc
    except Exception as exc:
        return "error", ExitCode.RAISED, exc
    return "ok", ExitCode.OK, None


def _drop_cli_frames(exc: BaseException) -> None:
    """Start the traceback at the sandboxed code, as python's starts at the script."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        tb = tb.tb_next
    # Nothing left: detsandbox raised it before any sandboxed line ran (a
    # SyntaxError, which shows its own location).
    exc.__traceback__ = tb


def _exit_status(exc: SystemExit) -> int:
    """The exit status python gives ``sys.exit(code)``."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return int(exc.code)  # sys.exit(True) is 1, as in python
    return 1


def report(outcome: Outcome, out: TextIO, err: TextIO) -> None:
    """What ``run`` prints without ``--json``: output, then the error, as python would."""
    if outcome.output:
        out.write(outcome.output)
        out.flush()
    exc = outcome.error
    if exc is None:
        return
    if isinstance(exc, SystemExit):
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=err)
    elif isinstance(exc, (SandboxError, ResourceLimitError)) and not isinstance(exc, SyntaxError):
        # detsandbox's own messages already carry the location and source line.
        print(f"{type(exc).__name__}: {exc}", file=err)
    else:
        traceback.print_exception(exc, file=err)


def build_policy(
    *,
    mode: str,
    seed: int | None,
    replay: Journal | None,
    record: bool,
    allow: tuple[str, ...],
    untrusted: bool,
    timeout: float | None,
    memory: int | None,
) -> Policy:
    """The Policy the command-line flags describe."""
    changes: dict[str, Any] = {"allow": allow}
    if untrusted:
        changes["untrusted"] = True
    try:
        if replay is not None:
            policy = Policy.replay(replay, **changes)
        elif mode == "deterministic":
            policy = Policy.deterministic(seed=seed or 0, record=record, **changes)
        else:
            policy = Policy.strict(**changes)
        limits = {"timeout": timeout, "memory": memory}
        set_limits = {k: v for k, v in limits.items() if v is not None}
        if set_limits:
            base = policy.limits if policy.limits is not None else Limits()
            policy = policy.evolve(limits=base.evolve(**set_limits))
    except PolicyError as exc:
        raise UsageError(str(exc)) from None
    return policy


def as_json(options: RunOptions, outcome: Outcome) -> dict[str, Any]:
    journal = outcome.journal
    return {
        "detsandbox": JSON_FORMAT,
        "command": "run",
        "target": options.target,
        "policy": policy_summary(options.policy, options.backend),
        "status": outcome.status,
        "exit_code": outcome.exit_code,
        "output": outcome.output,
        "stderr": outcome.stderr,
        "error": outcome.error_json(),
        "journal": None if journal is None else {"file": options.record, "events": len(journal)},
    }
