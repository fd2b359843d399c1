"""Deterministic mode: every source of nondeterminism answered from the seed and the start.

Each substitute is run through every route strict mode covers (pre-bound names,
``importlib``, ``__import__``, ``sys.modules``, ``vars()``, ``getattr``,
``exec``/``eval``/``compile``, C accelerator modules, classes reached through
passthrough objects) and must give the exact value computed here independently:
with the default start 2000-01-01T00:00:00Z, ``time.time()`` is 946684800.0,
and with seed 0 every random value comes from generators seeded by a stable
function of the seed (blake2b of ``"seed:label:n"``, never ``hash()``).

Local time is checked against an oracle: a host process started with ``TZ`` set
to the policy's zone. Determinism is checked the trio way (N runs, one distinct
result) and across fresh processes that differ in PYTHONHASHSEED, TZ and
wall-clock time. Host facts and I/O still raise, saying "deterministic sandbox".
"""

from __future__ import annotations

import base64
import email.utils
import functools
import gzip
import hashlib
import json
import os
import pathlib
import random
import resource
import socket
import sys
import textwrap
import time
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from child import run_child
from conftest import remote

from detsandbox import Clock, Policy, PolicyError, RestrictedAccessError, Sandbox, SandboxError

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: The default start, 2000-01-01T00:00:00Z, in epoch seconds.
START = 946684800


def derive(seed: int, label: str, n: int) -> int:
    """The n-th sub-seed for ``label``: a stable function of the seed, never hash()."""
    digest = hashlib.blake2b(f"{seed}:{label}:{n}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def rng(seed: int = 0) -> random.Random:
    """The generator behind the random functions, secrets, os.urandom and the uuids."""
    return random.Random(derive(seed, "random", 0))


def seeded(label: str, seed: int = 0, n: int = 0) -> float:
    """``random()`` of a generator seeded with the n-th sub-seed for ``label``."""
    return random.Random(derive(seed, label, n)).random()


def run(
    backend: str, source: str, policy: Policy | None = None, *, filename: str = "wf.py"
) -> dict[str, Any]:
    """Run ``source`` as a fresh module in a new deterministic Sandbox; return its namespace."""
    sb = Sandbox(policy if policy is not None else Policy.deterministic(), backend=backend)
    return sb.exec(textwrap.dedent(source), filename=filename)


def value(backend: str, source: str, policy: Policy | None = None) -> Any:
    """``r`` after running ``source``."""
    return run(backend, source, policy)["r"]


# -- the preset ---------------------------------------------------------------------------------


def test_the_preset_and_its_defaults() -> None:
    policy = Policy.deterministic()
    assert policy.mode == "deterministic"
    assert policy.seed == 0
    assert policy.start == datetime(2000, 1, 1, tzinfo=UTC)
    assert policy.timezone == "UTC"
    assert policy.record is False
    assert policy.journal is None
    assert (policy.passthrough, policy.isolate, policy.allow, policy.deny) == ((), (), (), ())
    assert policy == Policy(mode="deterministic")
    assert Policy.deterministic(7, 0.0) == Policy(mode="deterministic", seed=7, start=0.0)


def test_every_field_can_be_changed_with_evolve() -> None:
    start = datetime(2024, 2, 29, 12, tzinfo=UTC)
    policy = Policy.deterministic().evolve(
        seed=9, start=start, timezone="Europe/Paris", record=True, allow=("os.getpid",)
    )
    assert (policy.mode, policy.seed, policy.start, policy.timezone, policy.record) == (
        "deterministic",
        9,
        start,
        "Europe/Paris",
        True,
    )
    assert policy.allow == ("os.getpid",)
    assert policy == Policy.deterministic(
        9, start, record=True, timezone="Europe/Paris", allow=("os.getpid",)
    )
    assert Policy.deterministic(seed=1) != Policy.deterministic(seed=2)
    assert Policy.deterministic() != Policy.strict()


BAD_POLICIES = [
    pytest.param({"seed": -1}, "Policy.seed must be an int >= 0, got -1", id="negative seed"),
    pytest.param({"seed": "x"}, "Policy.seed must be an int >= 0, got 'x'", id="str seed"),
    pytest.param({"seed": 1.5}, "Policy.seed must be an int >= 0, got 1.5", id="float seed"),
    pytest.param({"seed": True}, "Policy.seed must be an int >= 0, got True", id="bool seed"),
    pytest.param(
        {"start": datetime(2000, 1, 1)},
        "Policy.start must be timezone-aware, got datetime.datetime(2000, 1, 1, 0, 0): "
        "write datetime(..., tzinfo=timezone.utc)",
        id="naive start",
    ),
    pytest.param(
        {"start": "2000-01-01"},
        "Policy.start must be an aware datetime or epoch seconds, got '2000-01-01'",
        id="str start",
    ),
    pytest.param(
        {"start": True},
        "Policy.start must be an aware datetime or epoch seconds, got True",
        id="bool start",
    ),
    pytest.param(
        {"timezone": "Mars/Base"},
        "Policy.timezone must be 'UTC' or an IANA zone such as 'Europe/Paris', "
        "got 'Mars/Base' ('No time zone found with key Mars/Base')",
        id="unknown zone",
    ),
    pytest.param({"timezone": 5}, "Policy.timezone must be a str, got 5", id="int zone"),
    pytest.param(
        {"record": "yes"}, "Policy.record must be True or False, got 'yes'", id="str record"
    ),
    pytest.param(
        {"nope": 1},
        "Policy has no field 'nope'; fields are: allow, deny, isolate, journal, limits, "
        "mode, passthrough, record, seed, start, timezone, untrusted",
        id="unknown field",
    ),
]


@pytest.mark.parametrize(("changes", "message"), BAD_POLICIES)
def test_bad_deterministic_policies(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.deterministic(**changes)
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)
    with pytest.raises(PolicyError) as again:  # evolve validates the same way
        Policy.deterministic().evolve(**changes)
    assert str(again.value) == message


def test_record_needs_deterministic_mode() -> None:
    with pytest.raises(PolicyError) as info:
        Policy.strict(record=True)
    assert str(info.value) == (
        "Policy.record=True needs mode 'deterministic', not 'strict': "
        "use Policy.deterministic(record=True)"
    )


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"seed": 1}, "seed"),
        ({"start": 0}, "start"),
        ({"start": datetime(2024, 1, 1, tzinfo=UTC)}, "start"),
        ({"timezone": "Europe/Paris"}, "timezone"),
    ],
)
def test_strict_policies_refuse_the_run_fields(changes: dict[str, Any], name: str) -> None:
    with pytest.raises(PolicyError) as info:
        Policy.strict(**changes)
    assert str(info.value) == (
        f"Policy.{name} only applies to deterministic and replay modes: "
        f"use Policy.deterministic({name}=...)"
    )
    # the defaults themselves are fine, spelled out or not
    assert Policy.strict(seed=0, timezone="UTC") == Policy.strict()


def test_strict_sandboxes_have_no_clock_seed_or_journal(backend: str) -> None:
    sb = Sandbox(Policy.strict(), backend=backend)
    for attr in ("clock", "seed", "journal"):
        with pytest.raises(SandboxError) as info:
            getattr(sb, attr)
        assert str(info.value) == (
            f"Sandbox.{attr} exists in deterministic and replay mode, not in 'strict' mode: "
            "use Policy.deterministic()"
        )


# -- exact values with the defaults -------------------------------------------------------------


def test_default_start_and_seed_give_these_exact_values(backend: str) -> None:
    ns = run(
        backend,
        """
        import datetime, random, time
        wall = time.time()
        wall_ns = time.time_ns()
        mono = time.monotonic()
        now = datetime.datetime.now()
        aware = datetime.datetime.now(datetime.UTC)
        today = datetime.date.today()
        local = time.localtime()
        label = time.ctime()
        stamp = time.strftime('%Y-%m-%dT%H:%M:%S')
        drawn = random.random()
        """,
    )
    utc = datetime.fromtimestamp(START, UTC)
    assert ns["wall"] == 946684800.0 == utc.timestamp()
    assert ns["wall_ns"] == 946684800_000_000_000
    assert ns["mono"] == 0.0
    assert ns["now"] == datetime(2000, 1, 1) == utc.replace(tzinfo=None)
    assert ns["aware"] == datetime(2000, 1, 1, tzinfo=UTC) == utc
    assert ns["aware"].tzinfo is UTC
    assert ns["today"] == date(2000, 1, 1)
    assert tuple(ns["local"])[:8] == tuple(time.gmtime(START))[:8]
    assert (ns["local"].tm_zone, ns["local"].tm_gmtoff) == ("UTC", 0)
    assert ns["label"] == "Sat Jan  1 00:00:00 2000" == time.asctime(time.gmtime(START))
    assert ns["stamp"] == "2000-01-01T00:00:00"
    assert ns["drawn"] == 0.6946595936453227 == rng().random()


