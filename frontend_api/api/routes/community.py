"""Community statistics over a time window, and the day's series for the chart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from frontend_api.api import views
from frontend_api.api.deps import ERROR_RESPONSES, Ctx
from frontend_api.api.schemas import CommunitySeries, CommunityStats
from frontend_api.core import units

router = APIRouter(tags=["community"], responses=ERROR_RESPONSES)

Hours = Annotated[int, Query(ge=1, le=24 * 366, description="Window ending at the chain head, in hours")]


def _average(tsl_amount: int, wh: int) -> str | None:
    return units.tsl(tsl_amount * 1000 // wh) if wh else None


@router.get("/community/stats", response_model=CommunityStats,
            summary="Self-sufficiency, generation, consumption, traded volume and average price over a window")
async def community_stats(ctx: Ctx, hours: Hours = 24) -> Response:
    return await views.cached_json(ctx, ("stats", hours), lambda: stats_body(ctx, hours), CommunityStats)


def stats_body(ctx: Ctx, hours: int) -> dict:
    _, head_ts, _ = ctx.chain.head()
    since = head_ts - hours * 3600
    # Cached per indexed block (and window end): pages refetch it on every block.
    s = ctx.from_index(("stats", since, head_ts), lambda: ctx.queries.stats(since, head_ts))
    consumed = s["consumed_wh"]
    return {
        "since": since, "until": head_ts,
        "generatedWh": s["generated_wh"], "consumedWh": consumed, "consumedFromBatteryWh": s["from_battery_wh"],
        "selfSufficiency": round(min(1.0, s["from_battery_wh"] / consumed), 4) if consumed else None,
        "volumeWh": s["volume_wh"], "volumeTsl": units.tsl(s["volume_tsl"]), "trades": s["trades"],
        "averagePrice": _average(s["volume_tsl"], s["volume_wh"]),
        **ctx.index_freshness(),
    }


@router.get("/community/series", response_model=CommunitySeries,
            summary="Per time bucket: generation, consumption, battery charge, average price (the day's chart)")
async def community_series(
    ctx: Ctx,
    hours: Hours = 24,
    bucketMinutes: Annotated[int, Query(ge=1, le=24 * 60)] = 60,  # noqa: N803 - the query's public name
) -> Response:
    bucket = bucketMinutes * 60
    if hours * 3600 // bucket > 2000:
        from frontend_api.api.deps import ApiError

        raise ApiError(422, "too_many_buckets", f"{hours} h in {bucketMinutes}-minute buckets is more than 2000 "
                       "points: use larger buckets")
    return await views.cached_json(ctx, ("series", hours, bucket), lambda: series_body(ctx, hours, bucket),
                                   CommunitySeries)


def series_body(ctx: Ctx, hours: int, bucket: int) -> dict:
    head, head_ts, _ = ctx.chain.head()
    since = head_ts - hours * 3600
    utility = ctx.chain.cached(("utility",), head, lambda b: ctx.chain.battery.functions.utilityPrice().call(
        block_identifier=b))

    def compute() -> dict:
        points = ctx.queries.series(since, head_ts, bucket)
        return {
            "since": since, "until": head_ts, "bucketS": bucket, "utilityPrice": units.tsl(utility),
            "points": [{"start": p["start"], "generatedWh": p["generated_wh"], "consumedWh": p["consumed_wh"],
                        "stateOfChargeWh": p["state_of_charge_wh"], "volumeWh": p["volume_wh"],
                        "averagePrice": _average(p["volume_tsl"], p["volume_wh"])} for p in points],
        }

    # The chart: cached per indexed block and window (every open page asks for it on each block).
    body = ctx.from_index(("series", since, head_ts, bucket, utility), compute)
    return {**body, **ctx.index_freshness()}
