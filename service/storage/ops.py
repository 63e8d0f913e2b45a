"""The plain Redis commands the service sends, each with the way its reply reads.

Every transport speaks RESP2 and hands these replies over raw (redis-py's reply callbacks are
switched off for exactly these commands, see client.py), so one decoder per command serves
the lean transport, redis-py and the cluster alike, and the domain gets Python values.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

# The commands below; their replies reach us unparsed on every transport.
COMMANDS = (
    "GET", "SET", "INCR", "EXPIRE", "EXISTS", "UNLINK", "RENAMENX",
    "HGET", "HMGET", "HGETALL", "HSET", "HINCRBY", "HDEL", "HSCAN",
    "ZRANGE", "ZSCORE", "ZMSCORE", "ZADD", "ZREM", "ZCARD",
    "SISMEMBER", "SCARD", "SMEMBERS", "SSCAN", "PFCOUNT", "PFADD", "XRANGE",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Op(Generic[T]):
    """One command and how its raw reply becomes a value."""

    args: tuple[Any, ...]
    decode: Callable[[Any], T]
    # A reply error that is an answer, not a failure (RENAMENX of a missing key).
    expected_error: str | None = None
    on_expected_error: T | None = None


def _same(reply: Any) -> Any:
    return reply


def _int(reply: Any) -> int:
    return int(reply)


def _bool(reply: Any) -> bool:
    return bool(reply)


def _optional_float(reply: Any) -> float | None:
    return None if reply is None else float(reply)


def _pairs(reply: Sequence[Any]) -> dict[str, str]:
    return dict(zip(reply[::2], reply[1::2], strict=True))


def _scored(reply: Sequence[Any]) -> list[tuple[str, float]]:
    return list(zip(reply[::2], map(float, reply[1::2]), strict=True))


def _counted(reply: Sequence[Any]) -> list[tuple[str, float]]:
    """Members with scores that count views: ints as Redis writes them ("123"), floats if
    any is not one. An int formats (%d) and compares in a third less time than a float, and
    a rollup handles ~300,000 of them."""
    scores = reply[1::2]
    try:
        values: list[float] = list(map(int, scores))
    except ValueError:
        values = list(map(float, scores))
    return list(zip(reply[::2], values, strict=True))


def _counts(reply: Sequence[Any]) -> list[float | None]:
    """Scores that count views (None: no member), as _counted() reads them."""
    try:
        return [None if value is None else int(value) for value in reply]
    except ValueError:
        return _floats(reply)


def _floats(reply: Sequence[Any]) -> list[float | None]:
    return [None if value is None else float(value) for value in reply]


def _scan(reply: Sequence[Any]) -> tuple[int, dict[str, str]]:
    return int(reply[0]), _pairs(reply[1])


# --- strings ---------------------------------------------------------------------------------
def get(key: str) -> Op[str | None]:
    return Op(("GET", key), _same)


def set_value(key: str, value: str) -> Op[str | None]:
    return Op(("SET", key, value), _same)


def set_once(key: str, value: str, ttl_s: int) -> Op[str | None]:
    """SET NX EX GET: the value already there, or None when this one was stored."""
    return Op(("SET", key, value, "NX", "GET", "EX", ttl_s), _same)


def incr(key: str) -> Op[int]:
    return Op(("INCR", key), _int)


def expire(key: str, ttl_s: int) -> Op[bool]:
    return Op(("EXPIRE", key, ttl_s), _bool)


def exists(*names: str) -> Op[int]:
    return Op(("EXISTS", *names), _int)


def unlink(*names: str) -> Op[int]:
    return Op(("UNLINK", *names), _int)


def renamenx(key: str, new: str) -> Op[bool]:
    """True when renamed; False when ``new`` exists or ``key`` does not."""
    return Op(("RENAMENX", key, new), _bool, "no such key", False)


# --- hashes ----------------------------------------------------------------------------------
def hget(key: str, field: str) -> Op[str | None]:
    return Op(("HGET", key, field), _same)


def hmget(key: str, fields: Iterable[str]) -> Op[list[str | None]]:
    return Op(("HMGET", key, *fields), list)


def hgetall(key: str) -> Op[dict[str, str]]:
    return Op(("HGETALL", key), _pairs)


def hset(key: str, mapping: Mapping[str, Any]) -> Op[int]:
    return Op(("HSET", key, *(part for item in mapping.items() for part in item)), _int)


def hincrby(key: str, field: str, amount: int) -> Op[int]:
    return Op(("HINCRBY", key, field, amount), _int)


def hscan(key: str, cursor: int, count: int) -> Op[tuple[int, dict[str, str]]]:
    return Op(("HSCAN", key, cursor, "COUNT", count), _scan)


# --- sorted sets, sets, HyperLogLogs ---------------------------------------------------------
def zrange(key: str, start: int = 0, stop: int = -1) -> Op[list[str]]:
    return Op(("ZRANGE", key, start, stop), list)


def zrange_scored(key: str) -> Op[list[tuple[str, float]]]:
    """Every member with its score, lowest first."""
    return Op(("ZRANGE", key, 0, -1, "WITHSCORES"), _scored)


def ztop(key: str, count: int) -> Op[list[tuple[str, float]]]:
    """The ``count`` highest scores, best first (ties: later members first, as Redis orders):
    view counts (_counted)."""
    return Op(("ZRANGE", key, 0, count - 1, "REV", "WITHSCORES"), _counted)


def zrange_rev(key: str, start: int, stop: int) -> Op[list[tuple[str, float]]]:
    """Members ranked ``start`` to ``stop`` (0: the highest score), with their scores: view
    counts (_counted)."""
    return Op(("ZRANGE", key, start, stop, "REV", "WITHSCORES"), _counted)


def zat_least(key: str, minimum: float, count: int) -> Op[list[tuple[str, float]]]:
    """Up to ``count`` members scoring at least ``minimum``, best first."""
    command = ("ZRANGE", key, "+inf", minimum, "BYSCORE", "REV", "LIMIT", 0, count, "WITHSCORES")
    return Op(command, _scored)


def zscore(key: str, member: str) -> Op[float | None]:
    return Op(("ZSCORE", key, member), _optional_float)


def zmscore(key: str, members: Sequence[str]) -> Op[list[float | None]]:
    return Op(("ZMSCORE", key, *members), _floats)


def zmcount(key: str, members: Sequence[str]) -> Op[list[float | None]]:
    """ZMSCORE of a set of view counts (_counts)."""
    return Op(("ZMSCORE", key, *members), _counts)


def zadd(key: str, scores: Mapping[str, float]) -> Op[int]:
    return Op(("ZADD", key, *(p for m, s in scores.items() for p in (s, m))), _int)


def zrem(key: str, *members: str) -> Op[int]:
    return Op(("ZREM", key, *members), _int)


def zcard(key: str) -> Op[int]:
    return Op(("ZCARD", key), _int)


def scard(key: str) -> Op[int]:
    return Op(("SCARD", key), _int)


def sismember(key: str, member: str) -> Op[bool]:
    return Op(("SISMEMBER", key, member), _bool)


def smembers(key: str) -> Op[list[str]]:
    return Op(("SMEMBERS", key), list)


def pfadd(key: str, members: Sequence[str]) -> Op[int]:
    return Op(("PFADD", key, *members), _int)


def sscan(key: str, cursor: int, count: int) -> Op[tuple[int, list[str]]]:
    """One step of SSCAN: the next cursor (0: done) and about ``count`` members."""
    return Op(("SSCAN", key, cursor, "COUNT", count), lambda reply: (int(reply[0]), list(reply[1])))


def pfcount(*names: str) -> Op[int]:
    """The distinct members of one HyperLogLog, or of several merged (one slot)."""
    return Op(("PFCOUNT", *names), _int)


# --- streams ---------------------------------------------------------------------------------
def _entries(reply: Sequence[Any]) -> list[tuple[str, dict[str, str]]]:
    return [(entry_id, _pairs(fields)) for entry_id, fields in reply]


def xrange(key: str, start: str, count: int) -> Op[list[tuple[str, dict[str, str]]]]:
    """Up to ``count`` entries from id ``start`` on (``-``: the first), oldest first."""
    return Op(("XRANGE", key, start, "+", "COUNT", count), _entries)
