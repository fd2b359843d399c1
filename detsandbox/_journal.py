"""The journal: every intercepted call of a recorded run, in order.

An event holds the qualified name, a summary of the arguments, the result,
and the sandboxed ``file:line``. The JSON form is canonical (sorted keys,
no whitespace, results tagged by type), so the same code and seed give the
same bytes in any process; argument summaries never contain addresses.
"""

from __future__ import annotations

import base64
import copy
import importlib
import importlib.machinery
import importlib.util
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from types import CodeType, FunctionType
from typing import Any, Final, NamedTuple, final

from .errors import JournalError

__all__ = ["FORMAT", "Event", "Journal", "decode", "detached", "encode", "summarize"]

#: Version of the JSON layout; bumped on any incompatible change.
FORMAT: Final = 1
_SUMMARY_MAX: Final = 120
#: results that always pickle, and equal themselves after a round trip
_ATOMS: Final = frozenset({type(None), bool, int, float, str, bytes})


class Event(NamedTuple):
    """One intercepted call: what, with what, what it returned, and where.

    A named tuple: recording makes one per call, and tuples are the cheapest
    immutable records CPython has.
    """

    qualname: str
    args: str
    result: Any
    location: str

    def describe(self) -> str:
        """``time.time() at wf.py:7``."""
        return f"{self.qualname}({self.args}) at {self.location}"


_new_event = tuple.__new__


def _line_at(code: CodeType, offset: int) -> int | None:
    """The line of the instruction at ``offset``, as a frame's ``f_lineno`` says."""
    for start, end, line in code.co_lines():
        if start <= offset < end:
            return line
    return None


class _Unencodable:
    """A result the journal cannot represent; replay cannot return it."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Unencodable) and other.type_name == self.type_name

    def __hash__(self) -> int:
        return hash(self.type_name)

    def __repr__(self) -> str:
        return f"<unencodable {self.type_name}>"


def detached(value: Any) -> Any:
    """``value``, or a copy of it if code could change it after the call.

    The journal must keep what a call returned (the list random.sample()
    made), and each replay must hand out a list of its own.
    """
    if type(value) in (list, dict, bytearray, set):
        return copy.deepcopy(value)
    return value


def _summary_item(value: object) -> str:
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        text = repr(value)
    elif isinstance(value, (tuple, list)):
        inner = ", ".join(_summary_item(v) for v in value)
        text = f"({inner})" if isinstance(value, tuple) else f"[{inner}]"
    elif isinstance(value, (datetime, date, timedelta, uuid.UUID, timezone)):
        text = repr(value)
    elif isinstance(value, tzinfo) and isinstance(key := getattr(value, "key", None), str):
        text = f"{type(value).__qualname__}({key!r})"  # a ZoneInfo: its key
    else:
        # Never the default repr: it carries an address that differs per run.
        text = f"<{type(value).__qualname__}>"
    return text


def summarize(args: Sequence[object], kwargs: dict[str, object]) -> str:
    """A deterministic, bounded summary of call arguments."""
    if not args and not kwargs:
        return ""
    parts = [_summary_item(a) for a in args]
    parts += [f"{k}={_summary_item(v)}" for k, v in kwargs.items()]
    text = ", ".join(parts)
    return text if len(text) <= _SUMMARY_MAX else text[: _SUMMARY_MAX - 3] + "..."


def encode(value: object) -> Any:
    """``value`` as JSON-ready data, tagged so :func:`decode` restores its type."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else {"float": repr(value)}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, time.struct_time):
        return {"struct_time": list(value[:9]), "zone": value.tm_zone, "gmtoff": value.tm_gmtoff}
    if isinstance(value, tuple) and hasattr(type(value), "n_sequence_fields"):
        # Another struct sequence (os.uname_result, os.stat_result...).
        kind = type(value)
        return {"structseq": [kind.__module__, kind.__qualname__], "values": encode(tuple(value))}
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, datetime):
        tz = value.tzinfo
        key = getattr(tz, "key", None)
        if key is not None:  # a ZoneInfo: keep the zone, not only the offset
            return {"datetime": value.replace(tzinfo=None).isoformat(), "zone": key}
        offset = value.utcoffset()
        if isinstance(tz, timezone) and offset is not None and tz != UTC:
            name = tz.tzname(None)
            if name != timezone(offset).tzname(None):
                # A fixed offset with a name ("CET") that isoformat() drops.
                return {"datetime": value.isoformat(), "tzname": name}
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, dict):
        return {"dict": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, _Unencodable):
        return {"unencodable": value.type_name}
    return {"unencodable": type(value).__qualname__}