def test_seed_zero_random_values_are_pinned(backend: str) -> None:
    """Literals: a change here changes every journal ever recorded with seed 0."""
    ns = run(
        backend,
        """
        import os, random, secrets, uuid
        a = random.random()
        b = random.Random().random()
        c = uuid.uuid4()
        d = os.urandom(4)
        e = secrets.token_hex(4)
        f = uuid.getnode()
        """,
    )
    assert ns["a"] == 0.6946595936453227
    assert ns["b"] == 0.18102916904331778 == seeded("Random")
    assert ns["c"] == uuid.UUID("f48de12e-c606-4c58-b595-421d50329727")
    assert ns["d"] == b"\xb7\x18+\x14"
    assert ns["e"] == "a41eec67"
    assert ns["f"] == 245265374244592
    assert ns["f"] & 0x010000000000  # the multicast bit: never a real MAC address


def test_uuid1_uses_the_node_getnode_gives(backend: str) -> None:
    ns = run(backend, "import uuid\nnode = uuid.getnode()\nids = [uuid.uuid1(), uuid.uuid1()]\n")
    assert [u.node for u in ns["ids"]] == [ns["node"], ns["node"]]
    assert [u.version for u in ns["ids"]] == [1, 1]
    gen = rng()
    assert [u.clock_seq for u in ns["ids"]] == [gen.getrandbits(14), gen.getrandbits(14)]


def test_successive_random_values_continue_one_stream_per_label(backend: str) -> None:
    ns = run(
        backend,
        """
        import random, uuid
        draws = [random.random() for _ in range(3)]
        instances = [random.Random().random() for _ in range(3)]
        ids = [uuid.uuid4() for _ in range(2)]
        """,
    )
    gen = rng()
    assert ns["draws"] == [gen.random() for _ in range(3)]
    assert ns["ids"] == [uuid.UUID(int=gen.getrandbits(128), version=4) for _ in range(2)]
    assert ns["instances"] == [seeded("Random", n=n) for n in range(3)]


# -- every substitute through every route ------------------------------------------------------
#
# Each source starts with PRELUDE, which sleeps 2.5 s of logical time, so the
# values below also prove that sleeping moves the wall and the monotonic clocks.

PRELUDE = "import datetime as _dt\nimport time as _t\n_t.sleep(2.5)\n"
NOW = START + 2.5
NOW_NS = START * 10**9 + 2_500_000_000
AT = datetime.fromtimestamp(NOW, UTC)


def uuid1_at(now_ns: int, node: int, clock_seq: int) -> uuid.UUID:
    """RFC 4122 version 1: 100 ns intervals since 1582-10-15, clock_seq and node."""
    stamp = now_ns // 100 + 0x01B21DD213814000
    fields = (
        stamp & 0xFFFFFFFF,
        (stamp >> 32) & 0xFFFF,
        (stamp >> 48) & 0x0FFF,
        (clock_seq >> 8) & 0x3F,
        clock_seq & 0xFF,
        node,
    )
    return uuid.UUID(fields=fields, version=1)


NODE = 245265374244592  # uuid.getnode() with seed 0; multicast bit set: never a real MAC


def _uuid1_from_seed() -> uuid.UUID:
    return uuid1_at(NOW_NS, NODE, rng().getrandbits(14))


class Sub:
    """A substitute: ``target`` (dotted name), the ``call`` suffix, an optional
    statement ``then`` run afterwards, and the expected value of ``r``."""

    def __init__(self, target: str, call: str, expected: object, *, then: str = "") -> None:
        self.target, self.call, self.expected, self.then = target, call, expected, then
        parts = target.split(".")
        cut = 2 if parts[0] == "email" else 1  # the module: "email.utils", "time"...
        self.module = ".".join(parts[:cut])
        self.attr = ".".join(parts[cut:])
        head, dot, tail = self.attr.partition(".")
        self.head, self.tail = head, dot + tail


SUBSTITUTES = {
    # clocks
    "time.time": Sub("time.time", "()", NOW),
    "time.time_ns": Sub("time.time_ns", "()", NOW_NS),
    "time.monotonic": Sub("time.monotonic", "()", 2.5),
    "time.monotonic_ns": Sub("time.monotonic_ns", "()", 2_500_000_000),
    "time.perf_counter": Sub("time.perf_counter", "()", 2.5),
    "time.perf_counter_ns": Sub("time.perf_counter_ns", "()", 2_500_000_000),
    "time.process_time": Sub("time.process_time", "()", 2.5),
    "time.process_time_ns": Sub("time.process_time_ns", "()", 2_500_000_000),
    "time.thread_time": Sub("time.thread_time", "()", 2.5),
    "time.thread_time_ns": Sub("time.thread_time_ns", "()", 2_500_000_000),
    "os.times": Sub("os.times", "()", os.times_result((2.5, 0.0, 0.0, 0.0, 2.5))),
    "resource.getrusage": Sub(
        "resource.getrusage", "(0)", resource.struct_rusage((2.5, 0.0) + (0,) * 14)
    ),
    "time.clock_gettime(REALTIME)": Sub("time.clock_gettime", "(_t.CLOCK_REALTIME)", NOW),
    "time.clock_gettime(MONOTONIC)": Sub("time.clock_gettime", "(_t.CLOCK_MONOTONIC)", 2.5),
    "time.clock_gettime_ns(REALTIME)": Sub("time.clock_gettime_ns", "(_t.CLOCK_REALTIME)", NOW_NS),
    "time.clock_gettime_ns(MONOTONIC)": Sub(
        "time.clock_gettime_ns", "(_t.CLOCK_MONOTONIC)", 2_500_000_000
    ),
    "time.sleep": Sub(
        "time.sleep", "(1.5)", (None, NOW + 1.5, 4.0), then="r = (r, _t.time(), _t.monotonic())"
    ),
    "time.localtime": Sub(
        "time.localtime",
        "()",
        (tuple(time.gmtime(NOW))[:8], "UTC", 0),
        then="r = (tuple(r)[:8], r.tm_zone, r.tm_gmtoff)",
    ),
    "time.gmtime": Sub("time.gmtime", "()", time.gmtime(NOW)),
    "time.ctime": Sub("time.ctime", "()", "Sat Jan  1 00:00:02 2000"),
    "time.asctime": Sub("time.asctime", "()", time.asctime(time.gmtime(NOW))),
    "time.strftime": Sub("time.strftime", "('%Y-%m-%d %H:%M:%S')", "2000-01-01 00:00:02"),
    "time.mktime": Sub("time.mktime", "((2000, 1, 1, 0, 0, 2, 5, 1, 0))", START + 2.0),
    "time.mktime(localtime())": Sub("time.mktime", "(_t.localtime())", START + 2.0),
    "asyncio.sleep": Sub(
        "asyncio.sleep",
        "(1.5, 'slept')",
        ("slept", NOW + 1.5, 4.0),
        then="import asyncio as _a\nr = (_a.run(r), _t.time(), _t.monotonic())",
    ),
    "datetime.datetime.now": Sub("datetime.datetime.now", "()", AT.replace(tzinfo=None)),
    "datetime.datetime.now(UTC)": Sub("datetime.datetime.now", "(_dt.UTC)", AT),
    "datetime.datetime.now(tz=+05:00)": Sub(
        "datetime.datetime.now",
        "(tz=_dt.timezone(_dt.timedelta(hours=5)))",
        (AT, 5, timedelta(hours=5)),
        then="r = (r, r.hour, r.utcoffset())",
    ),
    "datetime.datetime.utcnow": Sub("datetime.datetime.utcnow", "()", AT.replace(tzinfo=None)),
    "datetime.datetime.today": Sub("datetime.datetime.today", "()", AT.replace(tzinfo=None)),
    "datetime.date.today": Sub("datetime.date.today", "()", date(2000, 1, 1)),
    "datetime.datetime.fromtimestamp": Sub(
        "datetime.datetime.fromtimestamp", "(86400.5)", datetime(1970, 1, 2, 0, 0, 0, 500000)
    ),
    "datetime.date.fromtimestamp": Sub(
        "datetime.date.fromtimestamp", "(86400 * 365)", date(1971, 1, 1)
    ),
    "datetime.datetime.astimezone": Sub(
        "datetime.datetime",
        "(2020, 1, 1).astimezone()",
        (datetime(2020, 1, 1, tzinfo=UTC), timedelta(0)),
        then="r = (r, r.utcoffset())",
    ),
    "gzip.compress": Sub(
        "gzip.compress", "(b'payload')", gzip.compress(b"payload", mtime=int(NOW))
    ),
    "email.utils.formatdate": Sub("email.utils.formatdate", "()", email.utils.formatdate(NOW)),
    "email.utils.formatdate(usegmt)": Sub(
        "email.utils.formatdate", "(usegmt=True)", email.utils.formatdate(NOW, usegmt=True)
    ),
    "email.utils.formatdate(localtime)": Sub(
        "email.utils.formatdate", "(localtime=True)", "Sat, 01 Jan 2000 00:00:02 +0000"
    ),
    # the time zone: values, not calls
    "time.timezone": Sub("time.timezone", "", 0),
    "time.altzone": Sub("time.altzone", "", 0),
    "time.daylight": Sub("time.daylight", "", 0),
    "time.tzname": Sub("time.tzname", "", ("UTC", "UTC")),
    # randomness
    "random.random": Sub("random.random", "()", rng().random()),
    "random.randint": Sub("random.randint", "(1, 1000)", rng().randint(1, 1000)),
    "random.choice": Sub("random.choice", "('abcdefgh')", rng().choice("abcdefgh")),
    "random.getrandbits": Sub("random.getrandbits", "(64)", rng().getrandbits(64)),
    "random.randbytes": Sub("random.randbytes", "(8)", rng().randbytes(8)),
    "random.sample": Sub("random.sample", "(range(100), 3)", rng().sample(range(100), 3)),
    "random.seed": Sub(
        "random.seed", "()", seeded("seed"), then="import random as _r\nr = _r.random()"
    ),
    "random.Random": Sub("random.Random", "().random()", seeded("Random")),
    "random.Random(None)": Sub("random.Random", "(None).random()", seeded("Random")),
    "random.SystemRandom": Sub("random.SystemRandom", "().random()", seeded("Random")),
    "secrets.SystemRandom": Sub("secrets.SystemRandom", "().random()", seeded("Random")),
    "secrets.token_bytes": Sub("secrets.token_bytes", "(8)", rng().randbytes(8)),
    "secrets.token_bytes()": Sub("secrets.token_bytes", "()", rng().randbytes(32)),
    "secrets.token_hex": Sub("secrets.token_hex", "(8)", rng().randbytes(8).hex()),
    "secrets.token_urlsafe": Sub(
        "secrets.token_urlsafe",
        "(8)",
        base64.urlsafe_b64encode(rng().randbytes(8)).rstrip(b"=").decode(),
    ),
    "secrets.randbelow": Sub("secrets.randbelow", "(1000)", rng().randrange(1000)),
    "secrets.choice": Sub("secrets.choice", "('abcdefgh')", rng().choice("abcdefgh")),
    "secrets.randbits": Sub("secrets.randbits", "(16)", rng().getrandbits(16)),
    "os.urandom": Sub("os.urandom", "(8)", rng().randbytes(8)),
    "os.getrandom": Sub("os.getrandom", "(8)", rng().randbytes(8)),
    "uuid.uuid4": Sub("uuid.uuid4", "()", uuid.UUID(int=rng().getrandbits(128), version=4)),
    "uuid.uuid1": Sub("uuid.uuid1", "()", _uuid1_from_seed()),
    "uuid.uuid1(node, clock_seq)": Sub(
        "uuid.uuid1", "(node=1, clock_seq=2)", uuid1_at(NOW_NS, node=1, clock_seq=2)
    ),
    "uuid.getnode": Sub("uuid.getnode", "()", NODE),
}

