"""Source: what the sandbox was asked to run, as text, and its lines for messages.

Lines are kept here rather than in :mod:`linecache`, which belongs to the
host: error messages quote the sandboxed line without touching host state.
"""

from __future__ import annotations

import threading
from importlib.util import decode_source

from .errors import InvalidSourceError

__all__ = ["as_text", "line", "remember"]

_LINES: dict[str, list[str]] = {}
_LOCK = threading.Lock()


def as_text(source: object, *, what: str) -> str:
    """``source`` as ``str``; ``bytes`` are decoded like importlib does."""
    if isinstance(source, str):
        return source
    if isinstance(source, (bytes, bytearray)):
        try:
            return decode_source(bytes(source))
        except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
            raise InvalidSourceError(
                f"{what} could not decode the source bytes ({exc}); pass str, or bytes "
                "in UTF-8 or with a PEP 263 coding line"
            ) from None
    raise InvalidSourceError(
        f"{what} expects the source as str or bytes, got {type(source).__name__}"
    )


def remember(filename: str, source: str) -> None:
    """Keep the lines of ``filename`` for error messages."""
    lines = source.splitlines()
    with _LOCK:
        _LINES[filename] = lines


def line(filename: str, lineno: int) -> str:
    """Line ``lineno`` of a sandboxed file, stripped, or ``""``."""
    lines = _LINES.get(filename)
    if lines is None or not 0 < lineno <= len(lines):
        return ""
    return lines[lineno - 1].strip()
