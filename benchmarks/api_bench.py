"""The account-screen endpoint under load on loopback.

A local Qtum-like chain (anvil) gets the test scenario (frontend_api.testing), the API
runs as its own process (`python -m frontend_api`, SQLite index), and a block is mined
every 2 s so the per-block cache keeps turning over. Two measurements:

- wrk (Debian's) with a Lua script rotating over the households' screens: the
  closed-loop throughput (rps) and its latency percentiles;
- the same at a fixed rate near 200 req/s (the target: p99 <= 50 ms at 200 req/s): 20
  connections, each pausing 100 ms between requests (wrk's Lua delay()).

Then, at the same fixed rate, the chart (`/community/series`, series_rps and
series_p99_ms) and `/market` (market_p99_ms); `/health` while anvil is stopped with
SIGSTOP (health_when_node_hung_ms, the slowest of 20 answers once the API has noticed);
and a second API process behind the test kit's fault proxy that refuses connections
for 10 s (index_rows_lost_on_outage: rows of the index's log tables missing at any
moment during or after the outage, compared with before it).

main() -> dict and benchmarks/results/api.json with p50_ms, p99_ms, rps (+ details).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import httpx
from energo_testkit.rpc_proxy import RpcProxy
from energo_testkit.scenario import build_scenario

from benchmarks.run import print_table, write_results
from energo_deploy.localchain import Anvil, free_port
from frontend_api.core.config import Settings
from frontend_api.server import start_subprocess

TARGET_RPS = 200
TARGET_P99_MS = 50.0
TARGET_HUNG_MS = 500.0
DURATION_S = 10
OUTAGE_S = 10
LOG_TABLES = ["meters", "meter_revocations", "readings", "reading_txs", "reading_rejections", "watt_moves",
              "tsl_moves", "state_of_charge", "reserve_events", "utility_prices", "orders", "order_closures", "trades",
              "rounds"]

WRK_SCRIPT = """
local paths = {%s}
local pause_ms = %d
local i = 0
if pause_ms > 0 then
  -- a think time per connection: N connections pausing N/rate s each make the fixed rate
  delay = function() return pause_ms end
