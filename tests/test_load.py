"""The load test's short version: concurrent sessions against a real server process, no error, full isolation.

The full run is `python -m bench.load` (30 sessions for 60 s; numbers in the README).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.load
def test_concurrent_sessions_get_no_error_and_exactly_their_results_alone():
    result = subprocess.run([sys.executable, "-m", "bench.load", "--sessions", "8", "--seconds", "15"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.stdout.strip(), result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report["errors"] == 0, report["error_examples"]
    assert report["mismatches"] == 0 and report["done"] >= 16, report
    assert result.returncode == 0
