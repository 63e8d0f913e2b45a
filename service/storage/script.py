"""Lua scripts as the storage package runs them: by SHA, reloaded on NOSCRIPT, replay-guarded."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Wrapped around every durable script: the last key is the call's marker, the last argument
# its TTL. The first run stores its result under the marker (atomically with its writes, so a
# failover keeps both or neither); a replay of the same call finds it and returns it unchanged.
GUARD_HEAD = """local marker, marker_ttl = table.remove(KEYS), table.remove(ARGV)
local done = redis.call('GET', marker)
if done then return cjson.decode(done) end
local function body()
"""
GUARD_TAIL = """
end
local result = body()
redis.call('SET', marker, cjson.encode(result), 'EX', marker_ttl)
return result
"""


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script file, called by SHA.

    ``durable`` scripts (the default: writes that must not be lost or doubled) run inside the
    replay guard and wait for replicas when VIEWCOUNT_REDIS_WAIT_REPLICAS is set; the others
    (reads, and writes that are safe to repeat) run as they are.
    """

    name: str
    source: str
    sha: str
    durable: bool = True

    @classmethod
    def load(cls, path: Path, *, durable: bool = True, prelude: str = "") -> Script:
        """The script at ``path``, after ``prelude`` (Lua functions scripts share)."""
        source = prelude + path.read_text()
        if durable:
            source = GUARD_HEAD + source + GUARD_TAIL
        return cls(path.stem, source, hashlib.sha1(source.encode()).hexdigest(), durable)


@dataclass(frozen=True, slots=True)
class Call:
    """One script invocation; every key it touches is in ``keys`` (one slot on a cluster)."""

    script: Script
    keys: Sequence[str]
    args: Sequence[Any]

    def command(self, verb: str = "EVALSHA") -> list[Any]:
        """EVALSHA (or EVAL, for a node that lost its script cache) as a raw command."""
        body = self.script.sha if verb == "EVALSHA" else self.script.source
        return [verb, body, len(self.keys), *self.keys, *self.args]
