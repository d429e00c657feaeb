"""Fault tests: the daemon as a real subprocess, a real anvil, real SQLite files.

Whatever happens (kill -9 anywhere, the chain going away, a node that lies and hangs),
at the end every reading the gateway stored is on-chain exactly once, in order, and
the ledger's registers equal the meter's last reading.
"""

from __future__ import annotations

import random
import socket
import sqlite3

import pytest
from daemon_process import DaemonProcess
from energo_testkit.rpc_proxy import RpcProxy
from oracle_helpers import all_reading_events, gateway_settings, wait_for

from energo.tx import Sender
from energo_deploy.localchain import Anvil
from energo_deploy.system import Roles, deploy_system
from oracle.outbox import Outbox

pytestmark = pytest.mark.slow


def _deploy(w3):
    accounts = w3.eth.accounts
    roles = Roles(admin=Sender(w3, accounts[0]), treasury=Sender(w3, accounts[1]),
                  operator=Sender(w3, accounts[2]), registrar=Sender(w3, accounts[3]))
    return deploy_system(w3, roles)


@pytest.fixture(scope="module")
def fault_chain(tmp_path_factory):
    """Its own anvil with a state file, so a test can stop it and bring it back."""
    state = tmp_path_factory.mktemp("chain") / "state.json"
    node = Anvil(accounts=16, extra_args=["--state", str(state)]).start()
    node.state_path = state
    try:
        yield node, _deploy(node.web3())
    finally:
        node.stop()


def _outbox(settings) -> Outbox:
    return Outbox(settings["outbox"]["path"], read_only=True)


def _counts(settings) -> dict[str, int]:
    """The outbox's counts; empty while the daemon has not created it yet."""
    try:
        outbox = _outbox(settings)
    except sqlite3.OperationalError:
        return {}
    try:
        return outbox.counts()
    except sqlite3.OperationalError:  # the file exists, its tables not yet
        return {}
    finally:
        outbox.close()


def _stored(settings) -> int:
    return sum(_counts(settings).values())


def _confirmed(settings) -> int:
    return _counts(settings).get("confirmed", 0)


def assert_exactly_once_and_equal(w3, system, settings, meter_ids, min_readings: int) -> int:
    """Every stored reading confirmed; on-chain events = stored readings, once each, in order."""
    outbox = _outbox(settings)
    events = all_reading_events(w3, system.ledger.address)
    total = 0
    try:
        for meter_id in meter_ids:
            stored = outbox.readings_of(meter_id)
            assert stored, f"meter {meter_id} stored nothing"
            assert {r.status for r in stored} == {"confirmed"}, f"meter {meter_id}: {outbox.counts()}"
            assert [r.seq for r in stored] == list(range(1, len(stored) + 1)), "no gaps, no duplicates"
            accepted = [e for e in events if e.meter_id == meter_id and e.accepted]
            assert [e.seq for e in accepted] == [r.seq for r in stored], "each reading applied exactly once"
            assert [(e.timestamp, e.import_wh, e.export_wh) for e in accepted] == [
                (r.timestamp, r.import_wh, r.export_wh) for r in stored]
            rejected = [e for e in events if e.meter_id == meter_id and not e.on_chain]
            assert rejected == [], f"unexpected rejections: {rejected}"
            on_chain = system.ledger.functions.meter(meter_id).call()
            assert (on_chain[5], on_chain[7], on_chain[8]) == (stored[-1].seq, stored[-1].import_wh,
                                                               stored[-1].export_wh)
            total += len(stored)
    finally:
        outbox.close()
    assert total >= min_readings
    return total


def _kill_point(rng: random.Random, daemon: DaemonProcess, settings) -> str:
    """Waits for a randomly chosen moment of the daemon's work; returns its name."""
    point = rng.choice(["started", "stored", "batch_open", "settled", "any_batch_event"])
    before_stored = _stored(settings)
    before_events = len(daemon.events())

    def new_events(*names):
        return [e for e in daemon.events()[before_events:] if e.get("event") in names]

    if point == "started":
        wait_for(lambda: new_events("daemon.started"), 30, "daemon start")
    elif point == "stored":
        wait_for(lambda: settings_exists(settings) and _stored(settings) >= before_stored + rng.randint(1, 4),
                 30, "new readings stored")
    elif point == "batch_open":
        wait_for(lambda: new_events("batch.sent", "batch.rebroadcast"), 30, "a batch in flight")
    elif point == "settled":
        wait_for(lambda: new_events("batch.settled"), 30, "a settled batch")
    else:
        wait_for(lambda: new_events("batch.sent", "batch.settled", "batch.rebroadcast", "reading.stored"),
                 30, "any work")
    return point


def settings_exists(settings) -> bool:
    from pathlib import Path

    return Path(settings["outbox"]["path"]).exists()


