"""``python -m detsandbox demo``: the README demo, on the built-in examples."""

from __future__ import annotations

import os
from typing import TextIO

from ._journal import Journal
from ._policy import Policy
from ._sandbox import Sandbox
from .errors import RestrictedAccessError

__all__ = ["run_demo"]

_PRICES = {"apple": 3, "pear": 5}


def run_demo(out: TextIO) -> int:
    def say(text: str = "") -> None:
        print(text, file=out)

    say("1. An order workflow, run in a fresh Sandbox")
    sb = Sandbox(Policy.strict())
    wf = sb.import_module("detsandbox._examples.order_workflow")
    summary = sb.call(wf.run, "ada", {"apple": 2, "pear": 1}, _PRICES)
    say(f"   run('ada', ...) -> {summary}")

    say()
    say("2. State isolation: module state is fresh in every Sandbox")
    again = sb.call(wf.run, "bob", {"pear": 3}, _PRICES)
    say(f"   same Sandbox, second order   -> id {again['id']} ({len(wf.ORDERS)} orders held)")
    other = Sandbox()
    wf2 = other.import_module("detsandbox._examples.order_workflow")
    first = other.call(wf2.run, "cyd", {"apple": 1}, _PRICES)
    say(f"   new Sandbox, first order     -> id {first['id']} ({len(wf2.ORDERS)} order held)")
    say(f"   the two modules are distinct -> {wf is not wf2}")

    say()
    say("3. Strict mode: a nondeterministic call is refused, with its location")
    stamp = Sandbox().import_module("detsandbox._examples.stamp_order")
    try:
        Sandbox().call(stamp.run, 7)
    except RestrictedAccessError as exc:
        say("   RestrictedAccessError: " + str(exc).replace("\n", "\n   "))
    else:  # pragma: no cover - the demo's point is that this cannot happen
        say("   (not refused: this is a bug in detsandbox)")
        return 1

    say()
    say("4. Deterministic mode: the same call gets a logical clock, and replays")
    recording = Sandbox(Policy.deterministic(seed=7, record=True))
    stamp = recording.import_module("detsandbox._examples.stamp_order")
    say(f"   run(7) -> {recording.call(stamp.run, 7)!r}")
    journal = recording.journal
    event = journal[0]
    where = os.path.basename(event.location)
    say(f"   journal: {len(journal)} event, {event.qualname}() -> {event.result} at {where}")
    replaying = Sandbox(Policy.replay(Journal.from_json(journal.to_json())))
    again = replaying.import_module("detsandbox._examples.stamp_order")
    say(f"   replayed run(7) -> {replaying.call(again.run, 7)!r}")
    replaying.finish_replay()
    return 0
