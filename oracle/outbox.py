"""The local outbox: every signed reading is stored here before anything is sent.

A reading leaves the backlog only when the transaction that carried it has the
configured number of confirmations, or when the ledger rejected it for good.

Durability: WAL journal with synchronous=FULL. In WAL mode NORMAL survives a killed
process but not a power cut: the last commits can vanish. A vanished reading would
free its sequence number, the next reading would be signed with that number and the
ledger would drop it as AlreadyApplied; a vanished batch record would forget a sent
transaction. Gateways lose power, and a reading every few seconds is no load for
an fsync, so FULL it is.

State machine (readings): pending -> batched -> confirmed | rejected, and back to
pending when its batch is abandoned (dropped transaction, revert).
Batches: prepared (signed, recorded, maybe not broadcast) -> sent -> mined ->
settled; or -> abandoned.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from energo.readings import SignedReading
from oracle.errors import StorageError

SCHEMA_VERSION = 1
PAGE_SIZE = 512
#: Pages written again and again between checkpoints reach the file once per checkpoint.
WAL_AUTOCHECKPOINT_PAGES = 4000
#: A commit of buffered readings happens at the latest with this many.
MAX_BUFFERED = 500
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tx_id TEXT NOT NULL,
    envelope BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('prepared', 'sent', 'mined', 'settled', 'abandoned')),
    size INTEGER NOT NULL,
    block_number INTEGER,
    block_hash TEXT,
    created_at REAL NOT NULL,
    sent_at REAL,
    note TEXT
);
CREATE TABLE IF NOT EXISTS readings (
    meter_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    import_wh INTEGER NOT NULL,
    export_wh INTEGER NOT NULL,
    state_of_charge_wh INTEGER NOT NULL,
    record BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'batched', 'confirmed', 'rejected')),
    batch_id INTEGER REFERENCES batches(id),
    reason TEXT,
    created_at REAL NOT NULL,
    resolved_at REAL,
    PRIMARY KEY (meter_id, seq)
);
DROP INDEX IF EXISTS readings_open;
CREATE INDEX IF NOT EXISTS readings_pending ON readings (status) WHERE status = 'pending';
DROP INDEX IF EXISTS readings_batch;
CREATE INDEX IF NOT EXISTS readings_in_batch ON readings (batch_id) WHERE status = 'batched';
CREATE INDEX IF NOT EXISTS batches_open ON batches (status) WHERE status IN ('prepared', 'sent', 'mined');
"""


@dataclass(frozen=True)
class StoredReading:
    meter_id: int
    seq: int
    timestamp: int
    import_wh: int
    export_wh: int
    state_of_charge_wh: int
    record: bytes
    status: str
    created_at: float

    @property
    def key(self) -> tuple[int, int]:
        return (self.meter_id, self.seq)


@dataclass(frozen=True)
class Batch:
    id: int
    tx_id: str
    envelope: bytes
    status: str
    size: int
    block_number: int | None
    block_hash: str | None
    created_at: float
    sent_at: float | None


@dataclass(frozen=True)
class Settlement:
    """The final word on one reading of a settled batch."""

    meter_id: int
    seq: int
    status: str  # confirmed | rejected
    reason: str