ROUTES = {
    "attribute": "import {module}\nr = {module}.{attr}{call}",
    "from-import": "from {module} import {head}\nr = {head}{tail}{call}",
    "from-import-as": "from {module} import {head} as bound\nr = bound{tail}{call}",
    "importlib.import_module": (
        "import importlib\nr = importlib.import_module({module!r}).{attr}{call}"
    ),
    "__import__": "r = __import__({module!r}, fromlist=['_']).{attr}{call}",
    "sys.modules": "import sys, {module}\nr = sys.modules[{module!r}].{attr}{call}",
    "vars(module)": "import {module}\nr = vars({module})[{head!r}]{tail}{call}",
    "getattr": "import {module}\nr = getattr({module}, {head!r}){tail}{call}",
    "exec": "exec({inner!r})",
    "eval": "r = eval({expr!r})",
    "exec(compile)": "exec(compile({inner!r}, 'inner.py', 'exec'))",
}


def route_source(sub: Sub, route: str) -> str:
    fields = {
        "module": sub.module,
        "attr": sub.attr,
        "head": sub.head,
        "tail": sub.tail,
        "call": sub.call,
    }
    fields["inner"] = ROUTES["attribute"].format(**fields)
    fields["expr"] = "__import__({module!r}, fromlist=['_']).{attr}{call}".format(**fields)
    return PRELUDE + ROUTES[route].format(**fields) + "\n" + sub.then + "\n"


def test_route_sources_read_as_intended() -> None:
    sub = SUBSTITUTES["datetime.datetime.now(UTC)"]
    assert route_source(sub, "from-import") == (
        PRELUDE + "from datetime import datetime\nr = datetime.now(_dt.UTC)\n\n"
    )
    assert route_source(sub, "vars(module)") == (
        PRELUDE + "import datetime\nr = vars(datetime)['datetime'].now(_dt.UTC)\n\n"
    )
    assert route_source(SUBSTITUTES["email.utils.formatdate"], "sys.modules") == (
        PRELUDE + "import sys, email.utils\nr = sys.modules['email.utils'].formatdate()\n\n"
    )


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("name", SUBSTITUTES)
def test_every_substitute_through_every_route(backend: str, name: str, route: str) -> None:
    sub = SUBSTITUTES[name]
    assert value(backend, route_source(sub, route)) == sub.expected


C_MODULE_ROUTES = [
    pytest.param("import _datetime\nr = _datetime.datetime.now()", AT.replace(tzinfo=None)),
    pytest.param("import _datetime\nr = _datetime.datetime.utcnow()", AT.replace(tzinfo=None)),
    pytest.param("import _datetime\nr = _datetime.datetime.today()", AT.replace(tzinfo=None)),
    pytest.param("import _datetime\nr = _datetime.date.today()", date(2000, 1, 1)),
    pytest.param(
        "from _datetime import datetime\nr = datetime.fromtimestamp(86400.5)",
        datetime(1970, 1, 2, 0, 0, 0, 500000),
    ),
    pytest.param(
        "import _datetime\nr = _datetime.datetime(2020, 1, 1).astimezone()",
        datetime(2020, 1, 1, tzinfo=UTC),
    ),
    pytest.param("import _random\nr = _random.Random().random()", seeded("Random")),
    pytest.param("from _random import Random\nr = Random(None).random()", seeded("Random")),
    pytest.param("import _random\nx = _random.Random(1)\nx.seed()\nr = x.random()", seeded("seed")),
    pytest.param("import posix\nr = posix.urandom(8)", rng().randbytes(8)),
    pytest.param("from posix import getrandom\nr = getrandom(8)", rng().randbytes(8)),
    pytest.param(
        "import sys, posix\nr = sys.modules['posix'].urandom(8)", rng().randbytes(8), id="sys.mod"
    ),
]


@pytest.mark.parametrize(("source", "expected"), C_MODULE_ROUTES)
def test_c_accelerator_modules_get_the_substitutes(
    backend: str, source: str, expected: object
) -> None:
    assert value(backend, PRELUDE + source) == expected


@pytest.mark.skipif(sys.version_info < (3, 12), reason="_pydatetime exists from 3.12")
@pytest.mark.xfail(
    strict=True,
    reason="bug: _pydatetime's classes are not the C ones, so _pydatetime.datetime.now() "
    "reads the host clock (in strict mode too)",
)
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import _pydatetime\nr = _pydatetime.datetime.now()", AT.replace(tzinfo=None)),
        ("import _pydatetime\nr = _pydatetime.date.today()", date(2000, 1, 1)),
    ],
    ids=["now", "today"],
)
def test_the_pure_python_datetime_gets_the_substitutes(
    backend: str, source: str, expected: object
) -> None:
    assert value(backend, PRELUDE + source) == expected


