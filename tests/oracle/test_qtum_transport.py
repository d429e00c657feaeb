"""The Qtum (UTXO) transport behind the same interface: readings go on-chain through a
Janus test double that checks raw Qtum transactions as qtumd would, over anvil."""

from __future__ import annotations

import json

import pytest
from energo_testkit.janus_double import JanusTestDouble
from eth_account import Account
from oracle_helpers import all_reading_events
from web3 import HTTPProvider, Web3

from energo.readings import MeterReading, ReadingSigner
from energo.tx import Sender
from energo_deploy.system import Roles, deploy_system
from oracle.config import BatchSettings, ChainSettings
from oracle.ledger import LedgerClient
from oracle.logs import get_logger
from oracle.metrics import Metrics
from oracle.outbox import Outbox
from oracle.submitter import Submitter
from oracle.transport.base import Broadcast
from oracle.transport.qtum import QtumTransport

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def janus():
    with JanusTestDouble() as double:
        w3 = Web3(HTTPProvider(double.anvil_url))
        accounts = w3.eth.accounts
        roles = Roles(admin=Sender(w3, accounts[0]), treasury=Sender(w3, accounts[1]),
                      operator=Sender(w3, accounts[2]), registrar=Sender(w3, accounts[3]))
        yield double, w3, deploy_system(w3, roles)


def test_readings_reach_the_ledger_through_qtum_transactions(janus, tmp_path):
    double, w3, system = janus
    meter_key = bytes(Account.create().key)
    system.roles.registrar.transact(system.ledger.functions.registerMeter(
        901, Account.from_key(meter_key).address, w3.eth.accounts[6], 0, 50_000, 0, 0))
    registered_at = system.ledger.functions.meter(901).call()[6]
    sender_key = bytes(Account.create().key)
    transport = QtumTransport(double.url, sender_key, network="regtest")
    for _ in range(3):  # several coins: batches in quick succession must not collide
        double.fund(transport.signer.hex_address, 5 * 10**8)
    ledger = LedgerClient(transport, system.ledger.address, 8890)
    ledger.verify()  # chain id, code, EIP-712 domain, battery, digest: all through Janus

    outbox = Outbox(tmp_path / "outbox.sqlite")
    signer = ReadingSigner(meter_key, ledger.domain)
    for seq in range(1, 7):
        outbox.append(signer.sign(MeterReading(901, seq, registered_at + seq, seq * 3, seq, 0)))
    chain = ChainSettings(transport="qtum", chain_id=8890, ledger_address=system.ledger.address, confirmations=1)
    submitter = Submitter(outbox, ledger, chain, BatchSettings(max_readings=2, max_delay_s=0, max_in_flight=3),
                          Metrics(), get_logger("test"))
    for _ in range(6):
        submitter.tick()
        if outbox.counts() == {"confirmed": 6}:
            break
    assert outbox.counts() == {"confirmed": 6}
    assert system.ledger.functions.meter(901).call()[5] == 6
    tx_ids = {row[0] for row in outbox._query("SELECT tx_id FROM batches")}
    assert len(tx_ids) == 3 and all(len(t) == 66 for t in tx_ids), "three Qtum txids"

    # The same raw transaction again (a restart's re-broadcast): Janus answers a mined
    # transaction with its txid, and nothing is applied a second time.
    batch = outbox.batch(1)
    assert transport.broadcast(batch.envelope) in (Broadcast.ACCEPTED, Broadcast.KNOWN)
    events = all_reading_events(w3, system.ledger.address)
    assert [e.seq for e in events if e.meter_id == 901 and e.accepted] == [1, 2, 3, 4, 5, 6]
    outbox.close()


def test_restart_reserves_the_coins_of_recorded_transactions(janus, tmp_path):
    double, w3, system = janus
    sender_key = bytes(Account.create().key)
    first = QtumTransport(double.url, sender_key)
    double.fund(first.signer.hex_address, 5 * 10**8)
    double.fund(first.signer.hex_address, 5 * 10**8)
    data = bytes.fromhex("18160ddd")  # any call will do: totalSupply(), a harmless read
    prepared = first.prepare(system.tsl.address, data)
    # Restart: a new transport learns the recorded transaction and must not reuse its coin.
    restarted = QtumTransport(double.url, sender_key)
    restarted.restore([prepared.envelope])
    other = restarted.prepare(system.tsl.address, data)
    spent_first = {tuple(s[:2]) for s in json.loads(prepared.envelope)["spent"]}
    spent_other = {tuple(s[:2]) for s in json.loads(other.envelope)["spent"]}
    assert not spent_first & spent_other
    assert restarted.broadcast(prepared.envelope) is Broadcast.ACCEPTED
    assert restarted.broadcast(other.envelope) is Broadcast.ACCEPTED


def test_a_transaction_whose_coin_was_spent_elsewhere_is_stale(janus):
    double, w3, system = janus
    transport = QtumTransport(double.url, bytes(Account.create().key))
    double.fund(transport.signer.hex_address, 5 * 10**8)  # one coin only
    data = bytes.fromhex("18160ddd")
    abandoned = transport.prepare(system.tsl.address, data)
    transport.release(abandoned.envelope)  # e.g. its batch was given up before broadcasting
    replacement = transport.prepare(system.tsl.address, bytes.fromhex("313ce567"))  # decimals(): other bytes
    assert json.loads(replacement.envelope)["spent"] == json.loads(abandoned.envelope)["spent"]
    assert transport.broadcast(replacement.envelope) is Broadcast.ACCEPTED
    assert transport.broadcast(abandoned.envelope) is Broadcast.STALE
