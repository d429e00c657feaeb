"""Keeper duties: "anyone may call" work that is due, done by gateways that are configured for it.

A task is anything with ``name`` and ``tick(now)``; the daemon calls each after the
submitter's pass, in the same thread and through the same transport (so keeper
transactions share the sender's nonce sequence safely).

AuctionClearing clears call-auction rounds after they close. Several gateways may run
it for the same market: each asks clearableRound(), waits a per-gateway stagger, checks
right before sending that the round still needs clearing (the gas estimate of
clearRound reverts otherwise), and has at most one transaction in flight; it sends
again for the same round only when its own call left the round partly cleared. Losing the race (our
transaction reverts because another gateway was first) is normal and logged at info.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from eth_hash.auto import keccak

from energo.artifacts import calldata, decode_result
from energo.facts import MARKET_CONTRACTS
from oracle.config import AuctionClearingSettings
from oracle.metrics import Metrics
from oracle.transport.base import Broadcast, CallReverted, Transport, TransportError

#: The keeper calls, through the auction's artifact (interfaces/IMarketAuction.sol):
#:   clearableRound() -> (bool due, uint256 roundId)   oldest closed round not yet cleared
#:   clearRound(uint256 roundId, uint256 maxSteps) -> bool done   bounded clearing step
AUCTION = MARKET_CONTRACTS["auction"]


class KeeperTask(Protocol):
    name: str

    def tick(self, now: float) -> None: ...


@dataclass
class _InFlight:
    round_id: int
    tx_id: str
    envelope: bytes
    sent_at: float


class AuctionClearing:
    """Clears the call-auction rounds of one market, oldest first."""

    def __init__(self, settings: AuctionClearingSettings, transport: Transport, metrics: Metrics, log,
                 resend_after_s: float = 120.0):
        self.settings = settings
        self.name = f"auction_clearing:{settings.market_address}"
        self.market = settings.market_address
        self.transport = transport
        self.metrics = metrics
        self.log = log.bind(task="auction_clearing", market=settings.market_address)
        self.resend_after_s = resend_after_s
        self._in_flight: _InFlight | None = None
        self._first_seen: dict[int, float] = {}
        self._next_run = 0.0

    def _count(self, result: str) -> None:
        self.metrics.keeper_runs.labels("auction_clearing", result).inc()

    def clearable_round(self) -> int | None:
        raw = self.transport.call(self.market, calldata(AUCTION, "clearableRound"))
        due, round_id = decode_result(AUCTION, "clearableRound", raw)
        return round_id if due else None

    def stagger(self, round_id: int) -> float:
        """This gateway's delay for `round_id`: fixed per (sender, round), spread over stagger_s,
        so that gateways sharing the duty rarely send for the same round at once."""
        if not self.settings.stagger_s:
            return 0.0
        draw = int.from_bytes(keccak(f"{self.transport.sender}:{round_id}".encode())[:8], "big") / 2**64
        return draw * self.settings.stagger_s

    def tick(self, now: float) -> None:
        if self._in_flight is not None:
            if not self._follow(now):
                return
        elif now < self._next_run:
            return
        self._next_run = now + self.settings.interval_s
        round_id = self.clearable_round()
        if round_id is None:
            return
        first_seen = self._first_seen.setdefault(round_id, now)
        self._first_seen = {r: t for r, t in self._first_seen.items() if r >= round_id}
        if now < first_seen + self.stagger(round_id):
            self._next_run = min(self._next_run, first_seen + self.stagger(round_id))
            return
        self._clear(round_id, now)

    def _clear(self, round_id: int, now: float) -> None:
        data = calldata(AUCTION, "clearRound", round_id, self.settings.max_steps_per_tx)
        try:
            prepared = self.transport.prepare(self.market, data)
        except CallReverted as exc:
            # Someone cleared it between our check and our estimate.
            self._count("lost_race")
            self.log.info("keeper.round_taken", round_id=round_id, detail=exc.user_message)
            return
        # Tracked before broadcasting: if the broadcast fails midway, the same transaction
        # is sent again later, so its nonce never leaves a gap before the gateway's batches.
        self._in_flight = flight = _InFlight(round_id, prepared.tx_id, prepared.envelope, now)
        try:
            result = self.transport.broadcast(prepared.envelope)
        except TransportError:
            flight.sent_at = float("-inf")  # resend at the next pass
            raise
        if result is Broadcast.STALE:
            self._in_flight = None
            self.transport.release(prepared.envelope)
            self.log.warning("keeper.tx_stale", round_id=round_id, tx_hash=prepared.tx_id)
            return
        self.log.info("keeper.clear_sent", round_id=round_id, tx_hash=prepared.tx_id, **prepared.summary)

    def _follow(self, now: float) -> bool:
        """Tracks our clearing transaction; True once it is resolved."""
        flight = self._in_flight
        assert flight is not None
        outcome = self.transport.outcome(flight.tx_id)
        if outcome is None:
            if now - flight.sent_at >= self.resend_after_s:
                if self.transport.broadcast(flight.envelope) is Broadcast.STALE:
                    self.log.warning("keeper.tx_dropped", round_id=flight.round_id, tx_hash=flight.tx_id)
                    self._in_flight = None
                    return True
                flight.sent_at = now
            return False
        self._in_flight = None
        log = self.log.bind(round_id=flight.round_id, tx_hash=flight.tx_id, block_number=outcome.block_number)
        if outcome.succeeded:
            # A very large round takes several bounded calls: it stays clearable until done.
            finished = self.clearable_round() != flight.round_id
            self._count("cleared" if finished else "partial")
            log.info("keeper.round_cleared" if finished else "keeper.round_partly_cleared", gas_used=outcome.gas_used)
        else:
            self._count("lost_race")
            log.info("keeper.round_taken", detail="our clearRound reverted: another keeper was first")
        return True


def build_keepers(settings_list, transport: Transport, metrics: Metrics, log, resend_after_s: float):
    tasks: list[KeeperTask] = []
    for settings in settings_list:
        if isinstance(settings, AuctionClearingSettings):
            tasks.append(AuctionClearing(settings, transport, metrics, log, resend_after_s))
    return tasks