PASSTHROUGH_ROUTES = [
    pytest.param("r = type(_dt.datetime(2020, 1, 1)).now()", AT.replace(tzinfo=None)),
    pytest.param("r = _dt.datetime(2020, 1, 1).now()", AT.replace(tzinfo=None), id="inst.now"),
    pytest.param("r = _dt.datetime.min.now()", AT.replace(tzinfo=None)),
    pytest.param("r = _dt.datetime.fromtimestamp(0, _dt.UTC).now(_dt.UTC)", AT),
    pytest.param(
        "r = _dt.datetime.combine(_dt.date(2020, 1, 1), _dt.time()).utcnow()",
        AT.replace(tzinfo=None),
    ),
    pytest.param(
        "r = type(_dt.datetime(2020, 1, 1)).fromtimestamp(86400.5)",
        datetime(1970, 1, 2, 0, 0, 0, 500000),
    ),
    pytest.param("r = _dt.date(2020, 1, 1).today()", date(2000, 1, 1), id="inst.today"),
    pytest.param("r = _dt.date.max.today()", date(2000, 1, 1)),
    pytest.param("r = _dt.date(2020, 1, 1).__class__.today()", date(2000, 1, 1)),
    pytest.param("r = getattr(_dt.date(2020, 1, 1), 'to' + 'day')()", date(2000, 1, 1)),
    pytest.param(
        # isoformat(): an instance of a class made in the Sandbox stays in a remote worker
        "class D(_dt.datetime):\n    pass\nr = D.now().isoformat(), type(D.now()).__name__",
        (AT.replace(tzinfo=None).isoformat(), "D"),
        id="subclass now",
    ),
    pytest.param(
        "class E(_dt.date):\n    pass\nr = E.today().isoformat(), type(E.today()).__name__",
        ("2000-01-01", "E"),
        id="subclass today",
    ),
    pytest.param("import random\nr = type(random.Random(1))().random()", seeded("Random")),
    pytest.param("import random\nr = random.Random(1).__class__().random()", seeded("Random")),
    pytest.param("import random\nr = random.Random(1).__class__(None).random()", seeded("Random")),
    pytest.param(
        "import random\nclass R(random.Random):\n    pass\nr = R().random(), type(R()).__name__",
        (seeded("Random"), "R"),
        id="subclass Random()",
    ),
    pytest.param(
        "import random\nclass R(random.Random):\n    def __init__(self):\n"
        "        super().__init__()\nr = R().random()",
        seeded("seed"),
        id="subclass with its own __init__",
    ),
    pytest.param("import random\nx = random.Random(1)\nx.seed()\nr = x.random()", seeded("seed")),
    pytest.param(
        "import random\nx = random.Random(1)\nx.seed(None)\nr = x.random()", seeded("seed")
    ),
    pytest.param(
        "import random\nx = random.Random(1)\nx.seed(version=2)\nr = x.random()", seeded("seed")
    ),
    pytest.param(
        "import random\nx = random.Random(1)\nrandom.Random.seed(x)\nr = x.random()",
        seeded("seed"),
        id="unbound Random.seed(x)",
    ),
    pytest.param(
        "import random\nx = random.Random(1)\ngetattr(x, 'seed')()\nr = x.random()",
        seeded("seed"),
        id="getattr(x, 'seed')()",
    ),
]


@pytest.mark.parametrize(("source", "expected"), PASSTHROUGH_ROUTES)
def test_classes_reached_through_passthrough_objects_get_the_substitutes(
    backend: str, source: str, expected: object
) -> None:
    assert value(backend, PRELUDE + source) == expected


EXPLICIT_NONE = [
    pytest.param("r = tuple(_t.localtime(None))[:8]", tuple(time.gmtime(NOW))[:8]),
    pytest.param("r = _t.gmtime(None)", time.gmtime(NOW)),
    pytest.param("r = _t.ctime(None)", "Sat Jan  1 00:00:02 2000"),
    pytest.param("r = _dt.datetime.now(None)", AT.replace(tzinfo=None)),
    pytest.param("r = _dt.datetime.now(tz=None)", AT.replace(tzinfo=None)),
    pytest.param("r = _dt.datetime.fromtimestamp(0, None)", datetime(1970, 1, 1)),
    pytest.param("r = _dt.datetime.fromtimestamp(0, tz=None)", datetime(1970, 1, 1)),
    pytest.param("r = _dt.datetime(2020, 1, 1).astimezone(None)", datetime(2020, 1, 1, tzinfo=UTC)),
    pytest.param("import random\nrandom.seed(None)\nr = random.random()", seeded("seed")),
    pytest.param("import random\nrandom.seed(a=None)\nr = random.random()", seeded("seed")),
]


@pytest.mark.parametrize(("source", "expected"), EXPLICIT_NONE)
def test_an_explicit_none_is_substituted_like_no_argument(
    backend: str, source: str, expected: object
) -> None:
    assert value(backend, PRELUDE + source) == expected


CONVERSIONS = [
    # given an explicit time or seed, these are conversions: in the policy's zone
    pytest.param("r = tuple(_t.localtime(0))[:8]", tuple(time.gmtime(0))[:8]),
    pytest.param("r = _t.ctime(0)", "Thu Jan  1 00:00:00 1970"),
    pytest.param("r = _t.strftime('%Y', _t.gmtime(0))", "1970"),
    pytest.param("r = _t.gmtime(0)", time.gmtime(0)),
    pytest.param("r = _dt.datetime.fromtimestamp(0, _dt.UTC)", datetime(1970, 1, 1, tzinfo=UTC)),
    pytest.param("import random\nr = random.Random(42).random()", random.Random(42).random()),
    pytest.param(
        "import random\nx = random.Random(1)\nx.seed(42)\nr = x.random()",
        random.Random(42).random(),
    ),
    pytest.param("import random\nrandom.seed(42)\nr = random.random()", random.Random(42).random()),
    pytest.param("import gzip\nr = gzip.compress(b'x', mtime=0)", gzip.compress(b"x", mtime=0)),
    pytest.param("import email.utils\nr = email.utils.formatdate(0)", email.utils.formatdate(0)),
    pytest.param(
        "import secrets\nr = secrets.compare_digest('a', 'a'), secrets.compare_digest(b'a', b'b')",
        (True, False),
        id="secrets.compare_digest is pure",
    ),
]


@pytest.mark.parametrize(("source", "expected"), CONVERSIONS)
def test_explicit_arguments_are_honoured(backend: str, source: str, expected: object) -> None:
    assert value(backend, PRELUDE + source) == expected


def test_the_rest_of_secrets_systemrandom_api_is_substituted(backend: str) -> None:
    # secrets.randbits is SystemRandom.getrandbits under another name
    ns = run(backend, "import secrets\na = secrets.randbits(16)\nb = secrets.randbits(k=16)\n")
    gen = rng()
    assert (ns["a"], ns["b"]) == (gen.getrandbits(16), gen.getrandbits(16))


def test_email_utils_localtime_is_substituted(backend: str) -> None:
    r = value(backend, "import email.utils\nr = email.utils.localtime()")
    assert r == datetime(2000, 1, 1, tzinfo=UTC)
    assert r.utcoffset() == timedelta(0)


# -- the start, the logical clock and the host's controls ---------------------------------------

_PARIS_LEAP = datetime(2024, 2, 29, 23, 30, tzinfo=timezone(timedelta(hours=2)))

STARTS = [
    pytest.param(0, 0.0, datetime(1970, 1, 1), id="epoch 0"),
    pytest.param(1234567890.5, 1234567890.5, datetime(2009, 2, 13, 23, 31, 30, 500000), id="float"),
    pytest.param(
        _PARIS_LEAP, _PARIS_LEAP.timestamp(), datetime(2024, 2, 29, 21, 30), id="aware, +02:00"
    ),
    pytest.param(
        datetime(2038, 1, 19, 3, 14, 8, tzinfo=UTC),
        2**31,
        datetime(2038, 1, 19, 3, 14, 8),
        id="past 2**31",
    ),
]


