"""The battery's deploy-time bounds and what the admin can no longer do (issue 11's attack
review): the utility price checkpointed into the rent index and bounded (M-4), rent frozen
while paused (L-2), deposits capped below the field width (L-1), the capacity bounded by
the nameplate, and the two-step admin transfer. Each test fails on the contracts before
these bounds (see the docstrings)."""

from __future__ import annotations

import pytest
from web3 import Web3

from energo.constants import TSL
from energo.constants import WATT_PER_WH as WH
from energo.facts import REFERENCE_RENT_PER_WATT_DAY
from energo.tx import TxFailed

MAX_88 = 2**88 - 1
CAP = MAX_88 >> 1
DAY = 86_400
ZERO = "0x" + "00" * 20
ADMIN_ROLE = b"\x00" * 32


def revert_of(sender, fn) -> tuple:
    with pytest.raises(TxFailed) as err:
        sender.transact(fn)
    return err.value.error, err.value.args_


def in_kind(kit, receipt) -> list[dict]:
    return kit.events(kit.battery, "RentPaidInKind", receipt)


@pytest.fixture
def holder(kit, households):
    """A household with 950 Wh of WATT and no TSL: its rent is paid in kind."""
    h = households[0]
    kit.charge(kit.register(h.address), 1_000)
    return h


# ---------------------------------------------------------------- M-4: the utility price


