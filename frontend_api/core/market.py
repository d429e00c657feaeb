"""What the API uses of the market contracts (interfaces/IMarket*.sol), in one place.

Both modes share IMarket: OrderPlaced (resting orders only, with the resting amount),
OrderRemoved, Traded (order id 0 = the incoming side of a continuous match), order(id),
rankOf(id), config(). The continuous market (IMarketContinuous) places with
(side, price, amountWh, expiresAt, immediateOrCancel) and has bestBid/bestAsk and
depth(side, from, max); the call auction (IMarketAuction) places with (side, price,
amountWh) into the open round and has roundLength, currentRound, roundState and
depth(roundId, side, from, max). The mode is told by the ABI (roundLength exists).
"""

from __future__ import annotations

from typing import Any

from web3.contract import Contract

from energo.facts import RemovalReason, Side, book_of  # noqa: F401  (book_of: the indexer's)

BUY, SELL = Side.BUY, Side.SELL
SIDES = {side.label: side for side in Side}
REMOVAL_REASONS = [reason.label for reason in RemovalReason]


def has_function(abi: list[dict], name: str) -> bool:
    return any(item.get("type") == "function" and item.get("name") == name for item in abi)


def is_auction(contract: Contract) -> bool:
    return has_function(contract.abi, "roundLength")


def side_name(value: int) -> str:
    return Side(int(value)).label


def place_call(contract: Contract, side: str, price: int, amount_wh: int, expires_at: int, ioc: bool) -> Any:
    if is_auction(contract):
        return contract.functions.placeOrder(SIDES[side], price, amount_wh)
    return contract.functions.placeOrder(SIDES[side], price, amount_wh, expires_at, ioc)


def cancel_call(contract: Contract, order_id: int) -> Any:
    return contract.functions.cancelOrder(order_id)


def depth_call(contract: Contract, side: str, levels: int, round_id: int | None) -> Any:
    if is_auction(contract):
        return contract.functions.depth(round_id or 0, SIDES[side], 0, levels)
    return contract.functions.depth(SIDES[side], 0, levels)
