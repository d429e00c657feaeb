"""Gateways end to end through the faithful Janus double (answers as Janus v0.4.3 and
qtumd v27.1 do: revert bytes as eth_call results, "verify error" for spent inputs,
logs grouped by contract; see energo_testkit.janus_double). No real qtumd runs here.

- a gateway started before its meter is registered waits and says so, then submits
  once it is registered (today's gateway exited at start: eth_abi could not decode the
  LedgerUnknownMeter bytes Janus returns as the result of meter());
- a batch whose coins were spent elsewhere goes stale and is rebuilt;
- two gateways and a household share a block, the readings' events, ordered by
  (block, transaction index, log index), agree with the ledger's own views, and so does
  the indexer's screen (frontend_api's indexer reading through the same double).
"""

from __future__ import annotations

import json

import pytest
from daemon_process import DaemonProcess
from energo_testkit.janus_double import JanusTestDouble
from eth_account import Account
from oracle_helpers import gateway_settings, register_meter, wait_for
from sqlalchemy import select
from web3 import HTTPProvider, Web3

from energo.readings import MeterReading, ReadingSigner, decode_reading_events
from energo.tx import Sender
from energo_deploy.system import Roles, deploy_system
from energo_qtum import JanusClient, QtumSigner, QtumWallet
from energo_qtum.builder import build_call_tx
from energo_qtum.script import ScriptType, classify_script, parse_contract_script
from energo_qtum.tx import parse_transaction
from frontend_api.indexer import handlers, schema
from frontend_api.indexer.db import make_engine
from frontend_api.indexer.engine import Indexer
from oracle.config import BatchSettings, ChainSettings
from oracle.ledger import LedgerClient
from oracle.logs import get_logger
from oracle.metrics import Metrics
from oracle.outbox import Outbox
from oracle.submitter import Submitter
from oracle.transport.base import TransportUnavailable
from oracle.transport.qtum import QtumTransport

pytestmark = pytest.mark.slow

COIN = 10**8


@pytest.fixture(scope="module")
def qtum():
    with JanusTestDouble() as double:
        w3 = Web3(HTTPProvider(double.anvil_url))
        accounts = w3.eth.accounts
        roles = Roles(admin=Sender(w3, accounts[0]), treasury=Sender(w3, accounts[1]),
                      operator=Sender(w3, accounts[2]), registrar=Sender(w3, accounts[3]))
        yield double, w3, deploy_system(w3, roles)


def _submitter(transport, system, outbox, max_readings=2):
    ledger = LedgerClient(transport, system.ledger.address, 8890)
    chain = ChainSettings(transport="qtum", chain_id=8890, ledger_address=system.ledger.address, confirmations=1)
    batch = BatchSettings(max_readings=max_readings, max_delay_s=0, max_in_flight=3)
    return ledger, Submitter(outbox, ledger, chain, batch, Metrics(), get_logger("test"))


def test_meter_view_of_an_unregistered_meter_through_janus(qtum):
    # Janus answers meter(id) of an unknown meter with the LedgerUnknownMeter bytes as a
    # successful result; the gateway must read that as "not registered".
    double, w3, system = qtum
    transport = QtumTransport(double.url, bytes(Account.create().key))
    ledger = LedgerClient(transport, system.ledger.address, 8890)
    on_chain = ledger.meter(4242)
    assert not on_chain.registered and on_chain.last_seq == 0


def test_a_gateway_started_before_its_meter_is_registered_waits_then_submits(qtum, tmp_path):
    double, w3, system = qtum
    settings, keys = gateway_settings(w3, system, tmp_path, meters=1, register=False, first_meter_id=700,
                                      rpc_url=double.url, interval_s=0.5,
                                      chain={"transport": "qtum", "qtum_network": "regtest",
                                             "poll_interval_s": 0.2})
    settings["simulation"] = {"start_timestamp": w3.eth.get_block("latest")["timestamp"] + 2}
    sender = QtumSigner(keys["sender_key"].hex(), "regtest")
    for _ in range(3):
        double.fund(sender.hex_address, 20 * COIN)
    gateway = DaemonProcess(settings, tmp_path).start()
    try:
        waiting = wait_for(lambda: [e for e in gateway.events() if e.get("event") == "meter.not_registered"],
                           timeout=60, what="the gateway to say its meter is not registered", interval=0.2)
        assert waiting[0]["meter_id"] == 700
        assert gateway.alive, gateway.stderr()[-3000:]
        meter_signer = Account.from_key(keys["meter_keys"][700]).address
        register_meter(system, 700, meter_signer, w3.eth.accounts[7])
        wait_for(lambda: system.ledger.functions.meter(700).call()[5] >= 2, timeout=60,
                 what="readings of meter 700 accepted once it is registered", interval=0.2)
        assert gateway.alive, gateway.stderr()[-3000:]
    finally:
        code = gateway.terminate() if gateway.alive else gateway.wait()
    assert code == 0, gateway.stderr()[-3000:]


