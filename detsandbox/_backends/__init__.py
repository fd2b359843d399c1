"""Where a Sandbox runs: in-process, in a subinterpreter, or in a worker process.

:func:`choose` decides, and says why, in a :class:`BackendInfo`. The remote
backends run an ordinary in-process Sandbox inside the worker and reach it
through :mod:`._remote` and :mod:`._protocol`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, final

from .._policy import Policy
from ..errors import BackendUnavailableError, PolicyError
from ._process import unavailable as _process_unavailable
from ._remote import Remote

__all__ = ["BACKENDS", "BackendInfo", "choose", "open_remote", "unavailable"]

BACKENDS: Final = ("auto", "inprocess", "subinterpreter", "process")

_AUTO_WHY: Final = (
    "backend='auto' keeps a trusted Sandbox in-process: sandboxed values and functions are "
    "the host's own objects (no pickling) and a call costs about a microsecond"
)
_AUTO_UNTRUSTED_WHY: Final = (
    "backend='auto' runs untrusted code in a worker process: only there are its memory "
    "and CPU limits hard, a timeout kills even a long C call, and a crash stays in the "
    "worker; pass backend='inprocess' to keep it in the host"
)
_AUTO_UNTRUSTED_FALLBACK: Final = (
    "backend='auto' would run untrusted code in a worker process, which cannot run "
    "here ({why}); it runs in-process, where its limits are checked by a watchdog and "
    "cannot stop a long C call (docs/security.md)"
)
_NOT_AUTO: Final = {
    "subinterpreter": (
        "auto does not choose it: values cross pickled; ask for backend='subinterpreter' "
        "to run CPU-bound Sandboxes in parallel on their own GILs"
    ),
    "process": (
        "auto does not choose it for trusted code: values cross pickled; ask for "
        "backend='process' for hard memory and CPU limits, a timeout that kills, crash "
        "containment and a PYTHONHASHSEED derived from the Policy"
    ),
}
_NOT_AUTO_UNTRUSTED: Final = {
    "subinterpreter": (
        "auto does not choose it for untrusted code: nothing can stop a running "
        "subinterpreter from outside, and its limits are no harder than in-process"
    ),
    "inprocess": (
        "auto does not choose it for untrusted code: in-process limits cannot stop a long "
        "C call or a single huge allocation; pass backend='inprocess' to choose it anyway"
    ),
}


@final
@dataclasses.dataclass(frozen=True, kw_only=True)
class BackendInfo:
    """Which backend runs a Sandbox, why, and why each other one does not.

    ``name`` is ``"inprocess"``, ``"subinterpreter"`` or ``"process"``;
    ``requested`` is what ``Sandbox(backend=...)`` asked for; ``others``
    maps every other backend to the reason it was not chosen (for one that
    cannot run on this CPython, the reason it cannot).
    """

    name: str
    requested: str
    reason: str
    others: Mapping[str, str]

    def __str__(self) -> str:
        lines = [f"{self.name}: {self.reason}"]
        lines += [f"not {name}: {why}" for name, why in self.others.items()]
        return "\n".join(lines)


@functools.cache
def unavailable(name: str) -> str | None:
    """Why backend ``name`` cannot run on this CPython and platform, or None."""
    if name == "process":
        return _process_unavailable()
    if name == "subinterpreter":
        from ._interp import unavailable as interp_unavailable

        return interp_unavailable()
    return None


def choose(requested: str, policy: Policy) -> BackendInfo:
    """The backend for ``Sandbox(policy, backend=requested)``; raises if it cannot run.

    ``"auto"`` decides by the policy: trusted code stays in-process, untrusted
    code goes to a worker process where one can run, since only there are
    its limits hard. Whether each backend can run depends on the CPython
    version and platform (:func:`unavailable`).
    """
    # Every remote Sandbox asks when it opens: the answer is made once per case.
    return _choose(requested, policy.untrusted)


@functools.cache
def _choose(requested: str, untrusted: bool) -> BackendInfo:
    if requested not in BACKENDS:
        raise PolicyError(
            f"Sandbox(backend=...) must be one of {', '.join(map(repr, BACKENDS))}, "
            f"got {requested!r}"
        )
    others: dict[str, str] = {}
    if requested == "auto" and untrusted:
        why_not = unavailable("process")
        if why_not is None:
            name, reason = "process", _AUTO_UNTRUSTED_WHY
        else:
            name, reason = "inprocess", _AUTO_UNTRUSTED_FALLBACK.format(why=why_not)
        for other, why in _NOT_AUTO_UNTRUSTED.items():
            if other != name:
                others[other] = unavailable(other) or why
        if why_not is not None:
            others["process"] = why_not
    elif requested == "auto":
        name, reason = "inprocess", _AUTO_WHY
        for other, why in _NOT_AUTO.items():
            others[other] = unavailable(other) or why
    else:
        name = requested
        why_not = unavailable(name)
        if why_not is not None:
            raise BackendUnavailableError(why_not)
        reason = f"asked for with backend={name!r}"
        for other in BACKENDS[1:]:
            if other != name:
                others[other] = unavailable(other) or f"not asked for (backend={name!r})"
    return BackendInfo(
        name=name, requested=requested, reason=reason, others=MappingProxyType(others)
    )


def open_remote(name: str, policy: Policy) -> Remote:
    """A Remote running ``policy`` on backend ``name`` ("process" or "subinterpreter")."""
    if name == "process":
        from ._process import POOL

        return Remote(POOL, policy, hard_timeout=True)
    from ._interp import POOL as INTERP_POOL

    return Remote(INTERP_POOL, policy, hard_timeout=False)
