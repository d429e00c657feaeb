"""Storage faults: a full disk or a corrupt outbox is never silent, and loses nothing.

The disk-full test runs the daemon as a real process with its outbox on a small tmpfs
that fills up: the daemon must stop reading, exit 3 saying why, and go on after a
restart once there is space again, with every stored reading on-chain exactly once.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from daemon_process import DaemonProcess
from oracle_helpers import all_reading_events, wait_for

from oracle.config import load_settings
from oracle.daemon import Daemon
from oracle.outbox import Outbox


@pytest.fixture
def small_fs(tmp_path):
    """A 16 MB tmpfs (root only); skipped where mounting is not allowed."""
    mount_point = tmp_path / "small"
    mount_point.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small filesystem")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount_point)],
                            capture_output=True, text=True)
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(directory: Path) -> Path:
    """Writes a file until the filesystem is full; returns it."""
    filler = directory / "filler"
    for size in (65536, 512):  # then the last partial chunk
        try:
            with open(filler, "ab") as handle:
                while True:
                    handle.write(b"\0" * size)
                    handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def _counts(path) -> dict[str, int]:
    try:
        outbox = Outbox(path, read_only=True)
    except sqlite3.Error:
        return {}
    try:
        return outbox.counts()
    except Exception:
        return {}
    finally:
        outbox.close()


def _assert_all_on_chain_once(w3, system, outbox_path, meter_ids) -> int:
    outbox = Outbox(outbox_path, read_only=True)
    events = all_reading_events(w3, system.ledger.address)
    total = 0
    try:
        for meter_id in meter_ids:
            stored = outbox.readings_of(meter_id)
            assert stored and {r.status for r in stored} == {"confirmed"}, outbox.counts()
            assert [r.seq for r in stored] == list(range(1, len(stored) + 1)), "no gaps, no duplicates"
            accepted = [e for e in events if e.meter_id == meter_id and e.accepted]
            assert [(e.seq, e.timestamp, e.import_wh, e.export_wh) for e in accepted] == [
                (r.seq, r.timestamp, r.import_wh, r.export_wh) for r in stored], "each reading applied exactly once"
            on_chain = system.ledger.functions.meter(meter_id).call()
            assert (on_chain[5], on_chain[7], on_chain[8]) == (stored[-1].seq, stored[-1].import_wh,
                                                               stored[-1].export_wh)
            total += len(stored)
    finally:
        outbox.close()
    return total


def test_a_full_disk_stops_the_daemon_loudly_and_it_goes_on_once_space_is_back(create_gateway, system, w3,
                                                                               small_fs):
    settings, info = create_gateway(meters=2, first_meter_id=900, interval_s=0.1,
                                    outbox={"path": str(small_fs / "outbox.sqlite")},
                                    batch={"max_readings": 10, "max_delay_s": 0.1})
    outbox_path = small_fs / "outbox.sqlite"
    daemon = DaemonProcess(settings, info["dir"]).start()
    try:
        wait_for(lambda: _counts(outbox_path).get("confirmed", 0) >= 6, 60, "first confirmations")
        filler = _fill(small_fs)
        code = daemon.wait(60)
        assert code == 3, (code, daemon.stderr()[-2000:])
        last = daemon.events()[-1]
        assert last["event"] == "daemon.exit" and last["exit_code"] == 3
        assert "is full" in last["error"] and str(small_fs) in last["error"], last["error"]
        stopped = [e for e in daemon.events() if e.get("event") in ("meter.store_failed", "daemon.exit")]
        assert stopped, "the fault was reported"
        stored_at_fault = sum(_counts(outbox_path).values())
        assert stored_at_fault >= 6

        filler.unlink()  # space is back: the restart goes on where it stopped
        daemon.start()
        wait_for(lambda: (lambda c: c.get("confirmed", 0) >= stored_at_fault + 6
                          and c.get("confirmed", 0) == sum(c.values()) - c.get("pending", 0) - c.get("batched", 0)
                          )(_counts(outbox_path)), 60, "new readings confirmed after the restart")
        assert daemon.terminate() == 0, daemon.stderr()[-2000:]
    finally:
        if daemon.alive:
            daemon.kill9()
    total = _assert_all_on_chain_once(w3, system, outbox_path, [900, 901])
    assert total >= stored_at_fault + 6


def _corrupt_pages(path: Path) -> None:
    """Overwrites the middle of the file (b-tree pages of the readings) with garbage."""
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.seek(16)
        page = int.from_bytes(handle.read(2), "big")
        page = 65536 if page == 1 else page
        assert size >= 6 * page, size
        for number in range(2, size // page - 1, 2):
            handle.seek(number * page + 8)
            handle.write(b"\xa5" * (page // 3))


def test_a_corrupt_outbox_is_found_moved_aside_and_the_meters_go_on(create_gateway, system, w3):
    raw, info = create_gateway(meters=2, first_meter_id=910, interval_s=0.05,
                               batch={"max_readings": 5, "max_delay_s": 0.05})
    settings = load_settings(None, **raw)
    path = Path(settings.outbox.path)
    daemon = Daemon(settings)
    daemon.start()
    try:
        wait_for(lambda: _counts(path).get("confirmed", 0) >= 10, 60, "confirmed readings")
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30)
    with sqlite3.connect(path) as db:  # more pages, so that the garbage lands inside the file
        db.executemany("INSERT INTO meta VALUES (?, ?)", [(f"pad{i}", "x" * 2000) for i in range(40)])
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    chain_seq = {m: system.ledger.functions.meter(m).call()[5] for m in (910, 911)}
    _corrupt_pages(path)

    again = Daemon(settings)
    again.start()
    try:
        for meter_id in (910, 911):
            wait_for(lambda m=meter_id: system.ledger.functions.meter(m).call()[5] >= chain_seq[m] + 3, 60,
                     f"meter {meter_id} going on after the corrupt outbox")
    finally:
        again.stop()
        assert again.wait_stopped(30)
    assert again.exit_code == 0
    assert list(path.parent.glob("outbox.sqlite.corrupt-*")), "the corrupt file is kept for inspection"
    fresh = Outbox(path, read_only=True)
    try:
        assert fresh.quick_check() == []
    finally:
        fresh.close()


def test_quick_check_runs_at_start_and_names_what_it_found(tmp_path):
    import structlog

    from oracle.outbox import open_outbox

    path = tmp_path / "outbox.sqlite"
    outbox = Outbox(path)
    assert outbox.quick_check() == []
    with outbox._transaction() as db:
        db.executemany("INSERT INTO meta VALUES (?, ?)", [(f"k{i}", "x" * 2000) for i in range(40)])
    outbox.close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _corrupt_pages(path)
    reopened = open_outbox(path, structlog.get_logger("test"))
    try:
        assert reopened.quick_check() == []
    finally:
        reopened.close()
    assert list(tmp_path.glob("outbox.sqlite.corrupt-*"))


def test_a_write_error_is_remembered_and_every_later_write_refused(tmp_path):
    from oracle.errors import StorageError

    outbox = Outbox(tmp_path / "outbox.sqlite")
    outbox._db.execute("PRAGMA max_page_count = 1")  # any write that grows the file fails: SQLITE_FULL
    with pytest.raises(StorageError, match="is full"):
        outbox.set_meta("big", "x" * 100_000)
    assert outbox.fault is not None and "is full" in outbox.fault
    outbox._db.execute("PRAGMA max_page_count = 1073741823")
    with pytest.raises(StorageError):
        outbox.set_meta("small", "y")  # no write after the first fault: the daemon is stopping
    outbox.close()
