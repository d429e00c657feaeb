"""Shared pieces of the screens: market mode and round, orders, ranks, depth."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from frontend_api.api.deps import AppContext
from frontend_api.core import market as market_abi
from frontend_api.core import units
from frontend_api.indexer.queries import OpenOrder

UINT256_MAX = 2**256 - 1


def market_mode(ctx: AppContext, block: int) -> str:
    if ctx.chain.market is None:
        return "none"
    return "auction" if market_abi.is_auction(ctx.chain.market) else "continuous"


def round_info(ctx: AppContext, block: int, now: int) -> dict | None:
    """The auction's open round (None in the continuous market)."""
    if market_mode(ctx, block) != "auction":
        return None
    market = ctx.chain.market

    def compute(b: int) -> dict:
        round_id, closes = market.functions.currentRound().call(block_identifier=b)
        length = market.functions.roundLength().call(block_identifier=b)
        return {"roundId": int(round_id), "closesAt": int(closes), "lengthS": int(length)}

    info = dict(ctx.chain.cached(("round",), block, compute))
    info["secondsLeft"] = max(0, info["closesAt"] - now)
    return info


def order_json(order: OpenOrder) -> dict:
    return {
        "orderId": str(order.order_id), "owner": order.owner, "side": order.side, "price": units.tsl(order.price),
        "amountWh": order.amount_wh, "filledWh": order.filled_wh, "remainingWh": order.remaining_wh,
        "roundId": order.round_id, "expiry": order.expiry or None, "placedAt": order.timestamp,
        "txHash": order.tx_hash,
    }


def ranks(ctx: AppContext, block: int, orders: list[OpenOrder], account: str) -> list[dict]:
    """The account's orders with their rank from the market (rankOf: 1 = next to fill)."""
    counts = {"buy": 0, "sell": 0}
    for order in orders:
        counts[order.side] += 1
    mine = [o for o in orders if o.owner == account]

    def compute(b: int) -> list[tuple[int, int]]:
        return [tuple(ctx.chain.market.functions.rankOf(o.order_id).call(block_identifier=b)) for o in mine]

    found = ctx.chain.cached(("ranks", account, tuple(o.order_id for o in mine)), block, compute)
    out = []
    for order, (rank, ahead) in zip(mine, found, strict=True):
        if rank == 0:
            continue  # filled or removed since the index saw it
        out.append({"orderId": str(order.order_id), "side": order.side, "rank": rank, "aheadWh": ahead,
                    "of": counts[order.side], "price": units.tsl(order.price), "remainingWh": order.remaining_wh})
    return sorted(out, key=lambda r: (r["side"], r["rank"]))


def open_round_orders(ctx: AppContext, block: int, now: int, round_id: int | None,
                      indexed: int | None = None) -> list[OpenOrder]:
    # Keyed by the index height the caller builds for: while the indexer warms screens for
    # its new step, ctx.indexed_block() still says the previous one (it is published after).
    indexed = ctx.indexed_block() if indexed is None else indexed
    orders = ctx.chain.cached(("open-orders", indexed), block,
                              lambda _b: ctx.queries.open_orders(now=now, upto_block=indexed))
    if round_id is not None:
        orders = [o for o in orders if o.round_id is None or o.round_id == round_id]
    return orders


def depth(ctx: AppContext, block: int, levels: int, round_id: int | None) -> tuple[list[dict], list[dict]]:
    """Price levels from the market contract itself (current state, not the index)."""
    market = ctx.chain.market
    if market is None:
        return [], []

    def compute(b: int) -> tuple[list[dict], list[dict]]:
        out = []
        for side in ("buy", "sell"):
            prices, amounts, counts, _next = market_abi.depth_call(market, side, levels, round_id).call(
                block_identifier=b)
            out.append([{"price": units.tsl(p), "amountWh": a, "orders": c}
                        for p, a, c in zip(prices, amounts, counts, strict=True)])
        return out[0], out[1]

    return ctx.chain.cached(("depth", levels, round_id), block, compute)


async def cached_json(ctx: AppContext, key: tuple, build: Callable[[], dict], model: type[BaseModel]) -> Response:
    """The serialized answer, cached per (key, head, indexed block, stale): a hit costs two
    dictionary lookups on the event loop (as the account screen); a miss builds it once in
    the thread pool. Every open page asks for the chart and the market on each block."""
    head_info = ctx.chain.head_nowait() or await run_in_threadpool(ctx.chain.head)
    indexed = ctx.indexed_block()
    full = (("json",) + key + (indexed, ctx.is_stale(head_info, indexed)), head_info[0])
    hit = ctx.chain.cache.get(full)
    if hit is not None:
        return Response(hit[1], media_type="application/json")

    def make() -> bytes:
        data = model.model_validate(build()).model_dump_json().encode()
        ctx.chain.cache.put(full, data)
        return data

    # Concurrent misses of one answer (every page at a new block) share one build.
    inflight = ctx.inflight
    pending = inflight.get(full)
    if pending is None:
        pending = asyncio.ensure_future(run_in_threadpool(make))
        inflight[full] = pending
        pending.add_done_callback(lambda _f: inflight.pop(full, None))
    return Response(await asyncio.shield(pending), media_type="application/json")