def decode(data: Any) -> Any:
    """The value :func:`encode` produced ``data`` from."""
    if data is None or isinstance(data, (bool, int, float, str)):
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict) or len(data) not in (1, 2, 3):
        raise JournalError(f"journal holds a result detsandbox cannot read: {data!r}")
    if "float" in data:
        return float(data["float"])
    if "bytes" in data:
        return base64.b64decode(data["bytes"])
    if "struct_time" in data:
        return time.struct_time((*data["struct_time"], data["zone"], data["gmtoff"]))
    if "tuple" in data:
        return tuple(decode(v) for v in data["tuple"])
    if "datetime" in data:
        dt = datetime.fromisoformat(data["datetime"])
        if "zone" in data:
            from zoneinfo import ZoneInfo

            dt = dt.replace(tzinfo=ZoneInfo(data["zone"]))
        elif "tzname" in data and dt.utcoffset() is not None:
            offset = dt.utcoffset()
            assert offset is not None
            dt = dt.replace(tzinfo=timezone(offset, data["tzname"]))
        return dt
    if "structseq" in data:
        module, qualname = data["structseq"]
        return _struct_sequence(str(module), str(qualname))(decode(data["values"]))
    if "date" in data:
        return date.fromisoformat(data["date"])
    if "uuid" in data:
        return uuid.UUID(data["uuid"])
    if "dict" in data:
        return {decode(k): decode(v) for k, v in data["dict"]}
    if "unencodable" in data:
        return _Unencodable(data["unencodable"])
    raise JournalError(f"journal holds a result detsandbox cannot read: {data!r}")


def _struct_sequence(module: str, qualname: str) -> type:
    """The struct sequence type ``module.qualname`` (``os.stat_result``...).

    A journal may come from a file or from a worker running untrusted code, so
    it names nothing else: no other class is called, no module attribute hook
    runs, and a module not loaded yet is imported only if it is written in C
    (as every struct sequence is), so reading a journal runs no Python code.
    """
    found: Any = sys.modules.get(module)
    if found is None and _c_module(module):
        found = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, "__dict__", {}).get(part)
    if not _is_struct_sequence(found):
        raise JournalError(
            f"journal holds a {module}.{qualname} result, which is not a struct sequence "
            "this process has (such as os.stat_result); detsandbox rebuilds nothing else"
        )
    return found  # type: ignore[no-any-return]


def _c_module(name: str) -> bool:
    """Whether ``name`` is a top-level module built into Python or a C extension."""
    if "." in name or not name.isidentifier():
        return False
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return False
    origin = spec.origin if spec is not None else None
    return origin is not None and (
        origin == "built-in" or origin.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))
    )


def _is_struct_sequence(kind: object) -> bool:
    """A struct sequence type made in C: calling it runs no Python code."""
    if type(kind) is not type or kind.__bases__ != (tuple,):
        return False
    attrs = vars(kind)
    return type(attrs.get("n_sequence_fields")) is int and not any(
        isinstance(v, (FunctionType, staticmethod, classmethod, property)) for v in attrs.values()
    )


