"""The minimum-readers rule by most recent readers (integrity.ReaderGate): exactly what counting
the ids of every readers sample a window covers says, for every window and article, whether
the recent readers were folded in by the rollups hour by hour (samples.lua), built at once from
the samples (a store written before they were kept: recent.lua), or rebuilt after a purge took
a reader back (purge.lua). Real Redis, single node and cluster; samples laid out as record.lua
and samples.lua lay them out."""

from __future__ import annotations

import random
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest

from service import integrity, keys
from service.catalog import Article, Catalog
from service.clock import ManualClock
from service.ingest import View
from service.scripts import delete_article, purge, record, samples
from service.scripts.record import HOUR_S
from service.storage import Storage, ops
from service.windows import DAY, TODAY, W1H, W7D, W24H, W30D, Window

N = 3  # VIEWCOUNT_MIN_READERS
ZONE = ZoneInfo("Europe/Kyiv")
AS_OF = 1_774_800_000.0 + 9 * HOUR_S + 1234  # 2026-03-29, the day Kyiv's clocks spring forward
NOW_HOUR = int(AS_OF // HOUR_S)
HOURS_KEPT = 26  # hourly samples older than this have expired (record.SAMPLE_RETENTION_S)
WINDOWS = (W1H, W24H, TODAY, W7D, W30D)
ARTICLES = [f"g{n:03}" for n in range(120)]

Sample = dict[str, str]  # article -> reader ids


class Samples:
    """Readers samples as record.lua (hours) and samples.lua (days, all time) keep them, from
    readers seen at clock hours: each keeps its first N distinct ids."""

    def __init__(self) -> None:
        self.hours: dict[int, Sample] = defaultdict(dict)
        self.days: dict[int, Sample] = defaultdict(dict)
        self.ever: Sample = {}

    def see(self, article: str, reader: str, hour: int) -> None:
        held = [self.days[hour * HOUR_S // DAY.bucket_s], self.ever]
        if hour > NOW_HOUR - HOURS_KEPT:
            held.append(self.hours[hour])
        for sample in held:
            ids = sample.get(article, "")
            if len(ids) < N * 8 and reader not in {ids[i : i + 8] for i in range(0, len(ids), 8)}:
                sample[article] = ids + reader

    def drop(self, article: str, reader: str) -> None:
        """purge.lua: the reader leaves every hour and day sample (not the all-time one)."""
        for sample in [*self.hours.values(), *self.days.values()]:
            ids = sample.get(article)
            if ids is not None:
                chunks = [ids[i : i + 8] for i in range(0, len(ids), 8)]
                sample[article] = "".join(c for c in chunks if c != reader)

    def passes(self, window: Window, article: str) -> bool:
        """The rule as it was: the distinct ids of the window's hour samples (a day or less)
        or day samples (longer), from the hour or day its start falls in."""
        start = window.start(AS_OF, ZONE)
        if window.daily or (window.span_s or 0) <= DAY.bucket_s:
            covered = [self.hours.get(h, {}) for h in range(int(start // HOUR_S), NOW_HOUR + 1)]
        else:
            days = range(DAY.index(start), DAY.index(AS_OF) + 1)
            covered = [self.days.get(d, {}) for d in days]
        ids = {
            held[i : i + 8] for sample in covered for held in [sample.get(article, "")]
            for i in range(0, len(held), 8)
        }  # fmt: skip
        return len(ids) >= N

    async def write(self, storage: Storage) -> None:
        writes: list[ops.Op[int]] = []
        periods = [("h", self.hours), ("d", self.days)]
        for period, held in periods:
            for index, sample in held.items():
                for article, ids in sample.items():
                    shard = keys.shard_of(article)
                    writes.append(
                        ops.hset(keys.readers_sample(shard, period, index), {article: ids})
                    )
        for article, ids in self.ever.items():
            writes.append(
                ops.hset(keys.readers_sample(keys.shard_of(article), "all"), {article: ids})
            )
        await storage.execute(writes)


def readers_seen(seed: int, hours_back: int) -> Samples:
    """Each article read by a few to a dozen readers over the last ``hours_back`` hours, or
    a part of them: some often, some once; readers come back."""
    rng = random.Random(seed)
    seen = Samples()
    for article in ARTICLES:
        readers = [f"{rng.getrandbits(32):08x}" for _ in range(rng.randint(1, 12))]
        span = min(hours_back, rng.choice([3, 20, 30, 24 * 8, 24 * 40]))
        views = sorted(
            (rng.randint(NOW_HOUR - span, NOW_HOUR), rng.choice(readers))
            for _ in range(rng.randint(1, 24))
        )
        for hour, reader in views:
            seen.see(article, reader, hour)
    return seen


async def judged(storage: Storage) -> dict[str, set[str]]:
    gate = integrity.ReaderGate(storage, N, AS_OF, ZONE)
    return {w.name: await gate.passing(w, set(ARTICLES)) for w in WINDOWS}


def expected(seen: Samples) -> dict[str, set[str]]:
    return {w.name: {a for a in ARTICLES if seen.passes(w, a)} for w in WINDOWS}


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_recent_readers_built_from_the_samples_judge_as_counting_them(
    store: Storage, seed: int
) -> None:
    seen = readers_seen(seed, 40 * 24)  # past the hourly samples, and the 30 days
    await seen.write(store)
    assert await integrity.build_recent(store, AS_OF, N) == len(seen.ever)
    want = expected(seen)
    assert await judged(store) == want
    assert all(0 < len(want[w.name]) < len(ARTICLES) for w in WINDOWS[1:])  # both kinds
    assert await integrity.build_recent(store, AS_OF, N) == 0  # built once


async def test_one_gate_judges_the_windows_in_any_order_as_articles_come(store: Storage) -> None:
    """A rollup's gate is asked about a few articles at a time, window after window and
    back (each window's reads, then its author lists' deeper ones): every answer is what
    counting the samples says, whichever window learnt an article first, and an article
    learnt for one window is judged for another without being looked up again."""
    seen = readers_seen(6, 40 * 24)
    await seen.write(store)
    await integrity.build_recent(store, AS_OF, N)
    want = expected(seen)
    gate = integrity.ReaderGate(store, N, AS_OF, ZONE)
    rng = random.Random(6)
    for _ in range(40):
        window = rng.choice(WINDOWS)
        asked = set(rng.sample(ARTICLES, rng.randint(1, 15)))
        assert await gate.passing(window, asked) == want[window.name] & asked, window.name
    assert await gate.passing(W24H, set(ARTICLES)) == want["24h"]  # the rest learnt
    await store.execute([ops.unlink(keys.recent_readers(s)) for s in range(keys.SHARDS)])
    for window in WINDOWS:  # judged from what the gate learnt: no lookup finds nothing now
        assert await gate.passing(window, set(ARTICLES)) == want[window.name]


@pytest.mark.parametrize("seed", [4, 5])
async def test_recent_readers_folded_hour_by_hour_judge_as_counting_them(
    store: Storage, seed: int
) -> None:
    """What the rollups fold in as the hours pass (each folds its hour and the one before)
    judges as the samples do; the store starts with recent readers built (empty)."""
    seen = readers_seen(seed, HOURS_KEPT - 1)
    assert await integrity.build_recent(store, AS_OF, N) == 0
    await seen.write(store)
    for hour in range(NOW_HOUR - HOURS_KEPT, NOW_HOUR + 1):
        await integrity.fold_samples(store, hour * HOUR_S + 1800, N)
    assert await judged(store) == expected(seen)


async def test_a_purged_reader_leaves_the_recent_readers(store: Storage) -> None:
    seen = readers_seen(6, 40 * 24)
    await seen.write(store)
    await integrity.build_recent(store, AS_OF, N)
    passing = expected(seen)
    article = min(passing["24h"])
    held = seen.hours[max(h for h, s in seen.hours.items() if article in s)][article]
    reader = held[:8]  # one of its readers in its last hour read
    shard = keys.shard_of(article)
    hours = range(NOW_HOUR - HOURS_KEPT, NOW_HOUR + 1)
    days = range(DAY.index(AS_OF) - 32, DAY.index(AS_OF) + 1)
    range_samples = [keys.readers_sample(shard, "h", h) for h in hours]
    range_samples += [keys.readers_sample(shard, "d", d) for d in days]
    digest = reader + "0" * 8  # the log's client digest starts with the sample's id
    call = purge.call(article, digest, {1: 1}, range_samples, [], 0, AS_OF, N)
    assert purge.decode(await store.run(call)) == 1
    seen.drop(article, reader)
    after = expected(seen)
    assert after != passing  # the article lost a window
    assert await judged(store) == after


async def test_a_deleted_article_takes_its_recent_readers_along(store: Storage) -> None:
    seen = readers_seen(7, 24)
    await seen.write(store)
    await integrity.build_recent(store, AS_OF, N)
    article = min(expected(seen)["24h"])
    url = f"https://news.example.com/{article}"
    await Catalog(store, ManualClock(AS_OF)).put(Article(article, "T", url, "war", None, 0))
    recent = keys.recent_readers(keys.shard_of(article))
    assert (await store.execute([ops.hmget(recent, [article])]))[0] != [None]
    assert delete_article.decode(await store.run(delete_article.call(article, AS_OF)))
    assert (await store.execute([ops.hmget(recent, [article])]))[0] == [None]
    assert article not in (await judged(store))["24h"]


async def test_a_big_hour_is_folded_a_page_at_a_time(
    store: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An hour sample past Redis's small-hash encoding is scanned page by page (pages of 50
    here): every article in it is folded once the pages are done."""
    monkeypatch.setattr(samples, "PAGE", 50)
    assert await integrity.build_recent(store, AS_OF, N) == 0
    shard = 5
    articles = [a for a in (f"p{n:05}" for n in range(20_000)) if keys.shard_of(a) == shard][:600]
    ids = {a: "".join(f"{n:08x}" for n in range(N)) for a in articles}
    await store.execute([ops.hset(keys.readers_sample(shard, "h", NOW_HOUR), ids)])
    await integrity.fold_samples(store, AS_OF, N)
    assert await integrity.ReaderGate(store, N, AS_OF, ZONE).passing(W1H, set(articles)) == set(
        articles
    )
    ever = await store.execute([ops.hmget(keys.readers_sample(shard, "all"), articles)])
    assert ever[0] == [ids[a] for a in articles]


async def test_rollups_fold_the_samples_that_grew_after_one_whole_pass(store: Storage) -> None:
    """The first fold of an hour takes its whole sample (written before the grown samples were
    kept: a store of an earlier version, a seed); later ones only the articles whose sample
    record.lua grew since, and each of those once."""
    assert await integrity.build_recent(store, AS_OF, N) == 0
    shard = 3
    old, unmarked, viewed = [a for a in (f"w{n}" for n in range(500)) if keys.shard_of(a) == shard][
        :3
    ]
    hour_sample = keys.readers_sample(shard, "h", NOW_HOUR)
    ever = keys.readers_sample(shard, "all")
    await store.execute([ops.hset(hour_sample, {old: "0000000a"})])
    await integrity.fold_samples(store, AS_OF, N)
    assert (await store.execute([ops.hmget(ever, [old])]))[0] == ["0000000a"]
    assert await store.one(ops.exists(keys.readers_folded(shard, NOW_HOUR)))

    # Written past record.lua, after the whole pass: not folded again (nothing marked it).
    await store.execute([ops.hset(hour_sample, {unmarked: "0000000b"})])
    # A view recorded as the service records one: its sample grows, and is marked.
    await Catalog(store, ManualClock(AS_OF)).put(
        Article(viewed, "T", f"https://news.example.com/{viewed}", "war", None, 0)
    )
    limits = record.Limits(dedupe_ttl_s=1800, event_ttl_s=86400, rate_limit_per_min=600)
    view = View(viewed, AS_OF, dedupe=False)
    codes = record.decode(await store.run(record.call([(shard, [view])], AS_OF, limits, False)))
    assert codes == [record.COUNTED]
    grown = keys.readers_unfolded(shard, NOW_HOUR)
    assert await store.one(ops.smembers(grown)) == [viewed]
    await integrity.fold_samples(store, AS_OF, N)
    held = (await store.execute([ops.hmget(ever, [old, unmarked, viewed])]))[0]
    assert held[0] == "0000000a" and held[1] is None and held[2] is not None and len(held[2]) == 8
    assert await store.one(ops.smembers(grown)) == []  # taken as folded
    assert await integrity.ReaderGate(store, 1, AS_OF, ZONE).passing(W1H, {viewed}) == {viewed}
