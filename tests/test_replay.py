"""Record and replay: the journal, replaying it, and detsandbox.testing.

A deterministic Sandbox made with ``record=True`` journals every intercepted
call that returned a value (qualified name, argument summary, result,
sandboxed ``file:line``), allowed host calls included. The journal's JSON is
canonical: the same code and seed give the same bytes in any process. A replay
Sandbox returns the recorded results in order, never touching the host, and a
different call (added, removed, reordered, other arguments) raises
NondeterminismError showing both calls with their locations.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import os
import pathlib
import pickle
import re
import sys
import textwrap
import time
import traceback
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from child import run_child
from conftest import remote

from detsandbox import (
    Event,
    Journal,
    JournalError,
    NondeterminismError,
    Policy,
    PolicyError,
    RestrictedAccessError,
    Sandbox,
    SandboxError,
)
from detsandbox.testing import DeterminismReport, assert_deterministic, record

ROOT = pathlib.Path(__file__).resolve().parents[1]
START = 946684800

ADVICE = (
    "The code changed since the journal was recorded, or it is nondeterministic: "
    "revert the change, or record a new journal."
)


def recorded(
    backend: str,
    source: str,
    *,
    call: str | None = None,
    args: tuple[Any, ...] = (),
    **changes: Any,
) -> tuple[Journal, Any]:
    """Record ``source`` (then ``call(*args)``) as wf.py; return (journal, result)."""
    sb = Sandbox(Policy.deterministic(record=True, **changes), backend=backend)
    ns = sb.exec(textwrap.dedent(source), filename="wf.py")
    result = sb.call(ns[call], *args) if call is not None else None
    return sb.journal, result


def replayed(
    backend: str,
    journal: Journal,
    source: str,
    *,
    call: str | None = None,
    args: tuple[Any, ...] = (),
    finish: bool = True,
    **changes: Any,
) -> Any:
    """Replay ``source`` (then ``call(*args)``) against ``journal``; return the result."""
    sb = Sandbox(Policy.replay(journal, **changes), backend=backend)
    ns = sb.exec(textwrap.dedent(source), filename="wf.py")
    result = sb.call(ns[call], *args) if call is not None else None
    if finish:
        sb.finish_replay()
    return result


def divergence(backend: str, journal: Journal, source: str, **kwargs: Any) -> NondeterminismError:
    with pytest.raises(NondeterminismError) as info:
        replayed(backend, journal, source, **kwargs)
    return info.value


# -- recording ----------------------------------------------------------------------------------

SMALL = """\
import datetime, random, time, uuid
def wf(n):
    started = time.time()
    time.sleep(n)
    roll = random.randint(1, 6)
    order_id = uuid.uuid4()
    return started, roll, str(order_id), time.time()
