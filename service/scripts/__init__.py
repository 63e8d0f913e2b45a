"""The Lua scripts, each beside its codec: the function that builds a call and the one that
reads its reply. Key layouts and window tables come from keys.py and windows.py; a script
gets them in KEYS and ARGV and names none itself."""

from __future__ import annotations

from pathlib import Path

from ..storage import Script

HERE = Path(__file__).parent


def load(name: str, *, durable: bool = True, uses: tuple[str, ...] = ()) -> Script:
    """service/scripts/<name>.lua as a Script, after the lib/<use>.lua fragments it uses."""
    prelude = "".join((HERE / "lib" / f"{use}.lua").read_text() for use in uses)
    return Script.load(HERE / f"{name}.lua", durable=durable, prelude=prelude)
