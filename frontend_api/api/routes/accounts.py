"""An account's screen: what the app's main screen shows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from frontend_api.api import views
from frontend_api.api.deps import ERROR_RESPONSES, Ctx, path_address
from frontend_api.api.schemas import AccountScreen
from frontend_api.core import units

router = APIRouter(tags=["accounts"], responses=ERROR_RESPONSES)

UINT256_MAX = 2**256 - 1
COUNTER_NAMES = ["generatedWh", "storedWh", "consumedFromBatteryWh", "consumedFromGridWh", "spilledWh",
                 "purchasedWh", "soldWh"]


@router.get("/accounts/{address}", response_model=AccountScreen,
            summary="An account's screen: WATT and TSL, days of storage, energy counters, orders, rank")
def account_screen(ctx: Ctx, address: Annotated[str, Depends(path_address)]) -> dict:
    fresh = ctx.freshness()
    head, head_ts, _ = ctx.chain.head()
    chain = ctx.chain

    def read_chain(block: int) -> dict:
        bat = chain.battery.functions
        counters = bat.countersOf(address).call(block_identifier=block)
        tsl_due, _watt_due = bat.pendingRent(address).call(block_identifier=block)
        days = bat.daysOfStorage(address).call(block_identifier=block)
        return {
            "watt": {
                "wallet": bat.balanceOf(address).call(block_identifier=block),
                "locked": bat.lockedWattOf(address).call(block_identifier=block),
                "spendable": bat.spendableWattOf(address).call(block_identifier=block),
            },
            "tsl": {
                "wallet": chain.tsl.functions.balanceOf(address).call(block_identifier=block),
                "depositedFree": bat.freeTslOf(address).call(block_identifier=block),
                "locked": bat.lockedTslOf(address).call(block_identifier=block),
                "pendingRent": tsl_due,
            },
            "days": days,
            "counters": dict(zip(COUNTER_NAMES, counters, strict=True)),
            "utility": bat.utilityPrice().call(block_identifier=block),
        }

    state = chain.cached(("account", address), head, read_chain)
    indexed = ctx.indexed_block()

    def read_index(_block: int) -> dict:
        bought_wh, paid = ctx.queries.purchases(address)
        return {"bought_wh": bought_wh, "paid": paid, "orders": ctx.queries.open_orders(owner=address, now=head_ts)}

    index = chain.cached(("account-index", address, indexed), head, read_index)
    utility = state["utility"]
    saved = units.cost_tsl(utility, index["bought_wh"]) - index["paid"] if index["bought_wh"] else 0

    rank = None
    info = views.round_info(ctx, head, head_ts)
    if info is not None:
        round_orders = views.open_round_orders(ctx, head, head_ts, info["roundId"])
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