class Outbox:
    def __init__(self, path: Path | str, read_only: bool = False, commit_interval_s: float = 0.0,
                 monotonic: Callable[[], float] = time.monotonic):
        self.path = Path(path)
        self._monotonic = monotonic
        #: New readings are committed together at most this long after the first of them
        #: (0: each at once). Wear: one commit per reading rewrote ~24 KB of pages.
        self.commit_interval_s = commit_interval_s
        self._buffer: list[tuple] = []
        self._buffer_since: float | None = None
        #: The first write or read error; set once, the outbox then refuses every write.
        self.fault: str | None = None
        if read_only:
            self._db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        # Meter threads and the submitter share one connection; the lock makes each
        # method one serialised transaction.
        self._lock = threading.RLock()
        self._db.execute("PRAGMA busy_timeout = 10000")
        if not read_only:
            # Small pages for a new file: a commit rewrites whole pages (SD-card wear).
            self._db.execute(f"PRAGMA page_size = {PAGE_SIZE}")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.executescript(_SCHEMA)
            self._check_version()

    def _check_version(self) -> None:
        with self._transaction() as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) != SCHEMA_VERSION:
                raise RuntimeError(f"outbox {self.path} has schema {row[0]}, this daemon knows {SCHEMA_VERSION}")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._writable()
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    if self._db.in_transaction:  # SQLite may have rolled back already (disk full)
                        self._db.execute("ROLLBACK")
                    raise
                else:
                    self._db.execute("COMMIT")
            except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
                raise  # our mistake (a duplicate key, a closed outbox), not the store's
            except sqlite3.Error as exc:
                raise self._storage_fault("write", exc) from exc

    def _query(self, sql: str, args: Iterable = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._db.execute(sql, tuple(args)).fetchall()
            except (sqlite3.IntegrityError, sqlite3.ProgrammingError):
                raise
            except sqlite3.DatabaseError as exc:
                raise self._storage_fault("read", exc) from exc

    def _writable(self) -> None:
        if self.fault is not None:
            raise StorageError(self.fault)

    def _storage_fault(self, action: str, exc: sqlite3.Error) -> StorageError:
        """Remembers the first fault: after it no write is tried (the daemon stops and exits)."""
        message = f"outbox {self.path}: cannot {action}: {exc} ({explain_sqlite_error(exc, self.path)})"
        if self.fault is None:
            self.fault = message
        return StorageError(message)

    def quick_check(self) -> list[str]:
        """``PRAGMA quick_check``: [] when the file is sound, else SQLite's findings."""
        with self._lock:
            try:
                rows = self._db.execute("PRAGMA quick_check").fetchall()
            except sqlite3.DatabaseError as exc:
                return [str(exc)]
        findings = [str(row[0]) for row in rows]
        return [] if findings == ["ok"] else findings

    def close(self) -> None:
        with self._lock:
            if self._buffer and self.fault is None:
                try:
                    self.flush()
                except StorageError:
                    pass  # already remembered and reported
            self._db.close()

    # ------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                       (key, value))

    # ------------------------------------------------------------------ readings

    def last_reading(self, meter_id: int) -> StoredReading | None:
        rows = self._query(f"SELECT {_READING_COLUMNS} FROM readings WHERE meter_id = ? ORDER BY seq DESC LIMIT 1",
                           (meter_id,))
        return _reading(rows[0]) if rows else None

    def reading(self, meter_id: int, seq: int) -> StoredReading | None:
        rows = self._query(f"SELECT {_READING_COLUMNS} FROM readings WHERE meter_id = ? AND seq = ?", (meter_id, seq))
        return _reading(rows[0]) if rows else None

    def append(self, signed: SignedReading, now: float | None = None) -> None:
        """Stores a newly signed reading; its (meter, seq) must be new.

        With a commit interval the reading is buffered and committed with others (by
        `flush_due`, called from the submit loop, or here): a reading still in the buffer
        was never sent, so a crash loses nothing that matters (the registers only go up,
        the next reading covers it). Only committed readings are ever sent."""
        r = signed.reading
        row = (r.meter_id, r.seq, r.timestamp, r.import_wh, r.export_wh, r.state_of_charge_wh, signed.record(),
               time.time() if now is None else now)
        with self._lock:
            self._writable()
            self._buffer.append(row)
            if self._buffer_since is None:
                self._buffer_since = self._monotonic()
            if self.commit_interval_s <= 0 or len(self._buffer) >= MAX_BUFFERED:
                self.flush()
            else:
                self.flush_due()

    def flush_due(self) -> None:
        """Commits the buffered readings once the oldest waited commit_interval_s."""
        with self._lock:
            if self._buffer_since is not None and self._monotonic() - self._buffer_since >= self.commit_interval_s:
                self.flush()

    def flush(self) -> None:
        """Commits the buffered readings now (one transaction, one fsync)."""
        with self._lock:
            rows, self._buffer, self._buffer_since = self._buffer, [], None
            if not rows:
                return
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO readings (meter_id, seq, timestamp, import_wh, export_wh, state_of_charge_wh,"
                    " record, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)", rows)

    def pending(self, limit: int) -> list[StoredReading]:
        # Insertion (rowid) order keeps each meter's readings in sequence order, even if
        # the wall clock behind created_at steps backwards.
        rows = self._query(
            f"SELECT {_READING_COLUMNS} FROM readings WHERE status = 'pending' ORDER BY rowid LIMIT ?", (limit,))
        return [_reading(row) for row in rows]

    def pending_count(self) -> int:
        return self._query("SELECT count(*) FROM readings WHERE status = 'pending'")[0][0]

    def oldest_pending_created_at(self) -> float | None:
        return self._query("SELECT min(created_at) FROM readings WHERE status = 'pending'")[0][0]

    def backlog(self) -> int:
        """Readings not yet confirmed or rejected."""
        # Two counts, each on its own partial index.
        return (self._query("SELECT count(*) FROM readings WHERE status = 'pending'")[0][0]
                + self._query("SELECT count(*) FROM readings WHERE status = 'batched'")[0][0])

    def counts(self) -> dict[str, int]:
        return dict(self._query("SELECT status, count(*) FROM readings GROUP BY status"))

    def readings_of(self, meter_id: int) -> list[StoredReading]:
        rows = self._query(f"SELECT {_READING_COLUMNS} FROM readings WHERE meter_id = ? ORDER BY seq", (meter_id,))
        return [_reading(row) for row in rows]

    def last_confirmed(self) -> dict[int, StoredReading]:
        rows = self._query(
            f"SELECT {_READING_COLUMNS} FROM readings r WHERE status = 'confirmed' AND seq = "
            "(SELECT max(seq) FROM readings WHERE meter_id = r.meter_id AND status = 'confirmed')")
        return {row[0]: _reading(row) for row in rows}

    def last_confirmed_timestamp_of(self, meter_id: int) -> int | None:
        rows = self._query("SELECT timestamp FROM readings WHERE meter_id = ? AND status = 'confirmed'"
                           " ORDER BY seq DESC LIMIT 1", (meter_id,))
        return rows[0][0] if rows else None

    def last_confirmed_timestamp(self) -> int | None:
        return self._query("SELECT max(timestamp) FROM readings WHERE status = 'confirmed'")[0][0]

    def prune_confirmed(self, older_than: float) -> int:
        """Deletes resolved readings resolved before `older_than`, keeping each meter's last."""
        with self._transaction() as db:
            cursor = db.execute(
                "DELETE FROM readings WHERE status IN ('confirmed', 'rejected') AND resolved_at < ? AND seq < "
                "(SELECT max(seq) FROM readings m WHERE m.meter_id = readings.meter_id)", (older_than,))
            db.execute("DELETE FROM batches WHERE status IN ('settled', 'abandoned') AND created_at < ? AND id NOT IN"
                       " (SELECT batch_id FROM readings WHERE batch_id IS NOT NULL)", (older_than,))
            return cursor.rowcount

    # ------------------------------------------------------------------ batches

    def record_batch(self, keys: list[tuple[int, int]], tx_id: str, envelope: bytes,
                     now: float | None = None) -> int:
        """Records a signed, not yet broadcast transaction and ties its readings to it."""
        now = time.time() if now is None else now
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO batches (tx_id, envelope, status, size, created_at) VALUES (?, ?, 'prepared', ?, ?)",
                (tx_id, envelope, len(keys), now))
            batch_id = cursor.lastrowid
            assert batch_id is not None  # an INSERT sets it
            changed = db.executemany(
                "UPDATE readings SET status = 'batched', batch_id = ? WHERE meter_id = ? AND seq = ?"
                " AND status = 'pending'", [(batch_id, meter_id, seq) for meter_id, seq in keys]).rowcount
            if changed != len(keys):
                raise RuntimeError(f"batch {batch_id}: {len(keys) - changed} readings were no longer pending")
            return batch_id

    def mark_sent(self, batch_id: int, now: float | None = None) -> None:
        with self._transaction() as db:
            db.execute("UPDATE batches SET status = 'sent', sent_at = ? WHERE id = ? AND status IN ('prepared', 'sent')",
                       (time.time() if now is None else now, batch_id))

    def mark_mined(self, batch_id: int, block_number: int, block_hash: str) -> None:
        with self._transaction() as db:
            db.execute("UPDATE batches SET status = 'mined', block_number = ?, block_hash = ? WHERE id = ?",
                       (block_number, block_hash, batch_id))

    def mark_unmined(self, batch_id: int) -> None:
        """A reorganisation took the transaction out of the chain: it is in flight again."""
        with self._transaction() as db:
            db.execute("UPDATE batches SET status = 'sent', block_number = NULL, block_hash = NULL WHERE id = ?",
                       (batch_id,))

    def abandon_batch(self, batch_id: int, note: str) -> int:
        """The transaction can never be mined: its readings go back to pending."""
        with self._transaction() as db:
            db.execute("UPDATE batches SET status = 'abandoned', note = ? WHERE id = ?", (note, batch_id))
            return db.execute("UPDATE readings SET status = 'pending', batch_id = NULL WHERE batch_id = ?"
                              " AND status = 'batched'", (batch_id,)).rowcount

    def settle_batch(self, batch_id: int, settlements: list[Settlement], now: float | None = None) -> int:
        """Applies the ledger's verdicts; readings without one go back to pending.

        Returns how many readings went back to pending.
        """
        now = time.time() if now is None else now
        with self._transaction() as db:
            db.executemany(
                "UPDATE readings SET status = ?, reason = ?, resolved_at = ? WHERE meter_id = ? AND seq = ?"
                " AND batch_id = ? AND status = 'batched'",
                [(s.status, s.reason, now, s.meter_id, s.seq, batch_id) for s in settlements])
            returned = db.execute("UPDATE readings SET status = 'pending', batch_id = NULL WHERE batch_id = ?"
                                  " AND status = 'batched'", (batch_id,)).rowcount
            db.execute("UPDATE batches SET status = 'settled' WHERE id = ?", (batch_id,))
            return returned

    def settled_since(self, block_number: int) -> list[Batch]:
        """Settled batches mined at or after `block_number` (a reorganisation may still take them)."""
        rows = self._query(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE status = 'settled' AND block_number >= ?"
                           " ORDER BY id", (block_number,))
        return [Batch(*row) for row in rows]

    def unsettle(self, batch_id: int) -> int:
        """A reorganisation deeper than the confirmations took a settled batch: its readings
        are in flight again (the same transaction is broadcast again). Returns how many."""
        with self._transaction() as db:
            db.execute("UPDATE batches SET status = 'sent', block_number = NULL, block_hash = NULL, sent_at = NULL"
                       " WHERE id = ? AND status = 'settled'", (batch_id,))
            return db.execute("UPDATE readings SET status = 'batched', reason = NULL, resolved_at = NULL"
                              " WHERE batch_id = ? AND status IN ('confirmed', 'rejected')", (batch_id,)).rowcount

    def open_batches(self) -> list[Batch]:
        rows = self._query(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE status IN ('prepared', 'sent', 'mined')"
                           " ORDER BY id")
        return [Batch(*row) for row in rows]

    def batch(self, batch_id: int) -> Batch:
        return Batch(*self._query(f"SELECT {_BATCH_COLUMNS} FROM batches WHERE id = ?", (batch_id,))[0])

    def batch_keys(self, batch_id: int) -> list[tuple[int, int]]:
        return [tuple(row) for row in self._query(
            "SELECT meter_id, seq FROM readings WHERE batch_id = ? ORDER BY rowid", (batch_id,))]


