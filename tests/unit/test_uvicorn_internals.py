"""What service/api/protocol.py relies on inside uvicorn is still there.

protocol.py subclasses uvicorn's httptools protocol and reaches past its public API. A uvicorn
that renames or drops one of these parts fails here, naming it, rather than in a server that
quietly stops bounding heads and bodies. Widen uvicorn's bound in pyproject.toml only with
this test (and tests/test_limits.py) passing on the new version.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import pytest
import uvicorn
from uvicorn.config import Config
from uvicorn.protocols.http import httptools_impl

from service.api import protocol

# The methods protocol.py overrides, each calling uvicorn's own, with their parameters.
OVERRIDDEN = {
    "connection_made": ["self", "transport"],
    "connection_lost": ["self", "exc"],
    "data_received": ["self", "data"],
    "on_headers_complete": ["self"],
    "on_message_complete": ["self"],
}
# Attributes protocol.py reads (or sets) on the protocol and on each request cycle.
PROTOCOL_ATTRIBUTES = ["transport", "loop", "scope", "url", "headers", "cycle", "app", "pipeline"]
CYCLE_ATTRIBUTES = [
    "transport",
    "response_started",
    "response_complete",
    "disconnected",
    "message_event",
]
# What protocol._OneWrite offers the cycle in place of the transport.
ONE_WRITE_METHODS = {"write", "close", "is_closing"}


def assigned(cls: type) -> set[str]:
    """The attributes a class's methods assign to ``self``."""
    return set(re.findall(r"self\.(\w+)\s*(?::[^=\n]+)?=(?!=)", inspect.getsource(cls)))


def broken(part: str) -> str:
    return (
        f"uvicorn {uvicorn.__version__}: {part}; service/api/protocol.py relies on it. "
        "Adapt protocol.py to this uvicorn, or keep uvicorn within the bound in pyproject.toml."
    )


@pytest.mark.parametrize("name", list(OVERRIDDEN))
def test_the_overridden_methods_are_there(name: str) -> None:
    method: Any = getattr(httptools_impl.HttpToolsProtocol, name, None)
    assert callable(method), broken(f"HttpToolsProtocol.{name} is gone")
    parameters = list(inspect.signature(method).parameters)
    assert parameters == OVERRIDDEN[name], broken(f"HttpToolsProtocol.{name}{parameters}")
    assert name in vars(protocol.BoundedHttpToolsProtocol)  # still what protocol.py overrides


def test_the_protocol_sets_what_protocol_py_reads() -> None:
    missing = set(PROTOCOL_ATTRIBUTES) - assigned(httptools_impl.HttpToolsProtocol)
    assert not missing, broken(f"HttpToolsProtocol no longer sets {sorted(missing)}")


def test_the_request_cycle_is_made_as_protocol_py_expects() -> None:
    """The cycle is built in on_headers_complete from self.app (swapped there for a head over
    the limit), after on_message_begin made the scope; it writes only through methods
    _OneWrite has, and carries the flags the deadline checks read."""
    source = inspect.getsource
    cls = httptools_impl.HttpToolsProtocol
    completing = source(cls.on_headers_complete)
    assert "RequestResponseCycle(" in completing, broken("the cycle is made elsewhere")
    assert "self.app" in completing, broken("the cycle no longer takes self.app")
    assert "self.scope =" in source(cls.on_message_begin), broken("the scope is made elsewhere")
    cycle = httptools_impl.RequestResponseCycle
    missing = set(CYCLE_ATTRIBUTES) - assigned(cycle)
    assert not missing, broken(f"RequestResponseCycle no longer sets {sorted(missing)}")
    used = set(re.findall(r"self\.transport\.(\w+)", source(cycle)))
    assert used <= ONE_WRITE_METHODS, broken(f"the cycle calls transport.{sorted(used)}")


def test_the_100_continue_bytes_are_the_ones_held_apart() -> None:
    written = re.findall(rb'b"(HTTP/1\.1 100 [^"]*)"', inspect.getsource(httptools_impl).encode())
    assert [w.replace(rb"\r\n", b"\r\n") for w in written] == [protocol._CONTINUE], broken(
        f"it writes 100 Continue as {written}"
    )


@pytest.mark.parametrize("name", ["HEADER_RE", "HEADER_VALUE_RE"])
def test_the_wrapped_header_checks_are_there(name: str) -> None:
    check = getattr(httptools_impl, name, None)
    pattern = check.pattern if isinstance(check, protocol._Remembered) else check
    assert isinstance(pattern, re.Pattern), broken(f"httptools_impl.{name} is {pattern!r}")
    assert re.search(rf"\b{name}\.search\(", inspect.getsource(httptools_impl)), broken(
        f"{name} is no longer used through .search()"
    )


def test_the_config_carries_what_the_protocol_reads() -> None:
    config = Config(app="service.api:app_from_env", h11_max_incomplete_event_size=4096)
    assert config.h11_max_incomplete_event_size == 4096, broken("h11_max_incomplete_event_size")
    assert "self.loaded_app =" in inspect.getsource(Config.load), broken("Config.loaded_app")
