"""Hash-seed independence for deterministic mode: ordered sets, stable hash, stable id.

CPython randomizes ``str``/``bytes`` hashes per process (``PYTHONHASHSEED``),
and with them the iteration order of sets of strings, ``datetime`` and Enum
hashes, and everything sorted or printed by them. In-process the secret
cannot be changed, so deterministic mode changes what sandboxed code builds:

* set displays, set comprehensions, ``set()`` and ``frozenset()`` make
  :class:`OrderedSet` / :class:`OrderedFrozenSet`, real subclasses that
  iterate (and print, and pop) in insertion order;
* ``hash()`` is :func:`stable_hash`, derived from the value, not the secret;
* ``id()`` numbers objects in the order the run first asks for them.

Sets built by passthrough C code, and default ``repr`` addresses, are not
reached: docs/determinism.md lists what is and is not covered.
"""

from __future__ import annotations

import enum
import hashlib
import threading
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from datetime import time as dtime
from typing import Any

__all__ = ["OrderedFrozenSet", "OrderedSet", "StableIds", "stable_hash"]

_MASK = (1 << 64) - 1


def _digest(data: bytes) -> int:
    value = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")
    value -= 1 << 63  # signed, like hash()
    return -2 if value == -1 else value  # -1 is reserved by CPython


def stable_hash(obj: object) -> int:
    """``hash(obj)``, but independent of ``PYTHONHASHSEED``.

    Equal values of the covered types (str, bytes, numbers, tuples and
    frozensets of them, datetimes, Enum members) get equal hashes in every
    process; other objects keep their own ``__hash__``.
    """
    if isinstance(obj, str):
        return _digest(b"s" + obj.encode("utf-8", "surrogatepass"))
    if isinstance(obj, (bytes, bytearray, memoryview)):
        hash(obj)  # unhashable (bytearray) raises as hash() would
        return _digest(b"b" + bytes(obj))
    if isinstance(obj, tuple):
        acc = 0x345678
        for item in obj:
            acc = ((acc ^ stable_hash(item)) * 1000003) & _MASK
        return _digest(acc.to_bytes(8, "big"))
    if isinstance(obj, frozenset):
        acc = 0
        for item in obj:
            acc ^= stable_hash(item) & _MASK  # order-free, like frozenset's hash
        return _digest(acc.to_bytes(8, "big"))
    if isinstance(obj, enum.Enum) and type(obj).__hash__ is enum.Enum.__hash__:
        return stable_hash(obj._name_)  # as Enum.__hash__ does: hash(self._name_)
    if isinstance(obj, (datetime, date, dtime)) and type(obj).__hash__ in (
        datetime.__hash__,
        date.__hash__,
        dtime.__hash__,
    ):
        offset = obj.utcoffset() if isinstance(obj, (datetime, dtime)) else None
        if isinstance(obj, datetime) and offset is not None:
            obj = obj.replace(tzinfo=None) - offset  # equal instants hash alike
        return stable_hash(obj.isoformat())
    return hash(obj)


class StableIds:
    """``id()`` for one run: 1, 2, 3... in the order objects are first asked about.

    Objects are kept alive for the run's lifetime, so a number is never
    reused for another object while the run lasts.
    """

    __slots__ = ("_ids", "_lock")

    def __init__(self) -> None:
        self._ids: dict[int, tuple[object, int]] = {}
        self._lock = threading.Lock()

    def __call__(self, obj: object) -> int:
        key = id(obj)
        hit = self._ids.get(key)
        if hit is not None and hit[0] is obj:
            return hit[1]
        with self._lock:
            number = len(self._ids) + 1
            self._ids[key] = (obj, number)
            return number


def _ordered(items: Iterable[Any]) -> dict[Any, None]:
    return dict.fromkeys(items)


class _Operators:
    """The operators of both ordered classes, in terms of their order-keeping methods."""

    __slots__ = ()

    def __or__(self, other: Any) -> Any:
        return self.union(other) if isinstance(other, (set, frozenset)) else NotImplemented  # type: ignore[attr-defined]

    def __and__(self, other: Any) -> Any:
        return self.intersection(other) if isinstance(other, (set, frozenset)) else NotImplemented  # type: ignore[attr-defined]

    def __sub__(self, other: Any) -> Any:
        return self.difference(other) if isinstance(other, (set, frozenset)) else NotImplemented  # type: ignore[attr-defined]

    def __xor__(self, other: Any) -> Any:
        if isinstance(other, (set, frozenset)):
            return self.symmetric_difference(other)  # type: ignore[attr-defined]
        return NotImplemented

    __ror__ = __or__
    __rand__ = __and__
    __rxor__ = __xor__


