"""The demo as a process: same seed, same report; Ctrl-C and SIGTERM leave nothing behind."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from energo_community import CommunityOptions, run_demo
from energo_community.report import format_report

ROOT = Path(__file__).resolve().parents[2]


def test_same_seed_same_report(tmp_path):
    reports = []
    for run in ("first", "second"):
        options = CommunityOptions(households=4, interval_minutes=120, mode="auction", seed=11, out=tmp_path / run)
        result = run_demo(options, progress=False)
        assert result.ok
        reports.append(result.report)
        assert json.loads(result.report_path.read_text()) == json.loads(json.dumps(result.report))
    assert reports[0] == reports[1]
    assert format_report(reports[0]) == format_report(reports[1])


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_stops_gateways_and_chain(tmp_path, signum):
    process = subprocess.Popen(
        [sys.executable, "-m", "energo_community", "--households", "8", "--out", str(tmp_path), "--no-progress"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        anvil_pid = None
        deadline = time.monotonic() + 60
        for line in process.stdout:
            if match := re.search(r"anvil \(pid (\d+)\)", line):
                anvil_pid = int(match.group(1))
            if line.startswith("running "):
                break
            assert time.monotonic() < deadline, "the demo did not start its day within 60 s"
        assert anvil_pid is not None and _alive(anvil_pid)
        process.send_signal(signum)
        returncode = process.wait(timeout=30)
        stderr = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert returncode == 130, stderr
    assert "interrupted" in stderr
    assert not _alive(anvil_pid), f"anvil (pid {anvil_pid}) outlived the demo"
    assert not (tmp_path / "report.json").exists()
    assert "Traceback" not in stderr, stderr
