"""The market: configuration, mode, best prices, the open round, depth, one order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from frontend_api.api import views
from frontend_api.api.deps import ERROR_RESPONSES, ApiError, Ctx
from frontend_api.api.schemas import Depth, MarketInfo, Order
from frontend_api.core import units

router = APIRouter(tags=["market"], responses=ERROR_RESPONSES)


def _config(ctx: Ctx, block: int) -> dict:
    market = ctx.chain.market
    if market is None:
        return {"address": None, "name": None, "mode": "none", "tickSize": None, "minSizeWh": None, "feeBps": None,
                "capAtUtilityPrice": None}

    def compute(b: int) -> dict:
        tick, min_wh, fee_bps, _recipient, cap = market.functions.config().call(block_identifier=b)
        return {"address": market.address, "name": ctx.chain.market_name, "mode": views.market_mode(ctx, b),
                "tickSize": units.tsl(tick), "minSizeWh": min_wh, "feeBps": fee_bps, "capAtUtilityPrice": cap}

    return ctx.chain.cached(("market-config",), block, compute)


@router.get("/market", response_model=MarketInfo, summary="Market configuration, mode, best bid/ask, last and "
            "utility price, the open round")
async def market(ctx: Ctx) -> Response:
    return await views.cached_json(ctx, ("market",), lambda: market_body(ctx), MarketInfo)


def market_body(ctx: Ctx) -> dict:
    fresh = ctx.freshness()
    head, head_ts, _ = ctx.chain.head()
    info = views.round_info(ctx, head, head_ts)
    bids, asks = views.depth(ctx, head, 1, info["roundId"] if info else None)
    last = ctx.from_index(("last-trade",), ctx.queries.last_trade) if ctx.chain.market is not None else None
    utility = ctx.chain.cached(("utility",), head, lambda b: ctx.chain.battery.functions.utilityPrice().call(
        block_identifier=b))
    return {
        **fresh,
        "config": _config(ctx, head),
        "bestBid": bids[0]["price"] if bids else None,
        "bestAsk": asks[0]["price"] if asks else None,
        "lastPrice": units.tsl(int(last.price)) if last is not None else None,
        "utilityPrice": units.tsl(utility),
        "round": info,
    }


@router.get("/market/depth", response_model=Depth, summary="Open volume by price level (bids high to low, asks low "
            "to high), read from the market contract")
async def market_depth(ctx: Ctx, levels: Annotated[int, Query(ge=1, le=100, description="Levels per side")] = 20,
                       ) -> Response:
    return await views.cached_json(ctx, ("depth", levels), lambda: depth_body(ctx, levels), Depth)


def depth_body(ctx: Ctx, levels: int) -> dict:
    fresh = ctx.freshness()
    head, head_ts, _ = ctx.chain.head()
    info = views.round_info(ctx, head, head_ts)
    bids, asks = views.depth(ctx, head, levels, info["roundId"] if info else None)
    return {**fresh, "bids": bids, "asks": asks}


@router.get("/market/orders/{order_id}", response_model=Order, summary="One order (open, filled or closed)")
def market_order(ctx: Ctx, order_id: Annotated[int, Path(ge=1, le=2**256 - 1)]) -> dict:
    order = ctx.queries.order(order_id)
    if order is None:
        raise ApiError(404, "unknown_order", f"no order {order_id} in the index (indexed to block "
                       f"{ctx.indexed_block()})")
    return views.order_json(order)
