"""Keeper duties: "anyone may call" work that is due, done by gateways that are configured for it.

A task is anything with ``name`` and ``tick(now)``; the daemon calls each after the
submitter's pass, in the same thread and through the same transport (so keeper
transactions share the sender's nonce sequence safely).

AuctionClearing clears call-auction rounds after they close. Several gateways may run
it for the same market: each checks, right before sending, that the round still needs
clearing (the gas estimate of clearRound reverts otherwise), waits a per-gateway
stagger, and sends at most one transaction per round at a time. Losing the race (our
transaction reverts because another gateway was first) is normal and logged at info.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from eth_abi import decode, encode
from eth_hash.auto import keccak
from eth_utils import function_signature_to_4byte_selector

from oracle.config import AuctionClearingSettings
from oracle.metrics import Metrics
from oracle.transport.base import Broadcast, CallReverted, Transport

#: The market functions the keeper uses (to be confirmed against the market contract):
#:   currentRound() -> uint64                 the round open for orders now
#:   roundClearable(uint64 roundId) -> bool   closed and not (fully) cleared yet
#:   clearRound(uint64 roundId, uint256 maxOrders)  clears up to maxOrders orders of it
AUCTION_SIGNATURES = {
    "current_round": "currentRound()",
    "clearable": "roundClearable(uint64)",
    "clear": "clearRound(uint64,uint256)",
}
_SELECTORS = {name: function_signature_to_4byte_selector(sig) for name, sig in AUCTION_SIGNATURES.items()}


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
    """Clears the call-auction rounds of one market."""

    LOOKBACK_ROUNDS = 8  # rounds missed while the gateway was down still get cleared

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
        self._done: set[int] = set()
        self._next_run = 0.0

    def _count(self, result: str) -> None:
        self.metrics.keeper_runs.labels("auction_clearing", result).inc()

    def current_round(self) -> int:
        return decode(["uint64"], self.transport.call(self.market, _SELECTORS["current_round"]))[0]

    def clearable(self, round_id: int) -> bool:
        data = _SELECTORS["clearable"] + encode(["uint64"], [round_id])
        return decode(["bool"], self.transport.call(self.market, data))[0]

    def stagger(self, round_id: int) -> float:
        """This gateway's delay for `round_id`: fixed per (sender, round), spread over stagger_s."""
        if not self.settings.stagger_s:
            return 0.0
        draw = int.from_bytes(keccak(f"{self.transport.sender}:{round_id}".encode())[:8], "big") / 2**64
        return draw * self.settings.stagger_s

    def tick(self, now: float) -> None:
        if now < self._next_run and self._in_flight is None:
            return
        self._next_run = now + self.settings.interval_s
        if self._in_flight is not None and not self._follow(now):
            return
        current = self.current_round()
        self._done = {r for r in self._done if r >= current - self.LOOKBACK_ROUNDS}
        self._first_seen = {r: t for r, t in self._first_seen.items() if r >= current - self.LOOKBACK_ROUNDS}
        for round_id in range(max(0, current - self.LOOKBACK_ROUNDS), current):
            if round_id in self._done:
                continue
            if not self.clearable(round_id):
                self._done.add(round_id)
                continue
            first_seen = self._first_seen.setdefault(round_id, now)
            if now < first_seen + self.stagger(round_id):
                continue
            self._clear(round_id, now)
            return  # one transaction at a time

    def _clear(self, round_id: int, now: float) -> None:
        data = _SELECTORS["clear"] + encode(["uint64", "uint256"], [round_id, self.settings.max_orders_per_tx])
        try:
            prepared = self.transport.prepare(self.market, data)
        except CallReverted as exc:
            # Someone cleared it between our check and our estimate.
            self._done.add(round_id)
            self._count("lost_race")
            self.log.info("keeper.round_taken", round_id=round_id, detail=exc.user_message)
            return
        result = self.transport.broadcast(prepared.envelope)
        if result is Broadcast.STALE:
            self.transport.release(prepared.envelope)
            self.log.warning("keeper.tx_stale", round_id=round_id, tx_hash=prepared.tx_id)
            return
        self._in_flight = _InFlight(round_id, prepared.tx_id, prepared.envelope, now)
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
            # A very large round may need several transactions: it stays clearable.
            finished = not self.clearable(flight.round_id)
            if finished:
                self._done.add(flight.round_id)
            self._count("cleared" if finished else "partial")
            log.info("keeper.round_cleared" if finished else "keeper.round_partly_cleared", gas_used=outcome.gas_used)
        else:
            self._done.add(flight.round_id)
            self._count("lost_race")
            log.info("keeper.round_taken", detail="our clearRound reverted: another keeper was first")
        return True


def build_keepers(settings_list, transport: Transport, metrics: Metrics, log, resend_after_s: float):
    tasks: list[KeeperTask] = []
    for settings in settings_list:
        if isinstance(settings, AuctionClearingSettings):
            tasks.append(AuctionClearing(settings, transport, metrics, log, resend_after_s))
    return tasks