"""


def test_the_journal_holds_every_intercepted_call_in_order(backend: str) -> None:
    journal, result = recorded(backend, SMALL, call="wf", args=(3,))
    assert isinstance(journal, Journal)
    assert result == (946684800.0, 6, "c6061c58-f595-421d-9032-9727647977d7", 946684803.0)
    assert list(journal) == [
        Event("time.time", "", 946684800.0, "wf.py:3"),
        Event("time.sleep", "3", None, "wf.py:4"),
        Event("random.randint", "1, 6", 6, "wf.py:5"),
        Event("uuid.uuid4", "", uuid.UUID("c6061c58-f595-421d-9032-9727647977d7"), "wf.py:6"),
        Event("time.time", "", 946684803.0, "wf.py:7"),
    ]
    assert (journal.seed, journal.start_ns, journal.timezone) == (0, START * 10**9, "UTC")
    assert journal.start == datetime(2000, 1, 1, tzinfo=UTC)


def test_the_journal_as_canonical_json(backend: str) -> None:
    journal, _ = recorded(backend, SMALL, call="wf", args=(3,))
    assert journal.to_json() == (
        '{"detsandbox_journal":1,"events":['
        '["time.time","",946684800.0,"wf.py:3"],'
        '["time.sleep","3",null,"wf.py:4"],'
        '["random.randint","1, 6",6,"wf.py:5"],'
        '["uuid.uuid4","",{"uuid":"c6061c58-f595-421d-9032-9727647977d7"},"wf.py:6"],'
        '["time.time","",946684803.0,"wf.py:7"]],'
        '"seed":0,"start_ns":946684800000000000,"timezone":"UTC"}'
    )


def test_every_substitute_family_is_journaled_with_its_location(backend: str) -> None:
    journal, _ = recorded(
        backend,
        """
        import datetime, email.utils, os, random, secrets, time, uuid
        def wf():
            datetime.datetime.now(datetime.UTC)
            datetime.date.today()
            time.localtime()
            time.strftime('%Y')
            random.Random()
            secrets.token_hex(2)
            os.urandom(2)
            uuid.uuid1()
            email.utils.formatdate()
        wf()
        """,
    )
    assert [(e.qualname, e.args, e.location) for e in journal] == [
        ("datetime.datetime.now", "datetime.timezone.utc", "wf.py:4"),
        ("datetime.date.today", "", "wf.py:5"),
        ("time.localtime", "", "wf.py:6"),
        ("time.strftime", "'%Y'", "wf.py:7"),
        ("random.Random", "", "wf.py:8"),
        ("secrets.token_hex", "2", "wf.py:9"),
        ("os.urandom", "2", "wf.py:10"),
        ("uuid.uuid1", "", "wf.py:11"),
        ("email.utils.formatdate", "", "wf.py:12"),
    ]
    assert journal[0].result == datetime(2000, 1, 1, tzinfo=UTC)
    assert journal[1].result == date(2000, 1, 1)
    assert journal[3].result == "2000"


def test_locations_name_the_sandboxed_line_not_the_library(backend: str) -> None:
    # email.utils runs fresh here, so formatdate() calls the Sandbox's time.time()
    journal, _ = recorded(
        backend, "import email.utils\nheader = email.utils.formatdate()\n", isolate=("email.utils",)
    )
    assert list(journal) == [Event("time.time", "", 946684800.0, "wf.py:2")]


def test_locations_of_an_imported_module(backend: str, tmp_path: pathlib.Path) -> None:
    module = tmp_path / "dsreplay_clockmod.py"
    module.write_text("import time\n\ndef read():\n    return time.monotonic()\n")
    sys.path.insert(0, str(tmp_path))
    try:
        sb = Sandbox(Policy.deterministic(record=True), backend=backend)
        mod = sb.import_module("dsreplay_clockmod")
        sb.call(mod.read)
    finally:
        sys.path.remove(str(tmp_path))
    assert list(sb.journal) == [Event("time.monotonic", "", 0.0, f"{module}:4")]


def test_locations_are_the_calling_lines_when_the_journal_is_read_later(backend: str) -> None:
    # Recording keeps the caller's code and instruction; the line is worked
    # out when the journal is read, after these frames have finished.
    sb = Sandbox(Policy.deterministic(record=True), backend=backend)
    ns = sb.exec(
        textwrap.dedent(
            """
            import random, time, uuid
            def gen():
                yield time.time()
                yield random.random()
            def wf():
                values = [time.monotonic() for _ in range(2)]
                values += list(gen())
                values.append(max(
                    0.0,
                    random.random(),
                ))
                return values, uuid.uuid4()
            """
        ),
        filename="wf.py",
    )
    sb.call(ns["wf"])
    first = [e.location for e in sb.journal]  # read midway: recording goes on
    sb.call(ns["wf"])
    expected = ["wf.py:7", "wf.py:7", "wf.py:4", "wf.py:5", "wf.py:11", "wf.py:13"]
    assert first == expected
    assert [e.location for e in sb.journal] == expected * 2
    assert [e.qualname for e in sb.journal][:6] == [
        "time.monotonic",
        "time.monotonic",
        "time.time",
        "random.random",
        "random.random",
        "uuid.uuid4",
    ]


def test_an_unread_recording_replays_and_serialises_like_a_read_one(backend: str) -> None:
    source = "import random, time\ndef wf():\n    return time.time() + random.random()\n"
    sb = Sandbox(Policy.deterministic(record=True), backend=backend)
    ns = sb.exec(source, filename="wf.py")
    value = sb.call(ns["wf"])
    again = Sandbox(
        Policy.replay(sb.journal), backend=backend
    )  # the journal object itself, never read
    assert again.call(again.exec(source, filename="wf.py")["wf"]) == value
    again.finish_replay()
    events = json.loads(sb.journal.to_json())["events"]
    assert [(e[0], e[1], e[3]) for e in events] == [
        ("time.time", "", "wf.py:3"),
        ("random.random", "", "wf.py:3"),
    ]
    assert events[0][2] + events[1][2] == value


def test_argument_summaries_never_hold_addresses_and_are_bounded(backend: str) -> None:
    journal, _ = recorded(
        backend,
        """
        import random
        random.choice([object(), object()])
        random.choice(['a' * 200])
        random.choice(range(3))
        random.sample(population=['x', 'y'], k=1)
        """,
    )
    assert [e.args for e in journal] == [
        "[<object>, <object>]",
        "['" + "a" * 115 + "...",
        "<range>",
        "population=['x', 'y'], k=1",
    ]
    assert len(journal[1].args) == 120


def test_a_sandbox_without_record_keeps_no_journal(backend: str) -> None:
    sb = Sandbox(Policy.deterministic(), backend=backend)
    sb.exec("import time\ntime.time()\n")
    with pytest.raises(SandboxError) as info:
        _ = sb.journal
    assert str(info.value) == (
        "this Sandbox keeps no journal: use Policy.deterministic(record=True) to record one, "
        "or Policy.replay(journal) to replay one"
    )


def test_allowed_host_calls_are_journaled(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    Sandbox(backend=backend).close()  # a worker made before the environment changes
    monkeypatch.setenv("DS_FLAVOUR", "recorded")
    monkeypatch.delenv("DS_MISSING", raising=False)
    journal, result = recorded(
        backend,
        """
        import os
        def wf():
            return os.getenv('DS_FLAVOUR'), os.getenv('DS_MISSING', 'dflt'), os.getpid()
        """,
        call="wf",
        allow=("os.getenv", "os.getpid"),
    )
    pid = result[2]
    # A worker process has a pid of its own; the other backends run in this one.
    assert result == ("recorded", "dflt", pid) and (pid == os.getpid()) is (backend != "process")
    assert list(journal) == [
        Event("os.getenv", "'DS_FLAVOUR'", "recorded", "wf.py:4"),
        Event("os.getenv", "'DS_MISSING', 'dflt'", "dflt", "wf.py:4"),
        Event("os.getpid", "", pid, "wf.py:4"),
    ]


def test_an_allowed_host_call_handed_back_in_is_journaled_and_replayed(backend: str) -> None:
    # The Sandbox's os.getpid journals; on a remote backend it crosses as a
    # RemoteRef, never as the real os.getpid, which would run unrecorded.
    source = "from os import getpid\ndef apply(f):\n    return f()\n"
    policy = Policy.deterministic(record=True, allow=("os.getpid",))
    with Sandbox(policy, backend=backend) as sb:
        ns = sb.exec(source, filename="wf.py")
        pid = sb.call(ns["apply"], ns["getpid"])
        journal = sb.journal
    assert list(journal) == [Event("os.getpid", "", pid, "wf.py:3")]
    with Sandbox(Policy.replay(journal, allow=("os.getpid",)), backend=backend) as sb:
        ns = sb.exec(source, filename="wf.py")
        assert sb.call(ns["apply"], ns["getpid"]) == pid
        sb.finish_replay()


# -- the journal is stable ----------------------------------------------------------------------

STABLE = """\
import datetime, enum, random, secrets, time, uuid
class Tier(enum.Enum):
    GOLD = 1
    SILVER = 2
    BRONZE = 3
def wf(customer):
    tags = {customer, 'vip', 'eu', 'new'}
    time.sleep(1.25)
    random.seed(hash(customer))
    return [
        random.choice(sorted(tags, key=hash)), random.sample(list(tags), 2),
        random.choice(list({Tier.BRONZE, Tier.GOLD, Tier.SILVER})).name,
        datetime.datetime.now(), time.localtime(), secrets.token_bytes(4), uuid.uuid1(),
        random.choice([id(object()), id(tags)]),
    ]
