"""The outbox's state machine and durability settings."""

from __future__ import annotations

import sqlite3

import pytest

from energo.readings import MeterReading, ReadingDomain, ReadingSigner
from oracle.outbox import Outbox, Settlement

DOMAIN = ReadingDomain(8890, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
SIGNER = ReadingSigner(b"\x07" * 32, DOMAIN)


def _store(outbox, meter_id, seq, now):
    outbox.append(SIGNER.sign(MeterReading(meter_id, seq, 1_700_000_000 + seq, seq * 10, seq, 0)), now=now)


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    yield box
    box.close()


def test_durable_settings(outbox):
    assert outbox._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_sequence_number_is_stored_once(outbox):
    _store(outbox, 1, 1, 100.0)
    with pytest.raises(sqlite3.IntegrityError):
        _store(outbox, 1, 1, 101.0)


def test_pending_is_in_insertion_order_and_batches_claim_readings(outbox):
    for seq in (1, 2, 3):
        _store(outbox, 1, seq, 100.0 + seq)
        _store(outbox, 2, seq, 90.0 - seq)  # a wall clock stepping back changes nothing
    pending = outbox.pending(4)
    assert [r.key for r in pending] == [(1, 1), (2, 1), (1, 2), (2, 2)]
    batch_id = outbox.record_batch([r.key for r in pending], "0xaa", b"{}", now=200.0)
    assert [r.key for r in outbox.pending(10)] == [(1, 3), (2, 3)]
    with pytest.raises(RuntimeError, match="no longer pending"):
        outbox.record_batch([(1, 1)], "0xbb", b"{}")
    assert outbox.pending_count() == 2, "the failed claim changed nothing"
    assert outbox.backlog() == 6
    outbox.mark_sent(batch_id, 201.0)
    outbox.mark_mined(batch_id, 5, "0xblock")
    returned = outbox.settle_batch(batch_id, [
        Settlement(1, 1, "confirmed", "accepted"),
        Settlement(2, 1, "confirmed", "already_applied"),
        Settlement(1, 2, "rejected", "ExceedsRatedPower"),
    ], now=300.0)
    assert returned == 1, "(2, 2) got no verdict: back to pending"
    assert outbox.counts() == {"confirmed": 2, "rejected": 1, "pending": 3}
    assert outbox.open_batches() == []
    assert outbox.last_confirmed()[1].seq == 1


def test_abandoned_batch_returns_its_readings(outbox):
    _store(outbox, 1, 1, 100.0)
    batch_id = outbox.record_batch([(1, 1)], "0xaa", b"{}")
    assert outbox.abandon_batch(batch_id, "stale") == 1
    assert [r.key for r in outbox.pending(10)] == [(1, 1)]


def test_reorg_puts_a_mined_batch_back_in_flight(outbox):
    _store(outbox, 1, 1, 100.0)
    batch_id = outbox.record_batch([(1, 1)], "0xaa", b"{}")
    outbox.mark_mined(batch_id, 9, "0xhash")
    outbox.mark_unmined(batch_id)
    [batch] = outbox.open_batches()
    assert (batch.status, batch.block_number) == ("sent", None)


def test_pruning_keeps_each_meters_last_reading(outbox):
    for seq in (1, 2, 3):
        _store(outbox, 1, seq, 100.0)
    batch_id = outbox.record_batch([(1, 1), (1, 2), (1, 3)], "0xaa", b"{}")
    outbox.settle_batch(batch_id, [Settlement(1, s, "confirmed", "accepted") for s in (1, 2, 3)], now=500.0)
    assert outbox.prune_confirmed(older_than=1000.0) == 2
    assert [r.seq for r in outbox.readings_of(1)] == [3]
    assert outbox.last_reading(1).seq == 3, "the sequence continues after pruning"


def test_reopening_keeps_everything(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    _store(box, 4, 1, 1.0)
    box.set_meta("verified_deployment", "8890:0xabc")
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert again.last_reading(4).seq == 1
    assert again.get_meta("verified_deployment") == "8890:0xabc"
    again.close()
