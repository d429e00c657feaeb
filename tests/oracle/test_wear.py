"""SD-card wear: the outbox writes at most 2,600 bytes per reading at the daemon's defaults
(one commit per reading on 4 KiB pages wrote about 24,000)."""

from __future__ import annotations

import time

from benchmarks.oracle_bench import bench_wear
from energo.readings import MeterReading, ReadingDomain, ReadingSigner
from oracle.outbox import Outbox


def test_bytes_written_per_reading_stay_under_the_bar():
    started = time.monotonic()
    assert bench_wear(readings=1000) <= 2600
    assert time.monotonic() - started < 60


def test_buffered_readings_are_committed_within_the_interval_and_on_close(tmp_path):
    now = [0.0]
    outbox = Outbox(tmp_path / "outbox.sqlite", commit_interval_s=20.0, monotonic=lambda: now[0])
    signer = ReadingSigner(bytes(range(1, 33)), ReadingDomain(8890, "0x" + "ab" * 20))
    outbox.append(signer.sign(MeterReading(1, 1, 1_800_000_000, 1, 0, 0)))
    assert outbox.pending_count() == 0, "buffered, not yet committed (and so never sent)"
    now[0] = 19.0
    outbox.flush_due()
    assert outbox.pending_count() == 0
    now[0] = 20.0
    outbox.flush_due()
    assert outbox.pending_count() == 1
    outbox.append(signer.sign(MeterReading(1, 2, 1_800_000_001, 2, 0, 0)))
    outbox.close()
    reopened = Outbox(tmp_path / "outbox.sqlite", read_only=True)
    assert [r.seq for r in reopened.readings_of(1)] == [1, 2], "a clean stop commits the buffer"
    reopened.close()
