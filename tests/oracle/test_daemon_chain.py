"""The daemon in-process against the local chain: readings go on-chain exactly once."""

from __future__ import annotations

import urllib.request

from oracle_helpers import accepted_readings, wait_for, wait_outbox

from oracle.config import load_settings
from oracle.daemon import Daemon
from oracle.outbox import Outbox


def _confirmed(settings, meter_id: int) -> list:
    outbox = Outbox(settings.outbox.path, read_only=True)
    try:
        return [r for r in outbox.readings_of(meter_id) if r.status == "confirmed"]
    finally:
        outbox.close()


def test_readings_reach_the_ledger_once_and_match_the_meter(create_gateway, system, w3):
    raw, _ = create_gateway(meters=2)
    settings = load_settings(None, **raw)
    daemon = Daemon(settings)
    daemon.start()
    try:
        for meter_id in (100, 101):
            wait_for(lambda m=meter_id: len(_confirmed(settings, m)) >= 3, 30, f"3 confirmed readings of {meter_id}")
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{daemon.metrics_port}/metrics", timeout=5).read().decode()
        assert 'energo_oracle_readings_signed_total{meter="100"}' in metrics
        assert "energo_oracle_readings_confirmed_total" in metrics
        assert "energo_oracle_last_confirmed_reading_age_seconds" in metrics
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)
    assert daemon.exit_code == 0
    outbox = Outbox(settings.outbox.path, read_only=True)
    events = accepted_readings(w3, system.ledger.address)
    for meter_id in (100, 101):
        stored = outbox.readings_of(meter_id)
        assert [r.status for r in stored] == ["confirmed"] * len(stored), "drained: nothing left behind"
        on_chain = [e for e in events if e.meter_id == meter_id]
        assert [e.seq for e in on_chain] == [r.seq for r in stored] == list(range(1, len(stored) + 1))
        assert [(e.import_wh, e.export_wh) for e in on_chain] == [(r.import_wh, r.export_wh) for r in stored]
        meter = system.ledger.functions.meter(meter_id).call()
        assert (meter[5], meter[7], meter[8]) == (stored[-1].seq, stored[-1].import_wh, stored[-1].export_wh)
    outbox.close()


def test_wrong_chain_id_is_refused_at_start(create_gateway):
    raw, _ = create_gateway(meters=1, chain={"chain_id": 81})
    daemon = Daemon(load_settings(None, **raw))
    assert daemon.run() == 2


def test_wrong_contract_is_refused_at_start(create_gateway, system):
    raw, _ = create_gateway(meters=1, chain={"ledger_address": system.battery.address})
    assert Daemon(load_settings(None, **raw)).run() == 2


def test_meter_key_that_is_not_the_registered_signer_is_refused(create_gateway, system, w3):
    from oracle_helpers import register_meter

    raw, _ = create_gateway(meters=1, register=False)
    register_meter(system, 100, "0x" + "12" * 20, w3.eth.accounts[6])
    assert Daemon(load_settings(None, **raw)).run() == 2


def test_readings_wait_for_the_configured_confirmations(create_gateway, system, w3):
    # One reading (long interval): its batch is the only transaction, so the chain's
    # head moves only when the test mines blocks.
    raw, _ = create_gateway(meters=1, confirmations=3, interval_s=3600)
    settings = load_settings(None, **raw)
    daemon = Daemon(settings)
    daemon.start()
    try:
        outbox = wait_outbox(settings.outbox.path)
        mined = wait_for(lambda: [b for b in outbox.open_batches() if b.status == "mined"], 30, "a mined batch")[0]
        assert w3.eth.block_number == mined.block_number
        assert [r.status for r in outbox.readings_of(100)] == ["batched"]
        w3.provider.make_request("evm_mine", [])
        assert [r.status for r in outbox.readings_of(100)] == ["batched"]
        w3.provider.make_request("evm_mine", [])  # third block: enough
        wait_for(lambda: _confirmed(settings, 100), 30, "confirmation after 3 blocks")
    finally:
        daemon.stop()
        daemon.wait_stopped(30)


