"""Policy: what a Sandbox shares with the host and what it refuses.

A Policy is frozen, keyword-only data. It is validated once, here, so that
everything downstream can trust its shape; a malformed entry is a
:class:`PolicyError` that quotes the entry and shows a correct one.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable
from typing import Any, Final, Literal, Self, final

from .errors import PolicyError

__all__ = ["MODES", "Policy"]

Mode = Literal["strict"]
MODES: Final = ("strict",)

# Modules the sandbox provides itself; they can be neither passed through
# explicitly nor run fresh (see docs/design.md, "Modules the sandbox owns").
SANDBOX_OWNED: Final = frozenset({"builtins", "sys", "importlib", "__main__"})


def _is_dotted(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


def _is_pattern(name: str) -> bool:
    """A qualified name, optionally ending in ``.*`` (everything below it)."""
    if name.endswith(".*"):
        name = name[:-2]
    return _is_dotted(name)


def _names(field: str, value: object, *, example: str, pattern: bool) -> tuple[str, ...]:
    if isinstance(value, str):
        raise PolicyError(
            f"Policy.{field} must be a tuple of names, got the str {value!r}: "
            f"write {field}=({value!r},)"
        )
    if not isinstance(value, Iterable):
        raise PolicyError(
            f"Policy.{field} must be a tuple of names, got {type(value).__name__}: "
            f"write {field}=({example!r},)"
        )
    check = _is_pattern if pattern else _is_dotted
    kind = "qualified names such as" if pattern else "module names such as"
    seen: dict[str, None] = {}
    for entry in value:
        if not isinstance(entry, str) or not check(entry):
            raise PolicyError(f"Policy.{field} entries must be {kind} {example!r}, got {entry!r}")
        seen[entry] = None
    # Order carries no meaning, so equal policies compare (and cache) equal.
    return tuple(sorted(seen))


@final
@dataclasses.dataclass(frozen=True, kw_only=True)
class Policy:
    """What a Sandbox may share with the host and what it refuses.

    Build one from a preset and change it with :meth:`evolve`::

        policy = Policy.strict().evolve(passthrough=("pydantic",), allow=("time.monotonic",))

    Fields:

    ``mode``
        ``"strict"``: every nondeterministic or side-effecting call raises
        :class:`~detsandbox.RestrictedAccessError`.
    ``passthrough``
        Extra modules shared with the host (the standard library already
        is); a name covers its submodules. Shared modules are seen through
        restricting views.
    ``isolate``
        Standard-library modules to run fresh in each Sandbox instead of
        sharing them (pure-Python ones only), for modules whose global state
        must not be shared, such as ``logging``.
    ``allow``, ``deny``
        Qualified names (``"time.monotonic"``, ``"os.environ"``), module
        names, or ``"module.*"`` patterns that open up or close off what the
        built-in catalogue decides. The most specific entry wins; ``deny`` of
        a whole module refuses its import.
    """

    mode: Mode = "strict"
    passthrough: tuple[str, ...] = ()
    isolate: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PolicyError(
                f"Policy.mode must be one of {', '.join(map(repr, MODES))}, got {self.mode!r}"
            )
        fields = {
            "passthrough": ("pydantic", False),
            "isolate": ("logging", False),
            "allow": ("time.monotonic", True),
            "deny": ("os.environ", True),
        }
        for field, (example, pattern) in fields.items():
            names = _names(field, getattr(self, field), example=example, pattern=pattern)
            object.__setattr__(self, field, names)
        for field in ("passthrough", "isolate"):
            owned = SANDBOX_OWNED.intersection(getattr(self, field))
            if owned:
                raise PolicyError(
                    f"Policy.{field} cannot name {sorted(owned)[0]!r}: "
                    "the sandbox provides its own view of it"
                )
        for name in self.isolate:
            if name in sys.builtin_module_names or name.partition(".")[0] == "detsandbox":
                raise PolicyError(
                    f"Policy.isolate cannot name {name!r}: "
                    + (
                        "it is built into CPython and cannot run fresh"
                        if name in sys.builtin_module_names
                        else "detsandbox is always shared with the host"
                    )
                )
        both = set(self.passthrough) & set(self.isolate)
        if both:
            raise PolicyError(
                f"Policy names {sorted(both)[0]!r} in both passthrough and isolate; "
                "keep it in one of them"
            )
        both = set(self.allow) & set(self.deny)
        if both:
            raise PolicyError(
                f"Policy names {sorted(both)[0]!r} in both allow and deny; keep it in one of them"
            )

    @classmethod
    def strict(cls, **changes: Any) -> Self:
        """Every nondeterministic or side-effecting call raises (the default)."""
        return cls(mode="strict").evolve(**changes)

    def evolve(self, **changes: Any) -> Self:
        """A copy of this policy with ``changes`` applied and validated."""
        if not changes:
            return self
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise PolicyError(
                f"Policy has no field {unknown[0]!r}; fields are: {', '.join(sorted(known))}"
            )
        return dataclasses.replace(self, **changes)
