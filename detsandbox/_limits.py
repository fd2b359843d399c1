"""Limits: how much time, work, memory, stack and output one call may use.

A :class:`Limits` is frozen, keyword-only data held by a Policy; a field
left at ``None`` is no limit. Untrusted mode starts from
:meth:`Limits.untrusted`. Enforcement lives in ``_budget``.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Final, Self, final

from .errors import PolicyError

__all__ = ["Limits", "parse_size"]

_UNITS: Final = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}
_SIZE: Final = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", re.IGNORECASE)


def parse_size(value: int | str, *, field: str = "memory") -> int:
    """Bytes from an int or a size such as ``"256M"``, ``"1.5GiB"``, ``"64kb"``."""
    if isinstance(value, bool):
        raise PolicyError(f"Limits.{field} must be a size in bytes, got {value!r}")
    if isinstance(value, int):
        size = value
    elif isinstance(value, str) and (match := _SIZE.fullmatch(value)):
        size = math.floor(float(match[1]) * _UNITS[match[2].lower()])
    else:
        raise PolicyError(
            f"Limits.{field} must be bytes (an int) or a size such as '256M', got {value!r}"
        )
    if size <= 0:
        raise PolicyError(f"Limits.{field} must be more than 0 bytes, got {value!r}")
    return size


@final
@dataclasses.dataclass(frozen=True, kw_only=True)
class Limits:
    """Resource limits on each call into a Sandbox; ``None`` turns one off.

    ``timeout``
        Wall-clock seconds per call (``exec``, ``call``, ``import_module``).
    ``instructions``
        A budget of executed work per call: every loop iteration (backward
        jump) and every function call of sandboxed code counts one.
    ``memory``
        Bytes the process may grow by during a call (an int, or a size such
        as ``"256M"``); see docs/security.md for what in-process means here.
    ``recursion``
        Nesting depth of sandboxed Python frames.
    ``output``
        Characters of ``print`` output a Sandbox may collect in all.

    Each limit raises its own :class:`~detsandbox.ResourceLimitError`
    subclass, naming the limit and its value.
    """

    timeout: float | None = None
    instructions: int | None = None
    memory: int | None = None
    recursion: int | None = None
    output: int | None = None

    def __post_init__(self) -> None:
        timeout = self.timeout
        if timeout is not None:
            if (
                not isinstance(timeout, (int, float))
                or isinstance(timeout, bool)
                or not timeout > 0
                or math.isinf(timeout)
            ):
                raise PolicyError(
                    f"Limits.timeout must be seconds > 0 (or None for no limit), got {timeout!r}"
                )
            object.__setattr__(self, "timeout", float(timeout))
        if self.memory is not None:
            object.__setattr__(self, "memory", parse_size(self.memory))
        for field, least in (("instructions", 1), ("recursion", 1), ("output", 0)):
            value = getattr(self, field)
            if value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise PolicyError(
                    f"Limits.{field} must be an int >= {least} (or None for no limit), "
                    f"got {value!r}"
                )

    @classmethod
    def untrusted(cls, **changes: Any) -> Self:
        """The defaults of untrusted mode: 5 s, 256 MiB, 1 MiB of output.

        No recursion or instruction budget by default: counting costs every
        call (3.12+) or every line (3.11) of the code, and the time limit
        already stops runaway recursion; set them when you need them.
        """
        return cls(timeout=5.0, memory=256 * 2**20, output=2**20).evolve(**changes)

    @property
    def active(self) -> bool:
        """Whether any limit is set."""
        return any(getattr(self, f.name) is not None for f in dataclasses.fields(self))

    def evolve(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise PolicyError(
                f"Limits has no field {unknown[0]!r}; fields are: {', '.join(sorted(known))}"
            )
        return dataclasses.replace(self, **changes) if changes else self


NO_LIMITS: Final = Limits()
