"""Trade history, newest first, paged by cursor, filterable by account."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from frontend_api.api.deps import ERROR_RESPONSES, Ctx, parse_cursor, query_account
from frontend_api.api.schemas import TradePage
from frontend_api.core import units

router = APIRouter(tags=["trades"], responses=ERROR_RESPONSES)


@router.get("/trades", response_model=TradePage, summary="Trades, newest first; ?account= filters, ?cursor= pages")
def trades(
    ctx: Ctx,
    account: Annotated[str | None, Depends(query_account)],
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=40, description="nextCursor of the previous page")] = None,
) -> dict:
    before = parse_cursor(cursor)
    fresh = ctx.index_freshness()
    rows = ctx.queries.trades(account, limit + 1, before) if ctx.chain.market is not None else []
    page = rows[:limit]
    return {
        "trades": [{
            "id": r.id, "buyer": r.buyer, "seller": r.seller, "buyOrderId": r.buy_order_id,
            "sellOrderId": r.sell_order_id, "price": units.tsl(int(r.price)), "amountWh": r.amount_wh,
            "tsl": units.tsl(int(r.tsl_amount)), "roundId": r.round_id, "timestamp": r.timestamp,
            "blockNumber": r.block_number, "txHash": r.tx_hash,
        } for r in page],
        "nextCursor": str(page[-1].id) if len(rows) > limit else None,
        **fresh,
    }