@pytest.mark.parametrize(("start", "epoch", "naive_utc"), STARTS)
def test_the_wall_clock_starts_at_the_policy_start(
    backend: str, start: datetime | float, epoch: float, naive_utc: datetime
) -> None:
    ns = run(
        backend,
        """
        import datetime, time
        wall = time.time()
        wall_ns = time.time_ns()
        now = datetime.datetime.now()
        utc = datetime.datetime.now(datetime.UTC)
        """,
        Policy.deterministic(start=start),
    )
    assert ns["wall"] == epoch
    assert ns["wall_ns"] == round(epoch * 10**6) * 1000
    assert ns["now"] == naive_utc
    assert ns["utc"] == naive_utc.replace(tzinfo=UTC)


def test_the_clock_moves_only_when_the_host_advances_it_or_the_code_sleeps(backend: str) -> None:
    sb = Sandbox(Policy.deterministic(), backend=backend)
    ns = sb.exec(
        "import time\ndef read():\n    return time.time(), time.monotonic()\n", filename="wf.py"
    )
    assert sb.call(ns["read"]) == (946684800.0, 0.0)
    time.sleep(0.02)  # the host's time passes; the Sandbox's does not
    assert sb.call(ns["read"]) == (946684800.0, 0.0)
    sb.clock.advance(60)
    assert sb.call(ns["read"]) == (946684860.0, 60.0)
    sb.exec("import time\ntime.sleep(1.5)\n", filename="sleeper.py")
    assert sb.call(ns["read"]) == (946684861.5, 61.5)
    assert (sb.clock.time(), sb.clock.monotonic()) == (946684861.5, 61.5)
    assert (sb.clock.time_ns(), sb.clock.monotonic_ns()) == (946684861_500_000_000, 61_500_000_000)


def test_the_clock_is_one_clock_object(backend: str) -> None:
    sb = Sandbox(Policy.deterministic(), backend=backend)
    assert isinstance(sb.clock, Clock)
    assert sb.clock is sb.clock


def test_the_host_reads_the_clock_and_the_seed_between_calls(backend: str) -> None:
    sb = Sandbox(
        Policy.deterministic(seed=42, start=datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        backend=backend,
    )
    assert sb.seed == 42
    assert repr(sb.clock) == "<detsandbox.Clock 2024-05-06T07:08:09+00:00, 0s elapsed>"
    ns = sb.exec("import time\ndef now():\n    return time.time()\n")
    assert sb.call(ns["now"]) == sb.clock.time() == 1714979289.0
    sb.clock.advance(0.5)
    assert repr(sb.clock) == "<detsandbox.Clock 2024-05-06T07:08:09.500000+00:00, 0.5s elapsed>"
    assert sb.call(ns["now"]) == sb.clock.time() == 1714979289.5
    sb.clock.advance(0)  # zero is a no-op, not an error
    assert sb.clock.monotonic() == 0.5
    assert sb.seed == 42


@pytest.mark.parametrize(
    ("seconds", "error", "message"),
    [
        (-1, ValueError, "Clock.advance() cannot move time backwards (got -1 seconds)"),
        (-0.001, ValueError, "Clock.advance() cannot move time backwards (got -0.001 seconds)"),
        ("1", TypeError, "Clock.advance() takes seconds as a number, got '1'"),
        (None, TypeError, "Clock.advance() takes seconds as a number, got None"),
        (True, TypeError, "Clock.advance() takes seconds as a number, got True"),
    ],
)
def test_advance_refuses_to_move_time_back_or_take_non_numbers(
    backend: str, seconds: object, error: type[Exception], message: str
) -> None:
    sb = Sandbox(Policy.deterministic(), backend=backend)
    sb.clock.advance(5)
    with pytest.raises(error) as info:
        sb.clock.advance(seconds)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert (sb.clock.time(), sb.clock.monotonic()) == (946684805.0, 5.0)  # unchanged


def test_each_sandbox_has_its_own_clock(backend: str) -> None:
    a = Sandbox(Policy.deterministic(), backend=backend)
    b = Sandbox(Policy.deterministic(), backend=backend)
    a.clock.advance(100)
    a.exec("import time\ntime.sleep(5)\n")
    assert (a.clock.monotonic(), b.clock.monotonic()) == (105.0, 0.0)
    assert b.exec("import time\nr = time.time()\n")["r"] == 946684800.0


def test_monotonic_clocks_never_go_backwards(backend: str) -> None:
    ns = run(
        backend,
        """
        import asyncio, time
        readings = [time.monotonic()]
        for pause in (0, 0.25, 0, 3, 0.001):
            time.sleep(pause)
            readings.append(time.monotonic())
        async def napping():
            await asyncio.sleep(2)
            await asyncio.sleep(-5)  # a negative delay returns at once, as in asyncio
            await asyncio.sleep(0)
        asyncio.run(napping())
        readings.append(time.monotonic())
        ns = [time.monotonic_ns(), time.perf_counter_ns()]
        """,
    )
    assert ns["readings"] == [0.0, 0.0, 0.25, 0.25, 3.25, 3.251, 5.251]
    assert ns["readings"] == sorted(ns["readings"])
    assert ns["ns"] == [5_251_000_000, 5_251_000_000]


def test_sleep_refuses_a_negative_length_like_the_host(backend: str) -> None:
    with pytest.raises(ValueError) as host:
        time.sleep(-1)
    with pytest.raises(ValueError) as info:
        run(backend, "import time\ntime.sleep(-1)\n")
    assert str(info.value) == str(host.value) == "sleep length must be non-negative"


def test_the_local_time_zone_comes_from_the_policy(backend: str) -> None:
    ns = run(
        backend,
        """
        import datetime, email.utils, time
        now = datetime.datetime.now()
        utcnow = datetime.datetime.utcnow()
        today = datetime.date.today()
        local = time.localtime()
        label = time.ctime()
        stamp = time.strftime('%Y-%m-%d %H:%M %Z %z')
        zone = time.timezone, time.altzone, time.daylight, time.tzname
        summer = datetime.datetime(2020, 7, 1).astimezone()
        header = email.utils.formatdate(localtime=True)
        epoch = datetime.datetime.fromtimestamp(0)
        """,
        Policy.deterministic(timezone="America/New_York"),
    )
    assert ns["now"] == datetime(1999, 12, 31, 19)
    assert ns["utcnow"] == datetime(2000, 1, 1)
    assert ns["today"] == date(1999, 12, 31)
    assert tuple(ns["local"]) == (1999, 12, 31, 19, 0, 0, 4, 365, 0)
    assert (ns["local"].tm_zone, ns["local"].tm_gmtoff) == ("EST", -18000)
    assert ns["label"] == "Fri Dec 31 19:00:00 1999"
    assert ns["stamp"] == "1999-12-31 19:00 EST -0500"
    assert ns["zone"] == (18000, 14400, 1, ("EST", "EDT"))
    assert ns["summer"].isoformat() == "2020-07-01T00:00:00-04:00"
    assert ns["header"] == "Fri, 31 Dec 1999 19:00:00 -0500"
    assert ns["epoch"] == datetime(1969, 12, 31, 19)


_ORACLE = """
import datetime, json, time
out = {"zone": [time.timezone, time.altzone, time.daylight, list(time.tzname)], "at": []}
for t in (%(t0)r, %(t1)r):
    lt = time.localtime(t)
    out["at"].append([
        list(lt), lt.tm_zone, lt.tm_gmtoff, time.ctime(t),
        time.strftime("%%Y-%%m-%%d %%H:%%M:%%S %%Z %%z", lt),
        datetime.datetime.fromtimestamp(t).isoformat(),
        datetime.date.fromtimestamp(t).isoformat(),
        time.mktime(lt),
    ])
out["astimezone"] = datetime.datetime(2020, 7, 1, 12).astimezone().isoformat()
print(json.dumps(out))
"""

_SANDBOXED = """
import datetime, time
def read():
    lt = time.localtime()
    return [
        list(lt), lt.tm_zone, lt.tm_gmtoff, time.ctime(),
        time.strftime("%Y-%m-%d %H:%M:%S %Z %z"),
        datetime.datetime.now().isoformat(),
        datetime.date.today().isoformat(),
        time.mktime(lt),
    ]
zone = [time.timezone, time.altzone, time.daylight, list(time.tzname)]
astimezone = datetime.datetime(2020, 7, 1, 12).astimezone().isoformat()
"""

SUMMER = 182 * 86400  # 2000-07-01: the other half of the year


def oracle(zone: str) -> dict[str, Any]:
    """What a host process whose TZ is ``zone`` says about the start and half a year on."""
    return json.loads(run_child(_ORACLE % {"t0": START, "t1": START + SUMMER}, TZ=zone))


def sandboxed_local_time(backend: str, zone: str) -> dict[str, Any]:
    sb = Sandbox(Policy.deterministic(timezone=zone), backend=backend)
    ns = sb.exec(_SANDBOXED, filename="wf.py")
    first = sb.call(ns["read"])
    sb.clock.advance(SUMMER)
    second = sb.call(ns["read"])
    return {"zone": ns["zone"], "at": [first, second], "astimezone": ns["astimezone"]}


ZONES = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Australia/Lord_Howe",
]


