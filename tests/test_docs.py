"""The documentation runs: every ```python example, and the catalogue listing.

Each Markdown file's ```python blocks run in order in one shared namespace,
with a fresh temporary directory as the current directory, so a page reads
like one session. Line numbers in tracebacks are those of the Markdown file.

A block may be skipped only where running it is impossible; it is then fenced
as ```python no-run, or preceded by an ``<!-- no-run: why -->`` comment, and
the reason must be written down (the test checks that there is one).

Links between the pages must resolve, anchors included.

The catalogue listing in docs/policy.md is generated from
``detsandbox._catalog``; when the catalogue changes, rewrite it with::

    python -m tests.test_docs
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import detsandbox
from detsandbox._catalog import ALIASES, CATALOG, SAFE, Kind, When

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [
    "index.md",
    "usage.md",
    "policy.md",
    "determinism.md",
    "replay.md",
    "pytest.md",
    "design.md",
    "security.md",
    "limits.md",
    "backends.md",
    "cli.md",
    "comparison.md",
]
FILES = [DOCS / page for page in PAGES] + [ROOT / "README.md"]

_FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_NO_RUN_COMMENT = re.compile(r"<!--\s*no-run(?P<why>[^>]*)-->\s*\Z")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # line of the first line of code, 1-based
    source: str
    run: bool
    why: str


def blocks(path: Path) -> list[Block]:
    """The ```python blocks of ``path``, in order."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        info = match["info"].strip().split()
        if not info or info[0] != "python":
            continue
        before = text[: match.start()]
        comment = _NO_RUN_COMMENT.search(before)
        no_run = "no-run" in info[1:] or comment is not None
        why = comment["why"].strip(" :") if comment else " ".join(info[2:])
        line = before.count("\n") + 2
        found.append(Block(path, line, match["body"], not no_run, why))
    return found


@pytest.fixture
def session(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temporary current directory; sys.path and host modules restored after."""
    monkeypatch.chdir(tmp_path)
    saved_path = list(sys.path)
    saved_modules = set(sys.modules)
    # Module locations are cached per process: forget other files' modules.
    detsandbox.invalidate_caches()
    importlib.invalidate_caches()
    try:
        yield tmp_path
    finally:
        sys.path[:] = saved_path
        # Drop host modules the examples loaded from the temporary directory.
        prefix = os.path.join(str(tmp_path), "")
        for name in set(sys.modules) - saved_modules:
            module = sys.modules[name]
            places = [str(getattr(module, "__file__", None) or "")]
            places += [str(p) for p in getattr(module, "__path__", None) or ()]
            if any(place.startswith(prefix) for place in places):
                del sys.modules[name]
        detsandbox.invalidate_caches()


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_examples_run(path: Path, session: Path) -> None:
    found = blocks(path)
    assert any(b.run for b in found), f"{path.name} has no runnable python example"
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for block in found:
        if not block.run:
            continue
        # Pad so that tracebacks give the line in the Markdown file.
        code = compile("\n" * (block.line - 1) + block.source, str(path), "exec", dont_inherit=True)
        exec(code, namespace)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_skipped_examples_say_why(path: Path) -> None:
    for block in blocks(path):
        if not block.run:
            assert len(block.why) > 10, f"{path.name}:{block.line}: say why this block cannot run"


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of ``path``."""
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    headings = re.findall(r"^#+ (.+)$", text, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_links_between_pages_resolve() -> None:
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        for target, anchor in re.findall(r"\]\(([^)#\s]*\.md)(?:#([^)\s]+))?\)", text):
            if "://" in target:
                continue
            linked = path.parent / target
            assert linked.exists(), f"{path.name} links to missing {target}"
            if anchor:
                assert anchor in _anchors(linked), f"{path.name} links to {target}#{anchor}"


# -- the catalogue listing in docs/policy.md ----------------------------------

START = "<!-- catalogue: generated by tests/test_docs.py, do not edit by hand -->"
END = "<!-- catalogue: end -->"

_WHEN_TEXT = {
    When.ALWAYS: "every call (a class: every construction; a `module.*` pattern: every function)",
    When.NO_ARGS: "a call whose first argument is missing or `None`",
    When.ONE_ARG: "a call without the time tuple",
    When.UNSEEDED: "construction or seeding without a seed, or with `None`",
    When.PATH_ARG: "a call given a path rather than a file object",
    When.NO_TZ: "a call without `tz`, or with `tz=None`",
    When.NO_MTIME: "a call without `mtime`",
    When.ACCESS: "reading the name at all",
}


def render_catalogue() -> str:
    """The generated part of docs/policy.md, from detsandbox._catalog."""
    out = [START, ""]
    for kind in Kind:
        entries = sorted(q for q, (k, _) in CATALOG.items() if k is kind)
        if not entries:
            continue
        what, advice = kind.value
        out += [f"#### `Kind.{kind.name}`: it {what}", "", f"Advice in the error: {advice}.", ""]
        out += ["| refused | names |", "|---|---|"]
        for when in When:
            names = [q for q in entries if CATALOG[q][1] is when]
            if names:
                cells = ", ".join(f"`{q}`" for q in names)
                text = _WHEN_TEXT.get(when, f"(describe `{when.value}` in tests/test_docs.py)")
                out.append(f"| `When.{when.name}`: {text} | {cells} |")
        out.append("")
    out += [
        "#### `Kind.POLICY`: it is denied by this sandbox's policy",
        "",
        "Every name matched by `Policy.deny`; the advice is to remove it from `Policy.deny`.",
        "",
        "#### Exempt from the module patterns (`SAFE`)",
        "",
        ", ".join(f"`{q}`" for q in sorted(SAFE)),
        "",
        "#### C modules covered by their public module's entries (`ALIASES`)",
        "",
        "| C module | covered as |",
        "|---|---|",
    ]
    out += [f"| `{c}` | `{p}` |" for c, p in sorted(ALIASES.items()) if c != p]
    out += ["", END]
    return "\n".join(out)


def _policy_text() -> tuple[str, int, int]:
    text = (DOCS / "policy.md").read_text(encoding="utf-8")
    start = text.index(START)
    end = text.index(END) + len(END)
    return text, start, end


def test_policy_md_lists_the_whole_catalogue() -> None:
    text, start, end = _policy_text()
    for qualname in CATALOG:
        assert f"`{qualname}`" in text, f"docs/policy.md does not list {qualname}"
    assert text[start:end] == render_catalogue(), (
        "the catalogue listing in docs/policy.md is out of date: run python -m tests.test_docs"
    )


def test_every_kind_and_when_is_explained() -> None:
    text, _, _ = _policy_text()
    for kind in Kind:
        assert f"`Kind.{kind.name}`" in text
    for when in When:
        assert f"`When.{when.name}`" in text


def _rewrite_catalogue() -> None:
    text, start, end = _policy_text()
    (DOCS / "policy.md").write_text(text[:start] + render_catalogue() + text[end:], "utf-8")


if __name__ == "__main__":
    _rewrite_catalogue()
    print("rewrote the catalogue listing in docs/policy.md")
