"""The submitter against the local chain, one pass at a time: dropped transactions,
used nonces, restarts between signing and broadcasting, rejections, re-submissions."""

from __future__ import annotations

import pytest
from eth_account import Account
from oracle_helpers import all_reading_events, fund, register_meter

from energo.readings import MeterReading, ReadingSigner
from oracle.config import BatchSettings, ChainSettings
from oracle.ledger import LedgerClient, submit_readings_calldata
from oracle.logs import get_logger
from oracle.metrics import Metrics
from oracle.outbox import Outbox
from oracle.submitter import BatchWouldRevert, Submitter
from oracle.transport.base import Broadcast
from oracle.transport.evm import EvmTransport

METER_ID = 77


@pytest.fixture
def rig(system, w3, tmp_path):
    """A funded sender, a registered meter, an outbox and a way to make submitters."""
    sender_key = bytes(Account.create().key)
    fund(w3, Account.from_key(sender_key).address)
    meter_key = bytes(Account.create().key)
    register_meter(system, METER_ID, Account.from_key(meter_key).address, w3.eth.accounts[7])
    registered_at = system.ledger.functions.meter(METER_ID).call()[6]
    outbox = Outbox(tmp_path / "outbox.sqlite")

    class Rig:
        pass

    rig = Rig()
    rig.outbox, rig.w3, rig.system = outbox, w3, system
    rig.sender = Account.from_key(sender_key).address
    rig.signer = ReadingSigner(meter_key, LedgerClient(None, system.ledger.address, 8890).domain)
    rig.seq = 0

    def store(count: int = 1, import_step: int = 10):
        for _ in range(count):
            rig.seq += 1
            reading = MeterReading(METER_ID, rig.seq, registered_at + rig.seq, rig.seq * import_step, 0, 0)
            outbox.append(rig.signer.sign(reading))

    def submitter(resend_after_s: float = 60.0, confirmations: int = 1):
        transport = EvmTransport(w3.provider.endpoint_uri, sender_key, chain_id=8890, gas_price_wei=400 * 10**9)
        ledger = LedgerClient(transport, system.ledger.address, 8890)
        chain = ChainSettings(chain_id=8890, ledger_address=system.ledger.address, confirmations=confirmations,
                              resend_after_s=resend_after_s)
        return Submitter(rig.outbox, ledger, chain, BatchSettings(max_readings=50, max_delay_s=0.0), Metrics(),
                         get_logger("test"))

    rig.store, rig.submitter = store, submitter
    yield rig
    outbox.close()
    w3.provider.make_request("evm_setAutomine", [True])


def _statuses(outbox):
    return [r.status for r in outbox.readings_of(METER_ID)]


def _mine(w3):
    w3.provider.make_request("evm_mine", [])


def test_readings_are_confirmed_in_one_pass_each(rig):
    rig.store(3)
    submitter = rig.submitter()
    submitter.tick()  # sends (automine mines it at once)
    submitter.tick()  # sees the receipt, settles
    assert _statuses(rig.outbox) == ["confirmed"] * 3


def test_dropped_transaction_is_broadcast_again(rig):
    w3 = rig.w3
    w3.provider.make_request("evm_setAutomine", [False])
    rig.store(2)
    submitter = rig.submitter(resend_after_s=0.0)
    submitter.tick()
    [batch] = rig.outbox.open_batches()
    assert w3.provider.make_request("anvil_dropTransaction", [batch.tx_id])["result"] is not None
    submitter.tick()  # no receipt: resend due -> the same bytes again
    _mine(w3)
    submitter.tick()
    assert _statuses(rig.outbox) == ["confirmed"] * 2
    assert rig.outbox.batch(batch.id).status == "settled", "the same transaction, not a new one"


def test_nonce_taken_by_another_transaction_abandons_and_resends(rig):
    w3 = rig.w3
    w3.provider.make_request("evm_setAutomine", [False])
    rig.store(2)
    submitter = rig.submitter(resend_after_s=0.0)
    submitter.tick()
    [batch] = rig.outbox.open_batches()
    w3.provider.make_request("anvil_dropTransaction", [batch.tx_id])
    # Something else (an operator's manual transfer) uses the sender's nonce.
    transport = submitter.transport
    nonce = w3.eth.get_transaction_count(rig.sender, "pending")
    other = Account.from_key(transport._account.key).sign_transaction(
        {"to": rig.sender, "value": 1, "gas": 21_000, "gasPrice": 400 * 10**9, "nonce": nonce, "chainId": 8890})
    w3.eth.send_raw_transaction(other.raw_transaction)
    _mine(w3)
    submitter.tick()  # rebroadcast: nonce too low and no receipt -> stale -> readings back to pending
    assert rig.outbox.batch(batch.id).status == "abandoned"
    _mine(w3)
    submitter.tick()
    _mine(w3)
    submitter.tick()
    assert _statuses(rig.outbox) == ["confirmed"] * 2


