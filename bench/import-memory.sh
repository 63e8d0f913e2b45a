#!/usr/bin/env bash
# The README's import figures: `viewcount import` on generated combined logs of 100,000 and
# 1,000,000 lines (one in ten an article view), against `viewcount serve` on an embedded
# Redis in a temporary directory; prints each run's summary, time and peak RSS.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill "$serve" 2>/dev/null || true; wait "$serve" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(./.venv/bin/python -c "from tests.support import free_port; print(free_port())")
token=measure-token-$(openssl rand -hex 8)
env VIEWCOUNT_DATA_DIR="$work/data" VIEWCOUNT_ADMIN_TOKEN="$token" VIEWCOUNT_LOG_LEVEL=warning \
    ./.venv/bin/viewcount serve --port "$port" --no-scheduler >"$work/serve.log" 2>&1 &
serve=$!
for _ in $(seq 100); do curl -sf "localhost:$port/healthz" >/dev/null && break; sleep 0.2; done
curl -sf -X PUT "localhost:$port/v1/articles/ceasefire-talks-resume" \
    -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"title": "t", "url": "https://news.example.com/news/ceasefire-talks-resume", "theme": "war"}' >/dev/null
./.venv/bin/python -c "
from pathlib import Path
from tests.test_import import write_log
write_log(Path('$work/100k.log'), 100_000, first=0)
write_log(Path('$work/1m.log'), 1_000_000, first=100_000)"
for name in 100k 1m; do
    ls -l "$work/$name.log"
    env VIEWCOUNT_INGEST_TOKEN="$token" /usr/bin/time -f "$name: %e s, %M KiB peak RSS" \
        ./.venv/bin/viewcount import "$work/$name.log" --url "http://127.0.0.1:$port"
done