@final
class Journal:
    """The intercepted calls of one recorded run, with what replay needs.

    ``seed``, ``start_ns`` and ``timezone`` are those of the recording, so
    ``Policy.replay(journal)`` needs nothing else.
    """

    __slots__ = ("_events", "_settled", "seed", "start_ns", "timezone")

    def __init__(
        self, *, seed: int, start_ns: int, timezone: str, events: Sequence[Event] = ()
    ) -> None:
        self.seed = seed
        self.start_ns = start_ns
        self.timezone = timezone
        # Plain tuples, not Events: CPython stops tracking a plain tuple of
        # atoms in the garbage collector, so a long journal costs no GC time.
        # Recording appends (qualname, args, result, code, offset) instead,
        # and _settle() turns the last two into the "file:line" when read.
        self._events: list[tuple[Any, ...]] = [(e[0], e[1], e[2], e[3]) for e in events]
        #: events before this index all hold their "file:line"
        self._settled = len(self._events)

    def _settle(self) -> list[tuple[Any, ...]]:
        """The events, each with its location as ``file:line`` text."""
        events = self._events
        end = len(events)
        if self._settled < end:
            lines: dict[tuple[int, int], str] = {}  # codes stay alive in the events
            for i in range(self._settled, end):
                event = events[i]
                if len(event) == 5:
                    code, offset = event[3], event[4]
                    key = (id(code), offset)
                    where = lines.get(key)
                    if where is None:
                        where = lines[key] = f"{code.co_filename}:{_line_at(code, offset)}"
                    events[i] = (event[0], event[1], event[2], where)
            self._settled = end
        return events

    @property
    def events(self) -> tuple[Event, ...]:
        return tuple(_new_event(Event, e) for e in self._settle())

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled settled (code objects, the recorded locations, do not pickle),
        # and with each result that cannot pickle in its JSON form.
        from ._backends._protocol import crosses

        return (_rebuild_journal, self._portable(crosses))

    def _portable(self, crosses: Callable[[object], bool] | None) -> tuple[Any, ...]:
        """What :func:`_rebuild_journal` makes this journal again from, elsewhere.

        A result for which ``crosses`` is false (an instance of a class defined
        in a Sandbox, which no other process can rebuild) travels in its JSON
        form, and arrives as after a round trip through :meth:`to_json`; so the
        journal that arrives is equal to this one. Plain atoms are not tested;
        with no ``crosses``, nothing is.
        """
        events = self._settle()
        head = (self.seed, self.start_ns, self.timezone)
        if crosses is None:
            return (*head, list(events))
        tested = [i for i, event in enumerate(events) if type(event[2]) not in _ATOMS]
        if not tested or crosses([events[i][2] for i in tested]):
            return (*head, list(events))  # all at once, as is usual
        sent = list(events)
        encoded = []
        for i in tested:
            event = events[i]
            if not crosses(event[2]):
                sent[i] = (event[0], event[1], encode(event[2]), event[3])
                encoded.append(i)
        return (*head, sent, tuple(encoded))

    def __copy__(self) -> Journal:
        return _rebuild_journal(self.seed, self.start_ns, self.timezone, list(self._settle()))

    def __deepcopy__(self, memo: dict[int, Any]) -> Journal:
        # Not through __reduce__, which would turn unpicklable results into JSON.
        events = copy.deepcopy(self._settle(), memo)
        return _rebuild_journal(self.seed, self.start_ns, self.timezone, events)

    @property
    def start(self) -> datetime:
        """The wall-clock start of the recorded run."""
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=self.start_ns // 1000)

    def append(self, event: Event) -> None:
        self._events.append((event[0], event[1], event[2], event[3]))

    def __len__(self) -> int:
        return len(self._events)

    def __iter__(self) -> Iterator[Event]:
        return (_new_event(Event, e) for e in self._settle())

    def __getitem__(self, index: int) -> Event:
        return _new_event(Event, self._settle()[index])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Journal):
            return NotImplemented
        return self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.to_json())

    def __repr__(self) -> str:
        return f"<detsandbox.Journal seed={self.seed} events={len(self._events)}>"

    def to_json(self) -> str:
        """The journal as canonical JSON: equal journals give equal bytes."""
        data = {
            "detsandbox_journal": FORMAT,
            "seed": self.seed,
            "start_ns": self.start_ns,
            "timezone": self.timezone,
            "events": [[e[0], e[1], encode(e[2]), e[3]] for e in self._settle()],
        }
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Journal:
        """Read a journal written by :meth:`to_json`."""
        try:
            data = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise JournalError(f"not a detsandbox journal: {exc}") from None
        if not isinstance(data, dict) or data.get("detsandbox_journal") != FORMAT:
            raise JournalError(
                "not a detsandbox journal (format "
                f"{data.get('detsandbox_journal') if isinstance(data, dict) else None!r}, "
                f"expected {FORMAT})"
            )
        try:
            events = [Event(str(q), str(a), decode(r), str(loc)) for q, a, r, loc in data["events"]]
            return cls(
                seed=int(data["seed"]),
                start_ns=int(data["start_ns"]),
                timezone=str(data["timezone"]),
                events=events,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise JournalError(f"malformed detsandbox journal: {exc!r}") from None


def _rebuild_journal(
    seed: int,
    start_ns: int,
    timezone: str,
    events: list[tuple[Any, ...]],
    encoded: tuple[int, ...] = (),
) -> Journal:
    """The journal :meth:`Journal._portable` described; ``encoded`` lists the
    events whose result is in its JSON form."""
    journal = Journal(seed=seed, start_ns=start_ns, timezone=timezone)
    for i in encoded:
        event = events[i]
        events[i] = (event[0], event[1], decode(event[2]), event[3])
    journal._events = events
    journal._settled = len(events)
    return journal
