"""What differs on the remote backends (process, subinterpreter): values cross pickled.

Functions, classes and anything unpicklable stay in the worker as RemoteRefs;
values that cannot cross raise TransferError naming them; each Sandbox
starts from a clean worker.
"""

from __future__ import annotations

import gc
import os
import pathlib
import pickle
import re
import traceback

import pytest
from conftest import Tree

from detsandbox import (
    Clock,
    Policy,
    RemoteModule,
    RemoteRef,
    Sandbox,
    SandboxError,
    TransferError,
)
from detsandbox._backends import unavailable

REMOTE = [name for name in ("process", "subinterpreter") if unavailable(name) is None]


@pytest.fixture(params=REMOTE)
def remote(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


class Unpicklable:
    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("Unpicklable objects do not pickle")

    def __repr__(self) -> str:
        return "<Unpicklable>"


SOURCE = """\
import json

class Point:
    def __init__(self, x):
        self.x = x

class Boom(Exception):
    pass

def make(x):
    return Point(x)

def gen():
    return (i for i in range(3))

def boom():
    raise Boom("boom")

def identity(x):
    return x

origin = Point(0)
"""


def test_namespace_keeps_unpicklable_values_as_refs(remote: str) -> None:
    with Sandbox(backend=remote) as sb:
        ns = sb.exec(SOURCE)
        assert {name: type(value).__name__ for name, value in ns.items()} == {
            "json": "RemoteRef",
            "Point": "RemoteRef",
            "Boom": "RemoteRef",
            "make": "RemoteRef",
            "gen": "RemoteRef",
            "boom": "RemoteRef",
            "identity": "RemoteRef",
            "origin": "RemoteRef",
        }
        assert repr(ns["make"]) == "<detsandbox.RemoteRef function make>"
        assert (ns["Point"].name, ns["Point"].type_name) == ("Point", "type")
        # A ref passes back in as the object it stands for.
        assert sb.exec("def getx(p):\n    return p.x\n", name="peek")["getx"]
        assert sb.call("peek:getx", ns["origin"]) == 0
        again = sb.call(ns["identity"], ns["make"])
        assert isinstance(again, RemoteRef)


def test_a_result_that_cannot_cross_is_named(remote: str) -> None:
    with Sandbox(backend=remote) as sb:
        ns = sb.exec(SOURCE)
        with pytest.raises(TransferError) as info:
            sb.call(ns["make"], 1)
    assert re.fullmatch(
        r"cannot return <__main__\.Point object at 0x\w+> \(a __main__\.Point\) from the "
        r"Sandbox to the host: Point is defined in the Sandbox, not in a module the host can "
        r"import; return plain data \(str, int, list, dict, dataclasses of host-importable "
        r"modules\)",
        str(info.value),
    ), str(info.value)


def test_a_generator_result_is_named(remote: str) -> None:
    with Sandbox(backend=remote) as sb:
        ns = sb.exec(SOURCE)
        with pytest.raises(TransferError, match=r"^cannot return <generator object gen\.<locals>"):
            sb.call(ns["gen"])


def test_an_argument_that_cannot_cross_is_named(remote: str) -> None:
    value = Unpicklable()
    with Sandbox(backend=remote) as sb:
        ns = sb.exec(SOURCE)
        with pytest.raises(TransferError) as info:
            sb.call(ns["identity"], value)
    assert str(info.value) == (
        f"cannot pass <Unpicklable> (a {Unpicklable.__module__}.Unpicklable) into a Sandbox "
        "on another interpreter or process: Unpicklable objects do not pickle; pass plain "
        "data (str, int, list, dict, dataclasses of importable modules) or a RemoteRef from "
        "the same Sandbox"
    )


def test_an_exception_type_defined_in_the_sandbox_is_named(remote: str) -> None:
    with Sandbox(backend=remote) as sb:
        ns = sb.exec(SOURCE, filename="wf.py")
        with pytest.raises(TransferError) as info:
            sb.call(ns["boom"])
    assert str(info.value) == (
        "sandboxed code raised __main__.Boom: boom; its type cannot cross into the host (it "
        "is defined in the Sandbox, or does not pickle): raise a builtin or detsandbox "
        "exception, or one from a module the host can import"
    )
    assert traceback.format_tb(info.value.__traceback__)[1:] == [
        '  File "wf.py", line 17, in boom\n    raise Boom("boom")\n'
    ]
    assert info.value.__notes__ == [f"Traceback in the {remote} worker: the last frame above."]


CHAINED = """\
def fail(text):
    raise ValueError("bad " + text)

def convert(text, how):
    try:
        raise KeyError(text)
    except KeyError as exc:
        if how == "from":
            raise ValueError("bad " + text) from exc
        fail(text)
"""


@pytest.mark.parametrize(
    ("how", "frames", "note"),
    [
        (
            "from",
            [
                '  File "chained.py", line 9, in convert\n'
                '    raise ValueError("bad " + text) from exc\n'
            ],
            "the last frame above. Its direct cause:",
        ),
        (
            "while",
            [
                '  File "chained.py", line 10, in convert\n    fail(text)\n',
                '  File "chained.py", line 2, in fail\n    raise ValueError("bad " + text)\n',
            ],
            "the last 2 frames above. It was raised while handling:",
        ),
    ],
    ids=["from", "while"],
)
def test_an_exception_arrives_with_the_sandboxed_frames(
    remote: str, how: str, frames: list[str], note: str
) -> None:
    # The frames the host can show go on its traceback; the exception it was
    # raised from (or while handling) did not cross, so it comes as text.
    with Sandbox(backend=remote) as sb:
        ns = sb.exec(CHAINED, filename="chained.py")
        with pytest.raises(ValueError) as info:
            sb.call(ns["convert"], "x", how)
    printed = traceback.format_tb(info.value.__traceback__)
    assert printed[0].startswith(f'  File "{__file__}", line ')
    assert printed[1:] == frames
    assert info.value.__notes__ == [
        f"Traceback in the {remote} worker: {note}\n\n"
        "Traceback (most recent call last):\n"
        '  File "chained.py", line 6, in convert\n'
        "    raise KeyError(text)\n"
        "KeyError: 'x'"
    ]


def test_a_detsandbox_error_without_sandboxed_frames_has_no_note(remote: str) -> None:
    with Sandbox(Policy.deterministic(), backend=remote) as sb, pytest.raises(SandboxError) as info:
        sb.finish_replay()
    assert not hasattr(info.value, "__notes__")


@pytest.mark.parametrize(
    "frames",
    [[("wf.py", "1", "f")], [("wf.py", 1)], [("wf.py", 1, None)], [(1, 1, "f")], "abc", [1]],
    ids=["line", "short", "name", "file", "str", "int"],
)
def test_malformed_frames_from_a_worker_are_dropped(frames: object) -> None:
    # An untrusted Sandbox's worker sends them: the host builds no traceback then.
    from detsandbox._backends._remote import _sandboxed_traceback

    assert _sandboxed_traceback(frames, {}) is None


def test_refs_belong_to_their_sandbox(remote: str) -> None:
    with Sandbox(backend=remote) as one, Sandbox(backend=remote) as two:
        ref = one.exec(SOURCE)["identity"]
        with pytest.raises(TransferError) as info:
            two.call(ref, 1)
    assert str(info.value) == "<detsandbox.RemoteRef function identity> belongs to another Sandbox"


def test_a_ref_does_not_pickle(remote: str) -> None:
    import pickle

    with Sandbox(backend=remote) as sb:
        ref = sb.exec(SOURCE)["identity"]
    with pytest.raises(TransferError) as info:
        pickle.dumps(ref)
    assert str(info.value) == (
        "<detsandbox.RemoteRef function identity> stands for a value in a Sandbox's worker "
        "and can only be passed to that Sandbox's call(), not pickled"
    )


def test_import_module_is_a_snapshot_module(remote: str, tree: Tree) -> None:
    name = tree.name("snap")
    tree.write({f"{name}.py": "COUNT = 0\n\ndef bump():\n    global COUNT\n    COUNT += 1\n"})
    with Sandbox(backend=remote) as sb:
        mod = sb.import_module(name)
        assert isinstance(mod, RemoteModule)
        assert repr(mod) == f"<detsandbox.RemoteModule {name!r}>"
        sb.call(mod.bump)
        assert mod.COUNT == 0  # taken at import
        assert sb.import_module(name).COUNT == 1
        with pytest.raises(TransferError) as info:
            sb.call(mod)
    assert str(info.value) == (
        f"Sandbox.call() expects a callable, got the module <detsandbox.RemoteModule {name!r}>"
    )


def test_modules_is_in_process_only(remote: str) -> None:
    with Sandbox(backend=remote) as sb, pytest.raises(SandboxError) as info:
        sb.modules  # noqa: B018
    assert str(info.value) == (
        f"Sandbox.modules is in-process only; this Sandbox runs on the {remote} backend, "
        "whose modules live in the worker: use import_module(name) to get a handle to one"
    )


def test_a_new_sandbox_sees_nothing_of_the_last(remote: str) -> None:
    for _ in range(3):
        with Sandbox(backend=remote) as sb:
            with pytest.raises(ModuleNotFoundError):
                sb.exec("import helpers\n")
            sb.exec("VALUE = 1\n", name="helpers")
            assert sb.exec("import helpers\nv = helpers.VALUE\n")["v"] == 1


def test_host_functions_cross_by_reference(remote: str) -> None:
    with Sandbox(Policy.deterministic(), backend=remote) as sb:
        assert sb.call(sorted, [3, 1, 2]) == [1, 2, 3]
        assert sb.call("json:loads", "[1]") == [1]


def test_untrusted_results_unpickle_with_an_allow_list(remote: str) -> None:
    import functools
    import uuid

    policy = Policy.deterministic(untrusted=True, record=True)
    with Sandbox(policy, backend=remote) as sb:
        ns = sb.exec("import uuid\n\ndef make():\n    return [uuid.uuid4(), ValueError('v')]\n")
        made = sb.call(ns["make"])
        assert isinstance(made[0], uuid.UUID)
        assert made[1].args == ("v",)
        assert len(sb.journal) == 1
        # A pickle naming any other host callable is refused, not run.
        with pytest.raises(TransferError) as info:
            sb.call(functools.partial, print)
    assert str(info.value) == (
        "a value from the Sandbox cannot be rebuilt in the host: functools.partial is not on "
        "the list of what an untrusted Sandbox may return; return plain data (str, int, list, "
        "dict, dataclasses of host-importable modules)"
    )


def test_a_value_the_worker_kept_is_rebuilt_only_by_its_host() -> None:
    import io
    import pickle

    from detsandbox._backends._protocol import HostUnpickler, RemoteRef, _remote_ref

    class Kept:
        def __init__(self, *args: object) -> None:
            self.args = args

        def __reduce__(self) -> tuple[object, ...]:
            return (_remote_ref, self.args)

    owner = object()
    ref = HostUnpickler(io.BytesIO(pickle.dumps(Kept(3, "os.getpid", "restricted"))), owner, 2)
    ref = ref.load()
    assert type(ref) is RemoteRef and repr(ref) == "<detsandbox.RemoteRef restricted os.getpid>"
    assert (ref._owner, ref._generation, ref._key) == (owner, 2, 3)
    with pytest.raises(TransferError) as info:
        pickle.loads(pickle.dumps(Kept(3, "os.getpid", "restricted")))
    assert str(info.value) == (
        "<detsandbox.RemoteRef restricted os.getpid> stands for a value in a Sandbox's "
        "worker; only the Sandbox that returned it can rebuild it"
    )
    with pytest.raises(pickle.UnpicklingError) as bad:
        HostUnpickler(io.BytesIO(pickle.dumps(Kept("3", "x", "y"))), owner, 0).load()
    assert str(bad.value) == "a malformed RemoteRef in a reply from the worker"


def test_the_allow_list_refuses_host_functions() -> None:
    import io
    import pickle

    from detsandbox._backends._remote import _SafeUnpickler

    def _loads_safely(data: bytes) -> object:
        return _SafeUnpickler(io.BytesIO(data), None, 0).load()

    class Evil:
        def __reduce__(self) -> tuple[object, ...]:
            return (print, ("pwned",))

    for payload in (pickle.dumps(Evil()), pickle.dumps(getattr)):
        with pytest.raises(pickle.UnpicklingError, match="is not on the list"):
            _loads_safely(payload)
    assert _loads_safely(pickle.dumps({"a": (1, 2.5, b"x", None)})) == {"a": (1, 2.5, b"x", None)}


# -- the clock and the journal -----------------------------------------------------------


def test_the_clock_is_one_object_that_reads_the_worker(remote: str) -> None:
    sb = Sandbox(Policy.deterministic(), backend=remote)
    clock = sb.clock
    assert isinstance(clock, Clock) and sb.clock is clock
    sb.exec("import time\ntime.sleep(2)\n")
    assert (clock.monotonic_ns(), repr(clock)) == (
        2_000_000_000,
        "<detsandbox.Clock 2000-01-01T00:00:02+00:00, 2s elapsed>",
    )
    sb.close()
    with pytest.raises(SandboxError) as info:
        clock.time()
    assert str(info.value) == "this Sandbox is closed; create a new Sandbox()"
    with pytest.raises(SandboxError):
        sb.clock  # noqa: B018


def test_a_clock_kept_past_its_sandbox_does_not_keep_the_worker(remote: str) -> None:
    clock = Sandbox(Policy.deterministic(), backend=remote).clock
    gc.collect()
    with pytest.raises(SandboxError) as info:
        clock.advance(1)
    assert str(info.value) == (
        "this clock's Sandbox was garbage-collected, which closed it and gave its worker "
        "back: keep a reference to the Sandbox while you use its clock"
    )


class _Rogue:
    """A pool whose one worker answers every request with ``payload``: a worker
    that sandboxed code took over."""

    name = "process"

    def __init__(self, payload: bytes) -> None:
        self._reply = pickle.dumps(("ok", payload))

    def acquire(self, policy: Policy) -> _Rogue:
        return self

    @property
    def conn(self) -> _Rogue:
        return self

    def send(self, data: bytes, first: bytes = b"") -> None:
        pass

    def recv(self, timeout: float | None = None) -> bytes:
        return self._reply

    def release(self) -> None:
        pass

    def kill(self) -> None:
        pass

    def exit_status(self) -> int | None:
        return None


class _Touch:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, (f"touch {self.path}",))


