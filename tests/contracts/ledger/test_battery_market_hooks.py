"""Market hooks: WATT and TSL locks and the settlement of fills (called by a MARKET_ROLE account)."""

from __future__ import annotations

import pytest

from energo.constants import TSL
from energo.constants import WATT_PER_WH as WH
from energo.tx import TxFailed

ZERO = "0x" + "00" * 20


@pytest.fixture
def seller(kit, households, treasury):
    h = households[0]
    kit.fund(treasury, h, 10 * TSL)
    kit.deposit(h, 10 * TSL)
    kit.charge(kit.register(h.address), 2_000)  # 1,900 Wh
    return h


@pytest.fixture
def buyer(kit, households, treasury):
    h = households[1]
    kit.fund(treasury, h, 100 * TSL)
    kit.deposit(h, 50 * TSL)
    return h


def fill(seller, buyer, wh, tsl, fee=0, fee_to=ZERO, seller_locked=True, buyer_locked=True):
    return (seller.address, buyer.address, wh * WH, tsl, fee, fee_to, seller_locked, buyer_locked)


def test_lock_and_unlock_watt(kit, seller, market):
    b = kit.battery.functions
    market.transact(b.lockWatt(seller.address, 1_500 * WH))
    assert b.lockedWattOf(seller.address).call() == 1_500 * WH
    assert b.spendableWattOf(seller.address).call() == 400 * WH
    assert b.balanceOf(seller.address).call() == 1_900 * WH  # still owned, still paying rent
    with pytest.raises(TxFailed) as err:
        market.transact(b.lockWatt(seller.address, 401 * WH))
    assert (err.value.error, err.value.args_) == ("BatteryInsufficientSpendableWatt",
                                                   (seller.address, 400 * WH, 401 * WH))
    with pytest.raises(TxFailed) as err:
        market.transact(b.lockWatt(seller.address, WH + 1))
    assert (err.value.error, err.value.args_) == ("BatteryNotWholeWh", (WH + 1,))
    assert b.unlockWatt(seller.address, 500 * WH).call({"from": market.address}) == 500 * WH
    market.transact(b.unlockWatt(seller.address, 500 * WH))
    assert b.lockedWattOf(seller.address).call() == 1_000 * WH


def test_lock_and_unlock_tsl(kit, buyer, market):
    b = kit.battery.functions
    market.transact(b.lockTsl(buyer.address, 30 * TSL))
    assert b.lockedTslOf(buyer.address).call() == 30 * TSL
    assert b.freeTslOf(buyer.address).call() == 20 * TSL
    with pytest.raises(TxFailed) as err:
        market.transact(b.lockTsl(buyer.address, 21 * TSL))
    assert (err.value.error, err.value.args_) == ("BatteryInsufficientFreeTsl",
                                                   (buyer.address, 20 * TSL, 21 * TSL))
    with pytest.raises(TxFailed) as err:
        market.transact(b.unlockTsl(buyer.address, 31 * TSL))
    assert (err.value.error, err.value.args_) == ("BatteryInsufficientLockedTsl",
                                                   (buyer.address, 30 * TSL, 31 * TSL))
    market.transact(b.unlockTsl(buyer.address, 10 * TSL))
    assert b.lockedTslOf(buyer.address).call() == 20 * TSL
    assert b.freeTslOf(buyer.address).call() == 30 * TSL
    with pytest.raises(TxFailed) as err:  # locked TSL is not withdrawable
        buyer.transact(b.withdraw(31 * TSL))
    assert err.value.error == "BatteryInsufficientFreeTsl"


