"""Moving readings from the outbox onto the chain, crash-safely.

Order of work for a new batch, and why it survives a crash at any point:
1. sign the transaction (nothing is visible yet: a crash loses nothing),
2. record it in the outbox with its readings (from now on a restart re-broadcasts the
   very same bytes, so the same nonce and hash),
3. broadcast,
4. wait for the receipt, then for the configured confirmations, checking the block
   hash again so a reorganisation puts the batch back in flight,
5. settle: each reading is confirmed (accepted, or AlreadyApplied by an earlier
   submission) or rejected for good with the ledger's reason.

Sending a reading twice is harmless (the ledger answers AlreadyApplied), so every
doubt is resolved by sending again, never by guessing that something was sent.
"""

from __future__ import annotations

import time

from energo.readings import UNSIGNED_RECORD_SIZE, ReadingSigner, decode_reading_events
from oracle.config import BatchSettings, ChainSettings
from oracle.errors import SenderUnfunded
from oracle.ledger import LedgerClient, submit_batch_calldata, submit_readings_calldata
from oracle.metrics import Metrics
from oracle.outbox import Batch, Outbox, Settlement, StoredReading
from oracle.transport.base import Broadcast, CallReverted, GasCapExceeded, TransportError, TxOutcome


class BatchReverted(TransportError):
    """A batch transaction was mined but reverted as a whole (paused ledger, out of gas)."""


class BatchWouldRevert(TransportError):
    """The gas estimate says the batch would revert as a whole."""


#: Node messages that mean the sender cannot pay (geth/anvil estimate and send, Janus).
_UNFUNDED = ("exceeds allowance", "insufficient funds", "insufficient balance", "not enough balance")
#: Gas a batch needs at most per reading and per transaction, for the "fund with" figure
#: (docs/ledger.md measures about 33,000 per reading at a batch of 50 with a signature each,
#: less as one gateway-signed batch).
_GAS_PER_READING = 40_000
_GAS_PER_BATCH = 60_000
#: The sender's balance is read for the metric this often.
BALANCE_EVERY_S = 30.0
#: Settled batches are checked again for this many blocks past their confirmations, this
#: often: a reorganisation deeper than the confirmations puts their readings back in flight.
REORG_WINDOW_BLOCKS = 30
REORG_CHECK_EVERY_S = 60.0


def batch_calldata(readings: list[StoredReading], gateway: ReadingSigner | None,
                   gateway_meters: frozenset[int]) -> bytes:
    """`submitBatch` with one gateway signature when the gateway's key signs for every
    meter of the batch; otherwise `submitReadings` with each reading's own signature.
    Readings go in (meter, seq) order: the same readings make the same calldata (and so the
    same signature and gas) whichever order the meters' threads stored them in."""
    readings = sorted(readings, key=lambda r: (r.meter_id, r.seq))
    if gateway is not None and all(r.meter_id in gateway_meters for r in readings):
        # A stored record starts with the 40 bytes of its unsigned form.
        return submit_batch_calldata(gateway.sign_batch(b"".join(r.record[:UNSIGNED_RECORD_SIZE] for r in readings)))
    return submit_readings_calldata(b"".join(r.record for r in readings))


def _unfunded_message(message: str) -> bool:
    return any(marker in message.lower() for marker in _UNFUNDED)


