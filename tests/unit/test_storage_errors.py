"""How error replies map to the storage layer's two errors (no Redis: the replies as sent)."""

from __future__ import annotations

import pytest

from service.storage.errors import ReplyError, StorageError, StorageUnavailable, translate

WAIT_ON_REPLICA = (
    "ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a "
    "replica is configured to be writable (which is not the default) writes to replicas are just "
    "local and are not propagated."
)


@pytest.mark.parametrize(
    "reply",
    [
        "READONLY You can't write against a read only replica.",
        "LOADING Redis is loading the dataset in memory",
        "OOM command not allowed when used memory > 'maxmemory'.",
        WAIT_ON_REPLICA,  # the node a write went to was demoted before its WAIT: not acknowledged
    ],
)
def test_not_now_replies_are_unavailable(reply: str) -> None:
    assert isinstance(translate(ReplyError.parse(reply)), StorageUnavailable)


def test_other_errors_are_storage_errors_only() -> None:
    error = translate(ReplyError.parse("ERR wrong number of arguments for 'hget' command"))
    assert isinstance(error, StorageError) and not isinstance(error, StorageUnavailable)
