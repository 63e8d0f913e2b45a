"""Write a Redis dump as a given release of viewcount leaves it, through its public API only.

Run it with that release's code and venv (its `viewcount` on PATH as `python -m service.cli`):

    git worktree add /tmp/release 7602ecd && cd /tmp/release && python -m venv .venv &&
    .venv/bin/pip install -e . && .venv/bin/python /path/to/tests/data/release_fixture.py OUT

It starts its own redis-server and `viewcount serve --no-scheduler`, builds a small catalog in
three themes, counts beacons (some retried by event id, some from bots), posts a batch of
views spread over the last days, rolls up twice, deletes one article (a tombstone in the
current snapshot), and saves the dump to OUT (an RDB file) and what the release answered for
it to OUT.json (every article, count, list and theme). tests/test_compat.py serves the dump
with the current code and compares. Redis drops keys whose TTL ran out while the dump sat in
the repository (buckets, dedupe markers): the answers compared are those that outlive them.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta

TOKEN = "release-fixture-admin-token-0123456789"
SECRET = "release-fixture-secret-kept-outside-redis"
UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36"
)
ARTICLES = {
    "war-1": "war",
    "war-2": "war",
    "economy-1": "economy",
    "economy-2": "economy",
    "science-1": "science",
    "gone-1": "science",  # deleted after the rollups: a tombstone
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(
    base: str, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    request.add_header("User-Agent", UA)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def wait_port(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def main(out: str) -> None:
    admin = {"Authorization": f"Bearer {TOKEN}"}
    workdir = tempfile.mkdtemp(prefix="vc-release-")
    redis_port, api_port = free_port(), free_port()
    redis = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(redis_port),
            "--dir",
            workdir,
            "--save",
            "",
            "--appendonly",
            "no",
            "--bind",
            "127.0.0.1",
        ],
        stdout=subprocess.DEVNULL,
    )
    wait_port(redis_port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIEWCOUNT_")}
    env.update(
        {
            "VIEWCOUNT_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "VIEWCOUNT_ADMIN_TOKEN": TOKEN,
            "VIEWCOUNT_SECRET": SECRET,
            "VIEWCOUNT_RATE_LIMIT_PER_MIN": "0",
            "VIEWCOUNT_LOG_JSON": "false",
        }
    )
    api = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--no-scheduler", "--port", str(api_port)],
        env=env,
    )
    base = f"http://127.0.0.1:{api_port}"
    try:
        wait_port(api_port)
        published = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for n, (article, theme) in enumerate(ARTICLES.items()):
            status, body = call(
                base,
                "PUT",
                f"/v1/articles/{article}",
                {
                    "title": f"Release story {article} — «{theme}», with a comma",
                    "url": f"https://news.example.com/{theme}/{article}",
                    "theme": theme,
                    "published_at": published,
                    "imported_views": 1000 * n,
                },
                admin,
            )
            assert status in (200, 201), body
        for n in range(40):  # beacons: new readers, a retried event id, a bot
            article = list(ARTICLES)[n % len(ARTICLES)]
            body = {"article": article, "visitor": f"reader-{n}", "event_id": f"ev-{n}"}
            assert call(base, "POST", "/v1/views", body)[0] == 202
        assert (
            call(
                base,
                "POST",
                "/v1/views",
                {"article": "war-1", "visitor": "reader-0", "event_id": "ev-0"},
            )[0]
            == 202
        )
        assert (
            call(base, "POST", "/v1/views", {"article": "war-1"}, {"User-Agent": "Googlebot/2.1"})[
                0
            ]
            == 202
        )
        now = datetime.now(UTC)
        events = [
            {
                "article": article,
                "at": (now - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "visitor": f"batch-{hours}-{article}",
            }
            for hours in range(0, 96, 3)
            for article in ("war-1", "economy-1", "science-1")
        ]
        status, body = call(base, "POST", "/v1/views/batch", {"events": events}, admin)
        assert status == 200, body
        assert call(base, "POST", "/v1/rollup", None, admin)[0] == 200
        for n in range(5):  # waiting in the inbox at the second rollup's start, merged by it
            call(base, "POST", "/v1/views", {"article": "economy-2", "visitor": f"late-{n}"})
        assert call(base, "POST", "/v1/rollup", None, admin)[0] == 200
        for n in range(3):  # in the inbox, not yet merged, when the dump is taken
            call(base, "POST", "/v1/views", {"article": "science-1", "visitor": f"unmerged-{n}"})
        assert call(base, "DELETE", "/v1/articles/gone-1", None, admin)[0] == 204
        answers: dict[str, object] = {}
        paths = [f"/v1/articles/{article}" for article in ARTICLES]
        paths += [f"/v1/articles/{article}/views" for article in ARTICLES]
        paths += [f"/v1/views?articles={','.join(ARTICLES)}", "/v1/themes"]
        for window in ("1h", "24h", "7d", "30d", "all"):
            paths.append(f"/v1/popular?window={window}&limit=100")
            paths += [
                f"/v1/themes/{t}/popular?window={window}&limit=100" for t in set(ARTICLES.values())
            ]
        for path in paths:
            status, body = call(base, "GET", path)
            answers[path] = {"status": status, "body": json.loads(body)}
        with open(out + ".json", "w") as file:
            json.dump(answers, file, indent=1, sort_keys=True, ensure_ascii=False)
        subprocess.run(
            ["redis-cli", "-p", str(redis_port), "SAVE"], check=True, stdout=subprocess.DEVNULL
        )
        shutil.copy(os.path.join(workdir, "dump.rdb"), out)
    finally:
        api.terminate()
        api.wait(15)
        redis.terminate()
        redis.wait(15)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1])
