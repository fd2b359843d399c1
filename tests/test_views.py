"""Views keep working: what sandboxed code holds behaves like what it stands for.

A passthrough module is seen through a *view* (a per-Sandbox copy of its
dict), a refused class through a *class view* (a subclass whose metaclass
checks construction), a refused function through a *guard*. None of that may
show: isinstance, issubclass, ==, hash, pickle, repr, dir and vars,
subclassing, dataclasses and typing must behave as they do in the host.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import importlib.abc
import inspect
import io
import json
import os
import pathlib
import pickle
import random
import selectors
import socket
import string
import sys
import textwrap
import time
import types
from typing import Any

import pytest
from conftest import remote

from detsandbox import Policy, RestrictedAccessError, Sandbox

# Why a test stays in-process: a view handed to the host is the point of the test.
HOST_SIDE = (
    "checks how a view behaves in the host (isinstance, ==, hash, pickle, repr); "
    "a remote view stays in its worker"
)


def run(
    backend: str, source: str, sb: Sandbox | None = None, *, name: str = "__main__"
) -> dict[str, Any]:
    return (sb or Sandbox(backend=backend)).exec(
        textwrap.dedent(source), filename="views_wf.py", name=name
    )


@pytest.fixture
def views(backend: str) -> dict[str, Any]:
    """A Sandbox namespace holding class views, guards and module views."""
    return run(
        backend,
        """
        import random, socket, time, os, json
        RandomView = random.Random
        SystemRandomView = random.SystemRandom
        SocketView = socket.socket
        time_guard = time.time
        urandom_guard = os.urandom
        randint_guard = random.randint
        random_module = random
        json_module = json
        """,
    )


# -- class views: isinstance, issubclass, ==, hash ----------------------------------


@pytest.mark.inprocess_only(HOST_SIDE)
def test_class_views_are_distinct_objects_standing_for_the_real_class(views: dict) -> None:
    assert views["RandomView"] is not random.Random
    assert views["SocketView"] is not socket.socket
    assert isinstance(views["RandomView"], type)
    assert issubclass(views["RandomView"], random.Random)


@pytest.mark.inprocess_only(HOST_SIDE)
def test_isinstance_of_real_instances_against_class_views(views: dict) -> None:
    view = views["RandomView"]
    assert isinstance(random.Random(1), view)
    assert isinstance(random.SystemRandom(), view)  # a real subclass instance
    assert not isinstance(3, view)
    assert not isinstance(random, view)
    with socket.socket() as sock:
        assert isinstance(sock, views["SocketView"])
    assert not isinstance(object(), views["SocketView"])


@pytest.mark.inprocess_only(HOST_SIDE)
def test_issubclass_of_real_classes_against_class_views(views: dict) -> None:
    view = views["RandomView"]
    assert issubclass(random.Random, view)
    assert issubclass(random.SystemRandom, view)
    assert issubclass(views["SystemRandomView"], view)
    assert issubclass(view, view)
    assert not issubclass(int, view)
    assert not issubclass(view, views["SystemRandomView"])
    assert issubclass(socket.socket, views["SocketView"])
    assert not issubclass(socket.socket, view)


@pytest.mark.inprocess_only("passes host objects (a socket, host classes) into the Sandbox")
def test_isinstance_and_issubclass_inside_the_sandbox(backend: str) -> None:
    sb = Sandbox(backend=backend)
    ns = run(
        backend,
        """
        import random, socket

        seeded = random.Random(3)
        checks = {
            "instance": isinstance(seeded, random.Random),
            "type is view": type(seeded) is random.Random,
            "__class__ is view": seeded.__class__ is random.Random,
            "subclass": issubclass(random.SystemRandom, random.Random),
            "self": issubclass(random.Random, random.Random),
            "not int": not isinstance(3, random.Random),
        }

        def check(host_random, host_socket):
            return (
                isinstance(host_random, random.Random),
                issubclass(type(host_random), random.Random),
                isinstance(host_socket, socket.socket),
                type(host_socket) is socket.socket,
            )
        """,
        sb,
    )
    assert ns["checks"] == dict.fromkeys(ns["checks"], True)
    with socket.socket() as sock:
        assert sb.call(ns["check"], random.Random(9), sock) == (True, True, True, True)


def test_instances_made_through_a_class_view_are_real_instances(backend: str) -> None:
    sb = Sandbox(backend=backend)
    ns = run(backend, "import random\nr = random.Random(5)\nvalue = r.random()\n", sb)
    assert type(ns["r"]) is random.Random
    assert ns["value"] == random.Random(5).random()


@pytest.mark.inprocess_only(HOST_SIDE)
def test_class_views_equal_and_hash_like_the_real_class(views: dict) -> None:
    view = views["RandomView"]
    assert view == random.Random
    assert random.Random == view
    assert not view != random.Random  # noqa: SIM202 - testing __ne__ itself
    assert hash(view) == hash(random.Random)
    assert {random.Random: "real"}[view] == "real"
    assert {view: "view"}[random.Random] == "view"
    assert view in {random.Random}
    assert random.Random in {view}
    assert view != random.SystemRandom
    assert view != views["SystemRandomView"]
    assert views["SocketView"] == socket.socket
    assert hash(views["SocketView"]) == hash(socket.socket)


@pytest.mark.inprocess_only(HOST_SIDE)
def test_class_views_of_two_sandboxes_are_equal(backend: str) -> None:
    first = run(backend, "import random\nR = random.Random\n")["R"]
    second = run(backend, "import random\nR = random.Random\n")["R"]
    assert first == second == random.Random
    assert hash(first) == hash(second)


# -- pickling ------------------------------------------------------------------------


@pytest.mark.inprocess_only(HOST_SIDE)
def test_pickling_views_and_guards_outside_the_sandbox(views: dict) -> None:
    assert pickle.loads(pickle.dumps(views["RandomView"])) is random.Random
    assert pickle.loads(pickle.dumps(views["SocketView"])) is socket.socket
    assert pickle.loads(pickle.dumps(views["time_guard"])) is time.time
    assert pickle.loads(pickle.dumps(views["urandom_guard"])) is os.urandom
    assert pickle.loads(pickle.dumps(views["randint_guard"])) == random.randint
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        assert pickle.loads(pickle.dumps(views["RandomView"], protocol)) is random.Random


def test_pickling_views_and_guards_inside_the_sandbox(backend: str) -> None:
    ns = run(
        backend,
        """
        import copy, os, pickle, random, socket, time

        same = {
            "class view": pickle.loads(pickle.dumps(random.Random)) is random.Random,
            "socket view": pickle.loads(pickle.dumps(socket.socket)) is socket.socket,
            "guard": pickle.loads(pickle.dumps(time.time)) is time.time,
            "os guard": pickle.loads(pickle.dumps(os.urandom)) is os.urandom,
            "deepcopy view": copy.deepcopy(random.Random) is random.Random,
            "copy guard": copy.copy(time.time) is time.time,
        }
        seeded = random.Random(7)
        seeded.random()
        clone = pickle.loads(pickle.dumps(seeded))
        same_stream = clone.random() == seeded.random()
        blob = pickle.dumps(seeded)
        """,
    )
    assert ns["same"] == dict.fromkeys(ns["same"], True)
    assert ns["same_stream"] is True
    assert type(ns["clone"]) is random.Random
    # An instance pickled inside unpickles in the host as a plain Random.
    host_copy = pickle.loads(ns["blob"])
    assert type(host_copy) is random.Random
    assert host_copy.getstate() == ns["seeded"].getstate()


def test_host_pickles_unpickle_in_the_sandbox_as_the_sandboxes_objects(backend: str) -> None:
    sb = Sandbox(backend=backend)
    ns = run(
        backend,
        "import pickle, time\ndef load(blob):\n    return pickle.loads(blob)\nguard = time.time\n"
        "def same(blob):\n    return pickle.loads(blob) is time.time\n",
        sb,
    )
    # A guard pickled by the host (a RemoteRef on a remote backend) comes back
    # as the sandbox's guard...
    assert sb.call(ns["same"], pickle.dumps(ns["guard"])) is True
    if not remote(backend):
        assert sb.call(ns["load"], pickle.dumps(ns["guard"])) is ns["guard"]
    # ...and a real function pickled by reference stays the real function.
    assert sb.call(ns["load"], pickle.dumps(time.time)) is time.time


# -- repr and metadata -----------------------------------------------------------------


@pytest.mark.inprocess_only(HOST_SIDE)
def test_repr_and_metadata_of_class_views(views: dict) -> None:
    view = views["RandomView"]
    assert repr(view) == repr(random.Random) == "<class 'random.Random'>"
    assert str(view) == "<class 'random.Random'>"
    assert repr(views["SocketView"]) == "<class 'socket.socket'>"
    assert (view.__name__, view.__qualname__, view.__module__) == ("Random", "Random", "random")
    assert view.__doc__ == random.Random.__doc__


@pytest.mark.inprocess_only(HOST_SIDE)
def test_repr_and_metadata_of_guards(views: dict) -> None:
    guard = views["time_guard"]
    assert repr(guard) == "<restricted time.time>"
    assert (guard.__name__, guard.__qualname__, guard.__module__) == ("time", "time", "time")
    assert guard.__doc__ == time.time.__doc__
    randint = views["randint_guard"]
    assert repr(randint) == "<restricted random.randint>"
    assert str(inspect.signature(randint)) == str(inspect.signature(random.randint)) == "(a, b)"
    assert callable(guard)


@pytest.mark.inprocess_only(HOST_SIDE)
def test_repr_of_module_views(backend: str, views: dict) -> None:
    assert repr(views["random_module"]) == repr(random)
    assert repr(views["json_module"]) == repr(json)
    assert repr(run(backend, "import time\nt = time\n")["t"]) == "<module 'time' (built-in)>"


# -- subclassing passthrough classes ------------------------------------------------------


@pytest.mark.inprocess_only(HOST_SIDE)
def test_subclass_of_a_class_view_seeded_works_and_is_deterministic(backend: str) -> None:
    ns = run(
        backend,
        """
        import random

        class Dice(random.Random):
            def roll(self):
                return self.randint(1, 6)

        dice = Dice(42)
        rolls = [dice.roll() for _ in range(5)]
        checks = (
            isinstance(dice, Dice),
            isinstance(dice, random.Random),
            issubclass(Dice, random.Random),
            type(dice) is Dice,
        )
        """,
    )
    reference = random.Random(42)
    assert ns["rolls"] == [reference.randint(1, 6) for _ in range(5)]
    assert ns["checks"] == (True, True, True, True)
    assert isinstance(ns["dice"], random.Random)  # in the host too


def test_subclass_of_a_class_view_unseeded_is_refused(backend: str) -> None:
    source = "import random\n\nclass Dice(random.Random):\n    pass\n\nDice()\n"
    with pytest.raises(RestrictedAccessError) as info:
        run(backend, source)
    assert (info.value.qualname, info.value.lineno) == ("random.Random", 6)
    with pytest.raises(RestrictedAccessError) as info:
        run(backend, source.replace("Dice()", "Dice(3).seed()"))
    assert info.value.qualname == "random.Random.seed"


def test_subclass_passing_its_seed_up_works(backend: str) -> None:
    ns = run(
        backend,
        """
        import random

        class Seeded(random.Random):
            def __init__(self, seed):
                super().__init__(seed)
                self.origin = seed

        value = Seeded(5).random()
        """,
    )
    assert ns["value"] == random.Random(5).random()


def test_subclass_that_seeds_itself_works(backend: str) -> None:
    ns = run(
        backend,
        """
        import random

        class Dice(random.Random):
            def __init__(self):
                super().__init__(42)

        class Die(random.Random):
            def __new__(cls):
                return super().__new__(cls, 42)

            def __init__(self):
                super().__init__(42)

        value = Dice().random()
        other = Die().random()
        """,
    )
    assert ns["value"] == ns["other"] == random.Random(42).random()


def test_subclass_inheriting_a_seeding_constructor_is_still_judged(backend: str) -> None:
    # Only a class that defines __init__ or __new__ itself escapes the check:
    # its subclass inherits the constructor, and its arguments are judged.
    source = (
        "import random\n\n"
        "class Dice(random.Random):\n"
        "    def __init__(self, *seed):\n"
        "        super().__init__(*seed)\n\n"
        "class Loaded(Dice):\n"
        "    pass\n\n"
        "value = Loaded(3).random()\n"
        "Loaded()\n"
    )
    with pytest.raises(RestrictedAccessError) as info:
        run(backend, source)
    assert (info.value.qualname, info.value.lineno) == ("random.Random", 11)


def test_subclass_of_a_refused_class_is_refused(backend: str) -> None:
    with pytest.raises(RestrictedAccessError) as info:
        run(backend, "import socket\n\nclass Sock(socket.socket):\n    pass\n\nSock()\n")
    assert (info.value.qualname, info.value.lineno) == ("socket.socket", 6)


@pytest.mark.inprocess_only(HOST_SIDE)
def test_subclass_of_an_unrestricted_passthrough_class(backend: str) -> None:
    ns = run(
        backend,
        """
        import json

        class SetEncoder(json.JSONEncoder):
            def default(self, o):
                return sorted(o)

        text = json.dumps({"a": {3, 1, 2}}, cls=SetEncoder)
        """,
    )
    assert ns["text"] == '{"a": [1, 2, 3]}'
    assert issubclass(ns["SetEncoder"], json.JSONEncoder)


# -- module views ---------------------------------------------------------------------------


@pytest.mark.inprocess_only(HOST_SIDE)
def test_module_views_are_modules_named_like_the_real_module(backend: str) -> None:
    ns = run(
        backend,
        """
        import json, random, sys, types, importlib
        import random as again

        checks = (
            isinstance(random, types.ModuleType),
            random.__name__ == "random",
            random is again,
            random is sys.modules["random"],
            random is importlib.import_module("random"),
            json.decoder.__name__ == "json.decoder",
        )
        """,
    )
    assert ns["checks"] == (True,) * 6
    assert isinstance(ns["random"], types.ModuleType)
    assert ns["random"] is not random
    assert ns["random"].__file__ == random.__file__


@pytest.mark.inprocess_only(HOST_SIDE)
def test_each_sandbox_has_its_own_view(backend: str) -> None:
    first = run(backend, "import json\nm = json\n")["m"]
    second = run(backend, "import json\nm = json\n")["m"]
    assert first is not second
    assert first is not json
    assert first.dumps is json.dumps  # unrestricted names are the host's objects


@pytest.mark.inprocess_only(HOST_SIDE)
def test_dir_and_vars_of_a_view(backend: str) -> None:
    ns = run(
        backend,
        """
        import json, time, os
        json_dir = dir(json)
        json_vars = vars(json)
        time_vars = dict(vars(time))
        os_vars = dict(vars(os))
        """,
    )
    assert {"dumps", "loads", "JSONEncoder", "JSONDecodeError", "__name__"} <= set(ns["json_dir"])
    assert ns["json_dir"] == sorted(ns["json_dir"])
    assert ns["json_vars"]["dumps"] is json.dumps
    assert ns["json_vars"]["__name__"] == "json"
    # Refused functions are guards in the dict as well; no real one is exposed.
    assert repr(ns["time_vars"]["time"]) == "<restricted time.time>"
    assert repr(ns["os_vars"]["urandom"]) == "<restricted os.urandom>"
    assert time.time not in ns["time_vars"].values()
    assert os.urandom not in ns["os_vars"].values()
    # Refused values are not in the dict at all: reading them raises.
    assert "environ" not in ns["os_vars"]
    assert os.environ not in ns["os_vars"].values()


def _names_of(module: str) -> list[str]:
    """The real module's names, in the process or interpreter that runs the call."""
    return sorted(dir(sys.modules[module]))