def test_a_batch_whose_coins_were_spent_elsewhere_goes_stale_and_is_rebuilt(qtum, tmp_path):
    double, w3, system = qtum
    meter_key = bytes(Account.create().key)
    register_meter(system, 801, Account.from_key(meter_key).address, w3.eth.accounts[6])
    registered_at = system.ledger.functions.meter(801).call()[6]
    key = bytes(Account.create().key)
    transport = QtumTransport(double.url, key, network="regtest")
    double.fund(transport.signer.hex_address, 5 * COIN)  # the largest coin: the batch's
    double.fund(transport.signer.hex_address, 4 * COIN)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    ledger, submitter = _submitter(transport, system, outbox)
    signer = ReadingSigner(meter_key, ledger.domain)
    for seq in (1, 2):
        outbox.append(signer.sign(MeterReading(801, seq, registered_at + seq, seq * 3, seq, 0)))

    real_broadcast = transport.broadcast

    def lost_once(envelope):  # the node went away just as the batch was sent
        transport.broadcast = real_broadcast
        raise TransportUnavailable("Janus: connection reset")

    transport.broadcast = lost_once
    # Qtum estimates run at wall time, which can be behind the latest block's time: the
    # battery's rent accrual (block.timestamp - last) would underflow meanwhile.
    double.wait_for_clock()
    with pytest.raises(TransportUnavailable):
        submitter.tick()
    (batch,) = outbox.open_batches()
    assert batch.status == "prepared"
    # Meanwhile the same key, used elsewhere, spends that coin.
    janus = JanusClient(double.url)
    coin = max(janus.get_utxos(transport.signer.hex_address), key=lambda u: u.value_sat or 0)
    elsewhere = build_call_tx(transport.signer, [coin], system.tsl.address[2:], "18160ddd", gas_limit=60_000)
    janus.send_raw_transaction(elsewhere.raw_hex)

    wait_for(lambda: submitter.tick() or outbox.counts() == {"confirmed": 2}, timeout=30,
             what="the readings confirmed by a rebuilt batch", interval=0.05)
    rows = outbox._query("SELECT status, note FROM batches ORDER BY id")
    assert rows[0][0] == "abandoned" and "stale" in rows[0][1]
    assert [r[0] for r in rows[1:]] == ["settled"]
    assert system.ledger.functions.meter(801).call()[5] == 2
    outbox.close()


