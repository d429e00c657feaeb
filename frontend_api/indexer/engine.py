"""The indexer: follows the contracts' logs into the database.

Each step, in order:

1. Reorg check: the hash recorded for the cursor block must still be the chain's. If
   the node answers with another hash, walk back through the recorded hashes to the
   newest block both agree on (the fork point), delete every indexed row above it, and
   continue from there. An RPC failure (refused, timed out, an error answer) is never a
   reorg: the step fails, nothing is deleted, the loop retries with a capped backoff and
   the index is reported stale meanwhile. A node whose head is below the cursor (still
   syncing, or a lagging node behind a load balancer) is waited for, not rolled back to.
2. Index ``cursor+1 .. head-confirmations`` (at most ``batch_blocks`` per step) with
   one eth_getLogs, decoding through the handlers, and move the cursor, all in one
   database transaction. A crash between steps loses nothing and doubles nothing:
   the cursor and the rows move together, so a restart resumes where it stopped.

Block hashes are recorded for the batch end and for every block that had logs, which
is what the reorg check compares.

Logs are applied in (block, transaction index, log index) order: Janus numbers
``logIndex`` per receipt and qtumd returns a block's logs grouped by contract, so the
log index alone orders nothing. The stored ``log_index`` is the log's position among
the indexed logs of its block in that order. Meter state comes from events and from the
registering transaction's calldata, never from a historical ``eth_call`` (Janus ignores
the block tag).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog
from hexbytes import HexBytes
from sqlalchemy import Connection, Engine, delete, insert, select, update
from web3 import Web3
from web3._utils.events import get_event_data
from web3.exceptions import BlockNotFound

from frontend_api.indexer import schema

log = structlog.get_logger("frontend_api.indexer")

#: Recorded block hashes kept for reorg detection (a deeper reorg re-indexes from the start).
KEEP_BLOCK_HASHES = 4_096


class IndexerError(RuntimeError):
    pass


class IndexMismatch(IndexerError):
    """The database already holds the index of another chain or deployment."""


class NodeBehind(IndexerError):
    """The node's head is below the indexed block: wait for it, never roll back to it."""


@dataclass
class DecodedLog:
    name: str
    args: dict[str, Any]
    address: str
    block_number: int
    log_index: int
    tx_hash: str
    timestamp: int
    tx_index: int = 0


Handler = Callable[[Connection, DecodedLog, "BatchState"], None]


@dataclass
class EventSource:
    """One contract: its address, ABI and a handler per event name."""

    address: str
    abi: list[dict]
    handlers: dict[str, Handler]
    #: Its handlers read the transactions of its logs (BatchState.transactions).
    needs_transactions: bool = False

    def topics(self) -> dict[bytes, dict]:
        out = {}
        for item in self.abi:
            if item.get("type") == "event" and item["name"] in self.handlers and not item.get("anonymous"):
                types = ",".join(_abi_type(i) for i in item["inputs"])
                out[bytes(Web3.keccak(text=f"{item['name']}({types})"))] = item
        return out


def log_order(item: Any) -> tuple[int, int, int]:
    """(block, transaction index, log index): the order in which the chain applied the logs,
    whether the node numbers log indexes per block (anvil, geth) or per receipt (Janus)."""
    return (int(item["blockNumber"]), int(item.get("transactionIndex") or 0), int(item["logIndex"]))


def _abi_type(param: dict) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + param["type"][5:]
    return param["type"]


@dataclass
class BatchState:
    """Scratch state shared by the handlers within one transaction."""

    w3: Web3 | None = None  # for the handlers' last-resort reads of current state
    last_registers: dict[int, tuple[int, int]] = field(default_factory=dict)
    meter_kinds: dict[int, str] = field(default_factory=dict)
    #: The batch's transactions that emitted ledger logs, by hash (sender, to, input).
    transactions: dict[str, Any] = field(default_factory=dict)
    #: Readings counted per transaction hash in this batch (reading_txs rows).
    reading_txs: dict[str, int] = field(default_factory=dict)


@dataclass
class SyncResult:
    from_block: int
    to_block: int
    logs: int
    reorg_depth: int = 0