class Submitter:
    def __init__(
        self,
        outbox: Outbox,
        ledger: LedgerClient,
        chain: ChainSettings,
        batch: BatchSettings,
        metrics: Metrics,
        log,
        wall_clock=time.time,
        batch_signer: ReadingSigner | None = None,
        batch_meters: frozenset[int] = frozenset(),
    ):
        self.outbox = outbox
        #: The gateway's key, which signs for the meters in `batch_meters` (those with no
        #: key of their own): a batch of only such meters goes as one signature.
        self.batch_signer = batch_signer
        self.batch_meters = batch_meters if batch_signer is not None else frozenset()
        self.ledger = ledger
        self.transport = ledger.transport
        self.chain = chain
        self.batch_settings = batch
        self.metrics = metrics
        self.log = log
        self.now = wall_clock
        # After a start every unmined batch is broadcast again at once: the node may
        # have restarted and forgotten its mempool while we were down.
        self._rebroadcast_all = True
        # Readings per batch that fit the transport's gas cap (max_tx_gas), once a batch did not.
        self._gas_cap_readings: int | None = None
        self._next_balance = 0.0
        self._next_reorg_check = 0.0
        self.transport.restore([b.envelope for b in outbox.open_batches() if b.status in ("prepared", "sent")])

    # ------------------------------------------------------------------ one pass

    def tick(self, draining: bool = False) -> None:
        head = self.transport.head()
        self.metrics.chain_head.set(head)
        self._track(head)
        self._recheck_settled(head)
        self._rebroadcast_all = False
        self._watch_balance()
        self._send_new(draining)
        self.metrics.pending_nonces.set(self.in_flight())

    def in_flight(self) -> int:
        return sum(1 for b in self.outbox.open_batches() if b.status in ("prepared", "sent"))

    # ------------------------------------------------------------------ the sender's coins

    def balance(self) -> int | None:
        """The sender's balance in the chain's smallest unit, if the transport can tell."""
        read = getattr(self.transport, "balance", None)
        if read is None:
            return None
        return int(read())

    def _watch_balance(self) -> None:
        now = self.now()
        if now < self._next_balance:
            return
        self._next_balance = now + BALANCE_EVERY_S
        balance = self.balance()
        if balance is not None:
            self.metrics.sender_balance.set(balance)

    def unfunded(self, readings: int, node_message: str) -> SenderUnfunded:
        """The operator's version of "gas required exceeds allowance: 0": who to fund, with how much."""
        gas = int((_GAS_PER_BATCH + _GAS_PER_READING * readings) * self.chain.gas_margin)
        needed = gas * self.chain.gas_price_wei
        try:
            balance = self.balance()
        except TransportError:
            balance = None
        if balance is not None:
            self.metrics.sender_balance.set(balance)
        has = "an unknown balance" if balance is None else f"{balance} wei ({balance / 1e18:.6f} coins)"
        return SenderUnfunded(
            f"the sender {self.transport.sender} cannot pay for gas: it has {has}, and a batch of {readings} readings "
            f"needs up to {needed} wei ({needed / 1e18:.6f} coins: {gas} gas at {self.chain.gas_price_wei} wei). "
            f"Fund {self.transport.sender} with at least that (a day of batches: ~100 times more). "
            f"The node said: {node_message}")

    # ------------------------------------------------------------------ tracking

    def _track(self, head: int) -> None:
        for batch in self.outbox.open_batches():
            log = self.log.bind(batch_id=batch.id, tx_hash=batch.tx_id)
            fresh = None
            if batch.status in ("prepared", "sent"):
                fresh = self.transport.outcome(batch.tx_id)
                if fresh is None:
                    self._maybe_rebroadcast(batch, log)
                    continue
                self.outbox.mark_mined(batch.id, fresh.block_number, fresh.block_hash)
                log.debug("batch.mined", block_number=fresh.block_number)
                block_number, block_hash = fresh.block_number, fresh.block_hash
            else:  # mined: mark_mined stored its block
                assert batch.block_number is not None and batch.block_hash is not None
                block_number, block_hash = batch.block_number, batch.block_hash
            if max(head, block_number) - block_number + 1 < self.chain.confirmations:
                continue
            # Is it still in that block? A receipt fetched in this very pass needs no
            # second look (with one confirmation there is nothing to wait for).
            outcome = fresh or self.transport.outcome(batch.tx_id)
            if outcome is None:
                log.warning("batch.reorged_out", block_number=block_number)
                self.outbox.mark_unmined(batch.id)
                continue
            if outcome.block_hash != block_hash:
                log.warning("batch.moved_block", old_block=block_number, new_block=outcome.block_number)
                self.outbox.mark_mined(batch.id, outcome.block_number, outcome.block_hash)
                continue
            self._settle(batch, outcome, log)

    def _recheck_settled(self, head: int) -> None:
        """Is every recently settled batch still where it was? If the chain lost it, its
        readings go back in flight and the very same transaction (same nonce) is sent
        again, so no nonce gap stalls the transactions after it."""
        now = self.now()
        if now < self._next_reorg_check:
            return
        self._next_reorg_check = now + REORG_CHECK_EVERY_S
        for batch in self.outbox.settled_since(head - self.chain.confirmations - REORG_WINDOW_BLOCKS):
            outcome = self.transport.outcome(batch.tx_id)
            if outcome is not None and outcome.block_hash == batch.block_hash:
                continue
            returned = self.outbox.unsettle(batch.id)
            self.metrics.batches.labels("reorged_after_settlement").inc()
            self.log.error("batch.reorged_after_settlement", batch_id=batch.id, tx_hash=batch.tx_id,
                           block_number=batch.block_number, readings_returned=returned,
                           new_block=outcome.block_number if outcome else None,
                           detail="a reorganisation deeper than the confirmations; sending it again")

    def _maybe_rebroadcast(self, batch: Batch, log) -> None:
        last_sent = batch.sent_at or 0.0
        due = (batch.status == "prepared" or self._rebroadcast_all
               or self.now() - last_sent >= self.chain.resend_after_s)
        if not due:
            return
        result = self.transport.broadcast(batch.envelope)
        if result is Broadcast.STALE:
            returned = self.outbox.abandon_batch(batch.id, "stale: its nonce was used by another transaction")
            self.transport.release(batch.envelope)
            self.metrics.batches.labels("abandoned").inc()
            log.warning("batch.abandoned", reason="stale", readings_returned=returned)
            return
        self.outbox.mark_sent(batch.id, self.now())
        if batch.status == "prepared":
            self.metrics.readings_sent.inc(batch.size)
        log.info("batch.rebroadcast", result=result.value, status=batch.status)

    def _settle(self, batch: Batch, outcome: TxOutcome, log) -> None:
        if not outcome.succeeded:
            returned = self.outbox.abandon_batch(batch.id, f"reverted in block {outcome.block_number}")
            self.metrics.batches.labels("reverted").inc()
            log.error("batch.reverted", block_number=outcome.block_number, gas_used=outcome.gas_used,
                      readings_returned=returned)
            raise BatchReverted(f"batch {batch.id} ({batch.tx_id}) reverted in block {outcome.block_number}")
        settlements = []
        accepted = already = 0
        rejected: dict[str, int] = {}
        for event in decode_reading_events(outcome.logs, self.ledger.address):
            if event.on_chain:
                settlements.append(Settlement(event.meter_id, event.seq, "confirmed",
                                              "accepted" if event.accepted else "already_applied"))
                accepted += event.accepted
                already += not event.accepted
            else:
                reason = event.reason.solidity_name
                settlements.append(Settlement(event.meter_id, event.seq, "rejected", reason))
                rejected[reason] = rejected.get(reason, 0) + 1
                self.metrics.readings_rejected.labels(event.meter_id, reason).inc()
                log.warning("reading.rejected", meter_id=event.meter_id, seq=event.seq, reason=reason)
        returned = self.outbox.settle_batch(batch.id, settlements, self.now())
        self.metrics.readings_confirmed.inc(accepted + already)
        self.metrics.batches.labels("settled").inc()
        if returned:
            # The ledger emits one event per record; a missing one means a contract
            # that differs from the interface. Send those readings again.
            log.error("batch.readings_without_event", readings_returned=returned)
        log.info("batch.settled", readings=batch.size, accepted=accepted, already_applied=already,
                 rejected=sum(rejected.values()), rejected_by_reason=rejected or None,
                 block_number=outcome.block_number, gas_used=outcome.gas_used,
                 confirmations=self.chain.confirmations)

    # ------------------------------------------------------------------ sending

    def _send_new(self, draining: bool) -> None:
        in_flight = self.in_flight()
        limit = min(self.batch_settings.max_readings, self._gas_cap_readings or self.batch_settings.max_readings)
        while in_flight < self.batch_settings.max_in_flight:
            pending = self.outbox.pending(limit)
            if not pending:
                return
            waited = self.now() - pending[0].created_at
            if len(pending) < limit and waited < self.batch_settings.max_delay_s and not draining:
                return
            self._send(pending)
            in_flight += 1

    def _send(self, readings) -> None:
        calldata = batch_calldata(readings, self.batch_signer, self.batch_meters)
        try:
            prepared = self.transport.prepare(self.ledger.address, calldata)
        except GasCapExceeded as exc:
            if len(readings) == 1:
                raise
            # Over the transport's cap per transaction (20M gas on Qtum): send half, and
            # size the following batches by what fitted.
            self._gas_cap_readings = len(readings) // 2
            self.log.warning("batch.over_gas_cap", readings=len(readings), gas=exc.gas, cap=exc.cap,
                             readings_per_batch=self._gas_cap_readings)
            return self._send(readings[: self._gas_cap_readings])
        except CallReverted as exc:
            if _unfunded_message(exc.user_message):
                raise self.unfunded(len(readings), exc.user_message) from None
            raise BatchWouldRevert(
                f"a batch of {len(readings)} readings would revert as a whole: {exc.user_message}") from None
        try:
            batch_id = self.outbox.record_batch([r.key for r in readings], prepared.tx_id, prepared.envelope,
                                                self.now())
        except BaseException:
            # Never broadcast: give its nonce (or coins) back, or later transactions would
            # wait forever behind a gap.
            self.transport.release(prepared.envelope)
            raise
        log = self.log.bind(batch_id=batch_id, tx_hash=prepared.tx_id)
        # A failure here leaves the batch 'prepared': the next pass broadcasts it again.
        try:
            result = self.transport.broadcast(prepared.envelope)
        except TransportError as exc:
            if _unfunded_message(exc.user_message):
                raise self.unfunded(len(readings), exc.user_message) from None
            raise
        if result is Broadcast.STALE:
            returned = self.outbox.abandon_batch(batch_id, "stale at first broadcast")
            self.transport.release(prepared.envelope)
            log.warning("batch.abandoned", reason="stale", readings_returned=returned)
            return
        self.outbox.mark_sent(batch_id, self.now())
        self.metrics.readings_sent.inc(len(readings))
        log.info("batch.sent", readings=len(readings), meters=len({r.meter_id for r in readings}), **prepared.summary)
