"""Plain-Python reference models of both market modes, for differential tests.

Written for obviousness, not speed: lists and sorting, no bitmaps or packed slots. The
contracts must agree with these on every fill, price, removal and order of execution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BUY, SELL = 0, 1
CANCELLED, EXPIRED, SELF_TRADE, SELLER_SHORTFALL, UNFILLED, BELOW_MINIMUM = range(6)


@dataclass
class RefOrder:
    ref: int  # placement sequence number (time priority)
    owner: str
    side: int
    tick: int
    amount: int
    expires_at: int = 0

    def expired(self, now: int) -> bool:
        return self.expires_at != 0 and self.expires_at <= now


@dataclass(frozen=True)
class Fill:
    seller: str
    buyer: str
    sell_ref: int | None  # None for the incoming (taker) side
    buy_ref: int | None
    amount: int
    tick: int


@dataclass(frozen=True)
class Removal:
    ref: int
    owner: str
    reason: int
    amount: int


@dataclass
class Outcome:
    fills: list[Fill] = field(default_factory=list)
    removals: list[Removal] = field(default_factory=list)
    rested: RefOrder | None = None
    log: list[Fill | Removal] = field(default_factory=list)  # both, in execution order


class ReferenceBook:
    """The continuous double auction: price-time priority, maker's price, GTT, IOC,
    self-trade prevention by cancelling the resting order, no remainder below the minimum
    size on the book (a maker's is refunded, a taker's does not rest)."""

    def __init__(self, min_wh: int = 1) -> None:
        self.orders: list[RefOrder] = []  # open orders, in placement order
        self.seq = 0
        self.min_wh = min_wh

    # ------------------------------------------------------------ queries

    def side(self, side: int, now: int | None = None) -> list[RefOrder]:
        """Open orders of a side in priority order: best price first, then time; with
        `now`, only those that can still fill then (what the book's views show)."""
        key = (lambda o: (-o.tick, o.ref)) if side == BUY else (lambda o: (o.tick, o.ref))
        return sorted((o for o in self.orders if o.side == side and (now is None or not o.expired(now))), key=key)

    def levels(self, side: int, now: int | None = None) -> list[tuple[int, int, int]]:
        """(tick, total amount, order count) per level, best first."""
        out: dict[int, list[int]] = {}
        for o in self.side(side, now):
            level = out.setdefault(o.tick, [0, 0])
            level[0] += o.amount
            level[1] += 1
        return [(tick, total, count) for tick, (total, count) in out.items()]

    def best(self, side: int, now: int | None = None) -> int:
        orders = self.side(side, now)
        return orders[0].tick if orders else 0

    def find(self, ref: int) -> RefOrder | None:
        return next((o for o in self.orders if o.ref == ref), None)

    # ------------------------------------------------------------ actions

    def place(self, owner: str, side: int, tick: int, amount: int, expires_at: int, ioc: bool, now: int) -> Outcome:
        out = Outcome()
        remaining = amount
        maker_side = SELL if side == BUY else BUY
        for maker in self.side(maker_side):
            if remaining == 0:
                break
            crosses = maker.tick <= tick if side == BUY else maker.tick >= tick
            if not crosses:
                break
            if maker.expired(now) or maker.owner == owner:
                self.orders.remove(maker)
                reason = EXPIRED if maker.expired(now) else SELF_TRADE
                out.removals.append(Removal(maker.ref, maker.owner, reason, maker.amount))
                out.log.append(out.removals[-1])
                continue
            fill = min(remaining, maker.amount)
            if side == BUY:
                out.fills.append(Fill(maker.owner, owner, maker.ref, None, fill, maker.tick))
            else:
                out.fills.append(Fill(owner, maker.owner, None, maker.ref, fill, maker.tick))
            out.log.append(out.fills[-1])
            remaining -= fill
            maker.amount -= fill
            if maker.amount == 0:
                self.orders.remove(maker)
            elif maker.amount < self.min_wh:
                self.orders.remove(maker)
                out.removals.append(Removal(maker.ref, maker.owner, BELOW_MINIMUM, maker.amount))
                out.log.append(out.removals[-1])
        self.seq += 1
        if remaining >= self.min_wh and not ioc:
            out.rested = RefOrder(self.seq, owner, side, tick, remaining, expires_at)
            self.orders.append(out.rested)
        return out

    def cancel(self, ref: int) -> Removal:
        order = self.find(ref)
        assert order is not None
        self.orders.remove(order)
        return Removal(ref, order.owner, CANCELLED, order.amount)

    def purge(self, refs: list[int], now: int) -> list[Removal]:
        out = []
        for ref in refs:
            order = self.find(ref)
            if order is not None and order.expired(now):
                self.orders.remove(order)
                out.append(Removal(ref, order.owner, EXPIRED, order.amount))
        return out


# ---------------------------------------------------------------- call auction


@dataclass
class AuctionResult:
    price_tick: int
    volume: int
    fills: list[Fill]
    filled: dict[int, int]  # ref -> amount filled


def clear_auction(orders: list[RefOrder]) -> AuctionResult:
    """Uniform-price clearing by brute force over every tick in the orders' range.

    The volume V(p) = min(bids at or above p, asks at or below p) is maximal on an
    interval of ticks; the price is its midpoint rounded down. Eligible orders fill in
    price priority, then time, until the shorter side is done; bids and asks are paired
    in that order.
    """
    bids = sorted((o for o in orders if o.side == BUY), key=lambda o: (-o.tick, o.ref))
    asks = sorted((o for o in orders if o.side == SELL), key=lambda o: (o.tick, o.ref))
    if not bids or not asks:
        return AuctionResult(0, 0, [], {})
    lo_tick = min(o.tick for o in orders)
    hi_tick = max(o.tick for o in orders)
    volume_at = {}
    for p in range(lo_tick, hi_tick + 1):
        demand = sum(o.amount for o in bids if o.tick >= p)
        supply = sum(o.amount for o in asks if o.tick <= p)
        volume_at[p] = min(demand, supply)
    best_volume = max(volume_at.values())
    if best_volume == 0:
        return AuctionResult(0, 0, [], {})
    best = [p for p, v in volume_at.items() if v == best_volume]
    assert best == list(range(best[0], best[-1] + 1)), "max-volume prices form an interval"
    price = (best[0] + best[-1]) // 2
    eligible_bids = [[o, o.amount] for o in bids if o.tick >= price]
    eligible_asks = [[o, o.amount] for o in asks if o.tick <= price]
    fills, filled = [], {}
    i = j = 0
    while i < len(eligible_bids) and j < len(eligible_asks):
        bid, ask = eligible_bids[i], eligible_asks[j]
        piece = min(bid[1], ask[1])
        fills.append(Fill(ask[0].owner, bid[0].owner, ask[0].ref, bid[0].ref, piece, price))
        filled[bid[0].ref] = filled.get(bid[0].ref, 0) + piece
        filled[ask[0].ref] = filled.get(ask[0].ref, 0) + piece
        bid[1] -= piece
        ask[1] -= piece
        if ask[1] == 0:
            j += 1
        if bid[1] == 0:
            i += 1
    assert sum(f.amount for f in fills) == best_volume
    return AuctionResult(price, best_volume, fills, filled)
