"""A Redis written by the previous release, served by this one: same catalog, counts and lists.

tests/data/release-7602ecd.rdb is a dump that release 7602ecd wrote through its own API
(tests/data/release_fixture.py, run with that release's code); beside it, every answer that
release gave for it. Redis drops the keys whose TTL ran out since (time buckets, dedupe
markers, the replaced snapshot): what is compared is what outlives them — the catalog, the
all-time counts, the published snapshot and its tombstone.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from service import keys
from service.storage import connect, ops

from .support import ADMIN, RedisProcess, client_for, make_settings

DATA = Path(__file__).parent / "data"
DUMP = DATA / "release-7602ecd.rdb"
ANSWERS: dict[str, Any] = json.loads((DATA / "release-7602ecd.rdb.json").read_text())


@pytest.fixture
def released(tmp_path: Path) -> Any:
    shutil.copy(DUMP, tmp_path / "dump.rdb")
    server = RedisProcess("--dbfilename", "dump.rdb", directory=tmp_path).start()
    yield server
    server.stop()


async def test_a_dump_of_the_previous_release_is_served_as_it_was(released: RedisProcess) -> None:
    settings = make_settings(released.url)
    async with client_for(settings) as http:
        for path, then in ANSWERS.items():
            now = await http.get(path)
            assert now.status_code == then["status"], path
            body = now.json()
            if now.status_code == 200 and path.startswith("/v1/articles/"):
                # New fields may be added (automated_views); every old one is as it was, but
                # today's unique readers, which start afresh each day.
                old = {k: v for k, v in then["body"].items() if k != "readers_today"}
                assert {name: body[name] for name in old} == old, path
            elif now.status_code == 200:
                # Lists gained movement (issue 13): from an old snapshot it is unknown, null;
                # every field the old release answered is as it was.
                assert _as_then(body, then["body"]) == then["body"], path
                if "items" in then["body"]:
                    assert body["previous_as_of"] is None, path
                    assert {item["previous_rank"] for item in body["items"]} <= {None}, path
            else:
                assert body["code"] == then["body"]["code"], path


async def test_the_new_release_counts_and_rolls_up_on_the_old_data(
    released: RedisProcess,
) -> None:
    settings = make_settings(released.url)
    before = ANSWERS["/v1/articles/war-2/views"]["body"]["views"]
    async with client_for(settings) as http:
        beacon = await http.post("/v1/views", json={"article": "war-2", "visitor": "new-release"})
        assert beacon.json() == {"counted": True}
        assert (await http.get("/v1/articles/war-2/views")).json()["views"] == before + 1
        old_as_of = ANSWERS["/v1/popular?window=all&limit=100"]["body"]["as_of"]
        assert (await http.post("/v1/rollup", headers=ADMIN)).status_code == 200
        everything = (await http.get("/v1/popular?window=all&limit=100")).json()
        assert everything["as_of"] > old_as_of
        listed = {item["article"]: item["window_views"] for item in everything["items"]}
        ids = ",".join(listed)
        live = (await http.get(f"/v1/views?articles={ids}")).json()["views"]
        assert listed == live and "gone-1" not in listed  # the all-time list is the totals
    storage = connect(settings)
    try:  # the previous release's inbox (views it counted and never merged) was merged
        waiting = await storage.execute(
            [ops.exists(keys.inbox(s), keys.draining(s)) for s in range(keys.SHARDS)]
        )
    finally:
        await storage.close()
    assert waiting == [0] * keys.SHARDS


def _as_then(now: Any, then: Any) -> Any:
    """``now`` with only the fields ``then`` has, in objects at any depth."""
    if isinstance(then, dict) and isinstance(now, dict):
        return {name: _as_then(now.get(name), value) for name, value in then.items()}
    if isinstance(then, list) and isinstance(now, list) and len(then) == len(now):
        return [_as_then(a, b) for a, b in zip(now, then, strict=True)]
    return now
