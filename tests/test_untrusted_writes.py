"""Writes and augmented assignment in untrusted functions, where checks run inline.

Inside a function, untrusted mode tests an object's type inline before a
write or an in-place operator, and calls the full hook only when that test
fails. These tests pin that the inline path changes nothing observable: the
same results as plain Python, the same refusals with the same messages, and
no class kept alive for long.
"""

from __future__ import annotations

import array
import gc
import json
import weakref
from typing import Any

import pytest

from detsandbox import Policy, RestrictedAccessError, Sandbox

UNTRUSTED = Policy.strict(untrusted=True)

# Each body is the inside of `def f():` and returns plain data.
SAME_AS_PLAIN = {
    "attribute of an own instance": (
        "class P:\n"
        "    def __init__(self, x):\n"
        "        self.x = x\n"
        "p = P(1)\n"
        "p.x = p.x + 1\n"
        "p.y = 3\n"
        "del p.y\n"
        "return p.x, hasattr(p, 'y')\n"
    ),
    "items of containers": (
        "d = {'a': 1}\n"
        "d['b'] = 2\n"
        "del d['a']\n"
        "l = [0, 0, 0]\n"
        "l[1] = 5\n"
        "l[::2] = [7, 8]\n"
        "del l[0]\n"
        "return d, l\n"
    ),
    "targets of unpacking, loops and with": (
        "class P:\n"
        "    pass\n"
        "p = P()\n"
        "d = {}\n"
        "p.a, d['b'] = 1, 2\n"
        "for p.i in range(3):\n"
        "    d[p.i] = p.i * 2\n"
        "return p.a, p.i, d\n"
    ),
    "objects reached through expressions": (
        "class P:\n"
        "    pass\n"
        "p = P()\n"
        "p.child = P()\n"
        "p.child.v = 1\n"
        "p.items = [[0]]\n"
        "p.items[0][0] = 2\n"
        "return p.child.v, p.items\n"
    ),
    "names other scopes share": (
        "global count\n"
        "box = {}\n"
        "count = 0\n"
        "def bump():\n"
        "    global count\n"
        "    count += 1\n"
        "    box['n'] = count\n"
        "bump()\n"
        "bump()\n"
        "total = [1]\n"
        "total += [2]\n"
        "squares = [total for k in range(1)]\n"
        "return count, box, total, squares\n"
    ),
    "every in-place operator on ints": (
        "x = 7\n"
        "x += 3\n"
        "x -= 1\n"
        "x *= 4\n"
        "x //= 3\n"
        "x %= 7\n"
        "x **= 3\n"
        "x <<= 2\n"
        "x >>= 1\n"
        "x |= 5\n"
        "x ^= 9\n"
        "x &= 30\n"
        "y = 9\n"
        "y /= 2\n"
        "return x, y\n"
    ),
    "in place where the type says so": (
        "a = [1]\n"
        "alias = a\n"
        "a += [2]\n"
        "a *= 2\n"
        "t = (1,)\n"
        "same = t\n"
        "t += (2,)\n"
        "s = {1}\n"
        "seen = s\n"
        "s |= {2}\n"
        "d = {'a': 1}\n"
        "e = d\n"
        "d |= {'b': 2}\n"
        "text = ''\n"
        "for i in range(5):\n"
        "    text += str(i)\n"
        "class L(list):\n"
        "    pass\n"
        "own = L([1])\n"
        "own_alias = own\n"
        "own += [3]\n"
        "return alias, same, sorted(seen), e, text, list(own_alias)\n"
    ),
    "a method writing to self": (
        "class Counter:\n"
        "    def __init__(self):\n"
        "        self.n = 0\n"
        "    def add(self, k):\n"
        "        self.n = self.n + k\n"
        "        return self\n"
        "c = Counter()\n"
        "for i in range(4):\n"
        "    c.add(i)\n"
        "return c.n\n"
    ),
}


def _as_function(body: str) -> str:
    indented = "".join(f"    {line}\n" for line in body.splitlines())
    return f"def f():\n{indented}"


