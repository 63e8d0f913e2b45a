"""`python -m bench.roller URL`: rollups back to back until killed, as a scheduler process
would run them (at its CPU priority); prints each one's duration in ms."""

from __future__ import annotations

import asyncio
import sys

from service.clock import SystemClock
from service.rollup import Rollup
from service.scheduler import yield_cpu
from service.settings import Settings
from service.storage import connect


async def main(url: str) -> None:
    settings = Settings(redis_url=url, log_json=False, log_level="warning")
    yield_cpu(settings)  # as `viewcount scheduler` does
    store = connect(settings)
    rollup = Rollup(store, settings, SystemClock(), helped=True)
    try:
        while True:
            print((await rollup.run()).duration_ms, flush=True)
    finally:
        rollup.close()
        await store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