@pytest.mark.parametrize("zone", ZONES)
def test_local_time_agrees_with_a_host_whose_tz_is_the_policys_zone(
    backend: str, zone: str
) -> None:
    assert sandboxed_local_time(backend, zone) == oracle(zone)


def test_utc_local_time_is_not_dst_and_has_an_offset(backend: str) -> None:
    ns = run(backend, "import time\nisdst = time.localtime().tm_isdst\nz = time.strftime('%z')\n")
    assert (ns["isdst"], ns["z"]) == (0, "+0000")


_TZ_CONVERSION = """
import json
from detsandbox import Policy, Sandbox
print(json.dumps(Sandbox(Policy.deterministic()).exec(%r)["r"]))
"""


@pytest.mark.parametrize("host_tz", ["America/New_York", "Asia/Kolkata"])
def test_mktime_does_not_read_the_host_time_zone(host_tz: str) -> None:
    source = (
        "import time\n"
        "r = time.mktime(time.localtime()), time.mktime((2000, 1, 1, 0, 0, 0, 5, 1, -1))"
    )
    assert json.loads(run_child(_TZ_CONVERSION % source, TZ=host_tz)) == [START, START]


@pytest.mark.parametrize("host_tz", ["America/New_York", "Asia/Kolkata"])
def test_naive_timestamp_does_not_read_the_host_time_zone(host_tz: str) -> None:
    source = "import datetime\nr = [datetime.datetime.now().timestamp()]"
    assert json.loads(run_child(_TZ_CONVERSION % source, TZ=host_tz)) == [START]


def test_the_host_time_zone_does_not_leak_into_substitutes() -> None:
    source = (
        "import datetime, time\n"
        "r = [datetime.datetime.now().isoformat(), time.ctime(), list(time.localtime())[:6],"
        " datetime.datetime(2020, 7, 1).astimezone().isoformat(), time.timezone]"
    )
    expected = [
        "2000-01-01T00:00:00",
        "Sat Jan  1 00:00:00 2000",
        [2000, 1, 1, 0, 0, 0],
        "2020-07-01T00:00:00+00:00",
        0,
    ]
    for host_tz in ("America/New_York", "Asia/Kolkata", "Pacific/Chatham"):
        assert json.loads(run_child(_TZ_CONVERSION % source, TZ=host_tz)) == expected


# -- hash randomization, addresses and set order ------------------------------------------------


def test_set_displays_and_constructors_iterate_in_insertion_order(backend: str) -> None:
    ns = run(
        backend,
        """
        display = list({'pear', 'apple', 'fig', 'kiwi', 'banana'})
        comprehension = [c for c in {ch for ch in 'hello world'}]
        constructed = list(set(['zeta', 'alpha', 'mid']))
        frozen = list(frozenset(['zeta', 'alpha', 'mid']))
        unpacked = list({*'bca', 'x'})
        text = str({'pear', 'apple'}), repr(frozenset(['b', 'a'])), repr(set()), repr(frozenset())
        in_exec = {}
        exec("r = list({'pear', 'apple', 'fig'})", in_exec)
        in_exec = in_exec['r']
        in_eval = eval("list({'pear', 'apple', 'fig'})")
        data = list({b'yy', b'xx', b'zz'})
        """,
    )
    assert ns["display"] == ["pear", "apple", "fig", "kiwi", "banana"]
    assert ns["comprehension"] == ["h", "e", "l", "o", " ", "w", "r", "d"]
    assert ns["constructed"] == ns["frozen"] == ["zeta", "alpha", "mid"]
    assert ns["unpacked"] == ["b", "c", "a", "x"]
    assert ns["text"] == ("{'pear', 'apple'}", "frozenset({'b', 'a'})", "set()", "frozenset()")
    assert ns["in_exec"] == ns["in_eval"] == ["pear", "apple", "fig"]
    assert ns["data"] == [b"yy", b"xx", b"zz"]


def test_set_operations_keep_a_deterministic_order(backend: str) -> None:
    ns = run(
        backend,
        """
        s = {'a', 'b', 'c'}
        popped = s.pop()
        s.add('d')
        s.discard('zz')
        ops = [list(s), list(s | {'z', 'y'}), list(s & {'d', 'b'}), list(s - {'b'}),
               list(s ^ {'q', 'c'}), list(s.union('xy')), list(s.copy())]
        f = frozenset(['k', 'j']) | frozenset(['i'])
        t = set('mno')
        t.update(['p'], 'q')
        t.difference_update('n')
        t ^= {'m', 'r'}
        in_order = list(f), list(t)
        """,
    )
    assert ns["popped"] == "a"
    assert ns["ops"] == [
        ["b", "c", "d"],
        ["b", "c", "d", "z", "y"],
        ["b", "d"],
        ["c", "d"],
        ["b", "d", "q"],
        ["b", "c", "d", "x", "y"],
        ["b", "c", "d"],
    ]
    assert ns["in_order"] == (["k", "j", "i"], ["o", "p", "q", "r"])
    if not remote(backend):  # a set crosses pickled as a plain set, in the host's order
        assert list(ns["f"]) == ["k", "j", "i"]
        assert list(ns["t"]) == ["o", "p", "q", "r"]


def test_sandboxed_sets_are_still_sets(backend: str) -> None:
    ns = run(
        backend,
        """
        s = {'a', 'b'}
        f = frozenset(['a', 'b'])
        r = (isinstance(s, set), isinstance(f, frozenset), s == {'b', 'a'}, s == f,
             {f: 1}[frozenset(['b', 'a'])], hash(f) == hash(frozenset(['b', 'a'])),
             type(s) is set, type(f) is frozenset)
        """,
    )
    assert ns["r"] == (True, True, True, True, 1, True, True, True)
    assert ns["s"] == {"a", "b"} and ns["f"] == frozenset({"a", "b"})


def test_copies_keep_the_order(backend: str) -> None:
    ns = run(
        backend,
        """
        import copy
        s = {'pear', 'apple', 'fig'}
        f = frozenset(['pear', 'apple', 'fig'])
        nested = [{'pear', 'apple'}]
        r = [list(copy.copy(s)), list(copy.deepcopy(s)), list(copy.copy(f)),
             list(copy.deepcopy(f)), list(copy.deepcopy(nested)[0])]
        """,
    )
    assert ns["r"] == [["pear", "apple", "fig"]] * 4 + [["pear", "apple"]]


def test_printing_a_set_gives_the_insertion_order(backend: str) -> None:
    # Printed into a buffer: a remote worker's stdout is not this process's.
    ns = run(
        backend,
        "import io\nout = io.StringIO()\n"
        "print({'pear', 'apple', 'fig'}, frozenset(['b', 'a']), file=out)\nr = out.getvalue()\n",
    )
    assert ns["r"] == "{'pear', 'apple', 'fig'} frozenset({'b', 'a'})\n"


def test_sets_of_enum_members_and_datetimes(backend: str) -> None:
    ns = run(
        backend,
        """
        import datetime, enum
        class Color(enum.Enum):
            RED = 'r'
            GREEN = 'g'
            BLUE = 'b'
        colors = [c.name for c in {Color.BLUE, Color.RED, Color.GREEN}]
        members = [c.name for c in {c for c in Color}]
        days = [datetime.datetime(2020, 1, d) for d in (3, 1, 2)]
        day_set = [d.day for d in set(days)]
        by_hash = [c.name for c in sorted(Color, key=hash)]
        """,
    )
    assert ns["colors"] == ["BLUE", "RED", "GREEN"]
    assert ns["members"] == ["RED", "GREEN", "BLUE"]
    assert ns["day_set"] == [3, 1, 2]
    assert ns["by_hash"] == ["BLUE", "GREEN", "RED"]


ENUM_HASH = (
    7584040297660882853  # hash(Color.RED): the stable hash of "RED", as Enum hashes its name
)


