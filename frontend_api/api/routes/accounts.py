"""An account's screen: what the app's main screen shows."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool

from frontend_api.api import views
from frontend_api.api.deps import ERROR_RESPONSES, AppContext, Ctx, path_address
from frontend_api.api.schemas import AccountScreen
from frontend_api.core import units

router = APIRouter(tags=["accounts"], responses=ERROR_RESPONSES)

UINT256_MAX = 2**256 - 1
COUNTER_NAMES = ["generatedWh", "storedWh", "consumedFromBatteryWh", "consumedFromGridWh", "spilledWh",
                 "purchasedWh", "soldWh"]


@router.get("/accounts/{address}", response_model=AccountScreen,
            summary="An account's screen: WATT and TSL, days of storage, energy counters, orders, rank")
async def account_screen(ctx: Ctx, address: Annotated[str, Depends(path_address)]) -> Response:
    # The hot path: the serialized screen is cached per (head, indexed block), so a hit
    # costs two in-memory lookups and never leaves the event loop. Screens asked for
    # recently are rebuilt by the head follower and the indexer before they publish a
    # new block (warm_screens), and concurrent misses of one screen share one build.
    head_info = ctx.chain.head_nowait() or await run_in_threadpool(ctx.chain.head)
    key = screen_key(ctx, address, head_info)
    hit = ctx.chain.cache.get(key)
    ctx.hot_accounts[address] = time.monotonic()
    if hit is not None:
        return Response(hit[1], media_type="application/json")
    inflight = ctx.inflight
    pending = inflight.get(key)
    if pending is None:
        pending = asyncio.ensure_future(run_in_threadpool(screen_json, ctx, address, head_info))
        inflight[key] = pending
        pending.add_done_callback(lambda _f: inflight.pop(key, None))
    return Response(await asyncio.shield(pending), media_type="application/json")


HOT_WINDOW_S = 30.0
HOT_MAX = 256


def screen_key(ctx: AppContext, address: str, head_info: tuple[int, int, bool], indexed: int | None = None) -> tuple:
    head, head_ts, chain_stale = head_info
    indexed = ctx.indexed_block() if indexed is None else indexed
    return (("screen-json", address, indexed, chain_stale or ctx.head_too_old(head_ts)), head)


def screen_json(ctx: AppContext, address: str, head_info: tuple[int, int, bool], indexed: int | None = None) -> bytes:
    key = screen_key(ctx, address, head_info, indexed)
    body = build_screen(ctx, address, head_info, indexed)
    data = AccountScreen.model_validate(body).model_dump_json().encode()
    ctx.chain.cache.put(key, data)
    return data


def warm_screens(ctx: AppContext, head_info: tuple[int, int, bool], indexed: int | None = None) -> None:
    now = time.monotonic()
    seen_at = ctx.hot_accounts
    hot = [a for a, seen in list(seen_at.items()) if now - seen < HOT_WINDOW_S][-HOT_MAX:]
    for address in hot:
        if ctx.closing:
            return
        screen_json(ctx, address, head_info, indexed)
    for address in [a for a, seen in list(seen_at.items()) if now - seen >= HOT_WINDOW_S]:
        seen_at.pop(address, None)


def build_screen(ctx: AppContext, address: str, head_info: tuple[int, int, bool] | None = None,
                 indexed: int | None = None) -> dict:
    head_info = head_info or ctx.chain.head()
    head, head_ts, chain_stale = head_info
    indexed = ctx.indexed_block() if indexed is None else indexed
    fresh = {"block": head, "indexedBlock": indexed,
             "stale": indexed is None or ctx.is_stale(head_info, indexed)}
    chain = ctx.chain

    def read_chain(block: int) -> dict:
        bat = chain.battery.functions
        (counters, (tsl_due, _watt_due), days, wallet, locked, spendable, tsl_wallet, free, tsl_locked,
         utility) = chain.batch([
            bat.countersOf(address), bat.pendingRent(address), bat.daysOfStorage(address), bat.balanceOf(address),
            bat.lockedWattOf(address), bat.spendableWattOf(address), chain.tsl.functions.balanceOf(address),
            bat.freeTslOf(address), bat.lockedTslOf(address), bat.utilityPrice()], block)
        return {
            "watt": {"wallet": wallet, "locked": locked, "spendable": spendable},
            "tsl": {"wallet": tsl_wallet, "depositedFree": free, "locked": tsl_locked, "pendingRent": tsl_due},
            "days": days,
            "counters": dict(zip(COUNTER_NAMES, counters, strict=True)),
            "utility": utility,
        }

    state = chain.cached(("account", address), head, read_chain)

    def read_index(_block: int) -> dict:
        bought_wh, paid = ctx.queries.purchases(address)
        return {"bought_wh": bought_wh, "paid": paid, "orders": ctx.queries.open_orders(owner=address, now=head_ts,
                                                                                 upto_block=indexed)}

    index = chain.cached(("account-index", address, indexed), head, read_index)
    utility = state["utility"]
    saved = units.cost_tsl(index["bought_wh"], utility, round_up=True) - index["paid"] if index["bought_wh"] else 0

    rank = None
    info = views.round_info(ctx, head, head_ts)
    if info is not None:
        round_orders = views.open_round_orders(ctx, head, head_ts, info["roundId"], indexed)
        rank = {"round": info, "orders": views.ranks(ctx, head, round_orders, address)}

    return {
        **fresh,
        "address": address,
        "watt": {k: units.watt(v) for k, v in state["watt"].items()},
        "tsl": {k: units.tsl(v) for k, v in state["tsl"].items()},
        "daysOfStorage": None if state["days"] >= UINT256_MAX else round(state["days"] / 10**18, 4),
        "energy": state["counters"],
        "savings": {"tsl": units.fmt_units(saved), "purchasedWh": index["bought_wh"],
                    "paidTsl": units.tsl(index["paid"]), "utilityPrice": units.tsl(utility)},
        "openOrders": [views.order_json(o) for o in index["orders"]],
        "rank": rank,
    }
