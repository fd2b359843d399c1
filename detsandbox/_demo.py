"""``python -m detsandbox demo``: the README demo, on the built-in examples."""

from __future__ import annotations

from typing import TextIO

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
    return 0
