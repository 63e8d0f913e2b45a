"""The only errors the storage package raises: what Redis did, in the domain's words."""

from __future__ import annotations

import asyncio

from redis.exceptions import (
    ClusterDownError,
    ConnectionError,
    MasterDownError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    RedisError,
    ResponseError,
    SlotNotCoveredError,
    TimeoutError,
    TryAgainError,
)


class StorageError(Exception):
    """Redis refused a command for a reason a retry cannot fix (a bug: wrong type, bad script)."""


class StorageUnavailable(StorageError):
    """Redis did not answer in time, could not be reached, or cannot serve the command now."""


class ReplicationShortfall(StorageUnavailable):
    """Written on the master, but fewer replicas than required confirmed it in time."""


class ReplyError(Exception):
    """An error reply as the lean transport reads it: the code (first word) and the rest."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code} {message}".strip())
        self.code = code
        self.message = message

    @classmethod
    def parse(cls, reply: str) -> ReplyError:
        code, _, message = reply.partition(" ")
        return cls(code, message)


# Raised when a node is unreachable or the cluster is switching over. A script may have run
# before its reply was lost: only guarded calls (a marker each, see script.py) and idempotent
# commands are sent again.
RETRYABLE: tuple[type[BaseException], ...] = (
    ConnectionError,  # redis-py's, which the lean transport raises too; BusyLoadingError too
    TimeoutError,
    ClusterDownError,
    TryAgainError,
    SlotNotCoveredError,
)
# Error replies that say "not now" rather than "never": out of memory under noeviction, a
# replica or a loading node, a busy script, a master without its replicas, a failed save.
UNAVAILABLE_CODES = frozenset(
    {"OOM", "READONLY", "LOADING", "BUSY", "MASTERDOWN", "NOREPLICAS", "CLUSTERDOWN",
     "TRYAGAIN", "MISCONF"}
)  # fmt: skip
_UNAVAILABLE_CLASSES = (OutOfMemoryError, ReadOnlyError, MasterDownError)
# A plain ERR that says the same: the node a write and its WAIT went to was demoted to a
# replica between them (a failover in progress), so the write is not acknowledged.
_UNAVAILABLE_MESSAGES = ("WAIT cannot be used with replica instances",)


def _unavailable_message(text: str) -> bool:
    return any(message in text for message in _UNAVAILABLE_MESSAGES)


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ReplyError):
        return exc.code in ("TRYAGAIN", "CLUSTERDOWN", "LOADING")
    return isinstance(exc, RETRYABLE)


def translate(exc: BaseException) -> StorageError:
    """The storage error for what a transport raised, or an error reply it returned."""
    if isinstance(exc, StorageError):
        return exc
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, ReplyError):
        unavailable = exc.code in UNAVAILABLE_CODES or _unavailable_message(detail)
    elif isinstance(exc, ResponseError) and not isinstance(exc, RETRYABLE):
        unavailable = (
            isinstance(exc, _UNAVAILABLE_CLASSES)
            or detail.startswith(tuple(UNAVAILABLE_CODES))
            or _unavailable_message(detail)
        )
    else:
        unavailable = isinstance(
            exc, RedisError | RedisClusterException | OSError | asyncio.TimeoutError
        )
        if not unavailable:
            raise TypeError(f"not a storage error: {exc!r}") from exc
    return StorageUnavailable(detail) if unavailable else StorageError(detail)
