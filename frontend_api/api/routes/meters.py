"""Meters: registry state, last reading, reading history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from frontend_api.api.deps import ERROR_RESPONSES, ApiError, Ctx, parse_cursor, query_account
from frontend_api.api.schemas import MeterDetail, MeterList, ReadingPage

router = APIRouter(tags=["meters"], responses=ERROR_RESPONSES)

MeterId = Annotated[int, Path(ge=1, le=2**32 - 1, description="uint32 meter id")]


def _meter_json(row, revoked: bool, last_seq) -> dict:
    return {"meterId": row.meter_id, "account": row.account, "signer": row.signer, "kind": row.kind,
            "ratedPowerW": row.rated_power_w, "active": not revoked, "lastSeq": last_seq,
            "registeredAt": row.timestamp}


def _reading_json(r) -> dict:
    return {"seq": r.seq, "timestamp": r.reading_timestamp, "importWh": r.import_wh, "exportWh": r.export_wh,
            "importDeltaWh": r.import_delta_wh, "exportDeltaWh": r.export_delta_wh,
            "blockNumber": r.block_number, "txHash": r.tx_hash}


@router.get("/meters", response_model=MeterList, summary="Registered meters; ?account= filters")
def meters(ctx: Ctx, account: Annotated[str | None, Depends(query_account)]) -> dict:
    rows = ctx.queries.meters(account)
    return {"meters": [_meter_json(r, bool(r.revoked), r.last_seq) for r in rows], **ctx.index_freshness()}


@router.get("/meters/{meter_id}", response_model=MeterDetail, summary="A meter: state, last reading, rejections")
def meter(ctx: Ctx, meter_id: MeterId) -> dict:
    row, revoked = ctx.queries.meter(meter_id)
    if row is None:
        raise ApiError(404, "unknown_meter", f"meter {meter_id} is not registered (index at block "
                       f"{ctx.indexed_block()})")
    last = ctx.queries.readings(meter_id, 1, None)
    rejected = ctx.queries.rejections(meter_id, 10)
    return {
        **_meter_json(row, revoked is not None, last[0].seq if last else None),
        "lastReading": _reading_json(last[0]) if last else None,
        "recentRejections": [{"seq": r.seq, "reason": r.reason, "blockNumber": r.block_number} for r in rejected],
        **ctx.index_freshness(),
    }


@router.get("/meters/{meter_id}/readings", response_model=ReadingPage, summary="Accepted readings, newest first")
def meter_readings(
    ctx: Ctx,
    meter_id: MeterId,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> dict:
    before = parse_cursor(cursor)
    row, _ = ctx.queries.meter(meter_id)
    if row is None:
        raise ApiError(404, "unknown_meter", f"meter {meter_id} is not registered")
    rows = ctx.queries.readings(meter_id, limit + 1, before)
    page = rows[:limit]
    return {"readings": [_reading_json(r) for r in page],
            "nextCursor": str(page[-1].seq) if len(rows) > limit else None, **ctx.index_freshness()}