end
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
done = function(summary, latency, requests)
  io.write(string.format("JSON{\\"p50\\": %%f, \\"p99\\": %%f, \\"requests\\": %%d, \\"duration_us\\": %%d, " ..
    "\\"errors\\": %%d, \\"non2xx\\": %%d}\\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
"""


def _run_wrk(url: str, paths: list[str], connections: int = 8, duration_s: int = DURATION_S,
             rate: int | None = None) -> dict:
    """wrk over the screens; with `rate`, each connection pauses connections/rate s between
    requests (wrk's delay()), which holds the load near that rate."""
    script = Path(tempfile.mkdtemp(prefix="energo-wrk-")) / "screens.lua"
    # (less the ~5 ms a request itself takes, so the achieved rate lands near `rate`)
    pause_ms = int(connections * 1000 / rate) - 5 if rate else 0
    script.write_text(WRK_SCRIPT % (", ".join(f'"{p}"' for p in paths), pause_ms))
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{duration_s}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    shutil.rmtree(script.parent, ignore_errors=True)
    data = json.loads(out.split("JSON", 1)[1].strip().splitlines()[0])
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    return data


def _health_when_hung(node: Anvil, url: str) -> float:
    """The slowest of 20 /health answers while anvil is stopped (after the API noticed)."""
    os.kill(node.process.pid, signal.SIGSTOP)
    try:
        deadline = time.monotonic() + 30
        while "node_unreachable" not in httpx.get(url + "/api/v1/health", timeout=30).json()["reasons"]:
            assert time.monotonic() < deadline, "the API never noticed the hung node"
            time.sleep(0.1)
        took = []
        for _ in range(20):
            started = time.perf_counter()
            assert httpx.get(url + "/api/v1/health", timeout=30).status_code == 200
            took.append((time.perf_counter() - started) * 1000)
            time.sleep(0.05)
        return max(took)
    finally:
        os.kill(node.process.pid, signal.SIGCONT)


def _rows(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in LOG_TABLES if t in existing)


def _rows_lost_on_outage(node: Anvil, deployments: Path, tmp: Path) -> int:
    """A second API process behind the fault proxy: refused connections for OUTAGE_S."""
    proxy = RpcProxy(node.port)
    db = tmp / "outage.sqlite3"
    settings = Settings(deployments=deployments, rpc_url=proxy.url, database_url=f"sqlite:///{db}", port=free_port(),
                        log_level="warning", log_format="json", rpc_timeout_s=1.0, max_backoff_s=2.0)
    log = open(tmp / "outage.log", "wb")
    proc, url = start_subprocess(settings, log_file=log)
    try:
        deadline = time.monotonic() + 60
        while httpx.get(url + "/api/v1/health", timeout=10).json()["indexerLagBlocks"] != 0:
            assert time.monotonic() < deadline, "the outage API never caught up"
            time.sleep(0.2)
        before = _rows(db)
        lowest = before
        proxy.refuse()
        end = time.monotonic() + OUTAGE_S
        while time.monotonic() < end:
            lowest = min(lowest, _rows(db))
            time.sleep(0.2)
        proxy.accept()
        deadline = time.monotonic() + 60
        while True:
            lowest = min(lowest, _rows(db))
            body = httpx.get(url + "/api/v1/health", timeout=10).json()
            if body["indexerError"] is None and body["indexerLagBlocks"] is not None and body["indexerLagBlocks"] <= 1:
                break
            assert time.monotonic() < deadline, "the outage API never recovered"
            time.sleep(0.2)
        return max(0, before - min(lowest, _rows(db)))
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
        proxy.close()


def main() -> dict:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run tools/setup-system.sh as root")
    tmp = Path(tempfile.mkdtemp(prefix="energo-api-bench-"))
    with Anvil(accounts=12) as node:
        w3 = node.web3()
        scenario = build_scenario(w3, w3.eth.accounts)
        deployments = scenario.write_deployments(tmp / "8890.json")
        settings = Settings(deployments=deployments, rpc_url=node.url, database_url=f"sqlite:///{tmp}/index.sqlite3",
                            port=free_port(), log_level="warning", log_format="json")
        log = open(tmp / "api.log", "wb")
        proc, url = start_subprocess(settings, log_file=log)
        stop = threading.Event()

        def mine() -> None:  # new blocks keep invalidating the per-block cache, as on a live chain
            while not stop.wait(2.0):
                w3.provider.make_request("evm_mine", [])

        miner = threading.Thread(target=mine, daemon=True)
        try:
            paths = [f"/api/v1/accounts/{h.address}" for h in scenario.households[:6]]
            for path in paths:  # the screens are right before they are fast
                assert httpx.get(url + path, timeout=10).status_code == 200
            series = ["/api/v1/community/series?hours=24&bucketMinutes=60"]
            for path in (*series, "/api/v1/market"):
                assert httpx.get(url + path, timeout=10).status_code == 200
            miner.start()
            wrk = _run_wrk(url, paths)
            fixed = _run_wrk(url, paths, connections=20, rate=TARGET_RPS)
            # paced a little above the bar, so the rate achieved is at least the bar
            chart = _run_wrk(url, series, connections=20, rate=int(TARGET_RPS * 1.1))
            market = _run_wrk(url, ["/api/v1/market"], connections=20, rate=int(TARGET_RPS * 1.1))
            stop.set()
            miner.join(5)
            hung_ms = _health_when_hung(node, url)
            lost = _rows_lost_on_outage(node, deployments, tmp)
        finally:
            stop.set()
            proc.terminate()
            proc.wait(15)
            log.close()
    shutil.rmtree(tmp, ignore_errors=True)
    metrics = {
        "p50_ms": round(fixed["p50"], 3),
        "p99_ms": round(fixed["p99"], 3),
        "rps": round(fixed["rps"], 1),
        "fixed_rate_errors": fixed["errors"] + fixed["non2xx"],
        "wrk_rps": round(wrk["rps"], 1),
        "wrk_p50_ms": round(wrk["p50"], 3),
        "wrk_p99_ms": round(wrk["p99"], 3),
        "wrk_errors": wrk["errors"] + wrk["non2xx"],
        "series_rps": round(chart["rps"], 1),
        "series_p50_ms": round(chart["p50"], 3),
        "series_p99_ms": round(chart["p99"], 3),
        "series_errors": chart["errors"] + chart["non2xx"],
        "market_rps": round(market["rps"], 1),
        "market_p99_ms": round(market["p99"], 3),
        "market_errors": market["errors"] + market["non2xx"],
        "health_when_node_hung_ms": round(hung_ms, 3),
        "index_rows_lost_on_outage": lost,
    }
    write_results("api", metrics)
    print_table("API: account screen on loopback (anvil, SQLite index, a block every 2 s)", [
        ("paced (20 conn x 10/s): req/s", metrics["rps"], f"~{TARGET_RPS}"),
        ("fixed rate: p50 ms", metrics["p50_ms"], ""),
        ("fixed rate: p99 ms", metrics["p99_ms"], f"<= {TARGET_P99_MS}"),
        ("fixed rate: errors", metrics["fixed_rate_errors"], "0"),
        ("unpaced, 8 connections: req/s", metrics["wrk_rps"], "max throughput"),
        ("wrk: p50 ms", metrics["wrk_p50_ms"], ""),
        ("wrk: p99 ms", metrics["wrk_p99_ms"], ""),
        ("wrk: errors", metrics["wrk_errors"], "0"),
        ("chart, paced: req/s", metrics["series_rps"], f">= {TARGET_RPS}"),
        ("chart, paced: p99 ms", metrics["series_p99_ms"], f"<= {TARGET_P99_MS}"),
        ("market, paced: p99 ms", metrics["market_p99_ms"], f"<= {TARGET_P99_MS}"),
        ("/health with the node hung: ms", metrics["health_when_node_hung_ms"], f"<= {TARGET_HUNG_MS}"),
        (f"index rows lost, {OUTAGE_S} s refused", metrics["index_rows_lost_on_outage"], "0"),
    ])
    return metrics


if __name__ == "__main__":
    main()