@pytest.mark.parametrize("module", ["os", "json", "time", "sys"])
def test_dir_of_a_view_lists_the_modules_names(backend: str, module: str) -> None:
    sb = Sandbox(backend=backend)
    ns = run(backend, f"import {module}\nnames = dir({module})\n", sb)
    # The real module's names, submodules and refused values (os.environ)
    # included: dir() lists them; reading a refused one raises. The real
    # module is the one where the Sandbox runs (tests may add names to the host's).
    assert ns["names"] == sb.call(_names_of, module)
    assert "__detsandbox_view__" not in ns["names"]


def test_dir_of_a_view_follows_writes_and_deletes(backend: str) -> None:
    ns = run(
        backend,
        """
        import os
        os.new_name = 1
        del os.getcwd
        names = dir(os)
        """,
    )
    assert "new_name" in ns["names"] and "getcwd" not in ns["names"]
    assert ns["names"] == sorted(ns["names"])
    assert {"path", "environ", "sep"} <= set(ns["names"])
    assert "new_name" not in dir(os) and "getcwd" in dir(os)


def test_writes_to_a_view_stay_in_its_sandbox(backend: str) -> None:
    sb = Sandbox(backend=backend)
    run(
        backend,
        """
        import string, json
        string.capwords = lambda s, sep=None: "patched"
        string.new_name = 1
        json.dumps = None
        """,
        sb,
    )
    # The same Sandbox sees its own writes, from any module.
    ns = run(
        backend,
        "import string, json\nr = string.capwords('a b')\nn = string.new_name\nd = json.dumps\n",
        sb,
        name="second",
    )
    assert (ns["r"], ns["n"], ns["d"]) == ("patched", 1, None)
    # The host does not...
    assert string.capwords("a b") == "A B"
    assert not hasattr(string, "new_name")
    assert json.dumps(1) == "1"
    # ...and neither does another Sandbox.
    other = run(backend, "import string, json\nr = string.capwords('a b')\nd = json.dumps(2)\n")
    assert (other["r"], other["d"]) == ("A B", "2")