class Indexer:
    def __init__(
        self,
        w3: Web3,
        engine: Engine,
        sources: list[EventSource],
        *,
        chain_id: int,
        confirmations: int = 0,
        start_block: int = 0,
        batch_blocks: int = 2_000,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.w3 = w3
        self.engine = engine
        self.sources = sources
        self.chain_id = chain_id
        self.confirmations = confirmations
        self.start_block = start_block
        self.batch_blocks = batch_blocks
        self.poll_interval_s = poll_interval_s
        self._by_address: dict[str, tuple[EventSource, dict[bytes, dict]]] = {
            Web3.to_checksum_address(s.address): (s, s.topics()) for s in sources
        }
        self.full_tx_addresses = {Web3.to_checksum_address(s.address) for s in sources if s.needs_transactions}
        # The genesis hash tells a restarted local chain (same addresses, new history) apart.
        genesis = Web3.to_hex(w3.eth.get_block(0)["hash"])
        self.identity = genesis + ":" + ",".join(sorted(self._by_address))
        self.head: int | None = None
        self.last_error: str | None = None
        self.last_step_at: float | None = None
        #: Wall time of the last step that reached the node and committed (or found nothing to do).
        self.last_success_at: float | None = None
        self.failures = 0
        self.reorgs = 0
        self.last_reorg_depth = 0
        #: Longest wait between retries while the node fails.
        self.max_backoff_s = 30.0
        self._stop = threading.Event()
        self._step_lock = threading.Lock()
        #: Called with the new cursor after each committed step (the API warms its cache).
        self.on_step: list[Callable[[int], None]] = []  # the loop and a caller's sync_to_head never interleave
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ cursor

    def indexed_block(self) -> int | None:
        """The highest block fully in the index, None before the first step."""
        with self.engine.connect() as conn:
            row = conn.execute(select(schema.cursor.c.block_number).where(schema.cursor.c.id == 1)).first()
        return row[0] if row else None

    def _cursor(self, conn: Connection):
        return conn.execute(select(schema.cursor).where(schema.cursor.c.id == 1)).first()

    def check_identity(self) -> None:
        with self.engine.begin() as conn:
            row = self._cursor(conn)
            if row and (row.chain_id != self.chain_id or row.contracts != self.identity):
                raise IndexMismatch(
                    f"the database indexes chain {row.chain_id} (genesis:contracts {row.contracts}), not chain "
                    f"{self.chain_id} ({self.identity}): a restarted chain or another deployment; give it its "
                    "own database (or delete this one to re-index)"
                )

    def _set_cursor(self, conn: Connection, number: int, block_hash: str) -> None:
        values = {"block_number": number, "block_hash": block_hash}
        done = conn.execute(update(schema.cursor).where(schema.cursor.c.id == 1).values(**values)).rowcount
        if not done:
            conn.execute(insert(schema.cursor).values(id=1, chain_id=self.chain_id, contracts=self.identity,
                                                      **values))

    # ------------------------------------------------------------ reorgs

    def _chain_hash(self, number: int) -> str | None:
        """The node's hash of block `number`; None only when the node says there is no
        such block. A transport or RPC failure raises: it says nothing about the chain."""
        try:
            block = self.w3.eth.get_block(number)
        except BlockNotFound:
            return None
        return Web3.to_hex(block["hash"])

    def _handle_reorg(self) -> int:
        """Rolls back to the fork point if the cursor block was replaced; returns the depth."""
        with self.engine.connect() as conn:
            row = self._cursor(conn)
        if row is None:
            return 0
        current = self._chain_hash(row.block_number)
        if current == row.block_hash:
            return 0
        if current is None:
            head = self.w3.eth.block_number
            if head < row.block_number:
                raise NodeBehind(f"the node's head {head} is below the indexed block {row.block_number}: waiting "
                                 "for it (a node still syncing, or a lagging node behind a load balancer)")
            return 0  # it appeared meanwhile: the next step checks again
        fork = self.start_block - 1
        with self.engine.connect() as conn:
            recorded = conn.execute(
                select(schema.blocks.c.block_number, schema.blocks.c.block_hash)
                .where(schema.blocks.c.block_number <= row.block_number)
                .order_by(schema.blocks.c.block_number.desc())
            ).all()
        for number, block_hash in recorded:
            if self._chain_hash(number) == block_hash:  # an RPC failure raises: nothing deleted
                fork = number
                break
        fork_hash = self._chain_hash(fork) if fork >= self.start_block else None
        with self.engine.begin() as conn:
            for table in schema.LOG_TABLES:
                conn.execute(delete(table).where(table.c.block_number > fork))
            conn.execute(delete(schema.blocks).where(schema.blocks.c.block_number > fork))
            if fork >= self.start_block:
                self._set_cursor(conn, fork, fork_hash or "")
            else:
                conn.execute(delete(schema.cursor))
        depth = row.block_number - fork
        self.reorgs += 1
        self.last_reorg_depth = depth
        for callback in self.on_step:
            try:
                callback(max(fork, -1))
            except Exception:  # noqa: BLE001
                log.exception("on_step_failed")
        log.warning("reorg_rolled_back", fork_block=fork, old_cursor=row.block_number, depth=depth)
        return depth

    # ------------------------------------------------------------ one step

    def sync_once(self) -> SyncResult | None:
        """One reorg check and one batch; None when already at the confirmed head."""
        with self._step_lock:
            return self._sync_once()

    def _sync_once(self) -> SyncResult | None:
        depth = self._handle_reorg()
        head = self.w3.eth.block_number
        self.head = head
        target = head - self.confirmations
        current = self.indexed_block()
        start = self.start_block if current is None else current + 1
        if start > target:
            self.last_step_at = self.last_success_at = time.time()
            return SyncResult(start, start - 1, 0, depth) if depth else None
        end = min(target, start + self.batch_blocks - 1)
        end_block = self.w3.eth.get_block(end)
        addresses = list(self._by_address)
        raw_logs = self.w3.eth.get_logs({"fromBlock": start, "toBlock": end, "address": addresses})
        if Web3.to_hex(self.w3.eth.get_block(end)["hash"]) != Web3.to_hex(end_block["hash"]):
            log.info("head_moved_during_step", end=end)  # a reorg under us: retry next step
            return None
        blocks = {end: (Web3.to_hex(end_block["hash"]), end_block["timestamp"])}
        # Blocks with ledger logs are read with their transactions: the senders are the
        # gateways, and a registration's calldata holds the meter's installation registers.
        full = {item["blockNumber"] for item in raw_logs
                if Web3.to_checksum_address(item["address"]) in self.full_tx_addresses}
        transactions: dict[str, Any] = {}
        fetched: set[int] = set()
        for item in raw_logs:
            number = item["blockNumber"]
            if number not in fetched:
                block = self.w3.eth.get_block(number, full_transactions=number in full)
                blocks[number] = (Web3.to_hex(block["hash"]), block["timestamp"])
                fetched.add(number)
                if number in full:
                    for tx in block["transactions"]:
                        transactions[Web3.to_hex(tx["hash"])] = tx
            if Web3.to_hex(item["blockHash"]) != blocks[number][0]:
                log.info("log_from_replaced_block", block=number)
                return None
        decoded = list(self._decode(raw_logs, blocks))
        with self.engine.begin() as conn:
            state = BatchState(w3=self.w3, transactions=transactions)
            for item in decoded:
                source, _ = self._by_address[item.address]
                source.handlers[item.name](conn, item, state)
            for number, (block_hash, timestamp) in blocks.items():
                conn.execute(delete(schema.blocks).where(schema.blocks.c.block_number == number))
                conn.execute(insert(schema.blocks).values(block_number=number, block_hash=block_hash,
                                                          timestamp=timestamp))
            conn.execute(delete(schema.blocks).where(schema.blocks.c.block_number < end - KEEP_BLOCK_HASHES))
            self._set_cursor(conn, end, blocks[end][0])
        self.last_step_at = self.last_success_at = time.time()
        for callback in self.on_step:
            try:
                callback(end)
            except Exception:  # noqa: BLE001 - a listener never stops indexing
                log.exception("on_step_failed")
        if decoded:
            log.info("indexed", from_block=start, to_block=end, logs=len(decoded), head=head)
        return SyncResult(start, end, len(decoded), depth)

    def _decode(self, raw_logs: Iterable[dict], blocks: dict[int, tuple[str, int]]) -> Iterable[DecodedLog]:
        position: dict[int, int] = {}
        for item in sorted(raw_logs, key=log_order):
            address = Web3.to_checksum_address(item["address"])
            entry = self._by_address.get(address)
            if entry is None or not item["topics"]:
                continue
            source, topics = entry
            event_abi = topics.get(bytes(HexBytes(item["topics"][0])))
            if event_abi is None:
                continue
            data = get_event_data(self.w3.codec, event_abi, item)
            number = item["blockNumber"]
            ordinal = position.get(number, 0)
            position[number] = ordinal + 1
            yield DecodedLog(
                name=event_abi["name"],
                args=dict(data["args"]),
                address=address,
                block_number=number,
                log_index=ordinal,
                tx_hash=Web3.to_hex(item["transactionHash"]),
                timestamp=blocks[number][1],
                tx_index=int(item.get("transactionIndex") or 0),
            )

    def sync_to_head(self, max_steps: int = 10_000) -> int:
        """Steps until caught up with the confirmed head (tests, start-up); returns the cursor."""
        for _ in range(max_steps):
            if self.sync_once() is None:
                break
        return self.indexed_block() or 0

    # ------------------------------------------------------------ the loop

    def backoff_s(self) -> float:
        """The wait before the next try: the poll interval, doubled per failure, capped."""
        if self.failures == 0:
            return self.poll_interval_s
        return min(self.max_backoff_s, self.poll_interval_s * 2 ** min(self.failures, 10))

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.sync_once() is not None and not self._stop.is_set():
                    pass
                self.failures = 0
                self.last_error = None
                self.last_success_at = time.time()
            except IndexMismatch:
                raise
            except Exception as exc:  # noqa: BLE001 - the node may be down: keep the index, retry with backoff
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("index_step_failed", error=self.last_error, failures=self.failures,
                            retry_in_s=self.backoff_s())
            self._stop.wait(self.backoff_s())

    def start(self) -> None:
        self.check_identity()
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="energo-indexer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
