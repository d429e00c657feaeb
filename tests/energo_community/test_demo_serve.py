"""`make demo SERVE=1`: after the day the API serves the household page from the running
community, and Ctrl-C stops the API, the gateways and the chain."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from energo_deploy.localchain import free_port

ROOT = Path(__file__).resolve().parents[2]


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def test_serve_keeps_the_community_up_until_ctrl_c(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "energo_community", "--households", "4", "--interval-minutes", "180",
         "--no-progress", "--serve", "--port", str(port), "--out", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        anvil_pid = page_url = None
        deadline = time.monotonic() + 120
        for line in process.stdout:
            if match := re.search(r"anvil \(pid (\d+)\)", line):
                anvil_pid = int(match.group(1))
            if match := re.search(r"screen:\s+(http://\S+)", line):
                page_url = match.group(1)
            if "Ctrl-C stops everything" in line:
                break
            assert time.monotonic() < deadline, "the demo did not start serving within 120 s"
        assert page_url and anvil_pid and _alive(anvil_pid)
        account = page_url.split("account=")[1]

        page = httpx.get(page_url, timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        # The API says when its index is behind the chain; it catches up with the day.
        deadline = time.monotonic() + 60
        while (screen := httpx.get(f"http://127.0.0.1:{port}/api/v1/accounts/{account}", timeout=10).json())["stale"]:
            assert time.monotonic() < deadline, "the API's index did not catch up with the chain"
            time.sleep(0.2)  # polling the API, not synchronising on time
        assert screen["address"] == account
        assert screen["energy"]["consumedFromBatteryWh"] + screen["energy"]["consumedFromGridWh"] > 0
        health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=10).json()
        assert health["chainHead"] >= 1 and health["indexerLagBlocks"] >= 0

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert not _alive(anvil_pid), "anvil must stop with the demo"
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
            raise AssertionError("the API must stop with the demo")
        except httpx.TransportError:
            pass
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