"""


def stable_journal(backend: str = "inprocess") -> str:
    journal, _ = recorded(backend, STABLE, call="wf", args=("ada",))
    return journal.to_json()


def test_the_same_code_and_seed_give_byte_identical_journals_in_process(backend: str) -> None:
    journals = {stable_journal(backend) for _ in range(10)}
    assert journals == {stable_journal()}


_JOURNAL_CHILD = """
import sys
sys.path.insert(0, %(tests)r)
from test_replay import stable_journal
print(stable_journal())
"""


def test_the_same_code_and_seed_give_byte_identical_journals_across_processes() -> None:
    script = _JOURNAL_CHILD % {"tests": str(ROOT / "tests")}
    here = stable_journal()
    outputs = {
        run_child(script, PYTHONHASHSEED=seed, TZ=tz).rstrip("\n")
        for seed, tz in [
            ("0", "UTC"),
            ("1", "America/Los_Angeles"),
            ("999", "Asia/Kolkata"),
            ("random", "Pacific/Chatham"),
        ]
    }
    assert outputs == {here}
    events = json.loads(here)["events"]
    assert [e[0] for e in events] == [
        "time.sleep",
        "random.seed",
        "random.choice",
        "random.sample",
        "random.choice",
        "datetime.datetime.now",
        "time.localtime",
        "secrets.token_bytes",
        "uuid.uuid1",
        "random.choice",
    ]


def test_a_different_seed_gives_a_different_journal(backend: str) -> None:
    first, _ = recorded(backend, SMALL, call="wf", args=(3,))
    other, _ = recorded(backend, SMALL, call="wf", args=(3,), seed=1)
    assert first != other
    assert first.to_json() != other.to_json()
    assert [e.qualname for e in first] == [e.qualname for e in other]
    assert other.seed == 1


# -- JSON round trip ----------------------------------------------------------------------------

RESULTS = [
    pytest.param(None, id="None"),
    pytest.param(True, id="bool"),
    pytest.param(-(2**70), id="big int"),
    pytest.param(946684800.125, id="float"),
    pytest.param(-0.0, id="negative zero"),
    pytest.param(float("inf"), id="inf"),
    pytest.param(float("-inf"), id="-inf"),
    pytest.param("héllo\n\u2028", id="str"),
    pytest.param(b"\x00\xff raw", id="bytes"),
    pytest.param((1, "a", (b"x", None)), id="tuple"),
    pytest.param([1, [2.5, "b"], ()], id="list"),
    pytest.param({"k": 1, 2: (3,), (4, 5): [6]}, id="dict"),
    pytest.param(datetime(2000, 1, 1, 12, 30, 0, 5), id="naive datetime"),
    pytest.param(datetime(2000, 1, 1, tzinfo=UTC), id="utc datetime"),
    pytest.param(datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=-3))), id="offset"),
    pytest.param(datetime(2000, 7, 1, 9, tzinfo=ZoneInfo("Asia/Tokyo")), id="zoneinfo"),
    pytest.param(date(1999, 12, 31), id="date"),
    pytest.param(uuid.UUID("f48de12e-c606-4c58-b595-421d50329727"), id="uuid"),
    pytest.param(time.gmtime(START), id="struct_time"),
]


@pytest.mark.parametrize("result", RESULTS)
def test_results_survive_the_json_round_trip_with_their_types(result: object) -> None:
    journal = Journal(
        seed=5,
        start_ns=123,
        timezone="Europe/Paris",
        events=[Event("mod.fn", "1, 'x'", result, "wf.py:9")],
    )
    text = journal.to_json()
    again = Journal.from_json(text)
    assert again.to_json() == text
    assert again == journal and hash(again) == hash(journal)
    (event,) = again.events
    assert (event.qualname, event.args, event.location) == ("mod.fn", "1, 'x'", "wf.py:9")
    assert type(event.result) is type(result)
    assert event.result == result
    assert repr(event.result) == repr(result)
    if isinstance(result, datetime):
        assert event.result.utcoffset() == result.utcoffset()
        assert event.result.tzname() == result.tzname()
    if isinstance(result, time.struct_time):
        assert (event.result.tm_zone, event.result.tm_gmtoff) == (result.tm_zone, 0)
    assert (again.seed, again.start_ns, again.timezone) == (5, 123, "Europe/Paris")


def test_nan_survives_the_json_round_trip() -> None:
    journal = Journal(seed=0, start_ns=0, timezone="UTC", events=[Event("f", "", math.nan, "")])
    assert '{"float":"nan"}' in journal.to_json()
    assert math.isnan(Journal.from_json(journal.to_json())[0].result)


def test_a_result_json_cannot_hold_is_kept_as_its_type_name() -> None:
    journal = Journal(seed=0, start_ns=0, timezone="UTC", events=[Event("f", "", object(), "")])
    assert journal.to_json() == (
        '{"detsandbox_journal":1,"events":[["f","",{"unencodable":"object"},""]],'
        '"seed":0,"start_ns":0,"timezone":"UTC"}'
    )
    again = Journal.from_json(journal.to_json())
    assert repr(again[0].result) == "<unencodable object>"
    assert again.to_json() == journal.to_json()


def test_a_recorded_journal_round_trips(backend: str) -> None:
    journal, _ = recorded(backend, STABLE, call="wf", args=("ada",))
    text = journal.to_json()
    again = Journal.from_json(text.encode())  # bytes are accepted too
    assert again.to_json() == text
    assert Journal.from_json(again.to_json()) == journal
    for before, after in zip(journal, again, strict=True):
        if before.qualname == "random.choice" and before.args.startswith("[<Tier>"):
            # an Enum member is not plain data: kept as its type name
            assert repr(after.result) == "<unencodable Tier>"
            assert after == Event(before.qualname, before.args, after.result, before.location)
        else:
            assert after == before
            assert type(after.result) is type(before.result)


MIXED = """\
import decimal, enum, random, time
class Tier(enum.Enum):
    GOLD = 1
def wf():
    random.choice([Tier.GOLD])
    random.sample([Tier.GOLD, 7], 2)
    random.choice([decimal.Decimal('1.5')])
    time.localtime()
