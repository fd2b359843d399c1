"""Policy: what a Sandbox shares with the host and what it refuses.

A Policy is frozen, keyword-only data. It is validated once, here, so that
everything downstream can trust its shape; a malformed entry is a
:class:`PolicyError` that quotes the entry and shows a correct one.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Final, Literal, Self, final

from ._clock import DEFAULT_START
from ._journal import Journal
from ._limits import NO_LIMITS, Limits
from ._run import load_timezone
from .errors import PolicyError

__all__ = ["MODES", "Policy"]

Mode = Literal["strict", "deterministic", "replay"]
MODES: Final = ("strict", "deterministic", "replay")

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
        :class:`~detsandbox.RestrictedAccessError`. ``"deterministic"``:
        clocks, randomness, uuids and the time zone get substitutes derived
        from ``seed`` and ``start``; host facts and I/O still raise.
        ``"replay"``: as deterministic, but every intercepted call returns
        what ``journal`` recorded, and a different call raises
        :class:`~detsandbox.NondeterminismError`.
    ``seed``, ``start``, ``timezone``
        Deterministic mode's seed (an int >= 0), where its wall clock starts
        (an aware datetime or epoch seconds), and its local time zone
        (``"UTC"`` or an IANA key).
    ``record``
        Deterministic mode keeps a :class:`~detsandbox.Journal` of every
        intercepted call (``Sandbox.journal``).
    ``journal``
        The journal replay mode replays.
    ``untrusted``
        Treat the code as hostile: compile it with RestrictedPython, guard
        every attribute, item and write at run time, import only an
        allow-list of modules (see docs/security.md), and apply
        :meth:`Limits.untrusted` unless ``limits`` says otherwise.
    ``limits``
        :class:`~detsandbox.Limits` on each call: time, work, memory,
        recursion, output. Off by default in trusted mode.
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
    seed: int = 0
    start: datetime | float = DEFAULT_START
    timezone: str = "UTC"
    record: bool = False
    journal: Journal | None = dataclasses.field(default=None, compare=False)
    untrusted: bool = False
    limits: Limits | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise PolicyError(
                f"Policy.mode must be one of {', '.join(map(repr, MODES))}, got {self.mode!r}"
            )
        if not isinstance(self.untrusted, bool):
            raise PolicyError(f"Policy.untrusted must be True or False, got {self.untrusted!r}")
        if self.limits is None:
            object.__setattr__(self, "limits", _default_limits(self.untrusted))
        elif not isinstance(self.limits, Limits):
            raise PolicyError(
                f"Policy.limits must be a detsandbox.Limits, got {type(self.limits).__name__}: "
                "write limits=Limits(timeout=1.0)"
            )
        self._check_run_fields()
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

    def _check_run_fields(self) -> None:
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise PolicyError(f"Policy.seed must be an int >= 0, got {self.seed!r}")
        start = self.start
        if isinstance(start, datetime):
            if start.tzinfo is None or start.utcoffset() is None:
                raise PolicyError(
                    f"Policy.start must be timezone-aware, got {start!r}: "
                    "write datetime(..., tzinfo=timezone.utc)"
                )
        elif not isinstance(start, (int, float)) or isinstance(start, bool):
            raise PolicyError(
                f"Policy.start must be an aware datetime or epoch seconds, got {start!r}"
            )
        if not isinstance(self.timezone, str):
            raise PolicyError(f"Policy.timezone must be a str, got {self.timezone!r}")
        load_timezone(self.timezone)  # raises PolicyError for unknown zones
        if not isinstance(self.record, bool):
            raise PolicyError(f"Policy.record must be True or False, got {self.record!r}")
        if self.record and self.mode != "deterministic":
            raise PolicyError(
                f"Policy.record=True needs mode 'deterministic', not {self.mode!r}: "
                "use Policy.deterministic(record=True)"
            )
        if self.mode == "strict":
            for name, default in (("seed", 0), ("start", DEFAULT_START), ("timezone", "UTC")):
                if getattr(self, name) != default:
                    raise PolicyError(
                        f"Policy.{name} only applies to deterministic and replay modes: "
                        f"use Policy.deterministic({name}=...)"
                    )
        if self.mode == "replay":
            journal = self.journal
            if not isinstance(journal, Journal):
                raise PolicyError(
                    f"replay needs a detsandbox.Journal, got {journal!r}: "
                    "use Policy.replay(Journal.from_json(text))"
                )
            recorded = {
                "seed": journal.seed,
                "start": journal.start_ns / 1e9,
                "timezone": journal.timezone,
            }
            for name, value in recorded.items():
                if getattr(self, name) != value:
                    raise PolicyError(
                        f"Policy.replay() takes {name} from the journal ({value!r}), "
                        f"got {getattr(self, name)!r}: leave it out"
                    )
        elif self.journal is not None:
            raise PolicyError(
                f"Policy.journal is only used in replay mode, not {self.mode!r}: "
                "use Policy.replay(journal)"
            )

    @property
    def restrictions(self) -> tuple[object, ...]:
        """What decides the guards: equal for policies that differ only per run.

        Seeds, starts and journals vary with every workflow run; the guards
        and module templates built from a policy depend only on this key.
        """
        kind = "strict" if self.mode == "strict" else "deterministic"
        zone = self.timezone if kind == "deterministic" else None
        limits = self.limits or NO_LIMITS
        # Counting limits compile sandboxed code apart (see _budget).
        counted = (limits.instructions is not None, limits.recursion is not None)
        return (
            kind,
            self.passthrough,
            self.isolate,
            self.allow,
            self.deny,
            zone,
            self.untrusted,
            counted,
        )

    @classmethod
    def strict(cls, **changes: Any) -> Self:
        """Every nondeterministic or side-effecting call raises (the default)."""
        return cls(mode="strict").evolve(**changes)

    @classmethod
    def deterministic(
        cls,
        seed: int = 0,
        start: datetime | float = DEFAULT_START,
        *,
        record: bool = False,
        **changes: Any,
    ) -> Self:
        """Clocks, randomness and uuids answered from ``seed`` and ``start``."""
        return cls(mode="deterministic", seed=seed, start=start, record=record).evolve(**changes)

    @classmethod
    def replay(cls, journal: Journal, **changes: Any) -> Self:
        """Every intercepted call returns what ``journal`` recorded, in order.

        The seed, start and time zone are the journal's.
        """
        if not isinstance(journal, Journal):
            raise PolicyError(
                f"Policy.replay() needs a detsandbox.Journal, got {type(journal).__name__}: "
                "read one with Journal.from_json(text)"
            )
        return cls(
            mode="replay",
            journal=journal,
            seed=journal.seed,
            start=journal.start_ns / 1e9,
            timezone=journal.timezone,
        ).evolve(**changes)

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
        if (
            "untrusted" in changes
            and "limits" not in changes
            and self.limits == _default_limits(self.untrusted)
        ):
            # Limits that were the old mode's defaults follow the mode.
            changes["limits"] = None
        return dataclasses.replace(self, **changes)


def _default_limits(untrusted: bool) -> Limits:
    return Limits.untrusted() if untrusted else NO_LIMITS