def test_utility_price_is_bounded_and_keeps_rent_within_its_share(kit, admin, system):
    """Before: setUtilityPrice(1) and setUtilityPrice(2**96 - 1) were accepted, and the
    rent rate had no relation to the price."""
    b = kit.battery.functions
    c = system.config
    low, high = c.min_utility_price, c.max_utility_price
    assert tuple(b.limits().call()) == (0, 5_000_000, low, high, 2_000)
    for price in (0, 1, low - 1, high + 1, 2**96 - 1):
        assert revert_of(admin, b.setUtilityPrice(price)) == ("BatteryUtilityPriceOutOfRange", (price, low, high))
    # rent per kWh-day at most 20 % of the price: the reference rent needs a price >= 5x it
    floor = REFERENCE_RENT_PER_WATT_DAY * 5
    assert revert_of(admin, b.setUtilityPrice(floor - 5)) == (
        "BatteryRentRateTooHigh", (REFERENCE_RENT_PER_WATT_DAY, (floor - 5) * 2_000 // 10_000))
    admin.transact(b.setUtilityPrice(floor))
    assert revert_of(admin, b.setRentRate(REFERENCE_RENT_PER_WATT_DAY + 1)) == (
        "BatteryRentRateTooHigh", (REFERENCE_RENT_PER_WATT_DAY + 1, REFERENCE_RENT_PER_WATT_DAY))


def test_price_change_never_acts_backwards(kit, holder, admin, system):
    """A day of rent owed at 0.6 TSL/kWh is paid in kind at 0.6 even when settled after the
    price was halved. Before: the shortfall was converted at the price of the settlement
    (twice the WATT)."""
    b = kit.battery.functions
    old = system.config.utility_price
    kit.advance(DAY)
    tsl_due_before, watt_due_before = b.pendingRent(holder.address).call()
    assert tsl_due_before == 0
    admin.transact(b.setUtilityPrice(old // 2))
    receipt = admin.transact(b.settleRent(holder.address))  # same block time: nothing new accrued
    [paid] = in_kind(kit, receipt)
    assert paid["wattPaid"] == pytest.approx(paid["tslShortfall"] * 10**18 / old, rel=1e-9)
    assert paid["wattPaid"] == pytest.approx(watt_due_before, rel=1e-9)

    # rent accrued after the change converts at the new price
    kit.advance(DAY)
    receipt = admin.transact(b.settleRent(holder.address))
    [later] = in_kind(kit, receipt)
    assert later["wattPaid"] == pytest.approx(later["tslShortfall"] * 10**18 / (old // 2), rel=1e-9)


def test_rent_spanning_price_changes_pays_each_period_at_its_price(kit, households, treasury, admin, system):
    """An account that settles only after two price changes: its free TSL pays the oldest
    rent, and each later period's shortfall converts at that period's price."""
    b = kit.battery.functions
    h = households[1]
    kit.charge(kit.register(h.address), 20_000)  # 19,000 Wh
    watt = b.balanceOf(h.address).call()
    free = watt * b.rentPerWattDay().call() // 10**18 // 2  # half a day's rent
    kit.fund(treasury, h, free)
    kit.deposit(h, free)
    watt = b.balanceOf(h.address).call()
    price = system.config.utility_price
    prices = [price, price * 2, price // 2]
    index0 = b.rentIndex().call()
    kit.advance(DAY)
    admin.transact(b.setUtilityPrice(prices[1]))
    index1 = b.rentIndex().call()
    kit.advance(DAY)
    admin.transact(b.setUtilityPrice(prices[2]))
    index2 = b.rentIndex().call()
    kit.advance(DAY)
    receipt = admin.transact(b.settleRent(h.address))
    [paid] = in_kind(kit, receipt)
    index3 = b.rentIndex().call()
    periods = [(index1 - index0) * watt / 10**18 - free, (index2 - index1) * watt / 10**18,
               (index3 - index2) * watt / 10**18]
    expected = sum(rent * 10**18 / p for rent, p in zip(periods, prices, strict=True))
    assert paid["wattPaid"] == pytest.approx(expected, rel=1e-6)
    assert paid["wattPaid"] != pytest.approx(paid["tslShortfall"] * 10**18 / prices[2], rel=1e-3)


# ---------------------------------------------------------------- L-2: rent frozen while paused


def test_rent_is_frozen_while_paused_and_resumes_without_a_jump(kit, holder, admin):
    """Before: the index kept running during a pause and rent in kind was taken on unpause."""
    b = kit.battery.functions
    rate = b.rentPerWattDay().call()
    admin.transact(b.pause())
    frozen = b.rentIndex().call()
    pending = b.pendingRent(holder.address).call()
    kit.advance(10 * DAY)
    assert b.rentIndex().call() == frozen
    assert b.pendingRent(holder.address).call() == pending
    admin.transact(b.settleRent(holder.address))  # open while paused, takes only what was owed
    assert b.rentIndex().call() == frozen
    admin.transact(b.unpause())
    assert b.rentIndex().call() == frozen  # no jump
    kit.advance(DAY)
    assert b.rentIndex().call() == frozen + rate  # one day's rent, not eleven


# ---------------------------------------------------------------- L-1: deposits below the field


def test_deposits_are_capped_below_the_field(kit, households, treasury):
    """Before: a deposit up to 2**88 - 1 was accepted, and the account's proceeds then
    overflowed the field (BatteryAmountTooLarge) on every fill paying it."""
    h = households[0]
    b = kit.battery.functions
    assert b.MAX_DEPOSIT_TSL().call() == CAP
    kit.fund(treasury, h, CAP + 1)
    h.transact(kit.system.tsl.functions.approve(kit.battery.address, CAP + 1))
    assert revert_of(h, b.deposit(MAX_88 - 10 * TSL)) == (
        "BatteryDepositCapExceeded", (h.address, 0, MAX_88 - 10 * TSL, CAP))
    h.transact(b.deposit(CAP))
    assert revert_of(h, b.deposit(1)) == ("BatteryDepositCapExceeded", (h.address, CAP, 1, CAP))


def test_fills_paying_a_full_account_never_revert(kit, households, treasury, market):
    """An account whose free TSL reached the field's width (a deposit at the cap plus
    proceeds) still gets paid: the excess goes to its wallet. Before: the fill reverted
    (BatteryAmountTooLarge), and with it a whole auction round's clearing."""
    seller, big, small = households[0], households[1], households[2]
    b = kit.battery.functions
    kit.charge(kit.register(seller.address), 1_000)
    for h, amount in ((seller, CAP), (big, CAP), (small, 10 * TSL)):
        kit.fund(treasury, h, amount)
        kit.deposit(h, amount)
    market.transact(b.settleFill((seller.address, big.address, WH, CAP, 0, ZERO, False, False)))
    assert b.freeTslOf(seller.address).call() == 2 * CAP  # MAX_88 - 1: one unit of room
    wallet = kit.system.tsl.functions.balanceOf(seller.address).call()
    receipt = market.transact(b.settleFill((seller.address, small.address, WH, 10 * TSL, 0, ZERO, False, False)))
    assert b.freeTslOf(seller.address).call() == MAX_88
    assert kit.events(kit.battery, "TslPaidOut", receipt) == [{"account": seller.address, "amount": 10 * TSL - 1}]
    assert kit.system.tsl.functions.balanceOf(seller.address).call() == wallet + 10 * TSL - 1
    assert b.balanceOf(small.address).call() == WH


# ---------------------------------------------------------------- the nameplate


def test_capacity_is_bounded_by_the_nameplate(kit, admin):
    """Before: setCapacity took anything up to 309 GWh (H-1's second step)."""
    b = kit.battery.functions
    nameplate = b.NAMEPLATE_WH().call()
    assert nameplate == 5_000_000
    assert revert_of(admin, b.setCapacity(nameplate + 1)) == ("BatteryCapacityAboveNameplate",
                                                              (nameplate + 1, nameplate))
    admin.transact(b.setCapacity(nameplate))
    assert b.capacityWh().call() == nameplate


def test_limits_are_checked_at_deployment(admin, system):
    c = system.config
    args = [admin.address, system.tsl.address, admin.address, c.capacity_wh, c.charge_efficiency_bps,
            c.rent_per_watt_day, c.utility_price, c.reserve_tolerance_wh]
    good = (0, c.capacity_wh, c.min_utility_price, c.max_utility_price, 2_000)
    for limits in ((0, c.capacity_wh, 0, c.max_utility_price, 2_000),  # a zero price floor
                   (0, c.capacity_wh, c.max_utility_price + 1, c.max_utility_price, 2_000),
                   (0, c.capacity_wh, 1, 2**96, 2_000), (0, 2**88, 1, 10**19, 2_000),
                   (0, c.capacity_wh, 1, 10**19, 10_001)):
        with pytest.raises(TxFailed) as err:
            admin.deploy("SharedBattery", *args, limits)
        assert err.value.error == "BatteryInvalidLimits"
    with pytest.raises(TxFailed) as err:  # capacity above the nameplate
        admin.deploy("SharedBattery", *args[:3], c.capacity_wh + 1, *args[4:], good)
    assert err.value.error == "BatteryCapacityAboveNameplate"


# ---------------------------------------------------------------- the two-step admin transfer


def test_admin_transfer_is_two_step_with_the_deploy_delay(kit, admin, attacker, households, system):
    """Before: grantRole(DEFAULT_ADMIN_ROLE, x) handed over the admin in one step, to any
    address, a typo included."""
    b = kit.battery.functions
    heir = households[3]
    assert revert_of(admin, b.grantRole(ADMIN_ROLE, heir.address)) == ("AccessControlEnforcedDefaultAdminRules", ())
    admin.transact(b.beginDefaultAdminTransfer(heir.address))
    assert b.defaultAdmin().call() == admin.address  # nothing moved yet
    kit.advance(1)
    assert revert_of(attacker, b.acceptDefaultAdminTransfer()) == ("AccessControlInvalidDefaultAdmin",
                                                                   (attacker.address,))
    heir.transact(b.acceptDefaultAdminTransfer())
    assert b.defaultAdmin().call() == heir.address
    assert not b.hasRole(ADMIN_ROLE, admin.address).call()

    # with a delay fixed at deployment, the new admin waits it out
    c = system.config
    delayed = admin.deploy("SharedBattery", admin.address, system.tsl.address, admin.address, c.capacity_wh,
                           c.charge_efficiency_bps, c.rent_per_watt_day, c.utility_price, c.reserve_tolerance_wh,
                           (DAY, c.capacity_wh, c.min_utility_price, c.max_utility_price, 2_000))
    receipt = admin.transact(delayed.functions.beginDefaultAdminTransfer(heir.address))
    schedule = kit.w3.eth.get_block(receipt["blockNumber"])["timestamp"] + DAY
    assert revert_of(heir, delayed.functions.acceptDefaultAdminTransfer()) == (
        "AccessControlEnforcedDefaultAdminDelay", (schedule,))
    kit.advance(DAY + 1)
    heir.transact(delayed.functions.acceptDefaultAdminTransfer())
    assert Web3.to_checksum_address(delayed.functions.owner().call()) == heir.address
