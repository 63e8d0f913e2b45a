"""Redis, owned here: the clients and transports, scripts, commands, retries and errors.

Nothing outside this package imports redis-py or hiredis. The domain builds calls (``Call``
of a ``Script``) and commands (``ops``), runs them on a ``Storage``, and gets Python values
or one of this package's errors.
"""

from __future__ import annotations

from redis.crc import REDIS_CLUSTER_HASH_SLOTS as HASH_SLOTS
from redis.crc import key_slot

from . import ops
from .client import READS_A_TURN, Storage, connect
from .errors import ReplicationShortfall, StorageError, StorageUnavailable
from .script import Call, Script

__all__ = [
    "HASH_SLOTS",
    "READS_A_TURN",
    "Call",
    "ReplicationShortfall",
    "Script",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "connect",
    "key_slot",
    "ops",
]