class OrderedSet(_Operators, set):  # type: ignore[type-arg]
    """A ``set`` that iterates, prints and pops in insertion order."""

    __slots__ = ("_order",)

    def __init__(self, iterable: Iterable[Any] = ()) -> None:
        super().__init__()
        self._order: dict[Any, None] = {}
        for item in iterable:
            self.add(item)

    # order-keeping mutations
    def add(self, item: Any) -> None:
        super().add(item)
        self._order[item] = None

    def discard(self, item: Any) -> None:
        super().discard(item)
        self._order.pop(item, None)

    def remove(self, item: Any) -> None:
        super().remove(item)
        del self._order[item]

    def pop(self) -> Any:
        if not self._order:
            raise KeyError("pop from an empty set")
        item = next(iter(self._order))
        self.remove(item)
        return item

    def clear(self) -> None:
        super().clear()
        self._order.clear()

    def update(self, *others: Iterable[Any]) -> None:
        for other in others:
            for item in other:
                self.add(item)

    def difference_update(self, *others: Iterable[Any]) -> None:
        for other in others:
            for item in other:
                self.discard(item)

    def intersection_update(self, *others: Iterable[Any]) -> None:
        keep = set.intersection(set(self), *others)
        for item in list(self._order):
            if item not in keep:
                self.discard(item)

    def symmetric_difference_update(self, other: Iterable[Any]) -> None:
        for item in _ordered(other):
            if item in self:
                self.discard(item)
            else:
                self.add(item)

    def __ior__(self, other: Any) -> OrderedSet:
        self.update(other)
        return self

    def __iand__(self, other: Any) -> OrderedSet:
        self.intersection_update(other)
        return self

    def __isub__(self, other: Any) -> OrderedSet:
        self.difference_update(other)
        return self

    def __ixor__(self, other: Any) -> OrderedSet:
        self.symmetric_difference_update(other)
        return self

    # order-keeping results
    def copy(self) -> OrderedSet:
        return type(self)(self._order)

    def union(self, *others: Iterable[Any]) -> OrderedSet:
        result = self.copy()
        result.update(*others)
        return result

    def intersection(self, *others: Iterable[Any]) -> OrderedSet:
        keep = set.intersection(set(self), *others)
        return type(self)(item for item in self._order if item in keep)

    def difference(self, *others: Iterable[Any]) -> OrderedSet:
        drop = set().union(*others)
        return type(self)(item for item in self._order if item not in drop)

    def symmetric_difference(self, other: Iterable[Any]) -> OrderedSet:
        result = self.copy()
        result.symmetric_difference_update(other)
        return result

    def __rsub__(self, other: Any) -> Any:
        if isinstance(other, (set, frozenset)):
            return type(self)(item for item in _ordered(other) if item not in self)
        return NotImplemented

    def __iter__(self) -> Iterator[Any]:
        return iter(self._order)

    def __repr__(self) -> str:
        if not self._order:
            return "set()"
        return "{" + ", ".join(map(repr, self._order)) + "}"

    def __reduce__(self) -> tuple[Any, ...]:
        # Crosses to the host (pickle) as a plain set.
        return (set, (list(self._order),))

    def __copy__(self) -> OrderedSet:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> OrderedSet:
        import copy

        result = type(self)()
        memo[id(self)] = result
        result.update(copy.deepcopy(item, memo) for item in self._order)
        return result


class OrderedFrozenSet(_Operators, frozenset):  # type: ignore[type-arg]
    """A ``frozenset`` that iterates and prints in construction order."""

    __slots__ = ("_order",)
    _order: tuple[Any, ...]

    def __new__(cls, iterable: Iterable[Any] = ()) -> OrderedFrozenSet:
        order = tuple(_ordered(iterable))
        self = super().__new__(cls, order)
        self._order = order
        return self

    def __iter__(self) -> Iterator[Any]:
        return iter(self._order)

    def __repr__(self) -> str:
        if not self._order:
            return "frozenset()"
        return "frozenset({" + ", ".join(map(repr, self._order)) + "})"

    def copy(self) -> OrderedFrozenSet:
        return self

    def union(self, *others: Iterable[Any]) -> OrderedFrozenSet:
        return type(self)([*self._order, *(i for other in others for i in other)])

    def intersection(self, *others: Iterable[Any]) -> OrderedFrozenSet:
        keep = frozenset.intersection(frozenset(self._order), *others)
        return type(self)(item for item in self._order if item in keep)

    def difference(self, *others: Iterable[Any]) -> OrderedFrozenSet:
        drop = set().union(*others)
        return type(self)(item for item in self._order if item not in drop)

    def symmetric_difference(self, other: Iterable[Any]) -> OrderedFrozenSet:
        other_items = _ordered(other)
        return type(self)(
            [
                *(i for i in self._order if i not in other_items),
                *(i for i in other_items if i not in self),
            ]
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (frozenset, (list(self._order),))

    def __copy__(self) -> OrderedFrozenSet:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> OrderedFrozenSet:
        import copy

        return type(self)(copy.deepcopy(item, memo) for item in self._order)
