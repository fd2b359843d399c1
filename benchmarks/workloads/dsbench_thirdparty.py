"""Workload: three pure-Python third-party packages re-imported fresh per Sandbox.

None of them is passthrough, so every Sandbox executes idna, packaging.version
and pygments (the lexer machinery and its Python lexer) again. Mirrors
dsbench_temporal_thirdparty.ThirdParty.
"""

import idna
import packaging.version
from pygments.lexers.python import PythonLexer
from pygments.token import Keyword


class ThirdParty:
    async def run(self, x: int) -> list:
        host = idna.encode("bücher.example").decode()
        newer = packaging.version.Version(f"1.{x}") < packaging.version.Version("1.10")
        return [host, newer, PythonLexer.name, str(Keyword)]
