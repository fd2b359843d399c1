"""What "the host is unchanged" means for the security tests."""

from __future__ import annotations

import builtins
import collections.abc
import dataclasses
import decimal
import json
import os
import random
import re
import signal
import sys
import threading
from typing import Any

__all__ = ["HostSnapshot"]

# Module attributes an escape would most like to replace.
_WATCHED: tuple[tuple[object, str], ...] = (
    (os, "system"),
    (os, "popen"),
    (os, "open"),
    (builtins, "open"),
    (builtins, "__import__"),
    (json, "dumps"),
    (json, "loads"),
    (json, "codecs"),
    (re, "compile"),
    (random, "random"),
    (sys, "modules"),
    (sys, "path"),
    (sys, "meta_path"),
    (sys, "path_hooks"),
    (sys, "stdout"),
    (sys, "stderr"),
    (sys, "excepthook"),
    (sys, "displayhook"),
    (threading, "excepthook"),
)


def _shared_objects() -> list[object]:
    """The state of a few shared classes and functions untrusted code can name."""
    return [
        dict(vars(json.dumps)),
        sorted(vars(json.JSONDecoder)),
        sorted(vars(json.JSONEncoder)),
        isinstance(5, collections.abc.Sequence),
        isinstance("", collections.abc.Callable),
    ]


def _stdlib(name: str) -> bool:
    # Sandboxed imports of shared modules may make the host import them (and
    # multiprocessing registers __main__ again as __mp_main__ when imported).
    top = name.partition(".")[0]
    return top in sys.stdlib_module_names or top in ("detsandbox", "__mp_main__")


@dataclasses.dataclass
class HostSnapshot:
    """The host state sandboxed code must leave alone."""

    modules: dict[str, Any]
    builtins: dict[str, Any]
    watched: list[object]
    path: list[str]
    meta_path: list[object]
    trace: object
    profile: object
    recursion_limit: int
    cwd: str
    environ: dict[str, str]
    random_state: object
    decimal_context: str
    sigint: object
    shared_objects: list[object]

    @classmethod
    def take(cls) -> HostSnapshot:
        return cls(
            modules=dict(sys.modules),
            builtins=dict(vars(builtins)),
            watched=[getattr(obj, name) for obj, name in _WATCHED],
            path=list(sys.path),
            meta_path=list(sys.meta_path),
            trace=sys.gettrace(),
            profile=sys.getprofile(),
            recursion_limit=sys.getrecursionlimit(),
            cwd=os.getcwd(),
            environ=dict(os.environ),
            random_state=random.getstate(),
            decimal_context=repr(decimal.getcontext()),
            sigint=signal.getsignal(signal.SIGINT),
            shared_objects=_shared_objects(),
        )

    def assert_unchanged(self) -> None:
        now = HostSnapshot.take()
        for name, module in self.modules.items():
            assert sys.modules.get(name) is module, f"host sys.modules[{name!r}] was replaced"
        added = sorted(name for name in now.modules if name not in self.modules)
        assert all(_stdlib(name) for name in added), f"host sys.modules gained {added}"
        changed = sorted(
            name
            for name in self.builtins.keys() | now.builtins.keys()
            if self.builtins.get(name, self) is not now.builtins.get(name, self)
        )
        assert not changed, f"host builtins changed: {changed}"
        for (obj, name), before, after in zip(_WATCHED, self.watched, now.watched, strict=True):
            owner = getattr(obj, "__name__", obj)
            assert before is after, f"host {owner}.{name} was replaced"
        assert self.shared_objects == now.shared_objects, "a shared class or function changed"
        for field in (
            "path",
            "meta_path",
            "recursion_limit",
            "cwd",
            "environ",
            "random_state",
            "decimal_context",
            "sigint",
        ):
            assert getattr(self, field) == getattr(now, field), f"host {field} changed"
        assert now.trace is self.trace and now.profile is self.profile, "trace/profile hook set"
