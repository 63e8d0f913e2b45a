"""Under CI=true a missing tool fails the run; elsewhere its tests skip with the same reason."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MISSING = "viewcount-no-such-tool"

NEEDS_MISSING_TOOL = f"""
from tests.support import require_tool

def test_needs_a_tool():
    require_tool("{MISSING}", "nothing installs it")
"""


def run_pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    """pytest on a one-test file that needs a missing tool, as CI runs it (exit code and all)."""
    (tmp_path / "test_needs_tool.py").write_text(NEEDS_MISSING_TOOL)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env |= {"PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rsf", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_missing_tool_fails_the_run_under_ci(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, "true")
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert "1 failed" in done.stdout
    assert f"{MISSING} is missing: nothing installs it" in done.stdout


def test_a_missing_tool_skips_outside_ci(tmp_path: Path) -> None:
    done = run_pytest(tmp_path, None)
    assert done.returncode == pytest.ExitCode.OK, done.stdout + done.stderr
    assert "1 skipped" in done.stdout
    assert f"{MISSING} is missing: nothing installs it" in done.stdout
