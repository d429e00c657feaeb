"""Storage rent: the cumulative index, prepaid TSL, payment in kind, the operator."""

from __future__ import annotations

import pytest

from energo.constants import TSL, WATT
from energo.constants import WATT_PER_WH as WH
from energo.facts import REFERENCE_RENT_PER_WATT_DAY
from energo.tx import TxFailed

DAY = 86_400


def ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def block_ts(kit, receipt) -> int:
    return kit.w3.eth.get_block(receipt["blockNumber"])["timestamp"]


def holding_with_tsl(kit, treasury, household, wh: int, tsl: int):
    """A household holding `wh` Wh of WATT with `tsl` prepaid; rent settled now."""
    if tsl:
        kit.fund(treasury, household, tsl)
        kit.deposit(household, tsl)
    meter = kit.register(household.address, rated_power_w=10_000_000)
    kit.charge(meter, ceil_div(wh * 10_000, 9_500))
    assert kit.battery.functions.balanceOf(household.address).call() == wh * WH
    return meter


def test_rent_accrues_over_time_on_the_index(kit, households, treasury):
    h = households[0]
    holding_with_tsl(kit, treasury, h, 950, 10 * TSL)
    b = kit.battery.functions
    r0 = h.transact(b.settleRent(h.address))
    idx0, free0 = b.rentIndex().call(), b.freeTslOf(h.address).call()
    assert b.pendingRent(h.address).call() == [0, 0]
    kit.advance(DAY)
    idx_view = b.rentIndex().call()
    assert b.pendingRent(h.address).call() == [ceil_div(950 * WH * (idx_view - idx0), WATT), 0]
    r1 = h.transact(b.settleRent(h.address))
    idx1 = b.rentIndex().call()
    elapsed = block_ts(kit, r1) - block_ts(kit, r0)
    assert idx1 - idx0 == ceil_div(REFERENCE_RENT_PER_WATT_DAY * elapsed, DAY)
    due = ceil_div(950 * WH * (idx1 - idx0), WATT)
    assert free0 - b.freeTslOf(h.address).call() == due
    assert b.rentCollected().call() == due
    assert abs(due - REFERENCE_RENT_PER_WATT_DAY * 95 // 100) < REFERENCE_RENT_PER_WATT_DAY // 1_000  # ~ one day


def test_rate_change_applies_only_going_forward(kit, households, treasury, admin):
    h = households[0]
    holding_with_tsl(kit, treasury, h, 1_000, 10 * TSL)
    b = kit.battery.functions
    r0 = h.transact(b.settleRent(h.address))
    idx0 = b.rentIndex().call()
    kit.advance(DAY)
    r1 = admin.transact(b.setRentRate(2 * REFERENCE_RENT_PER_WATT_DAY))
    assert kit.events(kit.battery, "RentRateChanged", r1) == [
        {"oldRentPerWattDay": REFERENCE_RENT_PER_WATT_DAY, "newRentPerWattDay": 2 * REFERENCE_RENT_PER_WATT_DAY}]
    idx1 = b.rentIndex().call()
    assert idx1 - idx0 == ceil_div(REFERENCE_RENT_PER_WATT_DAY * (block_ts(kit, r1) - block_ts(kit, r0)), DAY)
    kit.advance(DAY)
    r2 = h.transact(b.settleRent(h.address))
    idx2 = b.rentIndex().call()
    assert idx2 - idx1 == ceil_div(2 * REFERENCE_RENT_PER_WATT_DAY * (block_ts(kit, r2) - block_ts(kit, r1)), DAY)
    assert b.rentCollected().call() == ceil_div(1_000 * WH * (idx2 - idx0), WATT)


def test_rent_is_paid_in_kind_when_free_tsl_runs_out(kit, households, treasury, operator):
    h = households[0]
    holding_with_tsl(kit, treasury, h, 1_000, TSL // 1_000)  # 0.001 TSL: a fraction of a day
    b = kit.battery.functions
    r0 = h.transact(b.settleRent(h.address))
    idx0, free0 = b.rentIndex().call(), b.freeTslOf(h.address).call()
    kit.advance(10 * DAY)
    receipt = h.transact(b.settleRent(h.address))
    due = ceil_div(1_000 * WH * (b.rentIndex().call() - idx0), WATT)
    shortfall = due - free0
    price = b.utilityPrice().call()
    watt_paid = ceil_div(shortfall * WATT, price)  # rounded in the operator's favour
    assert kit.events(kit.battery, "RentPaidInKind", receipt) == [
        {"account": h.address, "tslShortfall": shortfall, "wattPaid": watt_paid}]
    assert kit.events(kit.battery, "Transfer", receipt) == [{"from": h.address, "to": operator.address,
                                                             "value": watt_paid}]
    assert b.freeTslOf(h.address).call() == 0
    assert b.balanceOf(h.address).call() == 1_000 * WH - watt_paid
    assert b.balanceOf(operator.address).call() == watt_paid
    assert b.rentCollected().call() == TSL // 1_000  # every prepaid TSL went to rent first
    assert b.totalSupply().call() == 1_000 * WH  # moved, not burned
    assert block_ts(kit, receipt) > block_ts(kit, r0)


def test_rent_in_kind_never_leaves_a_debt_when_the_holding_is_exhausted(kit, households, treasury, operator):
    h = households[0]
    holding_with_tsl(kit, treasury, h, 10, 0)
    kit.advance(1_000 * DAY)  # rent worth more than the holding at the utility price
    receipt = h.transact(kit.battery.functions.settleRent(h.address))
    (event,) = kit.events(kit.battery, "RentPaidInKind", receipt)
    assert event["wattPaid"] == 10 * WH
    assert kit.battery.functions.balanceOf(h.address).call() == 0
    assert kit.battery.functions.pendingRent(h.address).call() == [0, 0]
    assert kit.battery.functions.balanceOf(operator.address).call() == 10 * WH


def test_rent_in_kind_shrinks_the_lock(kit, households, treasury, market):
    h = households[0]
    holding_with_tsl(kit, treasury, h, 1_000, 0)
    b = kit.battery.functions
    market.transact(b.lockWatt(h.address, 1_000 * WH))
    kit.advance(30 * DAY)
    h.transact(b.settleRent(h.address))
    balance = b.balanceOf(h.address).call()
    assert balance < 1_000 * WH
    assert b.lockedWattOf(h.address).call() == balance // WH * WH
    assert b.spendableWattOf(h.address).call() == balance % WH
    unlocked = market.transact(b.unlockWatt(h.address, 1_000 * WH))
    assert unlocked["status"] == 1 and b.lockedWattOf(h.address).call() == 0


def test_pending_rent_view_splits_tsl_and_watt(kit, households, treasury):
    h = households[0]
    holding_with_tsl(kit, treasury, h, 1_000, TSL // 1_000)
    b = kit.battery.functions
    h.transact(b.settleRent(h.address))
    idx0, free = b.rentIndex().call(), b.freeTslOf(h.address).call()
    kit.advance(5 * DAY)
    due = ceil_div(1_000 * WH * (b.rentIndex().call() - idx0), WATT)
    assert b.pendingRent(h.address).call() == [free, ceil_div((due - free) * WATT, b.utilityPrice().call())]
    assert b.daysOfStorage(h.address).call() == 0


def test_operator_claims_collected_rent(kit, households, treasury, operator, attacker):
    h = households[0]
    holding_with_tsl(kit, treasury, h, 1_000, 10 * TSL)
    b = kit.battery.functions
    kit.advance(DAY)
    h.transact(b.settleRent(h.address))
    collected = b.rentCollected().call()
    assert collected > 0
    with pytest.raises(TxFailed) as err:
        attacker.transact(b.claimRent())
    assert (err.value.error, err.value.args_) == ("BatteryNotOperator", (attacker.address,))
    before = kit.system.tsl.functions.balanceOf(operator.address).call()
    receipt = operator.transact(b.claimRent())
    assert kit.events(kit.battery, "RentClaimed", receipt) == [{"operator": operator.address, "amount": collected}]
    assert kit.system.tsl.functions.balanceOf(operator.address).call() - before == collected
    assert b.rentCollected().call() == 0


def test_operator_account_is_rent_exempt(kit, households, operator, treasury):
    h = households[0]
    holding_with_tsl(kit, treasury, h, 1_000, 0)
    kit.advance(DAY)
    h.transact(kit.battery.functions.settleRent(h.address))  # pays in kind: the operator now holds WATT
    held = kit.battery.functions.balanceOf(operator.address).call()
    assert held > 0
    kit.advance(100 * DAY)
    assert kit.battery.functions.pendingRent(operator.address).call() == [0, 0]
    assert kit.battery.functions.daysOfStorage(operator.address).call() == 2**256 - 1
    operator.transact(kit.battery.functions.settleRent(operator.address))
    assert kit.battery.functions.balanceOf(operator.address).call() == held


def test_changing_operator_pays_the_old_one_and_ends_its_exemption(kit, households, treasury, operator, admin):
    h, new_operator = households[0], households[5]
    holding_with_tsl(kit, treasury, h, 1_000, 10 * TSL)
    b = kit.battery.functions
    kit.advance(DAY)
    h.transact(b.settleRent(h.address))
    collected = b.rentCollected().call()
    before = kit.system.tsl.functions.balanceOf(operator.address).call()
    receipt = admin.transact(b.setOperator(new_operator.address))
    assert kit.events(kit.battery, "OperatorChanged", receipt) == [{"oldOperator": operator.address,
                                                                   "newOperator": new_operator.address}]
    assert kit.system.tsl.functions.balanceOf(operator.address).call() - before == collected
    assert b.operator().call() == new_operator.address
    assert b.pendingRent(operator.address).call() == [0, 0]


def test_reference_screen_shows_88_days(kit, households, treasury, admin):
    """mission.md: 2018.23 WATT with 617.9 TSL prepaid is covered for 88 days."""
    h = households[0]
    b = kit.battery.functions
    assert b.rentPerWattDay().call() == REFERENCE_RENT_PER_WATT_DAY
    admin.transact(b.setCapacity(3_000_000))
    admin.transact(b.setChargeEfficiency(10_000))
    kit.fund(treasury, h, 617_900 * TSL // 1_000)
    kit.deposit(h, 617_900 * TSL // 1_000)
    meter = kit.register(h.address, rated_power_w=2**32 - 1)
    kit.advance(1_800)
    kit.submit(kit.next_record(meter, export_delta=2_018_230))
    assert b.balanceOf(h.address).call() == 201_823 * WATT // 100
    assert b.freeTslOf(h.address).call() == 6_179 * TSL // 10
    days = b.daysOfStorage(h.address).call()
    assert f"{days / 10**18:.2f}" == "88.00"


def test_days_of_storage_without_watt_is_unbounded(kit, households):
    assert kit.battery.functions.daysOfStorage(households[0].address).call() == 2**256 - 1
