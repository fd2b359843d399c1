"""Source: what the sandbox was asked to run, as text, and its lines for messages.

Lines are kept here rather than in :mod:`linecache`, which belongs to the
host: error messages quote the sandboxed line without touching host state.
"""

from __future__ import annotations

from importlib.util import decode_source

from .errors import InvalidSourceError

__all__ = ["as_text", "line", "remember"]

# filename -> source text, split into lines only when a message needs one.
_SOURCES: dict[str, str] = {}


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
    """Keep the source of ``filename`` for error messages."""
    _SOURCES[filename] = source


def line(filename: str, lineno: int) -> str:
    """Line ``lineno`` of a sandboxed file, stripped, or ``""``."""
    source = _SOURCES.get(filename)
    if source is None:
        return ""
    lines = source.splitlines()
    if not 0 < lineno <= len(lines):
        return ""
    return lines[lineno - 1].strip()