"""


@pytest.mark.parametrize("untrusted", [False, True], ids=["trusted", "untrusted"])
def test_a_remote_journal_equals_the_recorded_one(backend: str, untrusted: bool) -> None:
    def journal_of(backend: str) -> Journal:
        sb = Sandbox(Policy.deterministic(record=True, untrusted=untrusted), backend=backend)
        sb.call(sb.exec(MIXED, filename="wf.py")["wf"])
        return sb.journal

    here, there = journal_of("inprocess"), journal_of(backend)
    assert there == here and there.to_json() == here.to_json()
    assert [e[:2] + e[3:] for e in there] == [e[:2] + e[3:] for e in here]
    gold, sampled, decimal, localtime = (e.result for e in there)
    if remote(backend):
        # A Tier exists only in the Sandbox: it crosses in its JSON form.
        assert (repr(gold), repr(sampled)) == ("<unencodable Tier>", "[7, <unencodable Tier>]")
    else:
        assert (repr(gold), repr(sampled)) == ("<Tier.GOLD: 1>", "[7, <Tier.GOLD: 1>]")
    # What the host can rebuild keeps its type (a struct_time is off an untrusted
    # Sandbox's allow-list, so it crosses in its JSON form, which keeps it too).
    assert (repr(decimal), type(localtime)) == ("Decimal('1.5')", time.struct_time)
    assert localtime == time.gmtime(START)


def test_a_journal_pickles_what_cannot_pickle_in_its_json_form() -> None:
    journal, _ = recorded("inprocess", MIXED, call="wf")
    again = pickle.loads(pickle.dumps(journal))
    assert again == journal
    assert [repr(e.result) for e in again][:3] == [
        "<unencodable Tier>",
        "[7, <unencodable Tier>]",
        "Decimal('1.5')",
    ]
    # A copy is not a pickle: it keeps the Sandbox's own objects.
    for copied in (copy.copy(journal), copy.deepcopy(journal)):
        assert copied == journal and copied is not journal
        assert copied[0].result is journal[0].result
        copied.append(Event("f", "", 1, "wf.py:1"))
        assert len(copied) == 5 and len(journal) == 4


def test_a_journal_holding_sandbox_objects_replays_on_every_backend(backend: str) -> None:
    source = "import enum, random\nclass T(enum.Enum):\n    A = 1\nr = random.choice([T.A]).name\n"
    journal, _ = recorded("inprocess", source)
    sb = Sandbox(Policy.replay(journal), backend=backend)
    assert sb.exec(source, filename="wf.py")["r"] == "A"
    sb.finish_replay()
    assert sb.journal == journal


def test_a_guard_in_a_journal_never_crosses_as_the_function_it_restricts(backend: str) -> None:
    # A guard pickles as the real function; replay hands recorded results back to
    # sandboxed code, so a journal carries a guard across only in its JSON form.
    source = "import os, random\nr = random.choice([os.system])\n"
    here, _ = recorded("inprocess", source)
    there, _ = recorded(backend, source)
    assert there == here
    assert repr(pickle.loads(pickle.dumps(here))[0].result) == "<unencodable Guard>"
    if remote(backend):
        assert repr(there[0].result) == "<unencodable Guard>"
    sb = Sandbox(Policy.replay(here), backend=backend)
    ns = sb.exec(source + "same = r is os.system\n", filename="wf.py")
    assert ns["same"] is True  # the replaying Sandbox's own guard
    sb.finish_replay()


def _structseq_journal(module: str, qualname: str) -> str:
    result = {"structseq": [module, qualname], "values": {"tuple": [["echo", "hi"]]}}
    return json.dumps(
        {
            "detsandbox_journal": 1,
            "seed": 0,
            "start_ns": 0,
            "timezone": "UTC",
            "events": [["os.uname", "", result, "wf.py:1"]],
        }
    )


@pytest.mark.parametrize(
    ("module", "qualname"),
    [
        pytest.param("subprocess", "Popen", id="a class"),
        pytest.param("os", "system", id="a function"),
        pytest.param("builtins", "tuple", id="tuple itself"),
        pytest.param("os", "path.join", id="a dotted path"),
        pytest.param("antigravity", "x", id="a module written in Python"),
        pytest.param("no_such_module", "x", id="a missing module"),
    ],
)
def test_a_journal_rebuilds_only_struct_sequences(module: str, qualname: str) -> None:
    import subprocess

    loaded = set(sys.modules)
    with pytest.raises(JournalError) as info:
        Journal.from_json(_structseq_journal(module, qualname))
    assert str(info.value) == (
        f"malformed detsandbox journal: JournalError('journal holds a {module}.{qualname} "
        "result, which is not a struct sequence this process has (such as os.stat_result); "
        "detsandbox rebuilds nothing else')"
    )
    assert set(sys.modules) == loaded  # nothing was imported to find out
    assert subprocess.Popen is not None


def test_a_journal_imports_the_c_module_of_a_struct_sequence() -> None:
    text = _structseq_journal("resource", "struct_rusage").replace(
        '[["echo", "hi"]]', json.dumps(list(range(16)))
    )
    code = (
        "import sys\nfrom detsandbox import Journal\nprint('resource' in sys.modules)\n"
        f"print(Journal.from_json({text!r})[0].result)\n"
    )
    loaded, result = run_child(code).splitlines()
    assert loaded == "False"  # a fresh process: reading the journal imports it
    assert result.startswith("resource.struct_rusage(ru_utime=0, ru_stime=1, ru_maxrss=2,")


def test_the_journal_api(backend: str) -> None:
    journal, _ = recorded(backend, SMALL, call="wf", args=(3,))
    assert len(journal) == 5
    assert journal.events == tuple(journal) and isinstance(journal.events, tuple)
    assert journal[-1] == journal.events[4]
    assert repr(journal) == "<detsandbox.Journal seed=0 events=5>"
    assert journal[2].describe() == "random.randint(1, 6) at wf.py:5"
    assert journal[0].describe() == "time.time() at wf.py:3"
    empty = Journal(seed=3, start_ns=1_500_000_000, timezone="UTC")
    assert (len(empty), empty.events, empty.start) == (
        0,
        (),
        datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC),
    )
    assert empty != journal
    assert (empty == "a journal") is False


BAD_JSON = [
    pytest.param("garbage", "not a detsandbox journal: Expecting value: line 1 column 1 (char 0)"),
    pytest.param("[]", "not a detsandbox journal (format None, expected 1)", id="a list"),
    pytest.param('{"events": []}', "not a detsandbox journal (format None, expected 1)"),
    pytest.param(
        '{"detsandbox_journal": 2, "events": []}',
        "not a detsandbox journal (format 2, expected 1)",
        id="format 2",
    ),
    pytest.param(
        '{"detsandbox_journal": 1}',
        "malformed detsandbox journal: KeyError('events')",
        id="no events",
    ),
    pytest.param(
        '{"detsandbox_journal": 1, "events": [], "start_ns": 0, "timezone": "UTC"}',
        "malformed detsandbox journal: KeyError('seed')",
        id="no seed",
    ),
    pytest.param(
        '{"detsandbox_journal": 1, "seed": 0, "start_ns": 0, "timezone": "UTC", '
        '"events": [["time.time", "", 1.0]]}',
        "malformed detsandbox journal: "
        "ValueError('not enough values to unpack (expected 4, got 3)')",
        id="short event",
    ),
    pytest.param(
        '{"detsandbox_journal": 1, "seed": 0, "start_ns": 0, "timezone": "UTC", '
        '"events": [["f", "", {"weird": 1}, "wf.py:1"]]}',
        'malformed detsandbox journal: JournalError("journal holds a result detsandbox '
        "cannot read: {'weird': 1}\")",
        id="unknown tagged result",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_JSON)
def test_unreadable_journals_raise_journal_error(text: str, message: str) -> None:
    with pytest.raises(JournalError) as info:
        Journal.from_json(text)
    assert str(info.value) == message
    assert isinstance(info.value, SandboxError) and isinstance(info.value, ValueError)


def test_from_json_of_a_non_string_raises_journal_error() -> None:
    with pytest.raises(JournalError) as info:
        Journal.from_json(None)  # type: ignore[arg-type]
    assert str(info.value) == (
        "not a detsandbox journal: the JSON object must be str, bytes or bytearray, not NoneType"
    )


# -- the replay policy --------------------------------------------------------------------------


def test_the_replay_preset_takes_seed_start_and_zone_from_the_journal(backend: str) -> None:
    journal, _ = recorded(
        backend,
        SMALL,
        call="wf",
        args=(3,),
        seed=11,
        start=datetime(2024, 5, 6, tzinfo=UTC),
        timezone="Asia/Tokyo",
    )
    policy = Policy.replay(journal)
    assert policy.mode == "replay"
    assert policy.journal is journal
    assert (policy.seed, policy.timezone) == (11, "Asia/Tokyo")
    assert policy.start == datetime(2024, 5, 6, tzinfo=UTC).timestamp()
    sb = Sandbox(policy, backend=backend)
    assert sb.seed == 11
    assert sb.journal == journal
    if not remote(backend):  # a remote Sandbox's journal is a copy of the worker's
        assert sb.journal is journal
    assert sb.clock.time() == datetime(2024, 5, 6, tzinfo=UTC).timestamp()
    where = backend if remote(backend) else "1 module"
    assert repr(sb) == f"<detsandbox.Sandbox replay, {where}>"
    assert Policy.replay(journal, allow=("os.getpid",)).allow == ("os.getpid",)


BAD_REPLAY_POLICIES = [
    pytest.param(
        lambda: Policy.replay("not a journal"),
        "Policy.replay() needs a detsandbox.Journal, got str: "
        "read one with Journal.from_json(text)",
        id="replay(str)",
    ),
    pytest.param(
        lambda: Policy.replay(None),
        "Policy.replay() needs a detsandbox.Journal, got NoneType: "
        "read one with Journal.from_json(text)",
        id="replay(None)",
    ),
    pytest.param(
        lambda: Policy(mode="replay"),
        "replay needs a detsandbox.Journal, got None: use Policy.replay(Journal.from_json(text))",
        id="mode=replay without a journal",
    ),
    pytest.param(
        lambda: Policy.deterministic(journal=Journal(seed=0, start_ns=0, timezone="UTC")),
        "Policy.journal is only used in replay mode, not 'deterministic': "
        "use Policy.replay(journal)",
        id="journal in deterministic mode",
    ),
    pytest.param(
        lambda: Policy.replay(Journal(seed=0, start_ns=0, timezone="UTC"), record=True),
        "Policy.record=True needs mode 'deterministic', not 'replay': "
        "use Policy.deterministic(record=True)",
        id="record while replaying",
    ),
    pytest.param(
        lambda: Policy.replay(Journal(seed=0, start_ns=0, timezone="Mars/Base")),
        "Policy.timezone must be 'UTC' or an IANA zone such as 'Europe/Paris', "
        "got 'Mars/Base' ('No time zone found with key Mars/Base')",
        id="journal with an unknown zone",
    ),
]


_J = Journal(seed=4, start_ns=START * 10**9, timezone="Asia/Tokyo")
BAD_REPLAY_POLICIES += [
    pytest.param(
        lambda: Policy.replay(_J, seed=5),
        "Policy.replay() takes seed from the journal (4), got 5: leave it out",
        id="another seed",
    ),
    pytest.param(
        lambda: Policy.replay(_J, start=0),
        "Policy.replay() takes start from the journal (946684800.0), got 0: leave it out",
        id="another start",
    ),
    pytest.param(
        lambda: Policy.replay(_J, timezone="UTC"),
        "Policy.replay() takes timezone from the journal ('Asia/Tokyo'), got 'UTC': leave it out",
        id="another zone",
    ),
    pytest.param(
        lambda: Policy.replay(_J).evolve(seed=0),
        "Policy.replay() takes seed from the journal (4), got 0: leave it out",
        id="evolve to another seed",
    ),
]


@pytest.mark.parametrize(("make", "message"), BAD_REPLAY_POLICIES)
def test_bad_replay_policies(make: Any, message: str) -> None:
    with pytest.raises(PolicyError) as info:
        make()
    assert str(info.value) == message


def test_finish_replay_outside_replay_mode(backend: str) -> None:
    with pytest.raises(SandboxError) as info:
        Sandbox(Policy.deterministic(), backend=backend).finish_replay()
    assert str(info.value) == "finish_replay() is for a Sandbox made with Policy.replay()"
    with pytest.raises(SandboxError) as info:
        Sandbox(Policy.strict(), backend=backend).finish_replay()
    assert str(info.value) == (
        "Sandbox.finish_replay() exists in deterministic and replay mode, not in 'strict' "
        "mode: use Policy.deterministic()"
    )


# -- replay identity ----------------------------------------------------------------------------

WORKFLOW = """\
import datetime, email.utils, gzip, os, random, secrets, time, uuid, zoneinfo
def wf(customer):
    tags = {customer, 'vip', 'eu'}
    out = [time.time(), time.time_ns(), time.monotonic(), time.perf_counter_ns()]
    time.sleep(2.5)
    out += [time.localtime(), time.gmtime(), time.ctime(), time.strftime('%c')]
    out += [datetime.datetime.now(), datetime.datetime.utcnow(), datetime.date.today()]
    tokyo = zoneinfo.ZoneInfo('Asia/Tokyo')
    out += [datetime.datetime.now(datetime.UTC), datetime.datetime.now(tokyo)]
    out += [datetime.datetime.fromtimestamp(5), datetime.datetime(2020, 1, 1).astimezone()]
    out += [random.random(), random.randint(1, 99), random.sample(range(50), 4)]
    out += [random.Random().random(), random.SystemRandom().getrandbits(32)]
    out += [random.choice(sorted(tags, key=hash)), secrets.token_hex(3), os.urandom(5)]
    out += [uuid.uuid4(), uuid.uuid1(), uuid.getnode(), email.utils.formatdate()]
    out += [gzip.compress(b'x'), time.time()]
    return out
