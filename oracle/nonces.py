"""Stalled nonces: a batch transaction that the chain will not mine as things stand.

On an account-nonce chain the sender's transactions are mined in nonce order, so one
that is stuck holds up every later one, and the readings in them, for good. The
submitter re-broadcasts an unmined batch every ``chain.resend_after_s``; this watch
looks sooner and for what a re-broadcast cannot fix, comparing the node's view with
the outbox's open batches every ``NONCE_CHECK_EVERY_S``:

- **dropped**: the node no longer knows a batch it was sent (evicted from the mempool,
  a node restarted without its pool). The very same bytes are broadcast again at once
  (same nonce, same hash); if its nonce was taken meanwhile, the batch is abandoned and
  its readings go back in the queue.
- **gap**: the chain waits for a nonce that no open batch holds (a transaction sent
  with the sender's key by something else and then dropped, or a nonce given back
  wrongly). A zero-value transfer to the sender itself fills it, and the batches behind
  it are mined.
- **not mined**: the next batch is known to the node but not mined for
  ``STALL_AFTER_S`` while blocks are made (priced out, a node that does not relay).
  Reported and broadcast again.

Each finding is a ``nonce.stalled`` line with the nonce and what was done, counted in
``energo_oracle_nonce_stalls_total{reason}``; ``energo_oracle_nonce_stalled`` is 1
while one is open. Transports without account nonces (Qtum's UTXOs) are not watched.
"""

from __future__ import annotations

import time

from oracle.metrics import Metrics
from oracle.outbox import Batch, Outbox
from oracle.transport.base import Broadcast, Transport

NONCE_CHECK_EVERY_S = 15.0
#: The next batch known to the node and not mined for this long is reported as stalled.
STALL_AFTER_S = 300.0


class NonceWatch:
    def __init__(self, outbox: Outbox, transport: Transport, metrics: Metrics, log, wall_clock=time.time):
        self.outbox = outbox
        self.transport = transport
        self.metrics = metrics
        self.log = log
        self.now = wall_clock
        self._next_check = 0.0
        #: Batches already reported as not mined (said once, not at every check).
        self._reported: set[int] = set()
        #: Nonces filled with a transfer to self, so a gap is filled once.
        self._filled: dict[int, str] = {}
        self._confirmed_nonce = getattr(transport, "confirmed_nonce", None)
        self._known = getattr(transport, "transaction_known", None)
        self._nonce_of = getattr(transport, "envelope_nonce", None)
        self._fill_nonce = getattr(transport, "fill_nonce", None)
        self._pending_nonce = getattr(transport, "pending_nonce", None)
        #: A gap seen at the last check: (the chain's nonce, the lowest unmined batch's).
        self._gap: tuple[int, int] | None = None
        self.enabled = None not in (self._confirmed_nonce, self._known, self._nonce_of, self._fill_nonce)

    def tick(self) -> None:
        now = self.now()
        if not self.enabled or now < self._next_check:
            return
        self._next_check = now + NONCE_CHECK_EVERY_S
        assert self._nonce_of and self._confirmed_nonce and self._known
        t = self.transport
        unmined = sorted(((self._nonce_of(b.envelope), b) for b in self.outbox.open_batches()
                          if b.status in ("prepared", "sent")), key=lambda item: item[0])
        waiting = [(nonce, batch) for nonce, batch in unmined if batch.status == "sent"]
        if not waiting:
            self.metrics.nonce_stalled.set(0)
            self._gap = None
            return
        confirmed = self._confirmed_nonce()
        stalled = 0
        for nonce, batch in waiting:
            if nonce < confirmed or t.outcome(batch.tx_id) is not None:
                continue  # mined, or its nonce taken: the submitter settles or abandons it
            if not self._known(batch.tx_id):
                stalled += 1
                self._resolve_dropped(batch, nonce, confirmed)
            elif nonce == confirmed and now - batch.created_at >= STALL_AFTER_S:
                stalled += 1
                if batch.id not in self._reported:
                    self._reported.add(batch.id)
                    self._stall("not_mined", batch, nonce, confirmed, "broadcast again",
                                pending_s=round(now - batch.created_at))
                    t.broadcast(batch.envelope)
        nonces = {nonce for nonce, _ in unmined}
        lowest = unmined[0][0]
        gap = [n for n in range(confirmed, lowest) if n not in nonces]
        # A gap only if the node has nothing it could mine at the chain's nonce (a keeper's
        # transaction there is no gap), seen at two checks in a row.
        if gap and self._pending_nonce is not None and self._pending_nonce() > confirmed:
            gap = []
        if gap and self._gap == (confirmed, lowest):
            stalled += 1
            self._fill(gap, unmined[0][1], lowest, confirmed)
        self._gap = (confirmed, lowest) if gap else None
        self.metrics.nonce_stalled.set(1 if stalled else 0)

    def _stall(self, reason: str, batch: Batch, nonce: int, confirmed: int, action: str, **details) -> None:
        self.metrics.nonce_stalls.labels(reason).inc()
        self.log.error("nonce.stalled", reason=reason, batch_id=batch.id, tx_hash=batch.tx_id, nonce=nonce,
                       chain_nonce=confirmed, action=action, sender=self.transport.sender, **details)

    def _resolve_dropped(self, batch: Batch, nonce: int, confirmed: int) -> None:
        self._stall("dropped", batch, nonce, confirmed, "broadcast the same transaction again",
                    detail="the node no longer knows this transaction (dropped from its mempool)")
        result = self.transport.broadcast(batch.envelope)
        if result is Broadcast.STALE:
            returned = self.outbox.abandon_batch(batch.id, "stale: dropped, and its nonce was used by another "
                                                           "transaction")
            self.transport.release(batch.envelope)
            self.metrics.batches.labels("abandoned").inc()
            self.log.warning("batch.abandoned", batch_id=batch.id, tx_hash=batch.tx_id, reason="stale",
                             readings_returned=returned)
            return
        self.outbox.mark_sent(batch.id, self.now())
        self.log.info("nonce.resolved", batch_id=batch.id, tx_hash=batch.tx_id, nonce=nonce, result=result.value)

    def _fill(self, gap: list[int], blocked: Batch, lowest: int, confirmed: int) -> None:
        assert self._known and self._fill_nonce
        for nonce in gap:
            if nonce in self._filled and self._known(self._filled[nonce]):
                continue  # filled already, waiting for its block
            tx_id = self._fill_nonce(nonce)
            self._filled[nonce] = tx_id
            self._stall("gap", blocked, lowest, confirmed, "filled with a zero-value transfer to the sender",
                        missing_nonce=nonce, filler_tx_hash=tx_id,
                        detail="the chain waits for a nonce no open batch holds; the batches behind it were stuck")
