"""The command line: ``python -m detsandbox demo`` and argument errors."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from detsandbox._demo import run_demo
from detsandbox.cli import main


def test_demo_output() -> None:
    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    assert "run('ada', ...) -> {'id': 1, 'total': 11, 'status': 'shipped'}" in text
    assert "same Sandbox, second order   -> id 2 (2 orders held)" in text
    assert "new Sandbox, first order     -> id 1 (1 order held)" in text
    assert "the two modules are distinct -> True" in text
    assert "RestrictedAccessError: datetime.datetime.now() is not allowed" in text
    assert "stamp_order.py:7)" in text
    assert "7 | stamped = datetime.datetime.now()" in text
    assert "   run(7) -> 'order 7 shipped at 00:00'" in text
    assert (
        "   journal: 1 event, datetime.datetime.now() -> 2000-01-01 00:00:00 at stamp_order.py:7"
        in text
    )
    assert "   replayed run(7) -> 'order 7 shipped at 00:00'" in text


def test_demo_as_a_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "detsandbox", "demo"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "1. An order workflow, run in a fresh Sandbox" in proc.stdout


def test_unknown_command_is_one_clear_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        main(["dmeo"])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'dmeo'" in err
