"""Isolation: one bad meter is parked alone and its neighbours go on; two gateways
signing for one meter are seen on the chain and reported."""

from __future__ import annotations

import urllib.request

from eth_account import Account
from oracle_helpers import make_key, register_meter, wait_for

import oracle.daemon
from energo.readings import ReadingSigner
from oracle.config import load_settings
from oracle.daemon import Daemon


class _BrokenAdapter:
    """An adapter with a bug: read() returns None instead of Registers."""

    def read(self):
        return None

    def close(self) -> None:
        pass


def _metrics(daemon: Daemon) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/metrics", timeout=5).read().decode()


def test_one_bad_meter_is_parked_alone_and_its_neighbours_go_on(create_gateway, system, w3, tmp_path):
    raw, info = create_gateway(meters=4, register=False)
    keys = info["meter_keys"]
    for meter_id in (100, 101, 102, 103):
        signer = Account.from_key(keys[meter_id]).address if meter_id != 101 else "0x" + "12" * 20
        register_meter(system, meter_id, signer, w3.eth.accounts[6])
    # 100 is good. 101 is registered with another signer. 102's keystore has a wrong
    # passphrase. 103's adapter has a bug.
    wrong = info["dir"] / "wrong-passphrase"
    wrong.write_text("not it\n")
    wrong.chmod(0o600)
    raw["meters"][2]["key"]["passphrase_file"] = str(wrong)
    settings = load_settings(None, **raw)
    daemon = Daemon(settings, meters={103: _BrokenAdapter()})
    daemon.start()
    try:
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] >= 3, 60, "the good meter's readings on-chain")
        wait_for(lambda: set(daemon.parked) == {101, 102, 103}, 30, "the three bad meters parked")
        metrics = _metrics(daemon)
        assert daemon.exit_code is None, "still running"
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)
    assert daemon.exit_code == 0
    assert "wrong keystore" in daemon.parked[101]
    assert "cannot decrypt keystore" in daemon.parked[102]
    assert "crashed" in daemon.parked[103]
    for meter_id, reason in ((101, "wrong_signer"), (102, "key"), (103, "adapter")):
        assert f'energo_oracle_meter_parked{{meter="{meter_id}",reason="{reason}"}} 1.0' in metrics
    for meter_id in (101, 102, 103):
        assert system.ledger.functions.meter(meter_id).call()[5] == 0


def test_a_corrupt_keystore_of_one_meter_is_not_exit_2_for_all(create_gateway, system):
    raw, info = create_gateway(meters=2)
    keystore = info["dir"] / "meter-101.json"
    keystore.write_text("{ not json")
    settings = load_settings(None, **raw)
    daemon = Daemon(settings)
    daemon.start()
    try:
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] >= 2, 60, "meter 100 going on")
        assert set(daemon.parked) == {101}
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)
    assert daemon.exit_code == 0


def test_two_gateways_signing_for_one_meter_are_detected(create_gateway, system, w3, monkeypatch, tmp_path):
    monkeypatch.setattr(oracle.daemon, "FOREIGN_CHECK_EVERY_S", 0.3)
    raw, info = create_gateway(meters=1, interval_s=0.3)
    # A second gateway (own sender, own outbox) with a copy of the same meter's key.
    second = tmp_path / "second"
    second.mkdir()
    sender_keystore, _, sender = make_key(second, "sender")
    from oracle_helpers import fund

    fund(w3, sender)
    meter_keystore, _, _ = make_key(second, "meter-100", info["meter_keys"][100])
    passfile = str(second / "passphrase")
    raw2 = {**raw, "sender": {"keystore": str(sender_keystore), "passphrase_file": passfile},
            "outbox": {"path": str(second / "outbox.sqlite")},
            "meters": [{**raw["meters"][0], "key": {"keystore": str(meter_keystore), "passphrase_file": passfile}}]}
    first, other = Daemon(load_settings(None, **raw)), Daemon(load_settings(None, **raw2))
    first.start()
    try:
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] >= 2, 60, "the first gateway's readings")
        other.start()
        wait_for(lambda: 'energo_oracle_meter_foreign_readings{meter="100"} 1.0' in _metrics(first)
                 or 'energo_oracle_meter_foreign_readings{meter="100"} 1.0' in _metrics(other), 60,
                 "the double signer reported")
    finally:
        first.stop()
        other.stop()
        first.wait_stopped(30)
        other.wait_stopped(30)