def test_kill_9_at_random_points_loses_nothing_and_applies_nothing_twice(fault_chain, tmp_path):
    node, system = fault_chain
    w3 = node.web3()
    settings, _ = gateway_settings(
        w3, system, tmp_path, meters=3, first_meter_id=300, interval_s=0.1,
        batch={"max_readings": 4, "max_delay_s": 0.05}, chain={"resend_after_s": 1.0})
    daemon = DaemonProcess(settings, tmp_path)
    rng = random.Random(20261126)
    points = []
    for _cycle in range(20):
        daemon.start()
        points.append(_kill_point(rng, daemon, settings))
        daemon.kill9()
    assert len(set(points)) >= 4, f"kill points too uniform: {points}"
    daemon.start()
    wait_for(lambda: _confirmed(settings) >= _stored(settings) - 3 and _stored(settings) >= 30, 60,
             "the backlog to drain")
    assert daemon.terminate() == 0, daemon.stderr()
    total = assert_exactly_once_and_equal(w3, system, settings, [300, 301, 302], min_readings=30)
    assert total == _stored(settings)


def test_chain_outage_backlog_drains_in_order(fault_chain, tmp_path):
    node, system = fault_chain
    w3 = node.web3()
    settings, _ = gateway_settings(
        w3, system, tmp_path, meters=2, first_meter_id=400, interval_s=0.1,
        batch={"max_readings": 10, "max_delay_s": 0.1},
        failures={"backoff_initial_s": 0.05, "backoff_max_s": 0.3, "max_consecutive": 10_000})
    daemon = DaemonProcess(settings, tmp_path).start()
    try:
        wait_for(lambda: settings_exists(settings) and _confirmed(settings) >= 4, 30, "first confirmations")
        node.stop()  # dumps the chain's state to its state file
        confirmed_before = _confirmed(settings)
        stored_at_outage = _stored(settings)
        wait_for(lambda: _stored(settings) >= stored_at_outage + 10, 30, "readings stored during the outage")
        wait_for(lambda: [e for e in daemon.events() if e.get("event") == "chain.failure"], 30, "failures logged")
        assert daemon.alive
        assert _confirmed(settings) == confirmed_before
        node.extra_args = ["--state", str(node.state_path)]
        node.start()
        wait_for(lambda: _confirmed(settings) >= stored_at_outage + 10, 60, "the backlog to drain")
        assert daemon.terminate() == 0, daemon.stderr()
    finally:
        if daemon.alive:
            daemon.kill9()
        if node.process is None:
            node.start()
    w3 = node.web3()
    assert_exactly_once_and_equal(w3, system, settings, [400, 401], min_readings=14)


def test_misbehaving_rpc_proxy_is_survived(fault_chain, tmp_path):
    node, system = fault_chain
    w3 = node.web3()
    proxy = RpcProxy(node.port, fault_rate=0.3, seed=7, hold_s=1.5)
    settings, _ = gateway_settings(
        w3, system, tmp_path, meters=2, first_meter_id=500, interval_s=0.1, rpc_url=proxy.url,
        batch={"max_readings": 5, "max_delay_s": 0.05},
        chain={"rpc_timeout_s": 1.0, "resend_after_s": 1.0},
        failures={"backoff_initial_s": 0.02, "backoff_max_s": 0.2, "max_consecutive": 1_000})
    daemon = DaemonProcess(settings, tmp_path).start()
    try:
        wait_for(lambda: settings_exists(settings) and _confirmed(settings) >= 30, 90,
                 "30 readings confirmed through the faulty proxy")
        assert set(proxy.injected) == {"error", "rpc_error", "garbage", "timeout", "drop", "lost_response"}, \
            proxy.injected
        proxy.fault_rate = 0.0
        assert daemon.terminate() == 0, daemon.stderr()
    finally:
        if daemon.alive:
            daemon.kill9()
        proxy.close()
    failures = [e for e in daemon.events() if e.get("event") == "chain.failure"]
    assert failures, "the faults were seen and retried"
    assert_exactly_once_and_equal(w3, system, settings, [500, 501], min_readings=30)


def test_gives_up_loudly_after_n_failures_in_a_row(fault_chain, tmp_path):
    node, system = fault_chain
    w3 = node.web3()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    settings, _ = gateway_settings(
        w3, system, tmp_path, meters=1, first_meter_id=600, rpc_url=f"http://127.0.0.1:{dead_port}",
        failures={"backoff_initial_s": 0.01, "backoff_max_s": 0.05, "max_consecutive": 5})
    daemon = DaemonProcess(settings, tmp_path).start()
    assert daemon.wait(60) == 1
    last = daemon.events()[-1]
    assert last["event"] == "daemon.exit"
    assert "giving up after 5 failures in a row" in last["error"]
    assert "exit code 1" in daemon.stderr()
