"""The lock files against pyproject.toml: every pin hashed, every floor the version tested."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)")


def pins(name: str) -> dict[str, tuple[Version, int]]:
    """requirements/<name>.txt: package -> (version, number of hashes)."""
    found: dict[str, tuple[Version, int]] = {}
    package = ""
    for line in (ROOT / "requirements" / f"{name}.txt").read_text().splitlines():
        if match := PIN.match(line):
            package = canonicalize_name(match.group(1))
            found[package] = (Version(match.group(2)), 0)
        elif line.strip().startswith("--hash=sha256:") and package:
            version, hashes = found[package]
            found[package] = (version, hashes + 1)
    return found


def floor(requirement: Requirement) -> Version:
    (lowest,) = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return lowest


def test_every_pin_is_hashed_and_runtime_is_dev_without_its_extras() -> None:
    runtime, dev = pins("runtime"), pins("dev")
    assert all(hashes > 0 for _, hashes in (*runtime.values(), *dev.values()))
    assert {name: version for name, (version, _) in runtime.items()} == {
        name: dev[name][0] for name in runtime
    }
    assert len(dev) > len(runtime)


def test_each_floor_is_the_locked_version_within_its_bounds() -> None:
    for extra, lock in ((None, pins("runtime")), ("dev", pins("dev"))):
        lines = (
            PROJECT["dependencies"] if extra is None else PROJECT["optional-dependencies"][extra]
        )
        for requirement in map(Requirement, lines):
            version, _ = lock[canonicalize_name(requirement.name)]
            assert requirement.specifier.contains(version), requirement
            assert floor(requirement) == version, f"{requirement}: the lock tests {version}"


def test_redis_and_uvicorn_have_upper_bounds() -> None:
    bounds = {
        Requirement(line).name: Requirement(line).specifier for line in PROJECT["dependencies"]
    }
    assert not bounds["redis"].contains("9.0.0")
    # service/api/protocol.py reads uvicorn's internals: only the minor version tested.
    assert not bounds["uvicorn"].contains("0.55.0")
    assert bounds["uvicorn"].contains(str(pins("runtime")["uvicorn"][0]))