"""


@pytest.mark.parametrize("through_json", [False, True], ids=["journal object", "json"])
def test_a_recorded_run_replays_identically(backend: str, through_json: bool) -> None:
    journal, first = recorded(backend, WORKFLOW, call="wf", args=("ada",), timezone="Europe/Paris")
    if through_json:
        journal = Journal.from_json(journal.to_json())
    again = replayed(backend, journal, WORKFLOW, call="wf", args=("ada",))
    assert again == first
    assert repr(again) == repr(first)
    assert [type(v) for v in again] == [type(v) for v in first]


def test_replay_returns_the_recorded_results_not_fresh_ones(backend: str) -> None:
    journal, _ = recorded(backend, SMALL, call="wf", args=(3,))
    data = json.loads(journal.to_json())
    data["events"][0][2] = 1234.5
    data["events"][2][2] = 42
    data["events"][3][2] = {"uuid": "00000000-0000-4000-8000-000000000000"}
    edited = Journal.from_json(json.dumps(data))
    assert replayed(backend, edited, SMALL, call="wf", args=(3,)) == (
        1234.5,
        42,
        "00000000-0000-4000-8000-000000000000",
        946684803.0,
    )


def test_replay_ignores_the_host_advancing_the_clock(backend: str) -> None:
    source = "import time\ndef read():\n    return time.time(), time.monotonic()\n"
    journal, first = recorded(backend, source, call="read")
    sb = Sandbox(Policy.replay(journal), backend=backend)
    ns = sb.exec(source, filename="wf.py")
    sb.clock.advance(3600)
    assert sb.call(ns["read"]) == first == (946684800.0, 0.0)
    sb.finish_replay()


def test_replay_uses_the_journals_seed_start_and_zone(backend: str) -> None:
    source = "import datetime, random\nr = random.random(), datetime.datetime.now()\n"
    sb = Sandbox(
        Policy.deterministic(seed=3, start=0, timezone="Asia/Kolkata", record=True), backend=backend
    )
    first = sb.exec(source, filename="wf.py")["r"]
    assert first[1] == datetime(1970, 1, 1, 5, 30)
    replay = Sandbox(Policy.replay(Journal.from_json(sb.journal.to_json())), backend=backend)
    assert replay.exec(source, filename="wf.py")["r"] == first
    replay.finish_replay()


def test_allowed_host_calls_replay_without_touching_the_host(
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = """
    import os
    def wf():
        return os.getenv('DS_FLAVOUR'), os.getenv('DS_MISSING', 'dflt'), os.getpid()
    """
    monkeypatch.setenv("DS_FLAVOUR", "recorded")
    monkeypatch.delenv("DS_MISSING", raising=False)
    allow = ("os.getenv", "os.getpid")
    journal, first = recorded(backend, source, call="wf", allow=allow)

    touched: list[tuple[object, ...]] = []

    class Watched(dict):  # os.getenv reads os.environ.get(...)
        def get(self, *args: object) -> object:
            touched.append(args)
            return "host"

        def __getitem__(self, key: object) -> str:
            touched.append((key,))
            return "host"

    monkeypatch.setattr(os, "environ", Watched())
    assert replayed(backend, journal, source, call="wf", allow=allow) == first
    data = json.loads(journal.to_json())
    data["events"][2][2] = 4242  # a pid the host never had
    data["events"][0][2] = "edited"
    edited = Journal.from_json(json.dumps(data))
    assert replayed(backend, edited, source, call="wf", allow=allow) == ("edited", "dflt", 4242)
    assert touched == []
    monkeypatch.undo()
    # recording again does call the host
    monkeypatch.setenv("DS_FLAVOUR", "changed")
    assert recorded(backend, source, call="wf", allow=allow)[1][0] == "changed"


def test_replay_still_needs_the_policy_to_allow_the_host_call(backend: str) -> None:
    source = "import os\npid = os.getpid()\n"
    journal, _ = recorded(backend, source, allow=("os.getpid",))
    with pytest.raises(RestrictedAccessError) as info:
        replayed(backend, journal, source)
    assert str(info.value) == (
        "os.getpid() is not allowed in a replay sandbox (wf.py:2).\n\n"
        "    2 | pid = os.getpid()\n\n"
        "It reads a fact about the host (environment, process, machine, locale or time "
        "zone). Pass the value in from the host, or allow it: "
        "policy.evolve(allow=('os.getpid',))."
    )


def test_a_host_result_the_journal_could_not_encode_cannot_be_replayed(backend: str) -> None:
    source = "import time\ninfo = time.get_clock_info('time')\n"
    allow = ("time.get_clock_info",)
    journal, _ = recorded(backend, source, allow=allow)
    assert '{"unencodable":"SimpleNamespace"}' in journal.to_json()
    replayed(backend, journal, source, allow=allow)  # the journal object still holds the result
    with pytest.raises(JournalError) as info:
        replayed(backend, Journal.from_json(journal.to_json()), source, allow=allow)
    assert str(info.value) == (
        "cannot replay time.get_clock_info('time') at wf.py:2: its result (SimpleNamespace) "
        "was not recorded; allow only calls whose results are plain data in replayed code"
    )


# -- edited code raises NondeterminismError -----------------------------------------------------

EDITS = [
    pytest.param(
        SMALL.replace("    roll = random", "    time.monotonic()\n    roll = random"),
        (3,),
        2,
        Event("random.randint", "1, 6", 6, "wf.py:5"),
        Event("time.monotonic", "", None, "wf.py:5"),
        id="a call added",
    ),
    pytest.param(
        SMALL.replace("    roll = random.randint(1, 6)\n", "    roll = 6\n"),
        (3,),
        2,
        Event("random.randint", "1, 6", 6, "wf.py:5"),
        Event("uuid.uuid4", "", None, "wf.py:6"),
        id="a call removed",
    ),
    pytest.param(
        SMALL.replace(
            "    roll = random.randint(1, 6)\n    order_id = uuid.uuid4()\n",
            "    order_id = uuid.uuid4()\n    roll = random.randint(1, 6)\n",
        ),
        (3,),
        2,
        Event("random.randint", "1, 6", 6, "wf.py:5"),
        Event("uuid.uuid4", "", None, "wf.py:5"),
        id="calls reordered",
    ),
    pytest.param(
        SMALL,
        (4,),
        1,
        Event("time.sleep", "3", None, "wf.py:4"),
        Event("time.sleep", "4", None, "wf.py:4"),
        id="an argument changed (by the host)",
    ),
    pytest.param(
        SMALL.replace("random.randint(1, 6)", "random.randint(1, 20)"),
        (3,),
        2,
        Event("random.randint", "1, 6", 6, "wf.py:5"),
        Event("random.randint", "1, 20", None, "wf.py:5"),
        id="an argument changed (in the code)",
    ),
    pytest.param(
        SMALL.replace("    started = time.time()\n", "    started = time.time_ns()\n"),
        (3,),
        0,
        Event("time.time", "", 946684800.0, "wf.py:3"),
        Event("time.time_ns", "", None, "wf.py:3"),
        id="another function",
    ),
    pytest.param(
        "import datetime, random, time, uuid\n\n\n"
        + SMALL.partition("\n")[2].replace(
            "    roll = random.randint(1, 6)\n", "    roll = random.randint(6, 6)\n"
        ),
        (3,),
        2,
        Event("random.randint", "1, 6", 6, "wf.py:5"),
        Event("random.randint", "6, 6", None, "wf.py:7"),
        id="lines moved and an argument changed",
    ),
]


@pytest.mark.parametrize(("source", "args", "index", "expected", "actual"), EDITS)
def test_edited_code_raises_with_both_calls_and_locations(
    backend: str, source: str, args: tuple[Any, ...], index: int, expected: Event, actual: Event
) -> None:
    journal, _ = recorded(backend, SMALL, call="wf", args=(3,))
    err = divergence(backend, journal, source, call="wf", args=args)
    assert isinstance(err, SandboxError)
    assert (err.index, err.expected, err.actual) == (index, expected, actual)
    assert err.expected == journal[index]
    assert str(err) == (
        f"replay diverged at event {index + 1} of 5: the code made a different call than "
        "the journal holds.\n\n"
        f"    expected: {expected.describe()}\n"
        f"    actual:   {actual.describe()}\n\n" + ADVICE
    )


def test_the_divergence_message_in_full(backend: str) -> None:
    journal, _ = recorded(backend, SMALL, call="wf", args=(3,))
    edited = SMALL.replace("    roll = random", "    time.monotonic()\n    roll = random")
    err = divergence(backend, journal, edited, call="wf", args=(3,))
    assert str(err) == (
        "replay diverged at event 3 of 5: the code made a different call than the journal "
        "holds.\n\n"
        "    expected: random.randint(1, 6) at wf.py:5\n"
        "    actual:   time.monotonic() at wf.py:5\n\n"
        "The code changed since the journal was recorded, or it is nondeterministic: "
        "revert the change, or record a new journal."
    )
    assert err.args == (str(err),)


def test_a_call_removed_at_the_end_shows_in_finish_replay(backend: str) -> None:
    journal, _ = recorded(backend, SMALL, call="wf", args=(3,))
    shorter = SMALL.replace(", time.time()\n", "\n")
    sb = Sandbox(Policy.replay(journal), backend=backend)
    ns = sb.exec(shorter, filename="wf.py")
    assert sb.call(ns["wf"], 3) == (946684800.0, 6, "c6061c58-f595-421d-9032-9727647977d7")
    with pytest.raises(NondeterminismError) as info:
        sb.finish_replay()
    err = info.value
    assert (err.index, err.expected, err.actual) == (4, journal[4], None)
    assert str(err) == (
        "replay stopped at event 5 of 5: the journal holds calls the code did not make.\n\n"
        "    expected: time.time() at wf.py:7\n"
        "    actual:   (no further call)\n\n" + ADVICE
    )
    with pytest.raises(NondeterminismError):  # it keeps saying so
        sb.finish_replay()


def test_running_past_the_end_of_the_journal(backend: str) -> None:
    journal, _ = recorded(backend, SMALL, call="wf", args=(3,))
    longer = SMALL.replace(", time.time()\n", ", time.time(), time.monotonic()\n")
    err = divergence(backend, journal, longer, call="wf", args=(3,))
    assert (err.index, err.expected, err.actual) == (
        5,
        None,
        Event("time.monotonic", "", None, "wf.py:7"),
    )
    assert str(err) == (
        "replay ran past the end of the journal (5 events).\n\n"
        "    actual:   time.monotonic() at wf.py:7\n\n" + ADVICE
    )


def test_replaying_an_empty_journal(backend: str) -> None:
    empty, _ = recorded(backend, "x = 1\n")
    assert len(empty) == 0
    assert replayed(backend, empty, "x = 1\n") is None
    err = divergence(backend, empty, "import uuid\nx = uuid.uuid4()\n")
    assert (err.index, err.expected) == (0, None)
    assert err.actual == Event("uuid.uuid4", "", None, "wf.py:2")


def test_nondeterminism_error_pickles_and_points_at_the_sandboxed_line(backend: str) -> None:
    journal, _ = recorded(backend, "import time\nt = time.time()\n")
    err = divergence(backend, journal, "import time\nt = time.monotonic()\n")
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is NondeterminismError
    assert (str(again), again.index, again.expected, again.actual) == (
        str(err),
        0,
        Event("time.time", "", 946684800.0, "wf.py:2"),
        Event("time.monotonic", "", None, "wf.py:2"),
    )


def test_nondeterminism_error_traceback_ends_at_the_sandboxed_line(backend: str) -> None:
    journal, _ = recorded(backend, "import time\nt = time.time()\n")
    err = divergence(backend, journal, "import time\nt = time.monotonic()\n")
    frames = traceback.extract_tb(err.__traceback__)
    assert (frames[-1].filename, frames[-1].lineno) == ("wf.py", 2)
    assert not any("detsandbox" in f.filename for f in frames[1:])


def test_a_divergence_the_code_swallows_still_fails_the_replay(backend: str) -> None:
    journal, _ = recorded(backend, "import time\nt = time.time()\n")
    sb = Sandbox(Policy.replay(journal), backend=backend)
    ns = sb.exec(
        "import time\n"
        "try:\n"
        "    time.sleep(1)\n"
        "except Exception as exc:\n"
        "    caught = type(exc).__name__\n"
        "t = time.time()\n",
        filename="wf.py",
    )
    assert ns["caught"] == "NondeterminismError"
    with pytest.raises(NondeterminismError):
        sb.finish_replay()


# -- known bugs ---------------------------------------------------------------------------------


def test_a_run_that_shuffles_replays(backend: str) -> None:
    source = (
        "import random\ndef wf():\n    xs = list(range(6))\n    random.shuffle(xs)\n    return xs\n"
    )
    journal, first = recorded(backend, source, call="wf")
    assert journal[0].args == "[0, 1, 2, 3, 4, 5]"
    assert replayed(backend, journal, source, call="wf") == first


def test_a_run_whose_intercepted_call_raised_replays(backend: str) -> None:
    source = """
    import random, time
    def wf():
        try:
            pick = random.choice([])
        except IndexError:
            pick = None
        return pick, time.time()
    """
    journal, first = recorded(backend, source, call="wf")
    assert replayed(backend, journal, source, call="wf") == first == (None, 946684800.0)


def test_mutating_a_result_changes_neither_the_journal_nor_the_replay(backend: str) -> None:
    source = """
    import random
    def wf():
        xs = random.sample(range(100), 3)
        xs.append(-1)
        return xs
    """
    journal, first = recorded(backend, source, call="wf")
    assert first == [88, 50, 40, -1]
    assert journal[0].result == [88, 50, 40]
    assert replayed(backend, journal, source, call="wf") == first


ASYNC = """
import asyncio, time
async def main():
    await asyncio.sleep(2)
    value = await asyncio.sleep(0, result='v')
    return time.time(), time.monotonic(), value
