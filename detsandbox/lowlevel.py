"""Low-level hooks, public because pickles made in a Sandbox refer to them.

A restricted name or class view is pickled as a call to :func:`resolve`
with its qualified name; unpickled in a Sandbox, it is that Sandbox's view
of the name, and in the host the real object.
"""

from __future__ import annotations

from ._guards import resolve

__all__ = ["resolve"]

# Pickles name this module, which sandboxed code may import (the private
# module defining it may not).
resolve.__module__ = __name__