def test_hash_is_independent_of_the_hash_seed(backend: str) -> None:
    """Pinned: hash() of str, bytes, tuples, datetimes and Enum members."""
    ns = run(
        backend,
        """
        import datetime, enum
        class Color(enum.Enum):
            RED = 1
        r = [hash('abc'), hash(b'abc'), hash(('a', 1)), hash(frozenset({'a'})),
             hash(datetime.datetime(2020, 1, 1)), hash(datetime.date(2020, 1, 1)),
             hash(Color.RED), hash(1), hash(-1), hash(None) == hash(None)]
        by_hash = sorted(['pear', 'apple', 'fig'], key=hash)
        """,
    )
    assert ns["r"] == [
        -4726524248056011850,
        -8395045400895595638,
        -597768557271118276,
        6728732079433941063,
        -5102354047881894438,
        2001737769777976649,
        ENUM_HASH,
        1,
        -2,
        True,
    ]
    assert ns["by_hash"] == ["pear", "fig", "apple"]


def test_hash_agrees_with_equality(backend: str) -> None:
    ns = run(
        backend,
        """
        import datetime, enum
        class S(enum.StrEnum):
            A = 'a'
        utc = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
        one_hour = datetime.timezone(datetime.timedelta(hours=1))
        plus1 = datetime.datetime(2020, 1, 1, 1, tzinfo=one_hour)
        class Own:
            def __hash__(self):
                return 42
        r = [utc == plus1, hash(utc) == hash(plus1),
             hash(frozenset(['x', 'y'])) == hash(frozenset(['y', 'x'])),
             S.A == 'a', hash(S.A) == hash('a'), hash(Own()), hash(2.5) == hash(2.5),
             hash(True) == hash(1)]
        """,
    )
    assert ns["r"] == [True, True, True, True, True, 42, True, True]
    for unhashable in ("[]", "bytearray(b'x')"):
        with pytest.raises(TypeError) as host:
            hash(eval(unhashable))
        with pytest.raises(TypeError) as info:
            run(backend, f"hash({unhashable})\n")
        assert str(info.value) == str(host.value)


def test_hash_of_an_int_enum_member_is_its_ints(backend: str) -> None:
    r = value(
        backend, "import enum\nclass F(enum.IntEnum):\n    A = 7\nr = F.A == 7, hash(F.A), hash(7)"
    )
    assert r == (True, 7, 7)


def test_id_numbers_objects_in_the_order_they_are_first_asked_about(backend: str) -> None:
    sb = Sandbox(Policy.deterministic(), backend=backend)
    ns = sb.exec(
        """
class Node:
    pass
a, b = Node(), Node()
first = [id(b), id(a), id(b), id(object()), id('x'), id(None)]
ordered = [n is a for n in sorted([a, b], key=id)]
def later():
    return id(a), id(Node())
"""
    )
    assert ns["first"] == [1, 2, 1, 3, 4, 5]
    assert ns["ordered"] == [False, True]  # b was asked about first
    assert sb.call(ns["later"]) == (2, 6)  # numbering continues across calls
    other = Sandbox(Policy.deterministic(), backend=backend).exec(
        "r = id(object()), id(object())\n"
    )
    assert other["r"] == (1, 2)  # each Sandbox numbers from 1


_HASH_SEED_CHILD = """
import json, sys
sys.path.insert(0, %(tests)r)
from test_deterministic import HASH_WORKLOAD, run
print(json.dumps(run("inprocess", HASH_WORKLOAD)["text"]))
"""

HASH_WORKLOAD = """
import datetime, enum
class Color(enum.Enum):
    RED = 1
    GREEN = 2
    BLUE = 3
class Node:
    pass
nodes = [Node() for _ in range(3)]
words = {'pear', 'apple', 'fig', 'kiwi', 'banana', 'cherry'}
r = [
    list(words), str(words), repr(frozenset(words)), sorted(words, key=hash),
    [hash(w) for w in sorted(words)], list({b'b', b'a', b'c'}),
    list({Color.BLUE, Color.RED, Color.GREEN}), hash(Color.RED),
    list({datetime.datetime(2020, 1, d) for d in (5, 1, 3)}), hash(datetime.date(2020, 1, 1)),
    [id(n) for n in reversed(nodes)], [id(n) for n in nodes],
    list({w[0] for w in words}), words.pop(), list(words),
]
text = repr(r)  # Color members are the Sandbox's own: they do not cross
"""


@functools.cache
def _hash_children() -> frozenset[str]:
    """HASH_WORKLOAD's result in fresh in-process hosts (run once, compared per backend)."""
    script = _HASH_SEED_CHILD % {"tests": str(ROOT / "tests")}
    return frozenset(
        json.loads(run_child(script, PYTHONHASHSEED=seed, TZ=tz))
        for seed, tz in [
            ("0", "UTC"),
            ("1", "Asia/Kolkata"),
            ("4242", "Pacific/Honolulu"),
            ("random", ""),
        ]
    )


def test_hashes_ids_and_sets_are_the_same_whatever_the_hash_seed(backend: str) -> None:
    here = run(backend, HASH_WORKLOAD)["text"]
    assert _hash_children() == {here}
    # and the hash seed does change the host's own order of these words
    host_orders = {
        run_child(
            "print(list({'pear', 'apple', 'fig', 'kiwi', 'banana', 'cherry'}))", PYTHONHASHSEED=seed
        )
        for seed in ("1", "2", "3", "4")
    }
    assert len(host_orders) > 1


# -- trio-style: N runs, one distinct result ----------------------------------------------------

WORKLOAD = """
import asyncio, datetime, email.utils, gzip, os, random, secrets, time, uuid

class Order:
    pass

def workflow(customer):
    started = time.time(), time.monotonic(), datetime.datetime.now().isoformat()
    time.sleep(0.75)
    async def wait():
        await asyncio.sleep(2)
        return time.monotonic()
    waited = asyncio.run(wait())
    picks = {random.choice('abcdefgh') for _ in range(5)}
    tags = {customer, 'vip', 'new', 'eu'}
    orders = [Order(), Order()]
    return {
        'started': started,
        'waited': waited,
        'ended': (time.time_ns(), time.perf_counter(), datetime.date.today().isoformat()),
        'local': (tuple(time.localtime())[:8], time.ctime(), time.strftime('%H:%M:%S')),
        'random': (random.random(), random.randint(1, 10**6), random.Random().random(),
                   random.SystemRandom().random(), random.sample(range(1000), 4)),
        'secrets': (secrets.token_hex(8), secrets.token_urlsafe(6), secrets.randbelow(99)),
        'ids': (str(uuid.uuid4()), str(uuid.uuid1()), uuid.getnode(), os.urandom(6).hex()),
        'formats': (email.utils.formatdate(), gzip.compress(b'abc').hex()),
        'sets': (list(picks), list(tags), sorted(tags, key=hash), [hash(t) for t in tags]),
        'objects': [id(o) for o in orders],
    }
"""


def workflow_result(backend: str, policy: Policy | None = None, customer: str = "ada") -> str:
    sb = Sandbox(policy if policy is not None else Policy.deterministic(), backend=backend)
    ns = sb.exec(WORKLOAD, filename="workflow.py")
    return json.dumps(sb.call(ns["workflow"], customer), sort_keys=True)


def test_n_runs_give_one_distinct_result(backend: str) -> None:
    results = {workflow_result(backend) for _ in range(20)}
    assert len(results) == 1
    result = json.loads(results.pop())
    assert result["started"] == [946684800.0, 0.0, "2000-01-01T00:00:00"]
    assert result["waited"] == 2.75
    assert result["ended"][:2] == [946684802_750_000_000, 2.75]
    assert result["objects"] == [1, 2]


def test_n_runs_with_each_seed_give_one_distinct_result_per_seed(backend: str) -> None:
    by_seed = {
        seed: {workflow_result(backend, Policy.deterministic(seed=seed)) for _ in range(5)}
        for seed in (0, 1, 2**40)
    }
    assert all(len(results) == 1 for results in by_seed.values())
    parsed = {seed: json.loads(next(iter(r))) for seed, r in by_seed.items()}
    # the seed changes every random value and nothing else
    assert len({json.dumps(p["random"]) for p in parsed.values()}) == 3
    assert len({json.dumps(p["secrets"]) for p in parsed.values()}) == 3
    assert len({json.dumps(p["ids"]) for p in parsed.values()}) == 3
    assert len({json.dumps([p["started"], p["ended"], p["local"]]) for p in parsed.values()}) == 1


