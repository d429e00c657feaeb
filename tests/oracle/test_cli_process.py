"""The command line as an operator meets it: real subprocesses, real files."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading

from daemon_process import ROOT, DaemonProcess
from dsmr_telegrams import corrupted, telegram
from oracle_helpers import to_toml, wait_for

from oracle.outbox import Outbox


def _cli(*args, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "oracle", *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=60)


def test_wrong_config_exits_2_naming_the_field(tmp_path):
    config = tmp_path / "gateway.toml"
    config.write_text(to_toml({
        "chain": {"chain_id": 8890, "ledger_address": "0xnot-an-address", "confirmations": 0},
        "sender": {"keystore": "/k.json"},
    }))
    result = _cli("run", "--config", str(config))
    assert result.returncode == 2
    assert "chain.ledger_address" in result.stderr and "chain.confirmations" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_keystore_exits_2_with_its_path(tmp_path, create_gateway):
    settings, info = create_gateway(meters=1)
    settings["meters"][0]["key"]["keystore"] = str(tmp_path / "gone.json")
    daemon = DaemonProcess(settings, info["dir"]).start()
    assert daemon.wait(60) == 2
    assert "gone.json" in daemon.events()[-1]["error"]


class TelegramFeed:
    """A P1-over-TCP server sending a good telegram, a corrupted one and garbage, in turn."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        self.corrupted_import_wh = set()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        try:
            client, _ = self.server.accept()
        except OSError:
            return
        wh = 2_000_000
        with client:
            while not self.stop.is_set():
                wh += 1
                bad = wh + 500_000
                self.corrupted_import_wh.add(bad)
                try:
                    client.sendall(telegram(wh, 1000, 0, 0) + corrupted(telegram(bad, 1000, 0, 0))
                                   + b"\x00\xff/XMX5 broken\r\n1-0:1.8.1(12!\r\n")
                except OSError:
                    return
                self.stop.wait(0.1)

    def close(self):
        self.stop.set()
        self.server.close()


def test_garbled_telegrams_are_logged_with_the_meter_and_never_signed(create_gateway):
    feed = TelegramFeed()
    settings, info = create_gateway(meters=1, interval_s=0.3, initial_import_wh=2_001_000, rated_power_w=500_000,
                                    source={"type": "dsmr", "url": f"tcp://127.0.0.1:{feed.port}", "timeout_s": 2})
    daemon = DaemonProcess(settings, info["dir"]).start()
    path = settings["outbox"]["path"]
    try:
        wait_for(lambda: os.path.exists(path) and Outbox(path, read_only=True).counts().get("confirmed", 0) >= 3,
                 60, "readings from the good telegrams")
        assert daemon.terminate() == 0
    finally:
        feed.close()
        if daemon.alive:
            daemon.kill9()
    rejected = [e for e in daemon.events() if e.get("event") == "meter.telegram_rejected"]
    assert rejected and all(e["meter_id"] == 100 for e in rejected)
    assert {e["reason"] for e in rejected} >= {"bad_crc"}
    stored = Outbox(path, read_only=True).readings_of(100)
    assert {r.status for r in stored} == {"confirmed"}
    assert stored and not {r.import_wh for r in stored} & {w + 1000 for w in feed.corrupted_import_wh}


def test_status_shows_backlog_last_confirmed_and_head(create_gateway, w3):
    settings, info = create_gateway(meters=1, interval_s=0.2)
    daemon = DaemonProcess(settings, info["dir"]).start()
    path = settings["outbox"]["path"]
    try:
        wait_for(lambda: os.path.exists(path) and Outbox(path, read_only=True).counts().get("confirmed", 0) >= 2,
                 60, "confirmed readings")
        result = _cli("status", "--config", str(daemon.config), "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["chain_head"] >= 1 and report["chain_id"] == 8890
        assert report["last_confirmed"]["100"]["seq"] >= 2
        assert report["backlog"] >= 0
        human = _cli("status", "--config", str(daemon.config))
        assert "backlog" in human.stdout and "meter    100" in human.stdout
    finally:
        assert daemon.terminate() == 0


def test_sigterm_drains_the_backlog_and_exits_0(create_gateway):
    settings, info = create_gateway(meters=2, interval_s=0.1, batch={"max_delay_s": 3600, "max_readings": 1000})
    daemon = DaemonProcess(settings, info["dir"]).start()
    path = settings["outbox"]["path"]
    wait_for(lambda: os.path.exists(path) and Outbox(path, read_only=True).counts().get("pending", 0) >= 5, 60,
             "a backlog that only a drain would send (max_delay is an hour)")
    assert daemon.terminate() == 0
    counts = Outbox(path, read_only=True).counts()
    assert set(counts) == {"confirmed"}, counts
    assert [e["event"] for e in daemon.events()][-1] == "daemon.stopped"