def test_deleting_from_a_view_deletes_it_there(backend: str) -> None:
    ns = run(
        backend,
        """
        import json
        del json.dumps
        has = hasattr(json, "dumps")
        listed = "dumps" in dir(json)
        try:
            json.dumps
        except AttributeError as exc:
            error = (str(exc), exc.name, exc.obj is json)
        json.dumps = "rebound"
        back = (json.dumps, "dumps" in dir(json))
        """,
    )
    assert (ns["has"], ns["listed"]) == (False, False)
    assert ns["error"] == ("module 'json' has no attribute 'dumps'", "dumps", True)
    assert ns["back"] == ("rebound", True)
    assert json.dumps(1) == "1"
    # Another Sandbox, and a reload, see the module's own name again.
    assert run(backend, "import json\nr = json.dumps(2)\n")["r"] == "2"
    ns = run(
        backend,
        "import importlib, json\ndel json.dumps\nimportlib.reload(json)\nr = json.dumps(3)\n",
    )
    assert ns["r"] == "3"


def test_writing_a_refused_value_is_refused_too(backend: str) -> None:
    with pytest.raises(RestrictedAccessError) as info:
        run(backend, "import os\nos.environ = {}\n")
    assert info.value.qualname == "os.environ"
    with pytest.raises(RestrictedAccessError):
        run(backend, "import os\ndel os.environ\n")
    assert "HOME" in os.environ


