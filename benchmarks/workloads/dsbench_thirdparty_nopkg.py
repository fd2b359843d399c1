"""Workload: dsbench_thirdparty without packaging (fallback when that import fails)."""

import idna
from pygments.lexers.python import PythonLexer
from pygments.token import Keyword


class ThirdParty:
    async def run(self, x: int) -> list:
        host = idna.encode("bücher.example").decode()
        return [host, PythonLexer.name, str(Keyword)]