def test_interleaved_sandboxes_do_not_share_state(backend: str) -> None:
    first, second = (
        Sandbox(Policy.deterministic(), backend=backend),
        Sandbox(Policy.deterministic(), backend=backend),
    )
    source = "import random, time\ndef step():\n    time.sleep(1)\n    return random.random()\n"
    a, b = first.exec(source), second.exec(source)
    drawn = [(first.call(a["step"]), second.call(b["step"])) for _ in range(3)]
    gen = rng()
    expected = [gen.random() for _ in range(3)]
    assert drawn == list(zip(expected, expected, strict=True))
    assert first.clock.monotonic() == second.clock.monotonic() == 3.0


_WORKFLOW_CHILD = """
import json, sys, time
sys.path.insert(0, %(tests)r)
from test_deterministic import workflow_result
print(json.dumps({"result": workflow_result("inprocess"), "host_year": time.localtime().tm_year}))
"""


@functools.cache
def _workflow_children() -> tuple[dict[str, Any], ...]:
    """The workflow's result in fresh in-process hosts (run once, compared per backend)."""
    script = _WORKFLOW_CHILD % {"tests": str(ROOT / "tests")}
    outputs = []
    for seed, tz in [
        ("0", "UTC"),
        ("1", "America/Los_Angeles"),
        ("12345", "Asia/Kolkata"),
        ("random", "Pacific/Chatham"),
    ]:
        outputs.append(json.loads(run_child(script, PYTHONHASHSEED=seed, TZ=tz)))
        time.sleep(0.01)  # each child starts at another wall-clock time
    return tuple(outputs)


def test_fresh_processes_with_other_hash_seeds_tzs_and_wall_clocks_agree(backend: str) -> None:
    here = workflow_result(backend)
    outputs = _workflow_children()
    assert {o["result"] for o in outputs} == {here}
    assert all(o["host_year"] != 2000 for o in outputs)  # the host's clock is not 2000's


# -- what still raises -------------------------------------------------------------------------

REFUSED = [
    pytest.param("open('/nonexistent/settings.toml')", "builtins.open", id="open"),
    pytest.param("import os\nos.listdir('/')", "os.listdir", id="listdir"),
    pytest.param("import pathlib\npathlib.Path('/etc').exists()", "os.stat", id="Path.exists"),
    pytest.param("import socket\nsocket.socket()", "socket.socket", id="socket"),
    pytest.param(
        "import socket\nsocket.create_connection(('example.com', 80))",
        "socket.create_connection",
        id="connect",
    ),
    pytest.param("import socket\nsocket.gethostname()", "socket.gethostname", id="hostname"),
    pytest.param("import _socket\n_socket.gethostname()", "socket.gethostname", id="_socket"),
    pytest.param("import platform\nplatform.node()", "platform.node", id="platform.node"),
    pytest.param("import os\nos.uname()", "os.uname", id="uname"),
    pytest.param("import os\nos.environ['HOME']", "os.environ", id="environ"),
    pytest.param("from os import environ", "os.environ", id="from os import environ"),
    pytest.param("import posix\nposix.environ", "posix.environ", id="posix.environ"),
    pytest.param("import os\nos.getenv('HOME')", "os.getenv", id="getenv"),
    pytest.param("import os\nos.getpid()", "os.getpid", id="getpid"),
    pytest.param("import posix\nposix.getpid()", "os.getpid", id="posix.getpid"),
    pytest.param("import os\nos.cpu_count()", "os.cpu_count", id="cpu_count"),
    pytest.param("import sys\nsys.argv", "sys.argv", id="argv"),
    pytest.param("import subprocess\nsubprocess.run(['true'])", "subprocess.run", id="run"),
    pytest.param("import os\nos.system('true')", "os.system", id="system"),
    pytest.param("import threading\nthreading.Thread()", "threading.Thread", id="Thread"),
    pytest.param("import threading\nthreading.get_ident()", "threading.get_ident", id="ident"),
    pytest.param("import time\ntime.get_clock_info('time')", "time.get_clock_info", id="clock"),
    pytest.param("import email.utils\nemail.utils.make_msgid()", "email.utils.make_msgid"),
    pytest.param("import random\nrandom._inst", "random._inst", id="random._inst"),
]


@pytest.mark.parametrize(("source", "qualname"), REFUSED)
def test_host_facts_and_io_still_raise(backend: str, source: str, qualname: str) -> None:
    with pytest.raises(RestrictedAccessError) as info:
        run(backend, source)
    err = info.value
    lineno = source.count("\n") + 1
    assert (err.qualname, err.filename, err.lineno) == (qualname, "wf.py", lineno)
    first = str(err).partition("\n")[0]
    assert first.startswith((f"{qualname}() is not allowed", f"{qualname} is not allowed"))
    # a call made inside the standard library adds ", through <stdlib file>:<line>"
    assert f" in a deterministic sandbox (wf.py:{lineno}" in first


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "import os\nmy_pid = os.getpid()\n",
            "os.getpid() is not allowed in a deterministic sandbox (wf.py:2).\n\n"
            "    2 | my_pid = os.getpid()\n\n"
            "It reads a fact about the host (environment, process, machine, locale or time "
            "zone). Pass the value in from the host, or allow it: "
            "policy.evolve(allow=('os.getpid',)).",
        ),
        (
            "settings = open('/nonexistent/settings.toml').read()\n",
            "builtins.open() is not allowed in a deterministic sandbox (wf.py:1).\n\n"
            "    1 | settings = open('/nonexistent/settings.toml').read()\n\n"
            "It touches the file system. Read or write files in the host and pass the data "
            "in, or allow it: policy.evolve(allow=('builtins.open',)).",
        ),
        (
            "import socket\nhost = socket.gethostname()\n",
            "socket.gethostname() is not allowed in a deterministic sandbox (wf.py:2).\n\n"
            "    2 | host = socket.gethostname()\n\n"
            "It reaches the network. Do network calls in the host, "
            "or allow it: policy.evolve(allow=('socket.gethostname',)).",
        ),
        (
            "import os\nhome = os.environ['HOME']\n",
            "os.environ is not allowed in a deterministic sandbox (wf.py:2).\n\n"
            "    2 | home = os.environ['HOME']\n\n"
            "It reads a fact about the host (environment, process, machine, locale or time "
            "zone). Pass the value in from the host, or allow it: "
            "policy.evolve(allow=('os.environ',)).",
        ),
    ],
    ids=["getpid", "open", "gethostname", "environ"],
)
def test_exact_message_in_a_deterministic_sandbox(backend: str, source: str, message: str) -> None:
    with pytest.raises(RestrictedAccessError) as info:
        run(backend, source)
    assert str(info.value) == message


def test_the_policy_can_still_allow_a_host_fact(backend: str) -> None:
    policy = Policy.deterministic(allow=("os.getpid", "socket.gethostname"))
    ns = run(backend, "import os, socket\npid = os.getpid()\nhost = socket.gethostname()\n", policy)
    assert ns["host"] == socket.gethostname()
    # A worker process has a pid of its own; the other backends run in this one.
    assert ns["pid"] > 0 and (ns["pid"] == os.getpid()) is (backend != "process")


def test_sched_scheduler_runs_on_the_logical_clock(backend: str) -> None:
    source = (
        "import sched, time\n"
        "s = sched.scheduler()\n"
        "fired = []\n"
        "s.enter(30, 2, fired.append, ('late',))\n"
        "s.enter(10, 1, lambda: fired.append(time.monotonic()))\n"
        "s.run()\n"
        "after = time.time()\n"
    )
    sb = Sandbox(Policy.deterministic(record=True), backend=backend)
    ns = sb.exec(source, filename="wf.py")
    assert ns["fired"] == [10.0, "late"]
    assert ns["after"] == 946684800.0 + 30
    assert sb.clock.monotonic() == 30.0
    # The scheduler itself is not a journal entry: only the clock reads are.
    assert [e.qualname for e in sb.journal] == ["time.monotonic", "time.time"]
    replay = Sandbox(Policy.replay(sb.journal), backend=backend)
    assert replay.exec(source, filename="wf.py")["fired"] == [10.0, "late"]
    replay.finish_replay()


def test_sched_scheduler_keeps_a_delay_function_it_is_given(backend: str) -> None:
    ns = run(
        backend,
        "import sched, time\n"
        "waited = []\n"
        "def delay(seconds):\n"
        "    waited.append(seconds)\n"
        "    time.sleep(seconds)\n"
        "s = sched.scheduler(delayfunc=delay)\n"
        "s.enter(5, 1, print)\n"
        "s.run()\n",
    )
    assert ns["waited"] == [5.0, 0]