def test_one_invalid_meter_entry_is_parked_alone_and_the_others_go_on(create_gateway, system):
    raw, _ = create_gateway(meters=3)
    # 101's source is misconfigured, 102's interval is impossible: each parked alone.
    raw["meters"][1]["source"] = {"type": "dsmr", "url": "udp://10.0.0.7:2001"}
    raw["meters"][2]["interval_s"] = -5
    settings = load_settings(None, **raw)
    assert [m.id for m in settings.meters] == [100]
    daemon = Daemon(settings)
    daemon.start()
    try:
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] >= 2, 60, "meter 100 going on")
        metrics = _metrics(daemon)
        assert daemon.exit_code is None
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)
    assert daemon.exit_code == 0
    assert "meters[1] is invalid" in daemon.parked[101] and "source" in daemon.parked[101]
    assert "meters[2] is invalid" in daemon.parked[102] and "interval_s" in daemon.parked[102]
    for meter_id in (101, 102):
        assert f'energo_oracle_meter_parked{{meter="{meter_id}",reason="config"}} 1.0' in metrics
        assert system.ledger.functions.meter(meter_id).call()[5] == 0


def test_every_meter_entry_invalid_is_a_configuration_error(create_gateway, system):
    raw, _ = create_gateway(meters=1)
    raw["meters"][0]["source"] = {"type": "carrier_pigeon"}
    daemon = Daemon(load_settings(None, **raw))
    assert daemon.run() == 2, "nothing left to run: a configuration error (exit 2)"
    assert "meters[0] is invalid" in daemon.parked[100]


def _submit_foreign_reading(w3, system, meter_key: bytes, sender: str):
    """Another gateway with a copy of meter 100's key: signs the next reading and sends
    it from its own account. Returns the accepted event and its transaction, or None
    when the real gateway's reading took that seq first."""
    import time

    from oracle_helpers import accepted_readings

    from energo.readings import MeterReading, ReadingDomain
    from oracle.ledger import submit_readings_calldata

    state = system.ledger.functions.meter(100).call()
    seq, last_timestamp, import_wh, export_wh = state[5], state[6], state[7], state[8]
    timestamp = max(int(time.time()), last_timestamp + 1)
    signer = ReadingSigner(meter_key, ReadingDomain(8890, system.ledger.address))
    signed = signer.sign(MeterReading(100, seq + 1, timestamp, import_wh, export_wh, 0))
    before = w3.eth.block_number
    tx = w3.eth.send_transaction({"from": sender, "to": system.ledger.address, "gas": 500_000,
                                  "data": "0x" + submit_readings_calldata(signed.record()).hex(),
                                  "gasPrice": 400 * 10**9, "type": 0})
    w3.eth.wait_for_transaction_receipt(tx, timeout=30, poll_latency=0.02)
    mine = [e for e in accepted_readings(w3, system.ledger.address, before + 1)
            if e.meter_id == 100 and e.seq == seq + 1 and e.timestamp == timestamp]
    return (mine[0], "0x" + bytes(tx).hex()) if mine else None


def test_a_reading_signed_by_another_gateway_is_found_in_the_chains_events(create_gateway, system, w3, monkeypatch):
    """The other gateway's reading lands between two of ours: the newest on-chain reading
    is ours again at once, so only the chain's events show it."""
    monkeypatch.setattr(oracle.daemon, "FOREIGN_SCAN_EVERY_S", 0.2, raising=False)
    raw, info = create_gateway(meters=1, interval_s=1.0)
    daemon = Daemon(load_settings(None, **raw))
    daemon.start()
    try:
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] >= 2, 60, "the gateway's readings")
        foreign = wait_for(lambda: _submit_foreign_reading(w3, system, info["meter_keys"][100], w3.eth.accounts[7]),
                           30, "a foreign reading accepted")
        event, tx_hash = foreign
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] > event.seq, 30, "ours on top again")
        metrics = wait_for(lambda: 'energo_oracle_meter_foreign_readings{meter="100"} 1.0' in (text := _metrics(daemon))
                           and text, 30, "the foreign reading reported")
        wait_for(lambda: system.ledger.functions.meter(100).call()[5] > event.seq + 2, 30, "more of ours")
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)
    seen = daemon.foreign_readings[100]
    assert [(s["seq"], s["tx_hash"]) for s in seen] == [(event.seq, tx_hash)], "that one, and none of ours"
    assert seen[0]["sent_by"] == w3.eth.accounts[7]
    assert 'energo_oracle_meter_foreign_readings_seen_total{meter="100"} 1.0' in metrics
