"""The key layout: shard tags over the slot space, one slot per multi-key call, key names."""

from __future__ import annotations

import zlib

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from service import keys

# What a Redis written by an earlier release holds: the names must not move.
RELEASED_TAGS = (
    *("{s0.10}", "{s1.13}", "{s2.23}", "{s3.20}", "{s4.0}", "{s5.3}", "{s6.40}", "{s7.43}"),
    *("{s8.23}", "{s9.20}", "{s10.22}", "{s11.21}", "{s12.2}", "{s13.1}", "{s14.41}", "{s15.42}"),
)


def test_shard_tags_take_one_slice_of_the_slot_space_each() -> None:
    """16 tags, each in its own sixteenth of the slots: any even split over N <= 16 masters
    gives every master at least one shard."""
    size = REDIS_CLUSTER_HASH_SLOTS // keys.SHARDS
    slices = [key_slot(tag.encode()) // size for tag in keys.SHARD_TAGS]
    assert slices == list(range(keys.SHARDS))
    article = "blinken-discusses-peace-process"
    shard = keys.shard_of(article)
    per_article = [
        keys.meta(article),
        keys.readers(article, 1),
        keys.seen(article, "d"),
        keys.event(article, "e"),
        keys.totals(shard),
        keys.bucket(shard, "h", 7),
    ]
    assert len({key_slot(k.encode()) for k in per_article}) == 1
    assert (
        len(
            {
                key_slot(k.encode())
                for k in (keys.LEADER, keys.CURRENT, keys.EPOCH, keys.TOMBSTONES, keys.snapshot(9))
            }
        )
        == 1
    )


def test_key_names_are_the_released_ones() -> None:
    assert keys.SHARD_TAGS == RELEASED_TAGS
    article = "blinken-discusses-peace-process"
    assert keys.shard_of(article) == zlib.crc32(article.encode()) % 16 == 15
    assert [
        keys.meta(article),
        keys.readers(article, 20419),
        keys.seen(article, "d"),
        keys.event(article, "e"),
    ] == [
        "vc:{s15.42}:a:blinken-discusses-peace-process",
        "vc:{s15.42}:u:blinken-discusses-peace-process:20419",
        "vc:{s15.42}:dd:d",
        "vc:{s15.42}:ev:e",
    ]
    shard = {
        keys.articles: "articles",
        keys.totals: "total",
        keys.bots: "bots",
        keys.automated: "auto",
        keys.inbox: "inbox",
        keys.draining: "draining",
        keys.window_starts: "winfrom",
        keys.article_themes: "theme",
        keys.theme_counts: "themes",
    }
    assert {build(3) for build in shard} == {f"vc:{{s3.20}}:{name}" for name in shard.values()}
    assert keys.window(3, "24h") == "vc:{s3.20}:win:24h"
    assert keys.bucket(3, "h", 7) == "vc:{s3.20}:b:h:7"
    assert keys.per_minute(3, 9) == "vc:{s3.20}:pm:9"
    assert keys.rate(3, 9) == "vc:{s3.20}:rl:9"
    assert (keys.LEADER, keys.EPOCH, keys.CURRENT, keys.TOMBSTONES, keys.GENERATION) == (
        "vc:{rank}:leader",
        "vc:{rank}:epoch",
        "vc:{rank}:current",
        "vc:{rank}:deleted",
        "vc:{rank}:generation",
    )
    assert keys.snapshot(9) == "vc:{rank}:snap:9"
    assert keys.salt(20419) == "vc:{salt}:20419"


def test_inbox_members_and_call_markers() -> None:
    member = keys.inbox_member(5, "a.b-c")
    assert member == "5|a.b-c" and keys.inbox_m5(member) == 5
    # A call's replay marker shares the slot of the call's first key.
    marker = keys.call_marker(keys.totals(3), "token")
    assert marker == "vc:{s3.20}:once:token"
    assert key_slot(marker.encode()) == key_slot(keys.totals(3).encode())
    assert keys.call_marker("untagged", "token") == "vc:{calls}:once:token"
    assert {keys.shard_of_digest(bytes([n])) for n in range(256)} == set(range(keys.SHARDS))
