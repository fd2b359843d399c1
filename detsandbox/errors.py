"""The exceptions detsandbox raises.

Every failure a user can cause is one of these. Each subclasses the builtin it
refines, so code that already catches ``ImportError`` or ``TypeError`` keeps
working, and each message says what happened, where, and what to do instead.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendError",
    "BackendUnavailableError",
    "InstructionLimitError",
    "InvalidSourceError",
    "JournalError",
    "MemoryLimitError",
    "NondeterminismError",
    "OutputLimitError",
    "PolicyError",
    "RecursionLimitError",
    "ResourceLimitError",
    "RestrictedAccessError",
    "RestrictedImportError",
    "RestrictedSyntaxError",
    "SandboxError",
    "SandboxIndentationError",
    "SandboxSyntaxError",
    "SandboxTabError",
    "TimeLimitError",
    "TransferError",
    "WorkerCrashedError",
]


class SandboxError(Exception):
    """Base class of every error detsandbox raises itself."""


class PolicyError(SandboxError, ValueError):
    """A :class:`~detsandbox.Policy` was given a malformed or unknown value."""


class InvalidSourceError(SandboxError, TypeError):
    """Source code handed to a Sandbox was not ``str`` (or ``bytes``)."""


class SandboxSyntaxError(SandboxError, SyntaxError):
    """Sandboxed source does not compile.

    ``filename``, ``lineno``, ``offset`` and ``text`` are those of the
    sandboxed source, as for a plain :class:`SyntaxError`.
    """


class SandboxIndentationError(SandboxSyntaxError, IndentationError):
    """Sandboxed source is badly indented (an :class:`IndentationError`)."""


class SandboxTabError(SandboxIndentationError, TabError):
    """Sandboxed source mixes tabs and spaces (a :class:`TabError`)."""


class RestrictedSyntaxError(SandboxSyntaxError):
    """Untrusted source uses constructs untrusted mode refuses at compile time.

    Every refusal in the source is collected: ``errors`` holds one
    ``"file:line: message"`` string per refusal, and the message lists them
    all; ``lineno`` is the first one's line.
    """

    errors: tuple[str, ...] = ()


class RestrictedAccessError(SandboxError):
    """Sandboxed code reached something the policy forbids.

    ``qualname`` is the restricted name (``"time.time"``), ``filename`` and
    ``lineno`` locate the sandboxed line that reached it (``None`` when no
    sandboxed frame was on the stack).
    """

    def __init__(
        self,
        message: str,
        *,
        qualname: str,
        filename: str | None = None,
        lineno: int | None = None,
    ) -> None:
        super().__init__(message)
        self.qualname = qualname
        self.filename = filename
        self.lineno = lineno

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only fields would be lost by BaseException's default reduce.
        return (
            _rebuild_access_error,
            (self.args[0], self.qualname, self.filename, self.lineno),
        )


def _rebuild_access_error(
    message: str, qualname: str, filename: str | None, lineno: int | None
) -> RestrictedAccessError:
    return RestrictedAccessError(message, qualname=qualname, filename=filename, lineno=lineno)


class RestrictedImportError(SandboxError, ImportError):
    """The policy refuses to let sandboxed code import a module.

    Raised with ``name=`` like any :class:`ImportError`.
    """


class JournalError(SandboxError, ValueError):
    """A journal could not be read, or holds a result replay cannot return."""


class NondeterminismError(SandboxError):
    """Replay found the code making a different call than the journal holds.

    ``index`` is the position in the journal; ``expected`` is the recorded
    :class:`~detsandbox.Event` there (None past its end) and ``actual`` the
    call the code made (None when the code stopped short of the journal).
    """

    def __init__(self, message: str, *, index: int, expected: Any, actual: Any) -> None:
        super().__init__(message)
        self.index = index
        self.expected = expected
        self.actual = actual

    def __reduce__(self) -> tuple[object, ...]:
        return (
            _rebuild_nondeterminism_error,
            (self.args[0], self.index, self.expected, self.actual),
        )


def _rebuild_nondeterminism_error(
    message: str, index: int, expected: Any, actual: Any
) -> NondeterminismError:
    return NondeterminismError(message, index=index, expected=expected, actual=actual)


class ResourceLimitError(SandboxError):
    """A call into a Sandbox used up one of its :class:`~detsandbox.Limits`.

    ``limit`` is the field's name (``"timeout"``) and ``value`` its setting.
    The Sandbox and the host stay usable afterwards.
    """

    def __init__(self, message: str, *, limit: str, value: object) -> None:
        super().__init__(message)
        self.limit = limit
        self.value = value

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_limit_error, (type(self), self.args[0], self.limit, self.value))


def _rebuild_limit_error(
    cls: type[ResourceLimitError], message: str, limit: str, value: object
) -> ResourceLimitError:
    return cls(message, limit=limit, value=value)


class TimeLimitError(ResourceLimitError, TimeoutError):
    """The call ran past ``Limits.timeout`` seconds of wall-clock time."""


class InstructionLimitError(ResourceLimitError):
    """The call used up ``Limits.instructions``."""


class MemoryLimitError(ResourceLimitError, MemoryError):
    """The process grew by more than ``Limits.memory`` bytes during the call."""


class RecursionLimitError(ResourceLimitError, RecursionError):
    """Sandboxed frames nested deeper than ``Limits.recursion``."""


class OutputLimitError(ResourceLimitError):
    """Sandboxed code printed more than ``Limits.output`` characters."""


class BackendError(SandboxError, RuntimeError):
    """A backend that runs a Sandbox in a worker process or subinterpreter failed."""


class BackendUnavailableError(BackendError, NotImplementedError):
    """The backend asked for cannot run on this CPython or platform; the message says why."""


class TransferError(BackendError, TypeError):
    """A value could not cross into or out of a worker process or subinterpreter.

    Values cross pickled; the message names the value and its type.
    """


class WorkerCrashedError(BackendError):
    """The worker process running a Sandbox died (a segfault, ``os._exit``, abort, a kill).

    ``exitcode`` is its exit status, or minus the number of the signal that
    ended it (as :attr:`subprocess.Popen.returncode`), None when unknown. The
    Sandbox gets a fresh worker on its next call; its modules start over.
    """

    def __init__(self, message: str, *, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.exitcode = exitcode

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_crashed_error, (self.args[0], self.exitcode))


def _rebuild_crashed_error(message: str, exitcode: int | None) -> WorkerCrashedError:
    return WorkerCrashedError(message, exitcode=exitcode)