def test_restart_between_recording_and_broadcasting_keeps_the_nonce(rig):
    w3 = rig.w3
    rig.store(2)
    first = rig.submitter()
    # Sign and record, then "crash" before broadcasting.
    pending = rig.outbox.pending(10)
    prepared = first.transport.prepare(rig.system.ledger.address,
                                       submit_readings_calldata(b"".join(r.record for r in pending)))
    rig.outbox.record_batch([r.key for r in pending], prepared.tx_id, prepared.envelope)
    rig.store(1)
    restarted = rig.submitter()
    for _ in range(3):  # the recorded batch goes first, then a new one for reading 3
        restarted.tick()
    assert _statuses(rig.outbox) == ["confirmed"] * 3
    receipt = w3.eth.get_transaction_receipt(prepared.tx_id)
    assert receipt["status"] == 1, "the recorded bytes were sent as they were"


def test_replacement_underpriced_at_rebroadcast_is_stale(rig):
    w3 = rig.w3
    w3.provider.make_request("evm_setAutomine", [False])
    rig.store(1)
    submitter = rig.submitter()
    pending = rig.outbox.pending(10)
    prepared = submitter.transport.prepare(rig.system.ledger.address,
                                           submit_readings_calldata(pending[0].record))
    rig.outbox.record_batch([pending[0].key], prepared.tx_id, prepared.envelope)
    # Another transaction with the same nonce and price reached the mempool first.
    nonce = w3.eth.get_transaction_count(rig.sender, "pending")
    other = Account.from_key(submitter.transport._account.key).sign_transaction(
        {"to": rig.sender, "value": 2, "gas": 21_000, "gasPrice": 400 * 10**9, "nonce": nonce, "chainId": 8890})
    w3.eth.send_raw_transaction(other.raw_transaction)
    assert submitter.transport.broadcast(prepared.envelope) is Broadcast.STALE
    submitter.tick()
    w3.provider.make_request("evm_setAutomine", [True])
    _mine(w3)
    submitter.tick()
    submitter.tick()
    assert _statuses(rig.outbox) == ["confirmed"]


def test_resubmitting_applied_readings_is_harmless_and_counts_as_confirmed(rig, tmp_path):
    rig.store(3)
    submitter = rig.submitter()
    submitter.tick()
    submitter.tick()
    # The outbox is lost after sending; a restored copy sends the same readings again.
    restored = Outbox(tmp_path / "restored.sqlite")
    for stored in rig.outbox.readings_of(METER_ID):
        from energo.readings import SignedReading

        restored.append(SignedReading.from_record(stored.record))
    rig.outbox, original = restored, rig.outbox
    again = rig.submitter()
    again.tick()
    again.tick()
    assert _statuses(restored) == ["confirmed"] * 3
    reasons = restored._query("SELECT reason FROM readings ORDER BY seq")
    assert reasons == [("already_applied",)] * 3
    events = all_reading_events(rig.w3, rig.system.ledger.address)
    assert [e.seq for e in events if e.meter_id == METER_ID and e.accepted] == [1, 2, 3]
    restored.close()
    rig.outbox = original


def test_rejected_readings_are_read_back_and_not_retried(rig):
    rig.store(1)
    rig.store(1, import_step=10**9)  # far beyond the meter's rated power
    submitter = rig.submitter()
    submitter.tick()
    submitter.tick()
    rows = rig.outbox._query("SELECT seq, status, reason FROM readings ORDER BY seq")
    assert rows == [(1, "confirmed", "accepted"), (2, "rejected", "ExceedsRatedPower")]
    assert rig.outbox.backlog() == 0
    submitter.tick()
    assert rig.outbox.open_batches() == [], "nothing is sent again"


def test_batch_that_would_revert_as_a_whole_is_a_failure(rig):
    rig.system.roles.admin.transact(rig.system.ledger.functions.pause())
    rig.store(1)
    with pytest.raises(BatchWouldRevert, match="would revert as a whole"):
        rig.submitter().tick()
    assert _statuses(rig.outbox) == ["pending"], "kept for when the ledger is unpaused"


def test_a_batch_that_could_not_be_recorded_leaves_no_nonce_gap(rig, monkeypatch):
    import sqlite3

    rig.store(2)
    submitter = rig.submitter()
    original = rig.outbox.record_batch

    def disk_full(*args, **kwargs):
        monkeypatch.setattr(rig.outbox, "record_batch", original)
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(rig.outbox, "record_batch", disk_full)
    with pytest.raises(sqlite3.OperationalError):
        submitter.tick()
    assert _statuses(rig.outbox) == ["pending", "pending"]
    for _ in range(2):
        submitter.tick()
    assert _statuses(rig.outbox) == ["confirmed"] * 2, "the nonce was given back and reused"