def wf():
    return asyncio.run(main())
"""


def test_asyncio_sleep_replays_from_json(backend: str) -> None:
    journal, first = recorded(backend, ASYNC, call="wf")
    assert first == (946684802.0, 2.0, "v")
    assert [(e.qualname, e.args) for e in journal] == [
        ("asyncio.sleep", "2"),
        ("asyncio.sleep", "0, result='v'"),
        ("time.time", ""),
        ("time.monotonic", ""),
    ]
    assert replayed(backend, Journal.from_json(journal.to_json()), ASYNC, call="wf") == first


@pytest.mark.filterwarnings("ignore:coroutine 'sleep' was never awaited")
def test_asyncio_sleep_replays_from_the_journal_object(backend: str) -> None:
    journal, first = recorded(backend, ASYNC, call="wf")
    assert replayed(backend, journal, ASYNC, call="wf") == first


ZONE_EDITS = [
    pytest.param(
        "zoneinfo.ZoneInfo('Asia/Tokyo')",
        "zoneinfo.ZoneInfo('Europe/Paris')",
        "ZoneInfo('Asia/Tokyo')",
        "ZoneInfo('Europe/Paris')",
        id="ZoneInfo",
    ),
    pytest.param(
        "datetime.UTC",
        "datetime.timezone(datetime.timedelta(hours=3))",
        "datetime.timezone.utc",
        "datetime.timezone(datetime.timedelta(seconds=10800))",
        id="timezone",
    ),
]


@pytest.mark.parametrize(("before", "after", "recorded_as", "called_as"), ZONE_EDITS)
def test_changing_the_zone_argument_is_detected(
    backend: str, before: str, after: str, recorded_as: str, called_as: str
) -> None:
    source = "import datetime, zoneinfo\nnow = datetime.datetime.now({})\n"
    journal, _ = recorded(backend, source.format(before))
    assert journal[0].args == recorded_as
    err = divergence(backend, journal, source.format(after))
    assert (err.index, err.expected, err.actual) == (
        0,
        journal[0],
        Event("datetime.datetime.now", called_as, None, "wf.py:2"),
    )


def test_a_named_fixed_offset_zone_survives_the_json_round_trip(backend: str) -> None:
    source = (
        "import datetime\n"
        "cet = datetime.timezone(datetime.timedelta(hours=1), 'CET')\n"
        "r = datetime.datetime.now(cet).tzname()\n"
    )
    journal, _ = recorded(backend, source)
    sb = Sandbox(Policy.replay(Journal.from_json(journal.to_json())), backend=backend)
    assert sb.exec(source, filename="wf.py")["r"] == "CET"


def test_an_allowed_struct_sequence_result_survives_the_json_round_trip(backend: str) -> None:
    source = "import os\nr = os.uname().sysname\n"
    journal, _ = recorded(backend, source, allow=("os.uname",))
    sb = Sandbox(
        Policy.replay(Journal.from_json(journal.to_json()), allow=("os.uname",)), backend=backend
    )
    assert sb.exec(source, filename="wf.py")["r"] == os.uname().sysname


# -- detsandbox.testing -------------------------------------------------------------------------


def test_record_returns_the_journal_and_the_repr_of_the_result() -> None:
    source = "import time\ndef f(n):\n    time.sleep(n)\n    return time.time()\n"
    journal, result = record(source, call="f", args=(2,))
    assert result == "946684802.0"
    assert list(journal) == [
        Event("time.sleep", "2", None, "<sandbox>:3"),
        Event("time.time", "", 946684802.0, "<sandbox>:4"),
    ]
    journal, result = record("import time\nt = time.time()\n", filename="wf.py")
    assert (result, list(journal)) == ("None", [Event("time.time", "", 946684800.0, "wf.py:2")])
    journal, _ = record("import random\nx = random.random()\n", policy=Policy.deterministic(5))
    assert journal.seed == 5


def test_record_needs_a_deterministic_policy() -> None:
    with pytest.raises(ValueError) as info:
        record("x = 1\n", policy=Policy.strict())
    assert str(info.value) == "record() needs a deterministic policy, got mode 'strict'"


def test_assert_deterministic_passes_and_reports_every_run() -> None:
    source = (
        "import random, time\n"
        "def f(x):\n"
        "    time.sleep(1)\n"
        "    return {x, 'b', 'a'}, random.random()\n"
    )
    report = assert_deterministic(source, call="f", args=("z",), runs=4)
    assert isinstance(report, DeterminismReport)
    assert len(report.journals) == len(report.results) == 4
    assert report.results == ["({'z', 'b', 'a'}, 0.6946595936453227)"] * 4
    assert len({j.to_json() for j in report.journals}) == 1
    assert report.journal is report.journals[0]
    assert [e.qualname for e in report.journal] == ["time.sleep", "random.random"]


def test_assert_deterministic_across_processes() -> None:
    source = (
        "import datetime, random, time\n"
        "def f(x):\n"
        "    tags = {x, 'vip', 'eu', 'new'}\n"
        "    random.seed(hash(x))\n"
        "    return [list(tags), sorted(tags, key=hash), random.random(),\n"
        "            datetime.datetime.now().isoformat(), time.localtime()[:6], id(tags)]\n"
    )
    report = assert_deterministic(
        source,
        call="f",
        args=("ada",),
        runs=2,
        processes=3,
        policy=Policy.deterministic(seed=7, timezone="Asia/Kolkata"),
    )
    assert len(report.journals) == 5
    assert len({j.to_json() for j in report.journals}) == 1
    assert len(set(report.results)) == 1
    assert report.journal.seed == 7 and report.journal.timezone == "Asia/Kolkata"


def test_assert_deterministic_fails_on_a_different_result() -> None:
    counter = itertools.count()
    with pytest.raises(AssertionError) as info:
        assert_deterministic(
            "def f(tick):\n    return tick()\n", call="f", args=(counter.__next__,)
        )
    assert str(info.value) == (
        "run 2 (in-process) returned a different result than run 1 (in-process):\n"
        "  run 1 (in-process): 0\n"
        "  run 2 (in-process): 1"
    )


def test_assert_deterministic_fails_on_an_address_in_the_result() -> None:
    kept: list[object] = []  # keeps each run's object alive, so no address is reused
    source = "def f(keep):\n    o = object()\n    keep.append(o)\n    return repr(o)\n"
    with pytest.raises(AssertionError) as info:
        assert_deterministic(source, call="f", args=(kept,))
    assert re.fullmatch(
        r"run 2 \(in-process\) returned a different result than run 1 \(in-process\):\n"
        r"  run 1 \(in-process\): '<object object at 0x[0-9a-f]+>'\n"
        r"  run 2 \(in-process\): '<object object at 0x[0-9a-f]+>'",
        str(info.value),
    )


def test_assert_deterministic_shows_the_first_diverging_journal_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DS_RUNS", raising=False)
    source = (
        "import os, time\n"
        "def f():\n"
        "    time.sleep(1)\n"
        "    runs = int(os.getenv('DS_RUNS', '0'))\n"
        "    os.environ['DS_RUNS'] = str(runs + 1)\n"
        "    return time.time()\n"
    )
    policy = Policy.deterministic(allow=("os.getenv", "os.environ"))
    with pytest.raises(AssertionError) as info:
        assert_deterministic(source, call="f", filename="wf.py", policy=policy)
    assert str(info.value) == (
        "run 2 (in-process) diverged from run 1 (in-process) at journal event 2:\n"
        "  run 1 (in-process): os.getenv('DS_RUNS', '0') at wf.py:4 -> '0'\n"
        "  run 2 (in-process): os.getenv('DS_RUNS', '0') at wf.py:4 -> '1'"
    )


def test_assert_deterministic_shows_a_divergence_in_another_process() -> None:
    source = "import os\ndef f():\n    return os.getpid()\n"
    with pytest.raises(AssertionError) as info:
        assert_deterministic(
            source,
            call="f",
            filename="wf.py",
            runs=1,
            processes=1,
            policy=Policy.deterministic(allow=("os.getpid",)),
        )
    child = "process run 1 (PYTHONHASHSEED=1, TZ=UTC)"
    match = re.fullmatch(
        re.escape(
            f"{child} diverged from run 1 (in-process) at journal event 1:\n"
            f"  run 1 (in-process): os.getpid() at wf.py:3 -> {os.getpid()}\n"
            f"  {child}: os.getpid() at wf.py:3 -> "
        )
        + r"(\d+)",
        str(info.value),
    )
    assert match is not None and int(match.group(1)) != os.getpid()


def test_assert_deterministic_reports_a_failing_child(tmp_path: pathlib.Path) -> None:
    # importable here, but not in the child processes, whose sys.path lacks tmp_path
    (tmp_path / "dsreplay_only_here.py").write_text("VALUE = 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        with pytest.raises(AssertionError) as info:
            assert_deterministic("import dsreplay_only_here\n", runs=1, processes=1)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("dsreplay_only_here", None)
    message = str(info.value)
    assert message.startswith("process run 1 (PYTHONHASHSEED=1) failed:\nTraceback")
    assert message.endswith("No module named 'dsreplay_only_here'\n")


@pytest.mark.parametrize(
    ("runs", "processes", "message"),
    [
        (0, 0, "need runs >= 1 and processes >= 0, got 0 and 0"),
        (1, -1, "need runs >= 1 and processes >= 0, got 1 and -1"),
    ],
)
def test_assert_deterministic_argument_checks(runs: int, processes: int, message: str) -> None:
    with pytest.raises(ValueError) as info:
        assert_deterministic("x = 1\n", runs=runs, processes=processes)
    assert str(info.value) == message


def test_assert_deterministic_passes_tuple_arguments_to_processes_unchanged() -> None:
    report = assert_deterministic(
        "def f(pair):\n    return pair\n", call="f", args=((1, 2),), runs=1, processes=1
    )
    assert report.results == ["(1, 2)", "(1, 2)"]


def test_assert_deterministic_across_processes_with_a_microsecond_start() -> None:
    start = datetime(2024, 5, 6, 7, 8, 9, 123457, tzinfo=UTC)
    report = assert_deterministic(
        "import time\nt = time.time_ns()\n",
        runs=1,
        processes=1,
        policy=Policy.deterministic(start=start),
    )
    assert report.journal[0].result == 1714979289123457000
