"""Watchable per meter: Prometheus metrics labelled by meter, the sender's balance and
pending transactions, and systemd's watchdog fed over $NOTIFY_SOCKET."""

from __future__ import annotations

import math
import socket
import urllib.request

from oracle_helpers import wait_for

from oracle.config import load_settings
from oracle.daemon import Daemon


def _scrape(daemon: Daemon) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/metrics", timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_each_meter_has_its_own_metrics_and_the_watchdog_is_fed(create_gateway, system, w3, tmp_path, monkeypatch):
    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(0.2)
    monkeypatch.setenv("NOTIFY_SOCKET", str(notify_path))
    raw, _ = create_gateway(meters=2)
    # Meter 101 is dead from the start: nothing of it is ever read.
    raw["meters"][1]["source"] = {"type": "dsmr", "url": "tcp://127.0.0.1:9", "timeout_s": 0.2}
    daemon = Daemon(load_settings(None, **raw))
    daemon.start()
    messages: list[str] = []

    def received(*wanted: str) -> bool:
        try:
            while True:
                messages.extend(listener.recv(4096).decode().splitlines())
        except TimeoutError:
            pass
        return all(w in messages for w in wanted)

    try:
        wait_for(lambda: received("READY=1", "WATCHDOG=1"), 30, "READY=1 and WATCHDOG=1 on $NOTIFY_SOCKET")
        fresh = wait_for(lambda: (lambda m: m if 'energo_oracle_meter_last_confirmed_reading_age_seconds{meter="101"}'
                                  in m else None)(_scrape(daemon)), 30, "per-meter metrics")
        # On a fresh outbox the age counts from the start, never NaN.
        assert not math.isnan(fresh['energo_oracle_meter_last_confirmed_reading_age_seconds{meter="101"}'])
        wait_for(lambda: _scrape(daemon).get('energo_oracle_meter_last_confirmed_timestamp_seconds{meter="100"}', 0)
                 > 0, 30, "meter 100 confirmed")
        metrics = _scrape(daemon)
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)
        stopping = received("STOPPING=1")
        listener.close()
    assert metrics['energo_oracle_meter_last_read_timestamp_seconds{meter="100"}'] > 0
    assert metrics['energo_oracle_meter_last_signed_timestamp_seconds{meter="100"}'] > 0
    assert 'energo_oracle_meter_last_read_timestamp_seconds{meter="101"}' not in metrics, "the dead meter stands out"
    assert math.isnan(metrics['energo_oracle_meter_last_confirmed_timestamp_seconds{meter="101"}'])
    age_100 = metrics['energo_oracle_meter_last_confirmed_reading_age_seconds{meter="100"}']
    age_101 = metrics['energo_oracle_meter_last_confirmed_reading_age_seconds{meter="101"}']
    assert 0 <= age_100 < 30 and age_101 >= 0
    assert any(k.startswith('energo_oracle_meter_errors_total{meter="101"') for k in metrics)
    assert metrics["energo_oracle_sender_balance_wei"] > 10**18
    assert "energo_oracle_pending_transactions" in metrics
    assert metrics["energo_oracle_outbox_ok"] == 1.0
    assert stopping
