"""``detsandbox check``: a determinism linter for workflow code.

The code runs twice, each time in a fresh ``python -m detsandbox run
--deterministic --record FILE --json`` process. The two processes differ in
``PYTHONHASHSEED`` and ``TZ``, and start at different real times (one
after the other). Deterministic mode answers clocks, randomness and the
time zone from the Sandbox's own logical clock, seed and zone, so whatever
still differs between the runs (an allowed host call, an address in the
output) is code that reaches the real process around the Sandbox. Each
difference is a finding with its location.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
import tempfile
from typing import Any, Final

from ._cli_run import JSON_FORMAT, ExitCode, UsageError, read_file
from ._journal import Event, Journal, encode

__all__ = ["ENVIRONMENTS", "check"]

#: What differs between the two runs.
ENVIRONMENTS: Final = (
    {"PYTHONHASHSEED": "1", "TZ": "UTC"},
    {"PYTHONHASHSEED": "2", "TZ": "Pacific/Chatham"},
)
_HOME: Final = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _child_args(args: argparse.Namespace, journal: str) -> list[str]:
    argv = [sys.executable, "-m", "detsandbox", "run"]
    argv += [args.file] if args.file is not None else ["-m", args.module]
    argv += ["--record", journal, "--json"]
    if args.seed is not None:
        argv += ["--seed", str(args.seed)]
    for name in args.allow:
        argv += ["--allow", name]
    if args.untrusted:
        argv.append("--untrusted")
    if args.timeout is not None:
        argv += ["--timeout", repr(args.timeout)]
    if args.memory is not None:
        argv += ["--memory", str(args.memory)]
    if args.backend is not None:
        argv += ["--backend", args.backend]
    return argv


def _run_child(
    n: int, argv: list[str], changes: dict[str, str]
) -> tuple[dict[str, Any], Journal | None]:
    env = dict(os.environ, **changes)
    # This detsandbox, wherever it is installed (after the user's own entries).
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), _HOME]))
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    try:
        data: dict[str, Any] = json.loads(proc.stdout)
    except ValueError:
        lines = proc.stderr.strip().splitlines()
        if proc.returncode == ExitCode.USAGE and lines and ": error: " in lines[-1]:
            raise UsageError(lines[-1].partition(": error: ")[2]) from None
        detail = lines[-1] if lines else "no output"
        raise UsageError(
            f"run {n} crashed (exit status {proc.returncode}): {detail}",
            exit_code=ExitCode.RAISED,
        ) from None
    journal_file = argv[argv.index("--record") + 1]
    journal = None
    if os.path.exists(journal_file):
        with open(journal_file, encoding="utf-8") as f:
            journal = Journal.from_json(f.read())
    return data, journal


def _event_text(event: Event) -> str:
    return f"{event.qualname}({event.args}) -> {event.result!r}"


def _finding(
    kind: str, location: str | None, message: str, run1: str | None = None, run2: str | None = None
) -> dict[str, Any]:
    return {"kind": kind, "location": location, "message": message, "run1": run1, "run2": run2}


def _journal_findings(a: Journal, b: Journal) -> list[dict[str, Any]]:
    """Every entry where the journals differ, matched as replay matches calls."""

    def key(event: Event) -> str:
        return json.dumps([event.qualname, event.args, encode(event.result)], sort_keys=True)

    left, right = list(a), list(b)
    matcher = difflib.SequenceMatcher(None, [key(e) for e in left], [key(e) for e in right], False)
    found = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        for offset in range(max(i2 - i1, j2 - j1)):
            i, j = i1 + offset, j1 + offset
            one = left[i] if i < i2 else None
            two = right[j] if j < j2 else None
            index = i if one is not None else j
            where = one.location if one is not None else two.location if two is not None else None
            found.append(
                _finding(
                    "journal",
                    where,
                    f"entry {index + 1} differs",
                    f"{_event_text(one)} at {one.location}" if one else "(no such call)",
                    f"{_event_text(two)} at {two.location}" if two else "(no such call)",
                )
            )
    return found


def _output_finding(a: str, b: str, stream: str) -> dict[str, Any] | None:
    if a == b:
        return None
    one, two = a.splitlines(), b.splitlines()
    line = next(
        (n for n, (x, y) in enumerate(zip(one, two, strict=False)) if x != y),
        min(len(one), len(two)),
    )
    return _finding(
        "output",
        None,
        f"{stream} line {line + 1} differs",
        repr(one[line]) if line < len(one) else "(no such line)",
        repr(two[line]) if line < len(two) else "(no such line)",
    )


def _error_location(error: dict[str, Any] | None) -> str | None:
    if not error or error.get("filename") is None:
        return None
    return f"{error['filename']}:{error['lineno']}"


def _outcome_findings(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Findings about how the runs ended: differently, or with an error."""
    one, two = runs
    found = []
    differ = (one["status"], one["exit_code"], _error_summary(one)) != (
        two["status"],
        two["exit_code"],
        _error_summary(two),
    )
    if differ:
        found.append(
            _finding(
                "outcome",
                _error_location(one["error"]) or _error_location(two["error"]),
                "the runs ended differently",
                _ending(one),
                _ending(two),
            )
        )
    seen = set()
    for run in runs:
        status, error = run["status"], run["error"]
        if status == "ok" or (status == "exit" and run["exit_code"] == 0) or error is None:
            continue
        summary = _error_summary(run)
        if summary in seen:
            continue
        seen.add(summary)
        kind = {"restricted": "restricted", "limit": "limit"}.get(status, "error")
        message = error["message"] if kind != "error" else f"{error['type']}: {error['message']}"
        found.append(_finding(kind, _error_location(error), message))
    return found


