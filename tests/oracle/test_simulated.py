"""Simulated meters: seeded days, cumulative registers, a battery that follows the flows."""

from __future__ import annotations

from oracle.meters.base import AcceleratedClock, ManualClock
from oracle.meters.simulated import HouseholdProfile, SimulatedBattery, SimulatedHousehold

MIDNIGHT = 1_767_225_600  # 2026-01-01T00:00:00Z


def _day(seed: int, step_s: int = 900) -> list[tuple[int, int]]:
    clock = ManualClock(MIDNIGHT)
    meter = SimulatedHousehold(HouseholdProfile(seed), clock)
    out = []
    for _ in range(86_400 // step_s):
        clock.advance(step_s)
        registers = meter.read()
        out.append((registers.import_wh, registers.export_wh))
    return out


def test_same_seed_same_day_other_seed_other_day():
    assert _day(3) == _day(3)
    assert _day(3) != _day(4)


def test_registers_never_go_down_and_follow_the_sun():
    day = _day(5)
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(day, day[1:], strict=False))
    exported_by_hour = [day[h * 4 + 3][1] - (day[h * 4 - 1][1] if h else 0) for h in range(24)]
    assert sum(exported_by_hour[:6]) == 0, "no PV export before dawn"
    assert sum(exported_by_hour[10:15]) > 0, "PV surplus around noon"
    daily_import = day[-1][0]
    assert 1_000 < daily_import < 15_000  # a 9 kWh/day home minus what its PV covers


def test_reading_interval_does_not_change_the_energy():
    coarse = _day(8, step_s=3600)[-1]
    fine = _day(8, step_s=60)[-1]
    assert abs(coarse[0] - fine[0]) <= 2 and abs(coarse[1] - fine[1]) <= 2  # only integer rounding


def test_power_stays_physical_under_an_accelerated_clock():
    ticks = iter(range(0, 10_000))
    clock = AcceleratedClock(MIDNIGHT + 12 * 3600, speed=600, monotonic=lambda: next(ticks) * 0.1)
    meter = SimulatedHousehold(HouseholdProfile(1, pv_peak_w=5000), clock)
    previous, previous_t = meter.read(), clock.now()
    for _ in range(50):
        registers, now = meter.read(), clock.now()
        energy = registers.import_wh - previous.import_wh + registers.export_wh - previous.export_wh
        assert energy * 3600 <= 15_000 * (now - previous_t) + 3600  # 15 kW bound, 1 Wh rounding
        previous, previous_t = registers, now


def test_battery_charges_from_exports_and_serves_owners():
    clock = ManualClock(MIDNIGHT + 10 * 3600)  # mid-morning: PV surplus
    profiles = [HouseholdProfile(seed, pv_peak_w=6000) for seed in range(4)]
    battery = SimulatedBattery(profiles, clock, capacity_wh=1_000_000, charge_efficiency_bps=9000)
    clock.advance(8 * 3600)  # 18:00, the sun is down
    noon = battery.read()
    assert noon.import_wh > 0
    assert abs(noon.state_of_charge_wh - (noon.import_wh - noon.export_wh)) <= 1  # registers are whole Wh
    clock.advance(6 * 3600)  # evening: households draw from what they own
    evening = battery.read()
    assert evening.export_wh > noon.export_wh
    assert evening.state_of_charge_wh < noon.state_of_charge_wh
    owned = sum(battery.owned_wh(i) for i in range(4))
    assert abs(owned - battery.state.soc_wh) < 1e-6, "every stored Wh belongs to someone"


def test_battery_capacity_spills_the_rest_and_trades_move_ownership():
    clock = ManualClock(MIDNIGHT + 9 * 3600)
    battery = SimulatedBattery([HouseholdProfile(1, pv_peak_w=20_000), HouseholdProfile(2, pv_peak_w=0)],
                               clock, capacity_wh=2_000)
    clock.advance(5 * 3600)
    assert battery.read().state_of_charge_wh == 2_000
    assert battery.state.spilled_wh > 0
    battery.record_trade(seller=0, buyer=1, wh=500)
    assert battery.owned_wh(1) == 500


def test_battery_and_household_gateways_agree_on_the_flows():
    clock = ManualClock(MIDNIGHT)
    profile = HouseholdProfile(9)
    household = SimulatedHousehold(profile, clock, origin=MIDNIGHT)
    battery = SimulatedBattery([profile], clock, charge_efficiency_bps=10_000, origin=MIDNIGHT)
    clock.advance(86_400)
    h, b = household.read(), battery.read()
    assert abs(b.import_wh - h.export_wh) <= 1  # every exported Wh was charged (no losses, room)


def test_configured_simulated_meters_are_built_with_a_shared_origin():
    from oracle.config import MeterSettings
    from oracle.meters import build_meter

    clock = ManualClock(MIDNIGHT + 12 * 3600)
    household_source = {"type": "simulated_household", "seed": 11, "pv_peak_w": 8000}
    household = build_meter(MeterSettings(id=1, key={"keystore": "/k"}, source=household_source), clock,
                            origin=MIDNIGHT)
    battery = build_meter(MeterSettings(id=2, kind="battery", key={"keystore": "/k"}, source={
        "type": "simulated_battery", "charge_efficiency_bps": 10_000, "households": [household_source]}),
        clock, origin=MIDNIGHT)
    h, b = household.read(), battery.read()
    assert h.export_wh > 0 and abs(b.import_wh - h.export_wh) <= 1
    assert b.state_of_charge_wh > 0
