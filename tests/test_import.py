"""`viewcount import` end to end: a real nginx logs the requests this test makes (combined and
JSON lines), a real `viewcount serve` takes the batches, and the command's summary and the
counts say each article view was counted once, bots apart, however often the logs are
imported and in whichever format."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from .live import ServiceProcess, service
from .newsroom import NewsSite
from .support import ADMIN, BROWSER_UA, RedisProcess, require_tool

INGEST_TOKEN = "import-token-0123456789abcdef"
FIREFOX_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
ARTICLES = ("ceasefire-talks-resume", "budget-vote-delayed", "flood-warnings-issued")
# What the traffic below comes to, whichever log is read.
SKIPPED = {"not_article": 2, "not_2xx": 1, "not_get": 1}


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The site's two access logs after a morning's requests, copied once nginx has them."""
    require_tool("nginx", "the import tests read the access logs of a real nginx")
    root = tmp_path_factory.mktemp("import-site")
    with NewsSite(root) as site, httpx.Client(base_url=site.origin) as http:
        requests = [
            *[("GET", "/news/ceasefire-talks-resume", BROWSER_UA)] * 3,  # a reader reloading
            ("GET", "/news/ceasefire-talks-resume", FIREFOX_UA),
            ("GET", "/news/ceasefire-talks-resume", GOOGLEBOT),
            ("GET", "/news/budget-vote-delayed?utm_source=newsletter", BROWSER_UA),
            ("GET", "/news/budget-vote-delayed", "curl/8.5.0"),
            ("HEAD", "/news/flood-warnings-issued", BROWSER_UA),
            ("GET", "/news/no-such-story", BROWSER_UA),
            ("GET", "/", BROWSER_UA),
            ("GET", "/feeds/news.rss", BROWSER_UA),
        ]
        for method, path, agent in requests:
            http.request(method, path, headers={"User-Agent": agent})
        copies = {}
        for name, source in (("combined", "site-access.log"), ("json", "site-access.json")):
            deadline = time.monotonic() + 10
            while len((root / source).read_text().splitlines()) < len(requests):
                assert time.monotonic() < deadline, f"nginx did not log into {source}"
                time.sleep(0.05)
            copies[name] = root / f"copy-{source}"
            shutil.copyfile(root / source, copies[name])
    return copies


@pytest.fixture(scope="module")
def server(single_server: RedisProcess) -> Iterator[ServiceProcess]:
    with service(single_server.url, ingest_tokens=INGEST_TOKEN) as proc:
        yield proc


@pytest.fixture
def url(server: ServiceProcess, redis: Any) -> str:
    """The service, on a flushed Redis, with the site's articles in its catalog."""
    base = f"http://127.0.0.1:{server.port}"
    with httpx.Client(base_url=base, headers=ADMIN) as http:
        for article in ARTICLES:
            body = {"title": article, "url": f"https://news.example.com/news/{article}"}
            response = http.put(f"/v1/articles/{article}", json={**body, "theme": "news"})
            assert response.status_code == 201, response.text
    return base


