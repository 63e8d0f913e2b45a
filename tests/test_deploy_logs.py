"""deploy/nginx, deploy/vector and deploy/fluent-bit as shipped: nginx's configuration checked
by `nginx -t` and then run in front of a real `viewcount serve` (beacons through its proxy,
its own access logs imported); Vector's and Fluent Bit's (their binaries are not installed
here) parsed, their pipelines' parts checked, and the bodies they send posted."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import yaml

from service.clock import rfc3339
from service.importer import parse_combined

from .live import ServiceProcess, service
from .support import ADMIN, BROWSER_UA, RedisProcess, end_process, free_port, require_tool
from .test_import import GOOGLEBOT, INGEST_TOKEN, run_import, summary_of

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
ARTICLE = "ceasefire-talks-resume"


@dataclass
class Proxy:
    origin: str
    logs: Path


def nginx_config(root: Path, port: int, upstream_port: int) -> str:
    """deploy/nginx/nginx.conf with this test's paths and ports, nothing else changed."""
    text = (DEPLOY / "nginx" / "nginx.conf").read_text()
    replacements = {
        "/var/log/nginx/": f"{root}/logs/",
        "/run/nginx.pid": f"{root}/nginx.pid",
        "/srv/news": f"{root}/site",
        "listen 80;": f"listen 127.0.0.1:{port};",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream_port};",
    }
    for old, new in replacements.items():
        assert old in text, f"deploy/nginx/nginx.conf no longer has {old!r}"
        text = text.replace(old, new)
    temp = "".join(
        f"  {kind}_temp_path {root}/tmp/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    text = text.replace("http {\n", "http {\n" + temp, 1)
    return ("user root;\n" if os.geteuid() == 0 else "") + text


@pytest.fixture(scope="module")
def server(single_server: RedisProcess) -> Iterator[ServiceProcess]:
    with service(
        single_server.url, ingest_tokens=INGEST_TOKEN, trusted_proxies="127.0.0.1"
    ) as proc:
        yield proc


@pytest.fixture
def url(server: ServiceProcess, redis: Any) -> str:
    base = f"http://127.0.0.1:{server.port}"
    body = {"title": "Ceasefire", "url": f"https://news.example.com/news/{ARTICLE}"}
    with httpx.Client(base_url=base, headers=ADMIN) as http:
        assert http.put(f"/v1/articles/{ARTICLE}", json={**body, "theme": "war"}).is_success
    return base


@pytest.fixture
def proxy(tmp_path: Path, server: ServiceProcess) -> Iterator[Proxy]:
    require_tool("nginx", "deploy/nginx is checked and run with it")
    for folder in ("logs", "tmp", "site/news"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "site" / "news" / f"{ARTICLE}.html").write_text("<h1>Ceasefire</h1>")
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_config(tmp_path, port, server.port))
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    command = [binary, "-p", str(tmp_path), "-e", f"{tmp_path}/logs/error.log", "-c", str(conf)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stderr
    process = subprocess.Popen([*command, "-g", "daemon off;"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/news/none", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield Proxy(f"http://127.0.0.1:{port}", tmp_path / "logs")
    finally:
        end_process(process, 10)


def wait_for_lines(path: Path, count: int) -> None:
    deadline = time.monotonic() + 10
    while not path.exists() or len(path.read_text().splitlines()) < count:
        assert time.monotonic() < deadline, f"nginx did not log {count} lines in {path}"
        time.sleep(0.05)


def test_the_nginx_example_serves_pages_proxies_beacons_and_logs_both_formats(
    proxy: Proxy, url: str
) -> None:
    with httpx.Client(base_url=proxy.origin) as site:
        for agent in (BROWSER_UA, BROWSER_UA, GOOGLEBOT):
            assert site.get(f"/news/{ARTICLE}", headers={"User-Agent": agent}).status_code == 200
        beacon = site.post(
            "/v1/views",
            content=orjson.dumps({"article": ARTICLE}),
            headers={"Content-Type": "text/plain", "User-Agent": BROWSER_UA},
        )
        assert beacon.status_code == 202 and beacon.json() == {"counted": True}
        assert site.get("/v1/beacon.js").status_code == 200
    for name in ("access.log", "access.json"):
        wait_for_lines(proxy.logs / name, 4)  # three pages and the start-up probe; no /v1/
    combined = summary_of(run_import(proxy.logs / "access.log", url))
    assert (combined["counted"], combined["bots"], combined["skipped"]) == (2, 1, {"not_2xx": 1})
    as_json = summary_of(run_import(proxy.logs / "access.json", url, "--format", "json"))
    assert (as_json["counted"], as_json["duplicates"]) == (0, 3)  # the same requests
    with httpx.Client(base_url=url) as http:
        views = http.get(f"/v1/articles/{ARTICLE}/views").json()
    assert (views["views"], views["bot_views"]) == (3, 1)  # two pages and the beacon


# --- Vector -----------------------------------------------------------------------------------


def vector_config() -> dict[str, Any]:
    with (DEPLOY / "vector" / "vector.toml").open("rb") as file:
        return tomllib.load(file)


def test_the_vector_example_reads_nginx_and_posts_json_arrays() -> None:
    config = vector_config()
    assert config["sources"]["nginx"]["type"] == "file"
    views = config["transforms"]["views"]
    assert views["type"] == "remap" and views["inputs"] == ["nginx"]
    for needed in ('parse_nginx_log(.message, "combined")', '"/news/"', '"event_id"'):
        assert needed in views["source"]
    sink = config["sinks"]["viewcount"]
    assert (sink["type"], sink["inputs"], sink["encoding"]["codec"]) == ("http", ["views"], "json")
    assert sink["uri"].endswith("/v1/views/batch") and sink["auth"]["strategy"] == "bearer"
    assert sink["batch"]["max_events"] <= 10_000
    assert "framing" not in sink  # the json codec's default: one JSON array per request


def a_log_line(agent: str, at: float) -> str:
    clock = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(at))
    return f'198.51.100.7 - - [{clock}] "GET /news/{ARTICLE} HTTP/1.1" 200 5120 "-" "{agent}"'


def vector_event(line: str, offset: int) -> dict[str, Any]:
    """What the remap makes of a line (parse_nginx_log's fields: client, timestamp, path,
    agent), as the json codec writes it (timestamps in RFC 3339)."""
    request = parse_combined(line)
    return {
        "url": request.target,
        "timestamp": rfc3339(request.at),
        "ip": request.ip,
        "user_agent": request.user_agent,
        "event_id": f"{offset}@{int(request.at)}",
    }


def test_the_body_vector_sends_is_counted_once(url: str) -> None:
    at = time.time() - 60
    lines = [a_log_line(BROWSER_UA, at), a_log_line(GOOGLEBOT, at)]
    events = [vector_event(line, n * 120) for n, line in enumerate(lines)]
    headers = {
        "Authorization": f"Bearer {INGEST_TOKEN}",
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
    }
    with httpx.Client(base_url=url) as http:
        first = http.post("/v1/views/batch", content=gzip.compress(orjson.dumps(events)),
                          headers=headers)  # fmt: skip
        resent = http.post("/v1/views/batch", content=gzip.compress(orjson.dumps(events)),
                           headers=headers)  # fmt: skip
    assert first.status_code == 200, first.text
    assert (first.json()["counted"], first.json()["bots"]) == (1, 1)
    assert resent.json()["duplicates"] == 2


# --- Fluent Bit -------------------------------------------------------------------------------


def fluent_bit_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((DEPLOY / "fluent-bit" / "fluent-bit.yaml").read_text())
    return config


def fluent_bit_regex(config: dict[str, Any]) -> re.Pattern[str]:
    (parser,) = config["parsers"]
    assert parser["format"] == "regex"
    # Onigmo's (?<name>...) is Python's (?P<name>...).
    return re.compile(parser["regex"].replace("(?<", "(?P<"))


def test_the_fluent_bit_example_parses_nginx_and_posts_json_lines() -> None:
    config = fluent_bit_config()
    (tail,) = config["pipeline"]["inputs"]
    assert (tail["name"], tail["parser"]) == ("tail", config["parsers"][0]["name"])
    assert tail["offset_key"] == "offset"
    (output,) = config["pipeline"]["outputs"]
    assert (output["name"], output["uri"], output["format"]) == (
        "http",
        "/v1/views/batch",
        "json_lines",
    )
    assert (output["json_date_key"], output["json_date_format"]) == ("date", "double")
    assert output["header"].startswith("Authorization Bearer ")
    filters = {f["regex"].split()[0]: f["regex"].split()[1] for f in config["pipeline"]["filters"]
               if f["name"] == "grep"}  # fmt: skip
    assert filters == {"method": "^GET$", "code": "^2[0-9][0-9]$", "url": "^/news/"}
    (lua,) = [f for f in config["pipeline"]["filters"] if f["name"] == "lua"]
    assert f"function {lua['call']}(" in lua["code"] and 'record["event_id"]' in lua["code"]


def fluent_bit_record(line: str, offset: int, config: dict[str, Any]) -> dict[str, Any]:
    """What the tail input, its parser, the filters and the Lua script make of a line, as the
    http output writes it: the regex's fields, `date` in epoch seconds, the event id."""
    found = fluent_bit_regex(config).match(line)
    assert found is not None, line
    record = found.groupdict()
    parser = config["parsers"][0]
    stamp = datetime.strptime(record.pop(parser["time_key"]), parser["time_format"]).timestamp()
    return {**record, "offset": offset, "event_id": f"{offset}@{stamp:.3f}", "date": stamp}


def test_the_body_fluent_bit_sends_is_counted_once(url: str, tmp_path: Path) -> None:
    config = fluent_bit_config()
    at = time.time() - 60
    lines = [a_log_line(BROWSER_UA, at), a_log_line(GOOGLEBOT, at), a_log_line(BROWSER_UA, at)]
    records = [fluent_bit_record(line, n * 120, config) for n, line in enumerate(lines)]
    assert {r["url"] for r in records} == {f"/news/{ARTICLE}"}
    body = gzip.compress(b"".join(orjson.dumps(r) + b"\n" for r in records))
    headers = {
        "Authorization": f"Bearer {INGEST_TOKEN}",
        "Content-Type": "application/x-ndjson",
        "Content-Encoding": "gzip",
    }
    with httpx.Client(base_url=url) as http:
        first = http.post("/v1/views/batch", content=body, headers=headers)
        resent = http.post("/v1/views/batch", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert (first.json()["counted"], first.json()["bots"], first.json()["rejected"]) == (2, 1, [])
    assert resent.json()["duplicates"] == 3
