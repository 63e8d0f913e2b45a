"""Bucket maintenance: the inbox merged into time buckets and window sets, windows slid.

Beacons write each view to their shard's inbox (record.lua). A rollup claims each inbox
(renamed to a draining set, so views counted meanwhile start a new one) and merges it chunk by
chunk (merge.lua), then subtracts the buckets that left each window since the last rollup
(advance.lua). A draining set left by a rollup that died is finished first: every entry is
merged exactly once.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, tzinfo

from . import keys
from .scripts import advance, merge
from .storage import Storage, ops
from .windows import DAY, LAST_WINDOW

# Days of buckets past the kept span that each rollup deletes: rollups missed for this long
# leave older ones to their TTL.
STALE_DAYS = 3


async def maintain(storage: Storage, as_of: float, zone: tzinfo = UTC) -> None:
    """Merge every shard's inbox, then slide every window to ``as_of`` (the daily one to
    its day in ``zone``)."""
    await asyncio.gather(*(_merge(storage, shard, as_of, zone) for shard in range(keys.SHARDS)))
    starts = await storage.execute(
        [ops.hgetall(keys.window_starts(shard)) for shard in range(keys.SHARDS)]
    )
    await asyncio.gather(
        *(
            storage.run(advance.call(shard, as_of, {n: int(i) for n, i in held.items()}, zone))
            for shard, held in enumerate(starts)
        )
    )
    await storage.execute(
        [ops.unlink(*stale) for shard in range(keys.SHARDS) if (stale := _outlived(shard, as_of))]
    )


def _outlived(shard: int, as_of: float) -> list[str]:
    """Day buckets the window before the 30d window has left too (previous_window_views)."""
    window = LAST_WINDOW[DAY.name]
    assert window.span_s is not None
    oldest_kept = window.first_bucket(as_of) - window.span_s // DAY.bucket_s
    return [keys.bucket(shard, DAY.name, i) for i in range(oldest_kept - STALE_DAYS, oldest_kept)]


async def _merge(storage: Storage, shard: int, as_of: float, zone: tzinfo) -> None:
    draining, claimed = keys.draining(shard), False
    while True:
        members = await storage.one(ops.zrange(draining, 0, merge.CHUNK - 1))
        if members:
            await storage.run(merge.call(shard, members, as_of, zone))
            continue
        if claimed:
            return
        claimed = True
        # Empty (drained): claim what the inbox holds now; a missing inbox claims nothing.
        await storage.one(ops.renamenx(keys.inbox(shard), draining))