def test_a_journal_from_a_rogue_worker_runs_nothing_in_the_host(tmp_path: pathlib.Path) -> None:
    from detsandbox._backends._remote import Remote

    marker = tmp_path / "ran"
    popen = {"structseq": ["subprocess", "Popen"], "values": {"tuple": [["touch", str(marker)]]}}
    rogue = [
        (
            pickle.dumps((0, 0, "UTC", [("os.uname", "", popen, "wf.py:1")], (0,))),
            "journal holds a subprocess.Popen result, which is not a struct sequence this "
            "process has (such as os.stat_result); detsandbox rebuilds nothing else",
        ),
        (
            pickle.dumps((0, 0, "UTC", [("f", "", _Touch(str(marker)), "wf.py:1")])),
            "posix.system is not on the list of what an untrusted Sandbox may return",
        ),
    ]
    policy = Policy.deterministic(record=True, untrusted=True)
    for payload, why in rogue:
        with pytest.raises(TransferError) as info:
            Remote(_Rogue(payload), policy, hard_timeout=False).journal()
        assert str(info.value) == (
            f"the journal the process worker sent cannot be rebuilt in the host ({why}); "
            "detsandbox's worker sends no such journal, so sandboxed code may have tampered "
            "with it: close this Sandbox and distrust what it returned"
        )
    assert not marker.exists()