# -- datetime needs no proxy ---------------------------------------------------------------


def test_datetime_classes_are_the_hosts_own(backend: str) -> None:
    ns = run(
        backend,
        """
        import datetime
        from datetime import date, timezone
        classes = (datetime.datetime, datetime.date, date, datetime.timedelta, timezone.utc)
        stamp = datetime.datetime(2020, 1, 2, 3, 4, tzinfo=timezone.utc)
        moved = stamp + datetime.timedelta(days=1)
        text = moved.isoformat()
        """,
    )
    assert ns["classes"][0] is datetime.datetime
    assert ns["classes"][1] is datetime.date
    assert ns["classes"][2] is datetime.date
    assert ns["classes"][3] is datetime.timedelta
    assert ns["classes"][4] is datetime.UTC
    assert type(ns["stamp"]) is datetime.datetime
    assert ns["moved"] == datetime.datetime(2020, 1, 3, 3, 4, tzinfo=datetime.UTC)
    assert ns["text"] == "2020-01-03T03:04:00+00:00"
    assert pickle.loads(pickle.dumps(ns["stamp"])) == ns["stamp"]


# -- dataclasses and typing in a sandbox module ------------------------------------------------

MODELS = """
from __future__ import annotations

import dataclasses
import inspect
import typing
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import ClassVar


@dataclass
class Point:
    x: int
    y: int = 0
    count: ClassVar[int] = 0
    scale: InitVar[int] = 1
    _: KW_ONLY
    label: str = "p"
    tags: list[str] = field(default_factory=list)

    def __post_init__(self, scale: int) -> None:
        self.x *= scale


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int = 0


class Node:
    value: int
    children: list[Node]
    parent: Node | None
    limit: ClassVar[int] = 3


def describe():
    hints = typing.get_type_hints(Point)
    node = typing.get_type_hints(Node)
    return {
        "fields": [(f.name, f.type, f.kw_only, f.init) for f in dataclasses.fields(Point)],
        "kinds": {name: f._field_type.name for name, f in Point.__dataclass_fields__.items()},
        "signature": str(inspect.signature(Point)),
        "match_args": Point.__match_args__,
        "repr": repr(Point(2, 3, 5, label="q")),
        "eq": Point(1) == Point(1),
        "classvar": Point.count,
        "hints": {name: repr(hint) for name, hint in hints.items() if name != "_"},
        "kw_only marker": hints["_"] is dataclasses.KW_ONLY,
        "node": (
            node["children"] == list[Node],
            node["parent"] == (Node | None),
            node["limit"] == ClassVar[int],
        ),
        "order": Version(1, 2) < Version(1, 3),
        "hash": hash(Version(1, 2)) == hash(Version(1, 2)),
    }
"""


