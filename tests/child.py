"""Running a script in a fresh interpreter, for the cross-process determinism tests."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def child_env(**changes: str) -> dict[str, str]:
    """The host's environment with ``changes``, and this checkout's detsandbox importable."""
    env = dict(os.environ, **changes)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_child(script: str, **env: str) -> str:
    """stdout of ``script`` run by a fresh interpreter with ``env`` changes."""
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=child_env(**env),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout
