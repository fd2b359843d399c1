"""Test helpers: check that code is deterministic the way replay needs it to be.

:func:`assert_deterministic` records the same code several times, in this
process and optionally in fresh processes that differ in ``PYTHONHASHSEED``,
wall-clock time and ``TZ``, and fails with the first diverging journal entry.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from datetime import datetime
from typing import Any, Final

from ._journal import Event, Journal
from ._policy import Policy
from ._sandbox import Sandbox

__all__ = ["DeterminismReport", "assert_deterministic", "record"]

# The child process of a cross-process run: reads a JSON spec on stdin,
# prints {"journal": ..., "result": ...} on stdout.
_CHILD: Final = """
import json, sys
from detsandbox.testing import _record_spec
print(json.dumps(_record_spec(json.load(sys.stdin))))
"""
_HOME: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_ZONES: Final = ("UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham")


class DeterminismReport:
    """What :func:`assert_deterministic` saw: one journal and result per run."""

    __slots__ = ("journals", "results")

    def __init__(self, journals: list[Journal], results: list[str]) -> None:
        self.journals = journals
        self.results = results

    @property
    def journal(self) -> Journal:
        """The journal every run produced."""
        return self.journals[0]


def record(
    source: str,
    *,
    call: str | None = None,
    args: tuple[Any, ...] = (),
    filename: str = "<sandbox>",
    policy: Policy | None = None,
) -> tuple[Journal, str]:
    """Run ``source`` (and ``call(*args)``) once, recording; return (journal, repr(result))."""
    base = policy if policy is not None else Policy.deterministic()
    if base.mode != "deterministic":
        raise ValueError(f"record() needs a deterministic policy, got mode {base.mode!r}")
    sb = Sandbox(base.evolve(record=True))
    ns = sb.exec(source, filename=filename)
    result: Any = None
    if call is not None:
        result = sb.call(ns[call], *args)
    return sb.journal, repr(result)


def _record_spec(spec: dict[str, Any]) -> dict[str, Any]:
    start = spec["start"]
    policy = Policy.deterministic(
        seed=spec["seed"],
        start=datetime.fromisoformat(start) if isinstance(start, str) else start,
        timezone=spec["timezone"],
        passthrough=tuple(spec["passthrough"]),
        isolate=tuple(spec["isolate"]),
        allow=tuple(spec["allow"]),
        deny=tuple(spec["deny"]),
    )
    journal, result = record(
        spec["source"],
        call=spec["call"],
        args=ast.literal_eval(spec["args"]),
        filename=spec["filename"],
        policy=policy,
    )
    return {"journal": journal.to_json(), "result": result}


def _describe(event: Event | None) -> str:
    if event is None:
        return "(no further call)"
    return f"{event.describe()} -> {event.result!r}"


def _first_difference(a: Journal, b: Journal) -> int | None:
    for index in range(max(len(a), len(b))):
        left = a[index] if index < len(a) else None
        right = b[index] if index < len(b) else None
        if left != right:
            return index
    return None


def _child_env(n: int) -> dict[str, str]:
    """The environment of the ``n``-th fresh process (from 0): its own hash seed and TZ."""
    env = dict(os.environ, PYTHONHASHSEED=str(n + 1), TZ=_ZONES[n % len(_ZONES)])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_HOME, env.get("PYTHONPATH")]))
    return env


def _check_same(labels: list[str], journals: list[Journal], results: list[str]) -> None:
    """Raise AssertionError at the first run that differs from the first one."""
    first = journals[0]
    for label, journal, result in zip(labels[1:], journals[1:], results[1:], strict=True):
        index = _first_difference(first, journal)
        if index is not None:
            left = first[index] if index < len(first) else None
            right = journal[index] if index < len(journal) else None
            raise AssertionError(
                f"{label} diverged from {labels[0]} at journal event {index + 1}:\n"
                f"  {labels[0]}: {_describe(left)}\n"
                f"  {label}: {_describe(right)}"
            )
        if result != results[0]:
            raise AssertionError(
                f"{label} returned a different result than {labels[0]}:\n"
                f"  {labels[0]}: {results[0]}\n"
                f"  {label}: {result}"
            )


def assert_deterministic(
    source: str,
    *,
    call: str | None = None,
    args: tuple[Any, ...] = (),
    filename: str = "<sandbox>",
    runs: int = 3,
    processes: int = 0,
    policy: Policy | None = None,
) -> DeterminismReport:
    """Record ``source`` ``runs`` times here and ``processes`` times in fresh processes.

    For runs in other processes, ``args`` must be literals (``ast.literal_eval``
    reads them back there).

    The code runs in a deterministic Sandbox (``policy``, by default
    ``Policy.deterministic()``), and ``call`` names a function of it to call
    with ``args``. Every run must produce the same journal and the same
    ``repr`` of the result; each fresh process gets a different
    ``PYTHONHASHSEED`` and ``TZ``, so set order and host time zones are put
    to the test too. Raises AssertionError showing the first divergence.
    """
    if runs < 1 or processes < 0:
        raise ValueError(f"need runs >= 1 and processes >= 0, got {runs} and {processes}")
    base = policy if policy is not None else Policy.deterministic()
    journals: list[Journal] = []
    results: list[str] = []
    labels: list[str] = []
    for n in range(runs):
        journal, result = record(source, call=call, args=args, filename=filename, policy=base)
        journals.append(journal)
        results.append(result)
        labels.append(f"run {n + 1} (in-process)")
    if processes:
        # Exact in the child: a datetime as ISO text (a float would round
        # microseconds), arguments as their repr (JSON would turn tuples into lists).
        start = base.start.isoformat() if isinstance(base.start, datetime) else base.start
        spec = {
            "source": source,
            "call": call,
            "args": repr(tuple(args)),
            "filename": filename,
            "seed": base.seed,
            "start": start,
            "timezone": base.timezone,
            "passthrough": list(base.passthrough),
            "isolate": list(base.isolate),
            "allow": list(base.allow),
            "deny": list(base.deny),
        }
        for n in range(processes):
            env = _child_env(n)
            proc = subprocess.run(
                [sys.executable, "-c", _CHILD],
                input=json.dumps(spec),
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if proc.returncode != 0:
                raise AssertionError(
                    f"process run {n + 1} (PYTHONHASHSEED={n + 1}) failed:\n{proc.stderr}"
                )
            out = json.loads(proc.stdout)
            journals.append(Journal.from_json(out["journal"]))
            results.append(out["result"])
            labels.append(f"process run {n + 1} (PYTHONHASHSEED={n + 1}, TZ={env['TZ']})")
    _check_same(labels, journals, results)
    return DeterminismReport(journals, results)
