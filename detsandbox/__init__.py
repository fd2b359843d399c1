"""detsandbox: run Python code deterministically and in isolation, in-process.

The public namespace is small on purpose; everything else lives in private
modules laid out along the data flow: source -> policy -> compile -> import
hook -> views and guards -> sandbox.
"""

from __future__ import annotations

from . import lowlevel as lowlevel
from ._backends import BackendInfo as BackendInfo
from ._backends._protocol import RemoteModule as RemoteModule
from ._backends._protocol import RemoteRef as RemoteRef
from ._clock import Clock as Clock
from ._importer import invalidate_caches as invalidate_caches
from ._journal import Event as Event
from ._journal import Journal as Journal
from ._limits import Limits as Limits
from ._policy import Policy as Policy
from ._sandbox import Sandbox as Sandbox
from .errors import BackendError as BackendError
from .errors import BackendUnavailableError as BackendUnavailableError
from .errors import InstructionLimitError as InstructionLimitError
from .errors import InvalidSourceError as InvalidSourceError
from .errors import JournalError as JournalError
from .errors import MemoryLimitError as MemoryLimitError
from .errors import NondeterminismError as NondeterminismError
from .errors import OutputLimitError as OutputLimitError
from .errors import PolicyError as PolicyError
from .errors import RecursionLimitError as RecursionLimitError
from .errors import ResourceLimitError as ResourceLimitError
from .errors import RestrictedAccessError as RestrictedAccessError
from .errors import RestrictedImportError as RestrictedImportError
from .errors import RestrictedSyntaxError as RestrictedSyntaxError
from .errors import SandboxError as SandboxError
from .errors import SandboxIndentationError as SandboxIndentationError
from .errors import SandboxSyntaxError as SandboxSyntaxError
from .errors import SandboxTabError as SandboxTabError
from .errors import TimeLimitError as TimeLimitError
from .errors import TransferError as TransferError
from .errors import WorkerCrashedError as WorkerCrashedError

__all__ = [
    "BackendError",
    "BackendInfo",
    "BackendUnavailableError",
    "Clock",
    "Event",
    "InstructionLimitError",
    "InvalidSourceError",
    "Journal",
    "JournalError",
    "Limits",
    "MemoryLimitError",
    "NondeterminismError",
    "OutputLimitError",
    "Policy",
    "PolicyError",
    "RecursionLimitError",
    "RemoteModule",
    "RemoteRef",
    "ResourceLimitError",
    "RestrictedAccessError",
    "RestrictedImportError",
    "RestrictedSyntaxError",
    "Sandbox",
    "SandboxError",
    "SandboxIndentationError",
    "SandboxSyntaxError",
    "SandboxTabError",
    "TimeLimitError",
    "TransferError",
    "WorkerCrashedError",
    "invalidate_caches",
]

__version__ = "0.1.0.dev0"


def _fixup_module_metadata() -> None:
    # Tracebacks and reprs say detsandbox.Sandbox, not detsandbox._sandbox.Sandbox.
    for name in __all__:
        obj = globals()[name]
        if getattr(obj, "__module__", "").startswith("detsandbox."):
            obj.__module__ = "detsandbox"


_fixup_module_metadata()