def _describe_in_host() -> dict[str, Any]:
    """``describe()`` of MODELS run as an ordinary host module."""
    name = "dsviews_models_host"
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        exec(compile(MODELS, f"{name}.py", "exec", dont_inherit=True), module.__dict__)
        result: dict[str, Any] = module.describe()
    finally:
        del sys.modules[name]
    return result


def test_dataclasses_with_string_annotations_behave_as_in_the_host(backend: str) -> None:
    sb = Sandbox(backend=backend)
    ns = run(backend, MODELS, sb, name="models")
    inside = sb.call(ns["describe"])
    host = _describe_in_host()
    assert inside == host
    assert inside["kinds"] == {
        "x": "_FIELD",
        "y": "_FIELD",
        "count": "_FIELD_CLASSVAR",
        "scale": "_FIELD_INITVAR",
        "label": "_FIELD",
        "tags": "_FIELD",
    }
    assert [f[0] for f in inside["fields"]] == ["x", "y", "label", "tags"]  # no ClassVar
    assert inside["signature"] == (
        "(x: 'int', y: 'int' = 0, scale: 'InitVar[int]' = 1, *, label: 'str' = 'p', "
        "tags: 'list[str]' = <factory>) -> None"
    )
    assert inside["node"] == (True, True, True)
    assert inside["kw_only marker"] is True
    assert "models" not in sys.modules


