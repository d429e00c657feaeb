"""The community demo end to end, against an independent computation.

A small community (4 households, a day in 8 intervals of 3 hours, so the sun shines in
some of them) runs through the same code as `make demo` (start_community, run_day,
finish). Its report is then checked against figures recomputed here from the simulated
meters' registers at the interval timestamps and the ledger's documented rules
(ISharedBattery.recordFlows), replaying the trades the chain recorded.
"""

from __future__ import annotations

import math

import pytest
from web3 import Web3

from energo.constants import WATT_PER_WH
from energo_community import CommunityOptions, start_community
from energo_community.options import DAY_ONE
from energo_community.run import finish, run_day
from oracle.meters.base import ManualClock
from oracle.meters.simulated import HouseholdProfile, SimulatedHousehold

HOUSEHOLDS = 4
INTERVAL_MINUTES = 180
INTERVALS = 24 * 60 // INTERVAL_MINUTES
EFFICIENCY_BPS = 9_500  # deploy/local.toml
CAPACITY_WH = 500_000


@pytest.fixture(scope="module", params=["continuous", "auction"])
def day(request, tmp_path_factory):
    """(report, chain facts read here while the chain is still up)."""
    options = CommunityOptions(households=HOUSEHOLDS, interval_minutes=INTERVAL_MINUTES, mode=request.param,
                               seed=7, out=tmp_path_factory.mktemp(f"community-{request.param}"))
    with start_community(options) as community:
        run_day(community, progress=False)
        report, checks, chart, _path = finish(community)
        w3 = community.w3
        market = community.handles().contracts[community.market_name]
        battery = community.handles().contracts["SharedBattery"]

        def count(address: str, signature: str) -> int:
            return len(w3.eth.get_logs({"address": address, "fromBlock": 0, "toBlock": "latest",
                                        "topics": [Web3.to_hex(Web3.keccak(text=signature))]}))

        facts = {
            "traded_events": count(market, "Traded(address,address,uint256,uint256,uint256,uint256,uint256)"),
            "rent_in_kind_events": count(battery, "RentPaidInKind(address,uint256,uint256)"),
            "chart": chart,
        }
    return report, facts


def registers(row: dict) -> list[tuple[int, int]]:
    """(import Wh, export Wh) of the household's meter at T0 ... T(INTERVALS)."""
    clock = ManualClock(DAY_ONE)
    meter = SimulatedHousehold(HouseholdProfile(row["profile_seed"], row["pv_peak_w"], row["daily_load_wh"]),
                               clock, origin=DAY_ONE)
    values = []
    for k in range(INTERVALS + 1):
        clock.timestamp = DAY_ONE + k * INTERVAL_MINUTES * 60
        reading = meter.read()
        values.append((reading.import_wh, reading.export_wh))
    return values


def replay(report: dict) -> dict[str, dict]:
    """The ledger's rules over the registers' deltas, with the recorded trades in between."""
    rows = report["households"]
    regs = {row["name"]: registers(row) for row in rows}
    state = {row["name"]: dict(balance=0, generated=0, stored=0, spilled=0, battery=0, grid=0, bought=0, sold=0)
             for row in rows}
    supply = 0
    for k in range(1, INTERVALS + 1):
        for name, s in state.items():
            imported = regs[name][k][0] - regs[name][k - 1][0]
            exported = regs[name][k][1] - regs[name][k - 1][1]
            stored = min(exported * EFFICIENCY_BPS // 10_000, CAPACITY_WH - supply)
            s["generated"] += exported
            s["stored"] += stored
            s["spilled"] += exported - math.ceil(stored * 10_000 / EFFICIENCY_BPS)
            s["balance"] += stored
            served = min(imported, s["balance"])
            s["balance"] -= served
            s["battery"] += served
            s["grid"] += imported - served
            supply += stored - served
        for trade in report["trades"]:
            if trade["interval"] == k:
                amount = trade["amount_wh"]
                state[trade["seller"]]["balance"] -= amount
                state[trade["seller"]]["sold"] += amount
                state[trade["buyer"]]["balance"] += amount
                state[trade["buyer"]]["bought"] += amount
                assert state[trade["seller"]]["balance"] >= 0
    return state


def test_energy_per_household_matches_the_meters_and_the_ledger_rules(day):
    report, facts = day
    assert facts["rent_in_kind_events"] == 0, "prepaid rent should cover the day: the replay assumes it"
    expected = replay(report)
    for row in report["households"]:
        e = expected[row["name"]]
        got = {key: row[f"{key}_wh"] for key in ("generated", "stored", "spilled")}
        got.update(battery=row["consumed_battery_wh"], grid=row["consumed_grid_wh"], bought=row["purchased_wh"],
                   sold=row["sold_wh"])
        assert got == {key: e[key] for key in got}, row["name"]
        assert row["watt"] == e["balance"] * WATT_PER_WH, row["name"]
        consumed = registers(row)[-1][0]
        assert row["consumed_battery_wh"] + row["consumed_grid_wh"] == consumed
        assert row["generated_wh"] == registers(row)[-1][1]


def test_supply_and_trades(day):
    report, facts = day
    expected = replay(report)
    community = report["community"]
    assert community["watt_supply_wh"] == sum(e["balance"] for e in expected.values())
    assert community["trades"] == facts["traded_events"] == len(report["trades"])
    assert community["trades"] > 0, "a sunny day with buyers and sellers must trade"
    assert community["purchased_wh"] == community["sold_wh"] == community["volume_wh"]
    assert 0 < community["average_price"] < report["utility_price"]
    assert community["readings"] == (INTERVALS + 1) * (HOUSEHOLDS + 1)
    assert community["readings_rejected"] == 0
    assert community["gas_per_reading"] > 0 and community["gas_per_trade"] > 0


def test_invariants_hold_and_chart_is_written(day):
    report, facts = day
    assert [i for i in report["invariants"] if not i["ok"]] == []
    assert len(report["invariants"]) == 5
    assert facts["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_about_half_the_households_have_pv(day):
    report, _facts = day
    with_pv = [row for row in report["households"] if row["pv_peak_w"] > 0]
    assert len(with_pv) == HOUSEHOLDS // 2
    assert all(row["generated_wh"] == 0 for row in report["households"] if row["pv_peak_w"] == 0)
