"""The contract as an outside test suite sees it: the schemathesis CLI, run as its users run it
(every check, the four phases, with the admin token), against a live `viewcount serve --demo`.

Any failure fails the test, with schemathesis's report and the seed that found it. Each run
takes a new seed (VIEWCOUNT_SCHEMATHESIS_SEED picks one): run after run, different cases.
The cases come from /openapi.json alone, so endpoints added later are covered as they land.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from .live import ServiceProcess
from .support import ADMIN_TOKEN, RedisProcess

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "schemathesis.toml"  # the statuses the service refuses with (413 among them)
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
PHASES = "examples,coverage,fuzzing,stateful"
EXAMPLES_PER_OPERATION = 60  # about 1,600 cases, 30-60 s on two shared cores
RUN_TIMEOUT_S = 400


@pytest.fixture(scope="module")
def served() -> Iterator[ServiceProcess]:
    """The demo catalog on a Redis of its own: schemathesis creates and deletes what it likes."""
    redis_server = RedisProcess().start()
    proc = ServiceProcess(redis_server.url, flags=["--demo"], rate_limit_per_min=0).start()
    yield proc
    proc.stop()
    redis_server.stop()


def schemathesis_command(port: int, seed: int) -> list[str]:
    return [
        str(SCHEMATHESIS),
        "--config-file",
        str(CONFIG),
        "--no-color",
        "run",
        f"http://127.0.0.1:{port}/openapi.json",
        "--checks",
        "all",
        "--phases",
        PHASES,
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        str(seed),
        "--header",
        f"Authorization: Bearer {ADMIN_TOKEN}",
        "--request-timeout",
        "10",
    ]


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_schemathesis_finds_nothing(served: ServiceProcess, tmp_path: Path) -> None:
    seed = int(os.environ.get("VIEWCOUNT_SCHEMATHESIS_SEED") or random.randrange(2**31))
    command = schemathesis_command(served.port, seed)
    run = subprocess.run(
        command,
        cwd=tmp_path,  # its report and cache files land here
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    report = run.stdout + run.stderr
    shown = " ".join(command).replace(ADMIN_TOKEN, "$VIEWCOUNT_ADMIN_TOKEN")
    assert run.returncode == 0, f"seed {seed}: {shown}\n{report[-12000:]}\n{served.log()}"
    # Every operation of the document was run, every case passed.
    operations = re.search(r"Selected: (\d+)/(\d+)", report)
    assert operations is not None and operations[1] == operations[2], report[-3000:]
    cases = re.search(r"(\d+) generated, (\d+) passed", report)
    assert cases is not None and cases[1] == cases[2] and int(cases[1]) > 1000, report[-3000:]
    assert "No issues found" in report
    print(f"schemathesis, seed {seed}: {cases[1]} cases, {operations[1]} operations, 0 failures")
