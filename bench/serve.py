"""`python -m bench.serve APP PORT WORKERS [factory]`: an ASGI app under uvicorn, configured as
`viewcount serve` runs the service (cli.py), so the limit, the naive version and viewcount
all run under the same server: the bounded httptools protocol, no access log."""

from __future__ import annotations

import sys

import uvicorn

from service.settings import Settings

# As cli._http_protocol() picks it when httptools is installed (uvicorn[standard] brings it).
HTTP = "service.api.protocol:BoundedHttpToolsProtocol"


def main(app: str, port: int, workers: int, factory: bool) -> None:
    uvicorn.run(
        app,
        factory=factory,
        host="127.0.0.1",
        port=port,
        workers=workers,
        access_log=False,
        log_level="warning",
        timeout_graceful_shutdown=10,
        http=HTTP,
        h11_max_incomplete_event_size=Settings().max_header_bytes,
        # As `viewcount serve`: the service resolves client IPs itself, and uvicorn's
        # ProxyHeadersMiddleware cost about a tenth of a worker's CPU.
        proxy_headers=False,
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:] == ["factory"])
