"""Health: answered from memory and the index, never from the node, so it is quick
whatever the node does (a hung node, refused connections, a halted chain).

Ages are measured against the later of the wall clock and the chain's clock: a halted
chain or a dead gateway ages by the wall clock, and a local chain whose clock was moved
ahead (the tests, the demo) ages by its own time.
"""

from __future__ import annotations

import time

from fastapi import APIRouter

from frontend_api.api.deps import ERROR_RESPONSES, AppContext, Ctx
from frontend_api.api.schemas import Health

router = APIRouter(tags=["health"], responses=ERROR_RESPONSES)


def _age(now: float, then: int | None) -> int | None:
    return None if then is None else max(0, int(now - then))


def activity(ctx: AppContext, now: float) -> tuple[list[dict], list[dict]]:
    """Per meter and per gateway: when its last reading landed, and whether it is silent."""
    meters_rows, gateway_rows = ctx.from_index(("activity",), lambda: (ctx.queries.meter_activity(),
                                                                      ctx.queries.gateway_activity()))
    max_age = ctx.settings.reading_max_age_s
    meters, by_gateway = [], {}
    for row in meters_rows:
        if row.revoked:
            continue
        reference = row.landed_at if row.landed_at is not None else row.registered_at
        silent = bool(max_age) and now - reference > max_age
        meters.append({"meterId": int(row.meter_id), "account": row.account, "kind": row.kind, "gateway": row.sender,
                       "lastSeq": row.last_seq, "lastReadingLandedAt": row.landed_at,
                       "lastReadingAgeS": _age(now, row.landed_at), "silent": silent})
        if row.sender:
            by_gateway.setdefault(row.sender, []).append(int(row.meter_id))
    gateways = []
    for row in gateway_rows:
        gateways.append({"address": row.sender, "lastReadingLandedAt": int(row.landed_at),
                         "lastReadingAgeS": _age(now, row.landed_at), "readings": int(row.readings),
                         "transactions": int(row.transactions), "meters": by_gateway.get(row.sender, []),
                         "silent": bool(max_age) and now - row.landed_at > max_age})
    return meters, gateways


def report(ctx: AppContext) -> dict:
    head_info = ctx.chain.head_known()  # never the node
    head, head_ts, chain_stale = head_info if head_info is not None else (None, None, True)
    indexed = ctx.indexed_block()
    wall = ctx.clock()
    now = max(wall, head_ts or 0)
    meters, gateways = activity(ctx, now)
    error = ctx.indexer.last_error if ctx.indexer is not None else None
    reasons = []
    if head_info is None or chain_stale:
        reasons.append("node_unreachable")
    if ctx.head_too_old(head_ts):
        reasons.append("chain_halted")
    if indexed is None:
        reasons.append("no_index")
    elif head is not None and (head - ctx.settings.confirmations) - indexed > ctx.settings.stale_after_blocks:
        reasons.append("index_behind")
    if error:
        reasons.append("indexer_error")
    silent = [m["meterId"] for m in meters if m["silent"]]
    if silent:
        reasons.append("silent_meters")
    landed = [m["lastReadingLandedAt"] for m in meters if m["lastReadingLandedAt"] is not None]
    answered = ctx.chain.last_answer_at
    return {
        "status": "degraded" if reasons else "ok",
        "reasons": reasons,
        "chainId": ctx.chain.chain_id,
        "chainHead": head,
        "chainHeadTimestamp": head_ts,
        "chainHeadAgeS": None if head_ts is None else round(wall - head_ts, 1),
        "blockIntervalS": ctx.settings.block_interval_s,
        "nodeAnsweredAgoS": None if answered is None else round(time.monotonic() - answered, 2),
        "indexedBlock": indexed,
        "indexerLagBlocks": None if head is None or indexed is None else max(0, head - indexed),
        "confirmations": ctx.settings.confirmations,
        "indexerError": error,
        "indexerFailures": ctx.indexer.failures if ctx.indexer is not None else 0,
        "reorgs": ctx.indexer.reorgs if ctx.indexer is not None else 0,
        "lastReadingAgeS": _age(now, max(landed)) if landed else None,
        "readingMaxAgeS": ctx.settings.reading_max_age_s,
        "stale": ctx.is_stale(head_info, indexed),
        "silentMeters": silent,
        "meters": meters,
        "gateways": gateways,
        "contracts": {name: c.address for name, c in ctx.chain.contracts().items()},
    }


@router.get("/health", response_model=Health,
            summary="Chain head and its age, indexer lag, per meter and per gateway when its last reading landed")
async def health(ctx: Ctx) -> dict:
    # On the event loop, from memory and the index: it cannot wait for the node.
    return report(ctx)
