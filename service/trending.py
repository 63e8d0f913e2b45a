"""Trending: the articles whose last hour most exceeds what their own previous day predicts.

score = (last_hour + prior) / (expected + prior), where ``last_hour`` is the article's views in
the 1h window and ``expected`` the hourly rate of its views in the rest of the 24h window
(the 23-24 hours before the last one). ``prior`` (VIEWCOUNT_TRENDING_PRIOR_VIEWS) is a few
views pretended on both sides: it keeps an article with 2 views after 0 from out-trending a
big story, and makes the score 1 for an article as read as usual. A list takes the articles
scoring at least VIEWCOUNT_TRENDING_MIN_SCORE, best first, ties by last-hour views, then id.

A ratio rather than a z-score: it reads as "N times its usual hour" to an editor, and a
z-score on counts grows with an article's size (a steady big story drifts into it) and is
undefined at a baseline of 0, the usual case for a new story. Everything comes from the
window sets the rollup already keeps (1h and 24h), no extra counters: since ``expected`` is
never negative, only an article with at least prior * (min_score - 1) views in the last hour
can qualify, and only those are read (at most MAX_CANDIDATES per shard, best first).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable

from . import keys
from .storage import Storage, ops
from .topk import TopReader
from .windows import HOUR, M5, W1H, W24H

MAX_CANDIDATES = 2000  # per shard: the most-read-in-the-last-hour articles scored
Scored = tuple[str, int, float]  # article, last-hour views, score
Eligible = Callable[[set[str]], Awaitable[set[str]]]


def score(last_hour: float, earlier: float, earlier_s: float, prior: float) -> float:
    """The smoothed ratio of the last hour to the hour the earlier views predict."""
    expected = max(earlier, 0.0) * 3600 / earlier_s
    return (last_hour + prior) / (expected + prior)


def earlier_span_s(as_of: float) -> float:
    """How long the part of the 24h window before the 1h window lasts (23 to 24 hours: the
    windows' starts are rounded down to an hour and to 5 minutes)."""
    return W1H.first_bucket(as_of) * M5.bucket_s - W24H.first_bucket(as_of) * HOUR.bucket_s


async def lists(
    storage: Storage,
    reader: TopReader,
    eligible: Eligible,
    as_of: float,
    prior: float,
    min_score: float,
) -> tuple[list[Scored], dict[str, list[Scored]]]:
    """The site-wide trending list and every theme's, ``reader.size`` long each."""
    floor = max(prior * (min_score - 1), 1.0)
    tops = await storage.execute(
        [ops.zat_least(keys.window(s, W1H.name), floor, MAX_CANDIDATES) for s in range(keys.SHARDS)]
    )
    by_shard = {s: dict(top) for s, top in enumerate(tops) if top}
    earlier = await storage.execute(
        [ops.zmscore(keys.window(s, W24H.name), list(top)) for s, top in by_shard.items()]
    )
    span_s = earlier_span_s(as_of)
    scored: dict[str, tuple[int, float]] = {}
    for shard_top, day in zip(by_shard.values(), earlier, strict=True):
        for (article, last_hour), in_day in zip(shard_top.items(), day, strict=True):
            value = score(last_hour, (in_day or 0) - last_hour, span_s, prior)
            if value >= min_score:
                scored[article] = (int(last_hour), value)
    await reader.learn_themes(scored)
    candidates = {a for a in scored if reader.themes.get(a) is not None} - reader.excluded
    if candidates:
        candidates = await eligible(candidates)
    ordered = sorted(candidates, key=lambda a: (-scored[a][1], -scored[a][0], a))
    top: list[Scored] = []
    by_theme: dict[str, list[Scored]] = defaultdict(list)
    for article in ordered:
        entry = (article, *scored[article])
        if len(top) < reader.size:
            top.append(entry)
        members = by_theme[reader.themes[article]]  # type: ignore[index]
        if len(members) < reader.size:
            members.append(entry)
    return top, dict(by_theme)