@pytest.mark.parametrize("body", SAME_AS_PLAIN.values(), ids=SAME_AS_PLAIN.keys())
def test_functions_compute_what_plain_python_computes(backend: str, body: str) -> None:
    source = _as_function(body)
    plain: dict[str, Any] = {}
    exec(compile(source, "plain.py", "exec", dont_inherit=True), plain)
    sb = Sandbox(UNTRUSTED, backend=backend)
    ns = sb.exec(source, filename="plugin.py")
    assert sb.call(ns["f"]) == plain["f"]()


def _refusal(backend: str, body: str) -> BaseException:
    sb = Sandbox(UNTRUSTED, backend=backend)
    ns = sb.exec("import json\n" + _as_function(body), filename="plugin.py")
    with pytest.raises(RestrictedAccessError) as info:
        sb.call(ns["f"])
    return info.value


def test_a_refused_write_in_a_function_says_where(backend: str) -> None:
    error = _refusal(backend, "x = 1\njson.dumps = None\n")
    assert str(error) == (
        "writing to module 'json' is not allowed in untrusted code (plugin.py:4).\n\n"
        "    4 | json.dumps = None\n\n"
        "Untrusted code may write only to objects it created: instances of its own "
        "classes, lists, dicts and sets. Build a new object instead."
    )


@pytest.mark.parametrize(
    "body",
    [
        "json.dumps = None\n",
        "del json.dumps\n",
        "holder = {'m': json}\nholder['m'].dumps = None\n",
        "for json.dumps in [None]:\n    pass\n",
        "json.dumps, x = None, 1\n",
        "encoder = json.JSONEncoder\nencoder.item_separator = ';'\n",
        "encoder = json.JSONEncoder()\nencoder.item_separator = ';'\n",
        "def inner():\n    return json\ninner().dumps = None\n",
        "class P:\n    pass\np = P()\np.x = 1\njson.dumps = None\n",
        "d = {}\nd['k'] = 1\nd = json\nd.dumps = None\n",
        "d = {}\nfor d in [json]:\n    pass\nd.dumps = None\n",
        "d = []\nimport json as d\nd.dumps = None\n",
        "class P:\n    pass\np = P()\np.dumps = (p := json)\n",
    ],
    ids=[
        "attribute",
        "del",
        "through an item",
        "for target",
        "unpacking target",
        "host class",
        "host instance",
        "call result",
        "after an own write",
        "a display's name rebound",
        "a display's name as a loop target",
        "a display's name imported over",
        "the name rebound by the value",
    ],
)
def test_writes_to_shared_objects_are_refused_in_functions(backend: str, body: str) -> None:
    dumps = json.dumps
    error = _refusal(backend, body)
    assert str(error).startswith("writing to ")
    assert json.dumps is dumps
    assert json.JSONEncoder.item_separator == ", "


def test_in_place_operators_never_mutate_what_code_may_not_write(backend: str) -> None:
    # An array.array the host hands in has an in-place +=; the code may not
    # write to it, so += makes a new array and the alias keeps the old one.
    sb = Sandbox(UNTRUSTED, backend=backend)
    ns = sb.exec(
        "def f(values):\n"
        "    alias = values\n"
        "    values += values\n"
        "    return list(alias), list(values)\n",
        filename="plugin.py",
    )
    host = array.array("i", [1, 2])
    assert sb.call(ns["f"], host) == ([1, 2], [1, 2, 1, 2])
    assert host.tolist() == [1, 2]


@pytest.mark.inprocess_only("holds weak references to classes the sandboxed code made")
def test_classes_the_code_drops_are_not_kept_alive(backend: str) -> None:
    sb = Sandbox(UNTRUSTED, backend=backend)
    ns = sb.exec(
        "def make(i):\n"
        "    class Item:\n"
        "        pass\n"
        "    item = Item()\n"
        "    item.value = i\n"
        "    return item\n",
        filename="plugin.py",
    )
    refs = []
    for i in range(500):
        item = sb.call(ns["make"], i)
        assert item.value == i
        refs.append(weakref.ref(type(item)))
    del item
    gc.collect()
    alive = sum(ref() is not None for ref in refs)
    # Remembered for speed, but at most the last few dozen, and only per Sandbox.
    assert 1 <= alive <= 64
    del sb, ns
    gc.collect()
    assert all(ref() is None for ref in refs)