def run_import(
    path: Path, url: str, *args: str, token: str = INGEST_TOKEN, **env: str
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VIEWCOUNT_")}
    clean |= {"VIEWCOUNT_INGEST_TOKEN": token, "VIEWCOUNT_LOG_LEVEL": "warning", **env}
    command = [sys.executable, "-m", "service.cli", "import", str(path), "--url", url, *args]
    return subprocess.run(command, env=clean, capture_output=True, text=True, timeout=120)


def summary_of(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return result


def counts(url: str) -> dict[str, tuple[int, int]]:
    with httpx.Client(base_url=url) as http:
        replies = {a: http.get(f"/v1/articles/{a}/views").json() for a in ARTICLES}
    return {a: (reply["views"], reply["bot_views"]) for a, reply in replies.items()}


EXPECTED_COUNTS = {
    "ceasefire-talks-resume": (4, 1),  # three reloads and Firefox; Googlebot apart
    "budget-vote-delayed": (1, 1),  # the query is not the path; curl apart
    "flood-warnings-issued": (0, 0),  # HEAD is no view
}


def first_run(lines: int) -> dict[str, Any]:
    return {
        "lines": lines,
        "unparseable": 0,
        "too_long": 0,
        "skipped": SKIPPED,
        "sent": 7,
        "counted": 5,
        "duplicates": 0,
        "bots": 2,
        "automated": 0,
        "rejected": {},
    }


def again(lines: int) -> dict[str, Any]:
    return {**first_run(lines), "counted": 0, "duplicates": 7, "bots": 0}


def batch_events(url: str) -> dict[str, float]:
    """The service's viewcount_batch_events_total by outcome, from its /metrics."""
    text = httpx.get(f"{url}/metrics").text
    found = re.findall(r'^viewcount_batch_events_total\{outcome="(\w+)"\} (\S+)$', text, re.M)
    return {outcome: float(value) for outcome, value in found}


def test_the_combined_log_counts_each_view_once_however_often_imported(
    logs: dict[str, Path], url: str
) -> None:
    before = batch_events(url)
    assert summary_of(run_import(logs["combined"], url)) == first_run(11)
    assert counts(url) == EXPECTED_COUNTS
    after = batch_events(url)  # the import is visible in /metrics, apart from beacons
    assert {k: after[k] - before.get(k, 0) for k in after} == {
        "counted": 5,
        "duplicate": 0,
        "bot": 2,
        "automated": 0,
        "rejected": 0,
    }
    assert summary_of(run_import(logs["combined"], url)) == again(11)
    # The same requests in nginx's JSON log are the same events: nothing counts twice.
    assert summary_of(run_import(logs["json"], url, "--format", "json")) == again(11)
    assert counts(url) == EXPECTED_COUNTS


def test_the_json_log_alone_counts_the_same(logs: dict[str, Path], url: str) -> None:
    assert summary_of(run_import(logs["json"], url, "--format", "json")) == first_run(11)
    assert counts(url) == EXPECTED_COUNTS


def test_lines_that_do_not_parse_are_counted_in_the_summary(
    logs: dict[str, Path], url: str, tmp_path: Path
) -> None:
    """A broken line, an over-long one and a blank one: counted, never a crash; the file
    compressed as logrotate leaves it."""
    text = logs["combined"].read_bytes()
    broken = b"this is not an access log line\n" + b"x" * 20_000 + b"\n\n" + text
    messy = tmp_path / "access.log.2.gz"
    messy.write_bytes(gzip.compress(broken))
    expected = {**first_run(14), "unparseable": 1, "too_long": 1}
    expected["skipped"] = {**SKIPPED, "blank": 1}
    assert summary_of(run_import(messy, url)) == expected
    # Read as JSON lines, every combined line is one that does not parse.
    as_json = summary_of(run_import(logs["combined"], url, "--format", "json"))
    assert (as_json["unparseable"], as_json["sent"]) == (11, 0)
    assert counts(url) == EXPECTED_COUNTS


def test_refusals_end_the_import_with_a_clear_line(
    logs: dict[str, Path], url: str, tmp_path: Path
) -> None:
    wrong = run_import(logs["combined"], url, token="not-the-token-0123456789")
    assert wrong.returncode == 1 and "answered 401" in wrong.stderr
    missing = run_import(tmp_path / "no-such.log", url)
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    assert counts(url)["ceasefire-talks-resume"] == (0, 0)


def write_log(path: Path, lines: int, first: int) -> None:
    """``lines`` combined lines, one in ten an article view from an address of its own (from
    the ``first``: the files must not share lines, or the larger one's would be duplicates)."""
    template = (
        '{ip} - - [{day}:{clock} +0000] "GET {path} HTTP/1.1" 200 5120 '
        '"https://news.example.com/" "' + BROWSER_UA + '"\n'
    )
    day = time.strftime("%d/%b/%Y", time.gmtime(time.time() - 3600))
    clock = time.strftime("%H:%M:%S", time.gmtime(time.time() - 3600))
    with path.open("w") as out:
        for n in range(first, first + lines):
            ip = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
            page = "/news/ceasefire-talks-resume" if n % 10 == 0 else f"/static/app-{n}.js"
            out.write(template.format(ip=ip, day=day, clock=clock, path=page))


def peak_rss_kib(path: Path, url: str, tmp_path: Path) -> tuple[int, dict[str, Any]]:
    """The import's own peak resident memory (its rusage, not this process's)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("VIEWCOUNT_")}
    clean |= {"VIEWCOUNT_INGEST_TOKEN": INGEST_TOKEN, "VIEWCOUNT_LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "service.cli", "import", str(path), "--url", url]
    out, err = tmp_path / f"{path.name}.out", tmp_path / f"{path.name}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(command, env=clean, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err.read_text()
    return usage.ru_maxrss, orjson.loads(out.read_text().splitlines()[-1])


def test_a_large_log_is_read_in_constant_memory(url: str, tmp_path: Path) -> None:
    """Ten times the lines, the same peak memory: the import holds one batch, not the file."""
    small, large = tmp_path / "small.log", tmp_path / "large.log"
    write_log(small, 20_000, first=0)
    write_log(large, 200_000, first=20_000)
    small_rss, small_summary = peak_rss_kib(small, url, tmp_path)
    large_rss, large_summary = peak_rss_kib(large, url, tmp_path)
    assert (small_summary["counted"], large_summary["counted"]) == (2_000, 20_000)
    assert large_summary["skipped"] == {"not_article": 180_000}
    grown_kib = large_rss - small_rss
    file_kib = large.stat().st_size // 1024
    # The large file is ~43 MB; holding it, or its events, would grow the peak by as much.
    assert grown_kib < file_kib / 10, (small_rss, large_rss, file_kib)