def _error_summary(run: dict[str, Any]) -> tuple[object, ...]:
    error = run["error"]
    if error is None:
        return ()
    return (error["type"], error["message"], _error_location(error))


def _ending(run: dict[str, Any]) -> str:
    error = run["error"]
    text = f"{run['status']} (exit {run['exit_code']})"
    if error is not None:
        text += f": {error['type']}: {error['message'].splitlines()[0]}"
    return text


_DIVERGENCES: Final = frozenset({"journal", "output", "outcome"})


def _exit_code(findings: list[dict[str, Any]]) -> int:
    kinds = {f["kind"] for f in findings}
    for kinds_, code in (
        (_DIVERGENCES, ExitCode.NONDETERMINISM),
        ({"restricted"}, ExitCode.RESTRICTED),
        ({"limit"}, ExitCode.LIMIT),
        ({"error"}, ExitCode.RAISED),
    ):
        if kinds & kinds_:
            return int(code)
    return int(ExitCode.OK)


def check(args: argparse.Namespace) -> int:
    """Run ``check``; print the report (or the JSON object); return the exit code."""
    if args.file is not None:
        read_file(args.file)  # a missing file is a usage error here, not twice in children
    target = args.file if args.file is not None else f"-m {args.module}"
    runs: list[dict[str, Any]] = []
    journals: list[Journal | None] = []
    with tempfile.TemporaryDirectory(prefix="detsandbox-check-") as tmp:
        for n, changes in enumerate(ENVIRONMENTS, 1):
            argv = _child_args(args, os.path.join(tmp, f"journal{n}.json"))
            data, journal = _run_child(n, argv, changes)
            runs.append(data)
            journals.append(journal)
    findings = _compare(runs, journals)
    code = _exit_code(findings)
    if args.json:
        print(json.dumps(_json_report(target, code, runs, journals, findings), ensure_ascii=False))
    else:
        _print_report(target, code, journals[0], findings, verbose=args.verbose)
    return code


def _compare(runs: list[dict[str, Any]], journals: list[Journal | None]) -> list[dict[str, Any]]:
    """Every finding: journal entries, then output lines, then how the runs ended."""
    first, second = journals
    findings = []
    if first is not None and second is not None:
        findings += _journal_findings(first, second)
    for key, stream in (("output", "stdout"), ("stderr", "stderr")):
        output = _output_finding(runs[0][key], runs[1][key], stream)
        if output is not None:
            findings.append(output)
    return findings + _outcome_findings(runs)


def _json_report(
    target: str,
    code: int,
    runs: list[dict[str, Any]],
    journals: list[Journal | None],
    findings: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "detsandbox": JSON_FORMAT,
        "command": "check",
        "target": target,
        "exit_code": code,
        "agree": not any(f["kind"] in _DIVERGENCES for f in findings),
        "runs": [
            {
                "env": changes,
                "status": run["status"],
                "exit_code": run["exit_code"],
                "output": run["output"],
                "stderr": run["stderr"],
                "error": run["error"],
                "events": len(journal) if journal is not None else 0,
                "calls": [{"call": _event_text(e), "location": e.location} for e in journal or ()],
            }
            for changes, run, journal in zip(ENVIRONMENTS, runs, journals, strict=True)
        ],
        "findings": findings,
    }


def _print_report(
    target: str,
    code: int,
    journal: Journal | None,
    findings: list[dict[str, Any]],
    *,
    verbose: bool,
) -> None:
    envs = " and ".join(" ".join(f"{k}={v}" for k, v in e.items()) for e in ENVIRONMENTS)
    print(f"detsandbox check {target}: 2 runs, {envs}")
    if verbose and journal is not None:
        # The calls deterministic mode answered: fine in a Sandbox, but each is
        # a place where the code would be nondeterministic outside one.
        for event in journal:
            print(f"{event.location}: call: {_event_text(event)}")
    for finding in findings:
        where = f"{finding['location']}: " if finding["location"] else ""
        print(f"{where}{finding['kind']}: {_indent(finding['message'])}")
        if finding["run1"] is not None:
            print(f"    run 1: {finding['run1']}")
            print(f"    run 2: {finding['run2']}")
    if code == ExitCode.OK:
        events = len(journal) if journal is not None else 0
        print(f"OK: both runs agree ({events} journal entries, same output)")
    else:
        plural = "s" * (len(findings) != 1)
        print(f"FAIL: {_VERDICTS[ExitCode(code)]}, {len(findings)} finding{plural}")


def _indent(text: str) -> str:
    first, *rest = text.split("\n")
    return "\n".join([first, *(("    " + line) if line else "" for line in rest)])


_VERDICTS: Final = {
    ExitCode.RAISED: "the code raised",
    ExitCode.RESTRICTED: "the policy refuses what the code does",
    ExitCode.NONDETERMINISM: "the runs disagree",
    ExitCode.LIMIT: "the code ran out of a resource limit",
}