@pytest.mark.inprocess_only("applies the host's dataclasses functions to the Sandbox's instances")
def test_host_dataclass_functions_work_on_sandbox_instances(backend: str) -> None:
    sb = Sandbox(backend=backend)
    ns = run(
        backend, MODELS + "\npoint = Point(2, 3, 5, label='q', tags=['t'])\n", sb, name="models2"
    )
    point = ns["point"]
    assert dataclasses.is_dataclass(point)
    assert [f.name for f in dataclasses.fields(point)] == ["x", "y", "label", "tags"]
    assert dataclasses.asdict(point) == {"x": 10, "y": 3, "label": "q", "tags": ["t"]}
    assert dataclasses.astuple(point) == (10, 3, "q", ["t"])
    assert dataclasses.replace(point, y=9, scale=1) == ns["Point"](10, 9, label="q", tags=["t"])
    version = ns["Version"](1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        version.major = 3  # type: ignore[misc]
    assert copy.deepcopy(point) == point


def test_get_type_hints_in_the_sandbox_resolves_sandbox_names(backend: str) -> None:
    ns = run(
        backend,
        """
        from __future__ import annotations

        import typing

        class Order:
            lines: list[Line]
            total: int

            def add(self, line: Line) -> Order:
                return self

        class Line:
            sku: str

        hints = typing.get_type_hints(Order)
        method_hints = typing.get_type_hints(Order.add)
        resolved = (
            hints == {'lines': list[Line], 'total': int},
            method_hints == {'line': Line, 'return': Order},
        )
        """,
        name="orders",
    )
    assert ns["resolved"] == (True, True)


# -- class views of ABCs, and known limits --------------------------------------------------


def test_isinstance_against_a_class_view_of_an_abc(backend: str) -> None:
    ns = run(
        backend,
        """
        import selectors
        class Mine: pass
        r = (
            isinstance(Mine(), selectors.DefaultSelector),
            issubclass(selectors.DefaultSelector, selectors.BaseSelector),
        )
        """,
    )
    assert ns["r"] == (False, True)


@pytest.mark.parametrize(
    ("module", "abc"),
    [
        ("tempfile", io.IOBase),
        ("gzip", io.BufferedIOBase),
        ("selectors", selectors.BaseSelector),
        ("subprocess", selectors.BaseSelector),
        ("importlib.util", importlib.abc.Loader),
    ],
)
def test_class_views_of_abcs_leave_the_hosts_abcs_alone(
    backend: str, module: str, abc: type
) -> None:
    # Each of these modules holds a refused ABC subclass (SpooledTemporaryFile,
    # GzipFile, the selectors, LazyLoader): the Sandbox makes a class view of it,
    # which the host's ABC machinery then walks.
    Sandbox(backend=backend).exec(f"import {module}\n")

    class Mine:
        pass

    assert (issubclass(Mine, abc), isinstance(Mine(), abc)) == (False, False)
    assert issubclass(io.BytesIO, io.IOBase) and isinstance(io.BytesIO(), io.IOBase)
    assert issubclass(selectors.SelectSelector, selectors.BaseSelector)


@pytest.mark.xfail(
    strict=True,
    reason="known limit: pathlib runs fresh in each Sandbox, so host Path objects are not "
    "instances of the sandbox's pathlib classes and sandbox Paths are not the host's",
)
def test_paths_cross_the_boundary(backend: str) -> None:
    sb = Sandbox(backend=backend)
    ns = run(
        backend,
        """
        import pathlib
        def check(p):
            return isinstance(p, pathlib.PurePath), isinstance(p, pathlib.Path)
        made = pathlib.PurePosixPath("a", "b")
        """,
        sb,
    )
    assert sb.call(ns["check"], pathlib.Path("x")) == (True, True)
    assert ns["made"] == pathlib.PurePosixPath("a/b")
    assert pickle.loads(pickle.dumps(ns["made"])) == pathlib.PurePosixPath("a/b")


def test_allowed_names_are_the_hosts_objects_unwrapped(backend: str) -> None:
    policy = Policy.strict().evolve(allow=("time.time",))
    ns = run(backend, "import time\nclock = time.time\n", Sandbox(policy, backend=backend))
    assert ns["clock"] is time.time  # allowed names are the host's objects, unwrapped
