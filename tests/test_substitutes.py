"""Deterministic substitutes take the arguments the real functions take, no more."""

from __future__ import annotations

import pytest

from detsandbox import Policy, Sandbox


@pytest.mark.parametrize(
    ("call", "message"),
    [
        ("time.time(5)", "time.time() takes no arguments (1 given)"),
        ("time.monotonic(1, 2)", "time.monotonic() takes no arguments (2 given)"),
        ("time.perf_counter_ns(x=1)", "time.perf_counter_ns() takes no keyword arguments"),
        ("uuid.uuid4(1)", "uuid4() takes 0 positional arguments but 1 was given"),
        ("os.urandom()", "posix.urandom() takes exactly one argument (0 given)"),
    ],
)
@pytest.mark.parametrize("record", [False, True])
def test_a_substitute_refuses_arguments_the_real_function_refuses(
    call: str, message: str, record: bool
) -> None:
    sb = Sandbox(Policy.deterministic(seed=1, record=record))
    with pytest.raises(TypeError) as info:
        sb.exec(f"import os, time, uuid\nx = {call}\n", filename="wf.py")
    assert str(info.value) == message
    if record:
        assert len(sb.journal) == 0  # a call that raised leaves no event


def test_the_same_calls_without_the_bad_arguments_are_answered() -> None:
    sb = Sandbox(Policy.deterministic(seed=1))
    ns = sb.exec(
        "import os, secrets, time, uuid\n"
        "values = (time.time(), time.monotonic(), len(os.urandom(4)),\n"
        "          len(secrets.token_bytes()), uuid.uuid4().version)\n",
        filename="wf.py",
    )
    assert ns["values"] == (946684800.0, 0.0, 4, 32, 4)