def test_two_gateways_and_a_household_share_a_block(qtum, tmp_path):
    double, w3, system = qtum
    gateways = []
    for index, meter_id in enumerate((811, 812)):
        meter_key = bytes(Account.create().key)
        register_meter(system, meter_id, Account.from_key(meter_key).address, w3.eth.accounts[8 + index])
        transport = QtumTransport(double.url, bytes(Account.create().key), network="regtest")
        double.fund(transport.signer.hex_address, 5 * COIN)
        outbox = Outbox(tmp_path / f"outbox-{meter_id}.sqlite")
        ledger, submitter = _submitter(transport, system, outbox)
        registered_at = system.ledger.functions.meter(meter_id).call()[6]
        signer = ReadingSigner(meter_key, ledger.domain)
        for seq in (1, 2):
            outbox.append(signer.sign(MeterReading(meter_id, seq, registered_at + seq, 3 * seq, 5 * seq, 0)))
        gateways.append((meter_id, outbox, submitter))
    household = QtumSigner(bytes(Account.create().key).hex(), "regtest")
    double.fund(household.hex_address, 5 * COIN)
    home = QtumWallet(JanusClient(double.url), household)
    approve = system.tsl.functions.approve(system.battery.address, 1)._encode_transaction_data()

    double.wait_for_clock()  # see the stale-batch test
    double.dev_mining = False
    try:
        for _, _, submitter in gateways:
            submitter.tick()  # prepares and broadcasts one batch each: into the mempool
        household_txid = home.send_call(system.tsl.address[2:], approve[2:], gas_limit=80_000)
        double.mine()
    finally:
        double.dev_mining = True
    for meter_id, outbox, submitter in gateways:
        wait_for(lambda s=submitter, o=outbox: s.tick() or o.counts() == {"confirmed": 2}, timeout=30,
                 what=f"meter {meter_id}'s readings confirmed", interval=0.05)
    janus = JanusClient(double.url)
    tx_ids = [outbox._query("SELECT tx_id FROM batches")[0][0] for _, outbox, _ in gateways] + ["0x" + household_txid]
    receipts = [janus.get_transaction_receipt(t) for t in tx_ids]
    assert len({r["blockNumber"] for r in receipts}) == 1, "one block"
    block = receipts[0]["blockNumber"]
    assert sorted(r["transactionIndex"] for r in receipts) == ["0x1", "0x2", "0x3"]

    logs = janus.get_logs({"fromBlock": block, "toBlock": block,
                           "address": [system.ledger.address, system.battery.address, system.tsl.address]})
    chain_order = sorted(logs, key=lambda log: (int(log["blockNumber"], 16), int(log["transactionIndex"], 16),
                                                int(log["logIndex"], 16)))
    by_tx = [log["transactionHash"] for log in chain_order]
    assert by_tx == sorted(by_tx, key=lambda t: [r["transactionHash"] for r in receipts].index(t))
    # qtumd's searchlogs groups a block's logs by emitting contract (in address order),
    # each transaction once with all its logs: not the order the block ran them in.
    first_address = {}
    for log in chain_order:
        first_address.setdefault(log["transactionHash"], log["address"].lower())
        first_address[log["transactionHash"]] = min(first_address[log["transactionHash"]], log["address"].lower())
    expected = sorted(first_address, key=lambda t: (first_address[t], by_tx.index(t)))
    assert list(dict.fromkeys(log["transactionHash"] for log in logs)) == expected
    # The events, in chain order, end at the ledger's own view of each meter.
    view_logs = [{"address": Web3.to_checksum_address(log["address"]),
                  "topics": [bytes.fromhex(t[2:]) for t in log["topics"]], "data": bytes.fromhex(log["data"][2:])}
                 for log in chain_order]
    events = [e for e in decode_reading_events(view_logs, system.ledger.address) if e.accepted]
    for meter_id, outbox, _ in gateways:
        last = [e for e in events if e.meter_id == meter_id][-1]
        on_chain = system.ledger.functions.meter(meter_id).call()
        assert (last.seq, last.import_wh, last.export_wh) == (on_chain[5], on_chain[7], on_chain[8])
        outbox.close()

    # The indexer (frontend_api), reading the chain through the same Janus, shows each
    # household what the chain's own views say.
    indexer = Indexer(Web3(HTTPProvider(double.url)), make_engine(f"sqlite:///{tmp_path / 'index.sqlite3'}"),
                      [handlers.battery_source(system.battery.address, system.battery.abi),
                       handlers.ledger_source(system.ledger.address, system.ledger.abi)], chain_id=8890)
    indexer.sync_to_head()
    with indexer.engine.connect() as conn:
        for index, (meter_id, _, _) in enumerate(gateways):
            rows = conn.execute(select(schema.readings).where(schema.readings.c.meter_id == meter_id)
                                .order_by(schema.readings.c.seq)).all()
            meter = conn.execute(select(schema.meters).where(schema.meters.c.meter_id == meter_id)).one()
            on_chain = system.ledger.functions.meter(meter_id).call()
            assert [r.seq for r in rows] == [1, 2]
            assert (rows[-1].import_wh, rows[-1].export_wh) == (on_chain[7], on_chain[8])
            assert meter.initial_import_wh + sum(r.import_delta_wh for r in rows) == on_chain[7]
            assert meter.initial_export_wh + sum(r.export_delta_wh for r in rows) == on_chain[8]
            generated = system.battery.functions.countersOf(w3.eth.accounts[8 + index]).call()[0]
            assert sum(r.export_delta_wh for r in rows) == generated


def test_a_batch_over_the_transports_gas_cap_is_split(qtum, tmp_path):
    # On Qtum the cap is 20M gas per transaction (qtumd's mempool); a smaller cap here
    # shows the submitter's sizing without building 20M gas of readings.
    double, w3, system = qtum
    meter_key = bytes(Account.create().key)
    register_meter(system, 821, Account.from_key(meter_key).address, w3.eth.accounts[6])
    registered_at = system.ledger.functions.meter(821).call()[6]
    transport = QtumTransport(double.url, bytes(Account.create().key), network="regtest")
    assert QtumTransport.max_tx_gas == 20_000_000
    transport.max_tx_gas = 160_000
    for _ in range(3):
        double.fund(transport.signer.hex_address, 5 * COIN)
    outbox = Outbox(tmp_path / "outbox.sqlite")
    ledger, submitter = _submitter(transport, system, outbox, max_readings=8)
    signer = ReadingSigner(meter_key, ledger.domain)
    for seq in range(1, 9):
        outbox.append(signer.sign(MeterReading(821, seq, registered_at + seq, 3 * seq, 5 * seq, 0)))
    wait_for(lambda: submitter.tick() or outbox.counts() == {"confirmed": 8}, timeout=30,
             what="eight readings confirmed in batches under the cap", interval=0.05)
    sizes = [row[0] for row in outbox._query("SELECT size FROM batches ORDER BY id")]
    assert max(sizes) < 8 and sum(sizes) == 8
    assert all(gas <= 160_000 for gas in _gas_limits(outbox))
    outbox.close()


def _gas_limits(outbox) -> list[int]:
    limits = []
    for (envelope,) in outbox._query("SELECT envelope FROM batches"):
        tx = parse_transaction(bytes.fromhex(json.loads(envelope)["raw"]))
        for out in tx.outputs:
            if classify_script(out.script_pubkey) is ScriptType.CALL:
                limits.append(parse_contract_script(out.script_pubkey).gas_limit)
    return limits
