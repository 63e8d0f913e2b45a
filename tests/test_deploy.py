"""docker-compose.yml and the Dockerfile, checked against the CLI and the settings they drive.

No Docker engine runs here: the files are parsed and every command, variable, health check and
volume they name is checked against what the code accepts.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from service import cli
from service.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
CLUSTER_NODES = [f"redis-node-{n}" for n in range(1, 7)]
TOKEN = "compose-test-token-0123456789"


def expand(value: str) -> str:
    """Compose interpolation with every variable unset: ``${X:-default}`` gives the default."""

    def one(match: re.Match[str]) -> str:
        name, _, rest = match.group(1).partition(":")
        if name == "VIEWCOUNT_ADMIN_TOKEN":
            return TOKEN
        return rest[1:] if rest.startswith("-") else ""

    return re.sub(r"\$\{([^}]*)\}", one, str(value))


def command_of(service: str) -> list[str]:
    return [expand(part) for part in SERVICES[service]["command"]]


def parse_cli(argv: list[str]) -> argparse.Namespace:
    assert argv[0] == "viewcount", argv
    return cli._parser().parse_args(argv[1:])


def environment(service: str) -> dict[str, str]:
    return {k: expand(v) for k, v in SERVICES[service].get("environment", {}).items()}


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
    script = " ".join(init["command"])
    addresses = re.findall(r"(\d+\.\d+\.\d+\.\d+):6379", script.split("--cluster create")[1])
    assert sorted(addresses) == sorted(
        SERVICES[n]["networks"]["viewcount"]["ipv4_address"] for n in CLUSTER_NODES
    )
    assert "--cluster-replicas 1" in script and "--cluster-yes" in script
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
