"""The shared battery: capacity, state of charge, WATT supply, reserve status."""

from __future__ import annotations

from fastapi import APIRouter

from frontend_api.api.deps import ERROR_RESPONSES, Ctx
from frontend_api.api.schemas import BatteryInfo
from frontend_api.core import units

router = APIRouter(tags=["battery"], responses=ERROR_RESPONSES)


@router.get("/battery", response_model=BatteryInfo, summary="Capacity, state of charge, WATT supply, reserve status")
def battery(ctx: Ctx) -> dict:
    fresh = ctx.freshness()
    head = fresh["block"]

    def compute(block: int) -> dict:
        f = ctx.chain.battery.functions
        return {
            "capacityWh": f.capacityWh().call(block_identifier=block),
            "stateOfChargeWh": f.lastStateOfChargeWh().call(block_identifier=block),
            "supplyWh": f.supplyWh().call(block_identifier=block),
            "totalSupply": f.totalSupply().call(block_identifier=block),
            "chargeEfficiencyBps": f.chargeEfficiencyBps().call(block_identifier=block),
            "reserveToleranceWh": f.reserveToleranceWh().call(block_identifier=block),
            "mintingHalted": f.mintingHalted().call(block_identifier=block),
            "rent": f.rentPerWattDay().call(block_identifier=block),
            "utility": f.utilityPrice().call(block_identifier=block),
        }

    s = ctx.chain.cached(("battery",), head, compute)
    last = ctx.queries.last_state_of_charge()
    return {
        **fresh,
        "address": ctx.chain.battery.address,
        "capacityWh": s["capacityWh"],
        "stateOfChargeWh": s["stateOfChargeWh"],
        "supplyWh": s["supplyWh"],
        "wattSupply": units.watt(s["totalSupply"]),
        "chargeEfficiencyBps": s["chargeEfficiencyBps"],
        "reserveToleranceWh": s["reserveToleranceWh"],
        "mintingHalted": s["mintingHalted"],
        "reserveStatus": "deficit" if s["mintingHalted"] else "ok",
        "reserveMarginWh": s["stateOfChargeWh"] - s["supplyWh"],
        "rentPerKwhDay": units.tsl(s["rent"]),
        "utilityPrice": units.tsl(s["utility"]),
        "lastStateOfChargeReportAt": last.timestamp if last is not None else None,
    }