def test_a_reorganisation_puts_the_batch_back_in_flight(create_gateway, system, w3):
    raw, _ = create_gateway(meters=1, confirmations=3, interval_s=3600, chain={"resend_after_s": 0.0})
    settings = load_settings(None, **raw)
    fork_point = w3.provider.make_request("evm_snapshot", [])["result"]
    daemon = Daemon(settings)
    daemon.start()
    try:
        outbox = wait_outbox(settings.outbox.path)
        mined = wait_for(lambda: [b for b in outbox.open_batches() if b.status == "mined"], 30, "a mined batch")[0]
        w3.provider.make_request("evm_setAutomine", [False])
        # The block with our batch is replaced by a longer chain without it.
        w3.provider.make_request("evm_revert", [fork_point])
        for _ in range(3):
            w3.provider.make_request("evm_mine", [])
        wait_for(lambda: outbox.batch(mined.id).status == "sent", 30, "the batch back in flight")
        w3.provider.make_request("evm_setAutomine", [True])
        remined = wait_for(lambda: outbox.batch(mined.id).status == "mined" and outbox.batch(mined.id), 30,
                           "the same transaction mined again on the new chain")
        assert remined.block_hash != mined.block_hash
        for _ in range(2):
            w3.provider.make_request("evm_mine", [])
        wait_for(lambda: _confirmed(settings, 100), 30, "confirmation on the new chain")
        meter = system.ledger.functions.meter(100).call()
        assert meter[5] == 1, "the reading is on the surviving chain"
    finally:
        w3.provider.make_request("evm_setAutomine", [True])
        daemon.stop()
        daemon.wait_stopped(30)


def test_unusable_outbox_or_metrics_port_is_a_config_error(create_gateway, tmp_path):
    import socket

    raw, _ = create_gateway(meters=1, outbox={"path": "/proc/no/outbox.sqlite"})
    assert Daemon(load_settings(None, **raw)).run() == 2
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        raw, _ = create_gateway(meters=1, first_meter_id=200, metrics={"port": taken.getsockname()[1]})
        assert Daemon(load_settings(None, **raw)).run() == 2


def test_a_community_of_gateways_in_process_with_a_simulated_battery(system, w3, tmp_path):
    """The demo's shape: household gateways and the battery's gateway in one process,
    keys handed over directly, the battery's charge following the households."""
    from eth_account import Account
    from oracle_helpers import fund, register_meter

    from oracle.daemon import run_in_process

    households = [{"type": "simulated_household", "seed": seed, "pv_peak_w": 6000} for seed in (1, 2)]
    chain = {"rpc_url": w3.provider.endpoint_uri, "chain_id": 8890, "ledger_address": system.ledger.address,
             "confirmations": 1, "poll_interval_s": 0.05}
    settings_list, keys_list = [], []
    meters = [(701, "household", households[0]), (702, "household", households[1]),
              (799, "battery", {"type": "simulated_battery", "households": households})]
    for meter_id, kind, source in meters:
        sender, meter_key = bytes(Account.create().key), bytes(Account.create().key)
        fund(w3, Account.from_key(sender).address)
        register_meter(system, meter_id, Account.from_key(meter_key).address, w3.eth.accounts[6 + meter_id % 3],
                       kind=1 if kind == "battery" else 0, rated_power_w=1_000_000)
        settings_list.append(load_settings(None, chain=chain, sender={"keystore": "in-memory"},
                                           outbox={"path": str(tmp_path / f"{meter_id}.sqlite")},
                                           batch={"max_delay_s": 0.1}, metrics={"port": 0},
                                           meters=[{"id": meter_id, "kind": kind, "interval_s": 0.3,
                                                    "key": {"keystore": "in-memory"}, "source": source}]))
        keys_list.append({"sender": sender, meter_id: meter_key})
    daemons = run_in_process(settings_list, keys_list=keys_list)
    try:
        for meter_id, *_ in meters:
            wait_for(lambda m=meter_id: len(accepted_readings_of(w3, system, m)) >= 2, 30, f"readings of {meter_id}")
    finally:
        for daemon in daemons:
            daemon.stop()
        assert all(daemon.wait_stopped(30) and daemon.exit_code == 0 for daemon in daemons)
    reported = [log for log in w3.eth.get_logs({"address": system.battery.address, "fromBlock": 0,
                                                "topics": [w3.keccak(text="StateOfChargeReported(uint256,uint256)")]})]
    assert reported, "the battery meter's readings reached the battery as state-of-charge reports"


def accepted_readings_of(w3, system, meter_id):
    return [e for e in accepted_readings(w3, system.ledger.address) if e.meter_id == meter_id]
