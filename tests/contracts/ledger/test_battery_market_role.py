"""H-2: MARKET_ROLE only for market contracts bound to this battery, never an EOA, and a
market's escrow is never stranded by revoking the role (the market is retired: it may
still unlock and settle from locks, never lock or touch free balances). Before, the
battery granted MARKET_ROLE to any address, and revoking it made every unlock revert."""

from __future__ import annotations

import pytest
from web3.logs import DISCARD

from energo.constants import TSL
from energo.constants import WATT_PER_WH as WH
from energo.facts import MARKET_ROLE, MarketSettings, Side
from energo.tx import TxFailed
from energo_deploy.markets import deploy_market

ZERO = "0x" + "00" * 20


def revert_of(sender, fn) -> tuple:
    with pytest.raises(TxFailed) as err:
        sender.transact(fn)
    return err.value.error, err.value.args_


def test_market_role_only_for_a_market_of_this_battery(kit, admin, attacker, system):
    b = kit.battery.functions
    assert revert_of(admin, b.grantRole(MARKET_ROLE, attacker.address)) == ("BatteryNotAMarket", (attacker.address,))
    # code, but no battery(): the TSL token
    assert revert_of(admin, b.grantRole(MARKET_ROLE, system.tsl.address)) == ("BatteryNotAMarket",
                                                                              (system.tsl.address,))
    # a market bound to another battery
    c = system.config
    other = admin.deploy("SharedBattery", admin.address, system.tsl.address, admin.address, c.capacity_wh,
                         c.charge_efficiency_bps, c.rent_per_watt_day, c.utility_price, c.reserve_tolerance_wh,
                         c.battery_limits())
    settings = MarketSettings()
    foreign = admin.deploy(settings.contract, *settings.constructor_args(other.address))
    assert revert_of(admin, b.grantRole(MARKET_ROLE, foreign.address)) == ("BatteryNotAMarket", (foreign.address,))
    # its own market
    own = admin.deploy(settings.contract, *settings.constructor_args(kit.battery.address))
    admin.transact(b.grantRole(MARKET_ROLE, own.address))
    assert b.hasRole(MARKET_ROLE, own.address).call()


def test_a_retired_market_unlocks_and_settles_from_locks_only(kit, households, treasury, admin, market):
    b = kit.battery.functions
    seller, buyer, other = households[0], households[1], households[2]
    kit.charge(kit.register(seller.address), 2_000)  # 1,900 Wh
    for h in (buyer, other):
        kit.fund(treasury, h, 20 * TSL)
        kit.deposit(h, 20 * TSL)
    market.transact(b.lockWatt(seller.address, 1_000 * WH))
    market.transact(b.lockTsl(buyer.address, 10 * TSL))
    admin.transact(b.revokeRole(MARKET_ROLE, market.address))
    assert b.isRetiredMarket(market.address).call()

    unauthorized = ("AccessControlUnauthorizedAccount", (market.address, MARKET_ROLE))
    assert revert_of(market, b.lockWatt(seller.address, WH)) == unauthorized
    assert revert_of(market, b.lockTsl(other.address, TSL)) == unauthorized
    for seller_locked, buyer_locked in ((False, True), (True, False), (False, False)):
        fill = (seller.address, other.address, WH, TSL, 0, ZERO, seller_locked, buyer_locked)
        assert revert_of(market, b.settleFill(fill)) == ("BatteryMarketRetired", (market.address,))

    # what its open orders hold still settles and unlocks
    market.transact(b.settleFill((seller.address, buyer.address, 400 * WH, 4 * TSL, 0, ZERO, True, True)))
    assert b.balanceOf(buyer.address).call() == 400 * WH
    market.transact(b.unlockWatt(seller.address, 600 * WH))
    market.transact(b.unlockTsl(buyer.address, 6 * TSL))
    assert b.lockedWattOf(seller.address).call() == 0
    assert b.lockedTslOf(buyer.address).call() == 0
    assert b.freeTslOf(buyer.address).call() == pytest.approx(16 * TSL, abs=10**15)  # minus a moment's rent

    # an account that never was a market gets nothing of this
    assert revert_of(households[3], b.unlockTsl(buyer.address, 1)) == (
        "AccessControlUnauthorizedAccount", (households[3].address, MARKET_ROLE))


def test_revoking_a_live_market_strands_no_escrow(kit, system, households, treasury, admin):
    """End to end through a real ContinuousMarket: a buy order's TSL and a sell order's
    WATT come back when their owners cancel after the market lost MARKET_ROLE."""
    b = kit.battery.functions
    market = deploy_market(system, MarketSettings(mode="continuous"), name="retiring")
    seller, buyer = households[0], households[1]
    kit.charge(kit.register(seller.address), 2_000)
    kit.fund(treasury, buyer, 20 * TSL)
    kit.deposit(buyer, 20 * TSL)
    price = 500 * MarketSettings().tick_size
    ask_id = _placed(market, seller.transact(market.functions.placeOrder(Side.SELL, price * 2, 1_000, 0, False)))
    bid_id = _placed(market, buyer.transact(market.functions.placeOrder(Side.BUY, price, 1_000, 0, False)))
    assert b.lockedTslOf(buyer.address).call() == price * 1_000 // 1_000
    assert b.lockedWattOf(seller.address).call() == 1_000 * WH

    admin.transact(b.revokeRole(MARKET_ROLE, market.address))
    with pytest.raises(TxFailed):  # no new order: it would lock
        buyer.transact(market.functions.placeOrder(Side.BUY, price, 1_000, 0, False))
    buyer.transact(market.functions.cancelOrder(bid_id))
    seller.transact(market.functions.cancelOrder(ask_id))
    assert b.lockedTslOf(buyer.address).call() == 0
    assert b.lockedWattOf(seller.address).call() == 0
    buyer.transact(b.withdraw(b.freeTslOf(buyer.address).call()))  # all of it is free again


def _placed(market, receipt) -> int:
    [placed] = market.events.OrderPlaced().process_receipt(receipt, errors=DISCARD)
    return placed["args"]["orderId"]