def open_outbox(path: Path | str, log) -> Outbox:
    """Opens the outbox after ``PRAGMA quick_check``; a corrupt file is moved aside.

    The readings still readable from a corrupt file that were not yet confirmed are
    copied into the new outbox (sending one twice is harmless: AlreadyApplied); the
    meters' baselines then come from the chain, as after a lost outbox.
    Raises StorageError when the store cannot be used at all (disk full, I/O error).
    """
    path = Path(path)
    problem: str | None = None
    try:
        outbox = Outbox(path)
    except sqlite3.DatabaseError as exc:
        if not _looks_corrupt(exc):
            raise StorageError(f"outbox {path}: cannot open: {exc} ({explain_sqlite_error(exc, path)})") from None
        problem = str(exc)
    else:
        findings = outbox.quick_check()
        if not findings:
            return outbox
        outbox.close()
        problem = "; ".join(findings[:5])
    quarantine = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
    salvaged = _salvage(path)
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            source.rename(quarantine.with_name(quarantine.name + suffix))
    outbox = Outbox(path)
    for row in salvaged:
        with outbox._transaction() as db:
            db.execute(f"INSERT OR IGNORE INTO readings ({_READING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                       row[:7] + row[8:])
    log.error("outbox.corrupt", outbox=str(path), moved_to=str(quarantine), findings=problem,
              readings_salvaged=len(salvaged),
              detail="started a new outbox; unconfirmed readings that could be read are sent again, the meters "
                     "continue from the chain's state")
    return outbox


def _looks_corrupt(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return "malformed" in text or "not a database" in text or "corrupt" in text


def _salvage(path: Path) -> list[tuple]:
    """Unconfirmed readings still readable from a corrupt outbox (row by row, best effort)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return []
    rows: list[tuple] = []
    try:
        rows = db.execute(f"SELECT {_READING_COLUMNS} FROM readings WHERE status IN ('pending', 'batched')"
                          " ORDER BY rowid").fetchall()
    except sqlite3.DatabaseError:
        try:  # the index may be what is broken: walk the table itself
            for row in db.execute(f"SELECT {_READING_COLUMNS} FROM readings NOT INDEXED ORDER BY rowid"):
                if row[7] in ("pending", "batched"):
                    rows.append(row)
        except sqlite3.DatabaseError:
            pass
    finally:
        db.close()
    return rows


def explain_sqlite_error(exc: sqlite3.Error, path: Path) -> str:
    """What the operator should do about a SQLite error on the outbox."""
    text = str(exc).lower()
    if "full" in text:
        return f"the filesystem holding {path.parent} is full: free space there; the daemon goes on after a restart"
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return ("the file is corrupt: the daemon moves it aside and starts a new outbox from the chain's state at its "
                "next start (runbook: docs/gateway-install.md, 'Outbox corruption')")
    if "i/o" in text or "disk" in text:
        return f"an I/O error on the device holding {path}: check the storage (dmesg, SMART) before restarting"
    if "readonly" in text or "read-only" in text or "permission" in text:
        return f"{path} is not writable by this user"
    return "the outbox cannot be used until this is fixed"


_READING_COLUMNS = ("meter_id, seq, timestamp, import_wh, export_wh, state_of_charge_wh, record, status,"
                    " created_at")
_BATCH_COLUMNS = "id, tx_id, envelope, status, size, block_number, block_hash, created_at, sent_at"


def _reading(row: tuple) -> StoredReading:
    return StoredReading(*row)
