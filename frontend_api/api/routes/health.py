"""Health: chain head, indexer lag, age of the last meter reading."""

from __future__ import annotations

from fastapi import APIRouter

from frontend_api.api.deps import ERROR_RESPONSES, Ctx
from frontend_api.api.schemas import Health
from frontend_api.core.chain import ChainUnavailable

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


@router.get("/health", response_model=Health, summary="Chain head, indexer lag, last reading age")
def health(ctx: Ctx) -> dict:
    head = head_ts = None
    chain_stale = True
    try:
        head, head_ts, chain_stale = ctx.chain.head()
    except ChainUnavailable:
        pass
    indexed = ctx.indexed_block()
    last_reading = ctx.queries.last_reading_timestamp()
    lag = None if head is None or indexed is None else max(0, head - indexed)
    stale = chain_stale or head is None or ctx.index_stale(head)
    error = ctx.indexer.last_error if ctx.indexer is not None else None
    return {
        "status": "degraded" if stale or error else "ok",
        "chainId": ctx.chain.chain_id,
        "chainHead": head,
        "chainHeadTimestamp": head_ts,
        "indexedBlock": indexed,
        "indexerLagBlocks": lag,
        "confirmations": ctx.settings.confirmations,
        "indexerError": error,
        "lastReadingAgeS": max(0, head_ts - last_reading) if last_reading is not None and head_ts else None,
        "stale": stale,
        "contracts": {name: c.address for name, c in ctx.chain.contracts().items()},
    }