def test_settle_fill_from_locks_moves_watt_tsl_and_fee(kit, seller, buyer, market, operator):
    b = kit.battery.functions
    market.transact(b.lockWatt(seller.address, 1_000 * WH))
    market.transact(b.lockTsl(buyer.address, 5 * TSL))
    seller_free = b.freeTslOf(seller.address).call()
    op_free = b.freeTslOf(operator.address).call()
    the_fill = fill(seller, buyer, 1_000, 4 * TSL, fee=TSL // 10, fee_to=operator.address)
    assert b.settleFill(the_fill).call({"from": market.address}) == 1_000 * WH
    receipt = market.transact(b.settleFill(the_fill))
    assert kit.events(kit.battery, "Transfer", receipt) == [{"from": seller.address, "to": buyer.address,
                                                             "value": 1_000 * WH}]
    assert b.balanceOf(buyer.address).call() == 1_000 * WH
    assert b.balanceOf(seller.address).call() == 900 * WH
    assert b.lockedWattOf(seller.address).call() == 0
    assert b.lockedTslOf(buyer.address).call() == TSL
    assert b.freeTslOf(seller.address).call() >= seller_free + 4 * TSL - TSL // 10 - 10**14  # minus a moment's rent
    assert b.freeTslOf(operator.address).call() == op_free + TSL // 10
    assert kit.counters(seller.address)["sold"] == 1_000
    assert kit.counters(buyer.address)["purchased"] == 1_000


def test_bought_energy_serves_the_buyers_consumption(kit, seller, buyer, market):
    b = kit.battery.functions
    market.transact(b.settleFill(fill(seller, buyer, 500, TSL, seller_locked=False, buyer_locked=False)))
    meter = kit.register(buyer.address)
    kit.advance(900)
    kit.submit(kit.next_record(meter, import_delta=600))
    assert kit.counters(buyer.address)["from_battery"] == 500
    assert kit.counters(buyer.address)["from_grid"] == 100


def test_settle_fill_from_free_balances_checks_them(kit, seller, buyer, market):
    b = kit.battery.functions
    with pytest.raises(TxFailed) as err:
        market.transact(b.settleFill(fill(seller, buyer, 2_000, TSL, seller_locked=False, buyer_locked=False)))
    assert (err.value.error, err.value.args_) == ("BatteryInsufficientSpendableWatt",
                                                   (seller.address, 1_900 * WH, 2_000 * WH))
    with pytest.raises(TxFailed) as err:
        market.transact(b.settleFill(fill(seller, buyer, 100, 51 * TSL, seller_locked=False, buyer_locked=False)))
    assert err.value.error == "BatteryInsufficientFreeTsl"
    assert err.value.args_[0] == buyer.address and err.value.args_[2] == 51 * TSL
    with pytest.raises(TxFailed) as err:
        market.transact(b.settleFill(fill(seller, buyer, 100, TSL, seller_locked=False, buyer_locked=True)))
    assert (err.value.error, err.value.args_) == ("BatteryInsufficientLockedTsl", (buyer.address, 0, TSL))
    with pytest.raises(TxFailed) as err:
        market.transact(b.settleFill((seller.address, buyer.address, WH + 1, TSL, 0, ZERO, False, False)))
    assert (err.value.error, err.value.args_) == ("BatteryNotWholeWh", (WH + 1,))
    with pytest.raises(TxFailed) as err:
        market.transact(b.settleFill(fill(seller, buyer, 1, TSL, fee=TSL + 1, fee_to=buyer.address)))
    assert (err.value.error, err.value.args_) == ("BatteryAmountTooLarge", (TSL + 1, TSL))


def test_fill_after_rent_in_kind_shrank_the_lock_moves_pro_rata(kit, households, buyer, market, operator):
    seller = households[2]
    kit.charge(kit.register(seller.address), 1_053)  # 1,000 Wh, no TSL: rent will be paid in kind
    b = kit.battery.functions
    market.transact(b.lockWatt(seller.address, 1_000 * WH))
    market.transact(b.lockTsl(buyer.address, 10 * TSL))
    kit.advance(30 * 86_400)
    receipt = market.transact(b.settleFill(fill(seller, buyer, 1_000, 10 * TSL, fee=TSL, fee_to=operator.address)))
    (in_kind,) = kit.events(kit.battery, "RentPaidInKind", receipt)
    moved = 1_000 * WH - -(-in_kind["wattPaid"] // WH) * WH  # the lock kept whole Wh only
    transfers = kit.events(kit.battery, "Transfer", receipt)
    assert transfers[-1] == {"from": seller.address, "to": buyer.address, "value": moved}
    tsl_moved = 10 * TSL * moved // (1_000 * WH)
    fee = TSL * moved // (1_000 * WH)
    assert b.freeTslOf(seller.address).call() == tsl_moved - fee
    assert b.lockedTslOf(buyer.address).call() == 10 * TSL - tsl_moved  # the market unlocks the rest
    assert b.lockedWattOf(seller.address).call() == 0
