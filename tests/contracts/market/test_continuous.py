"""The continuous double auction: one test per rule, and every bad input by name and values."""

from __future__ import annotations

import pytest
from energo_testkit.fixtures import set_next_timestamp, time_travel
from web3.logs import DISCARD

from energo.constants import WATT_PER_WH
from energo.facts import MarketSettings, RemovalReason, Side, cost_tsl
from energo.tx import TxFailed
from energo_deploy.markets import deploy_market

from .conftest import CONFIG
from .helpers import balances

P = 500 * CONFIG.tick_size  # 0.5 TSL per kWh
TICK = CONFIG.tick_size


def place(market, trader, side, price, amount, expires_at=0, ioc=False, gas=None):
    receipt = trader.transact(market.functions.placeOrder(side, price, amount, expires_at, ioc), gas=gas)
    placed = market.events.OrderPlaced().process_receipt(receipt, errors=DISCARD)
    return (placed[0]["args"]["orderId"] if placed else 0), receipt


def trades(market, receipt):
    return [dict(e["args"]) for e in market.events.Traded().process_receipt(receipt, errors=DISCARD)]


def removals(market, receipt):
    return [dict(e["args"]) for e in market.events.OrderRemoved().process_receipt(receipt, errors=DISCARD)]


def norm(values):
    """Revert arguments compared case-insensitively for addresses."""
    return tuple(v.lower() if isinstance(v, str) else v for v in values)


def expect_revert(error, args, fn):
    with pytest.raises(TxFailed) as exc:
        fn()
    assert (exc.value.error, norm(exc.value.args_)) == (error, norm(args))


# ---------------------------------------------------------------- escrow


def test_sell_order_locks_watt_and_stays_owned(env, cda):
    seller = env.traders[0]
    before = balances(env.system, seller.address)
    order_id, _ = place(cda, seller, Side.SELL, P, 1_000)
    after = balances(env.system, seller.address)
    assert after["locked_watt"] - before["locked_watt"] == 1_000 * WATT_PER_WH
    assert after["watt"] == before["watt"]  # still owned (and paying rent)
    info = cda.functions.order(order_id).call()
    assert info == (seller.address, Side.SELL, P, 1_000, 0, 0)


def test_buy_order_locks_tsl(env, cda):
    buyer = env.traders[1]
    before = balances(env.system, buyer.address)
    place(cda, buyer, Side.BUY, P, 2_000)
    after = balances(env.system, buyer.address)
    assert after["locked_tsl"] - before["locked_tsl"] == cost_tsl(2_000, P)
    assert before["free_tsl"] - after["free_tsl"] >= cost_tsl(2_000, P)


def test_escrow_with_too_little_tsl_reverts(env, cda):
    buyer = env.traders[1]
    free = env.system.battery.functions.freeTslOf(buyer.address).call()
    amount = free * 1000 // P + 100
    with pytest.raises(TxFailed) as exc:
        buyer.transact(cda.functions.placeOrder(Side.BUY, P, amount, 0, False))
    assert exc.value.error == "BatteryInsufficientFreeTsl"
    assert exc.value.args_[0] == buyer.address and exc.value.args_[2] == cost_tsl(amount, P)


def test_escrow_with_too_little_watt_reverts(env, cda):
    seller = env.traders[0]
    spendable = env.system.battery.functions.spendableWattOf(seller.address).call()
    amount = spendable // WATT_PER_WH + 1
    expect_revert(
        "BatteryInsufficientSpendableWatt", (seller.address, spendable, amount * WATT_PER_WH),
        lambda: seller.transact(cda.functions.placeOrder(Side.SELL, P, amount, 0, False)),
    )


# ---------------------------------------------------------------- matching


def test_taker_trades_at_makers_price_and_settles_at_once(env, cda, w3):
    seller, buyer = env.traders[0], env.traders[1]
    battery = env.system.battery.functions
    ask_id, _ = place(cda, seller, Side.SELL, P, 1_500)
    s0, b0 = balances(env.system, seller.address), balances(env.system, buyer.address)
    c_seller0, c_buyer0 = battery.countersOf(seller.address).call(), battery.countersOf(buyer.address).call()
    # The trade at the time the balances were read: the rent that accrues per second on a
    # slow machine does not blur the TSL that moved.
    set_next_timestamp(w3, w3.eth.get_block("latest")["timestamp"])
    order_id, receipt = place(cda, buyer, Side.BUY, P + 100 * TICK, 1_500)
    assert order_id == 0  # fully filled: nothing rests
    assert trades(cda, receipt) == [
        dict(seller=seller.address, buyer=buyer.address, sellOrderId=ask_id, buyOrderId=0,
             amountWh=1_500, price=P, feeTsl=0)
    ]
    s1, b1 = balances(env.system, seller.address), balances(env.system, buyer.address)
    assert b1["watt"] - b0["watt"] == 1_500 * WATT_PER_WH
    assert s0["watt"] - s1["watt"] == 1_500 * WATT_PER_WH
    assert s1["locked_watt"] == s0["locked_watt"] - 1_500 * WATT_PER_WH
    assert s1["free_tsl"] - s0["free_tsl"] == pytest.approx(cost_tsl(1_500, P), abs=10**14)
    assert b0["free_tsl"] - b1["free_tsl"] == pytest.approx(cost_tsl(1_500, P), abs=10**14)
    # purchased / sold counters (EnergyCounters: ..., purchasedWh, soldWh)
    assert battery.countersOf(buyer.address).call()[5] - c_buyer0[5] == 1_500
    assert battery.countersOf(seller.address).call()[6] - c_seller0[6] == 1_500
    assert cda.functions.bestAsk().call() == [0, 0]


def test_price_time_priority_and_partial_fill(env, cda):
    a, b, c, buyer = env.traders[0], env.traders[2], env.traders[3], env.traders[1]
    first, _ = place(cda, a, Side.SELL, P, 300)
    second, _ = place(cda, b, Side.SELL, P, 300)
    better, _ = place(cda, c, Side.SELL, P - TICK, 300)
    _, receipt = place(cda, buyer, Side.BUY, P, 700)
    assert [(t["sellOrderId"], t["amountWh"], t["price"]) for t in trades(cda, receipt)] == [
        (better, 300, P - TICK), (first, 300, P), (second, 100, P)
    ]
    assert cda.functions.order(second).call()[3] == 200  # partially filled, keeps its place
    assert cda.functions.bestAsk().call() == [P, 200]


def test_sell_taker_hits_bids_best_first(env, cda):
    low, high, seller = env.traders[1], env.traders[2], env.traders[0]
    low_id, _ = place(cda, low, Side.BUY, P - TICK, 500)
    high_id, _ = place(cda, high, Side.BUY, P, 500)
    rest_id, receipt = place(cda, seller, Side.SELL, P - TICK, 1_200)
    assert [(t["buyOrderId"], t["price"]) for t in trades(cda, receipt)] == [(high_id, P), (low_id, P - TICK)]
    assert cda.functions.order(rest_id).call()[3] == 200
    assert cda.functions.bestBid().call() == [0, 0]
    assert cda.functions.bestAsk().call() == [P - TICK, 200]
    # the bid makers' locks were consumed exactly
    assert balances(env.system, low.address)["locked_tsl"] == 0


def test_immediate_or_cancel_rests_nothing(env, cda):
    seller, buyer = env.traders[0], env.traders[1]
    place(cda, seller, Side.SELL, P, 400)
    before = balances(env.system, buyer.address)
    receipt = buyer.transact(cda.functions.placeOrder(Side.BUY, P, 1_000, 0, True))
    assert sum(t["amountWh"] for t in trades(cda, receipt)) == 400
    assert cda.functions.bestBid().call() == [0, 0]
    assert balances(env.system, buyer.address)["locked_tsl"] == before["locked_tsl"]
    # an IOC that crosses nothing does nothing
    receipt = buyer.transact(cda.functions.placeOrder(Side.BUY, P, 1_000, 0, True))
    assert trades(cda, receipt) == [] and cda.functions.bestBid().call() == [0, 0]


def test_self_trade_cancels_the_resting_order(env, cda):
    trader = env.traders[0]
    own, _ = place(cda, trader, Side.SELL, P, 500)
    before = balances(env.system, trader.address)
    bid_id, receipt = place(cda, trader, Side.BUY, P, 500)
    assert trades(cda, receipt) == []
    assert removals(cda, receipt) == [
        dict(orderId=own, owner=trader.address, reason=RemovalReason.SELF_TRADE, remainingWh=500)
    ]
    assert balances(env.system, trader.address)["locked_watt"] == before["locked_watt"] - 500 * WATT_PER_WH
    assert cda.functions.bestBid().call() == [P, 500] and bid_id != 0


# ---------------------------------------------------------------- cancel / expiry


def test_cancel_returns_exactly_what_is_locked(env, cda):
    buyer = env.traders[1]
    before = balances(env.system, buyer.address)
    order_id, _ = place(cda, buyer, Side.BUY, P, 1_000)
    place(cda, env.traders[0], Side.SELL, P, 400)  # fills 400 of it
    receipt = buyer.transact(cda.functions.cancelOrder(order_id))
    assert removals(cda, receipt) == [
        dict(orderId=order_id, owner=buyer.address, reason=RemovalReason.CANCELLED, remainingWh=600)
    ]
    assert balances(env.system, buyer.address)["locked_tsl"] == before["locked_tsl"]
    assert cda.functions.order(order_id).call()[0] == "0x" + "0" * 40
    assert cda.functions.bestBid().call() == [0, 0]


def test_cancelling_another_users_order_reverts(env, cda, attacker):
    order_id, _ = place(cda, env.traders[0], Side.SELL, P, 500)
    expect_revert("MarketNotOrderOwner", (order_id, attacker.address, env.traders[0].address),
                  lambda: attacker.transact(cda.functions.cancelOrder(order_id)))
    expect_revert("MarketUnknownOrder", (order_id + 1,),
                  lambda: attacker.transact(cda.functions.cancelOrder(order_id + 1)))


def test_expired_order_never_fills_and_taker_returns_its_lock(env, cda, w3):
    seller, buyer = env.traders[0], env.traders[1]
    now = w3.eth.get_block("latest")["timestamp"]
    stale, _ = place(cda, seller, Side.SELL, P, 500, expires_at=now + 60)
    fresh, _ = place(cda, env.traders[2], Side.SELL, P, 500)
    time_travel(w3, 120)
    _, receipt = place(cda, buyer, Side.BUY, P, 500)
    assert [t["sellOrderId"] for t in trades(cda, receipt)] == [fresh]
    assert removals(cda, receipt) == [
        dict(orderId=stale, owner=seller.address, reason=RemovalReason.EXPIRED, remainingWh=500)
    ]
    assert balances(env.system, seller.address)["locked_watt"] == 0


def test_anyone_may_purge_expired_orders(env, cda, w3, attacker):
    seller = env.traders[0]
    now = w3.eth.get_block("latest")["timestamp"]
    gtt, _ = place(cda, seller, Side.SELL, P, 500, expires_at=now + 60)
    gtc, _ = place(cda, seller, Side.SELL, P + TICK, 500)
    assert attacker.transact(cda.functions.purgeExpired([gtt, gtc])) is not None
    assert cda.functions.order(gtt).call()[0] == seller.address  # not yet expired: skipped
    time_travel(w3, 61)
    receipt = attacker.transact(cda.functions.purgeExpired([gtt, gtc, gtt + 7]))
    assert [r["orderId"] for r in removals(cda, receipt)] == [gtt]
    assert balances(env.system, seller.address)["locked_watt"] == 500 * WATT_PER_WH
    assert cda.functions.bestAsk().call() == [P + TICK, 500]


def test_good_till_time_in_the_past_reverts(env, cda, w3):
    now = w3.eth.get_block("latest")["timestamp"]
    with pytest.raises(TxFailed) as exc:
        env.traders[0].transact(cda.functions.placeOrder(Side.SELL, P, 500, now - 1, False))
    assert exc.value.error == "MarketExpiryInPast" and exc.value.args_[0] == now - 1
    expect_revert("MarketExpiryTooLarge", (2**32,),
                  lambda: env.traders[0].transact(cda.functions.placeOrder(Side.SELL, P, 500, 2**32, False)))


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("price", "amount", "error", "args"),
    [
        (P, 0, "MarketZeroAmount", ()),
        (P, 99, "MarketBelowMinimum", (99, 100)),
        (P, 2**48, "MarketAmountTooLarge", (2**48, 2**48 - 1)),
        (0, 500, "MarketZeroPrice", ()),
        (P + 1, 500, "MarketPriceOffTick", (P + 1, TICK)),
        (2**24 * TICK, 500, "MarketPriceTooHigh", (2**24 * TICK, (2**24 - 1) * TICK)),
    ],
)
def test_bad_order_input_reverts(env, cda, price, amount, error, args):
    for side in (Side.BUY, Side.SELL):
        call = cda.functions.placeOrder(side, price, amount, 0, False)
        expect_revert(error, args, lambda call=call: env.traders[0].transact(call))


def test_invalid_configuration_is_refused(env):
    with pytest.raises(TxFailed) as exc:
        deploy_market(env.system, MarketSettings(tick_size=1500), name="bad")
    assert (exc.value.error, exc.value.args_) == ("MarketInvalidTickSize", (1500,))
    with pytest.raises(TxFailed) as exc:
        deploy_market(env.system, MarketSettings(fee_bps=2_000, fee_recipient=env.traders[5].address), name="bad")
    assert (exc.value.error, exc.value.args_) == ("MarketInvalidFee", (2_000,))


# ---------------------------------------------------------------- options


def test_price_cap_at_utility_price(env):
    capped = deploy_market(env.system, MarketSettings(tick_size=TICK, price_cap=True), name="capped")
    cap = env.system.battery.functions.utilityPrice().call()
    expect_revert("MarketPriceAboveCap", (cap + TICK, cap),
                  lambda: env.traders[0].transact(capped.functions.placeOrder(Side.SELL, cap + TICK, 500, 0, False)))
    order_id, _ = place(capped, env.traders[0], Side.SELL, cap, 500)
    assert order_id != 0
    # uncapped markets accept it
    assert place(env.continuous, env.traders[0], Side.SELL, cap + TICK, 500)[0] != 0


def test_fee_goes_to_the_fee_recipient(env):
    recipient = env.traders[5].address
    market = deploy_market(env.system,
                           MarketSettings(tick_size=TICK, fee_bps=250, fee_recipient=recipient), name="fee")
    seller, buyer = env.traders[0], env.traders[1]
    place(market, seller, Side.SELL, P, 1_000)
    r0 = env.system.battery.functions.freeTslOf(recipient).call()
    _, receipt = place(market, buyer, Side.BUY, P, 1_000)
    fee = cost_tsl(1_000, P) * 250 // 10_000
    assert trades(market, receipt)[0]["feeTsl"] == fee
    assert env.system.battery.functions.freeTslOf(recipient).call() - r0 == pytest.approx(fee, abs=10**14)
    assert tuple(market.functions.config().call()) == (TICK, 100, 250, recipient, False)


def test_seller_shortfall_closes_the_maker_and_never_blocks_the_taker(env, cda, w3, households, funder_free_seller):
    seller = funder_free_seller  # holds WATT, no prepaid TSL: rent will be paid in kind
    # explicit gas: rent in kind may start between estimate and inclusion
    ask_id, _ = place(cda, seller, Side.SELL, P, 1_000, gas=400_000)
    other_id, _ = place(cda, env.traders[2], Side.SELL, P, 1_000)
    time_travel(w3, 50 * 86_400)  # rent in kind shrinks the seller's lock
    buyer = env.traders[1]
    _, receipt = place(cda, buyer, Side.BUY, P, 1_500, gas=1_000_000)
    fills = trades(cda, receipt)
    removed = removals(cda, receipt)
    assert removed[0]["orderId"] == ask_id and removed[0]["reason"] == RemovalReason.SELLER_SHORTFALL
    moved = sum(f["amountWh"] for f in fills if f["sellOrderId"] == ask_id)
    assert 0 < moved < 1_000  # filled only what was still locked
    assert removed[0]["remainingWh"] == 1_000 - moved
    assert fills[-1]["sellOrderId"] == other_id  # the taker is served by the next maker
    assert fills[-1]["amountWh"] == min(1_500 - moved, 1_000)
    assert balances(env.system, seller.address)["locked_watt"] == 0
    assert cda.functions.order(ask_id).call()[0] == "0x" + "0" * 40


# ---------------------------------------------------------------- views


def test_views_depth_orders_rank(env, cda):
    a, b = env.traders[0], env.traders[2]
    ids = [place(cda, a, Side.SELL, P + i * TICK, 100 + i)[0] for i in range(5)]
    b_id, _ = place(cda, b, Side.SELL, P, 300)
    prices, amounts, counts, next_price = cda.functions.depth(Side.SELL, 0, 3).call()
    assert prices == [P, P + TICK, P + 2 * TICK] and amounts == [400, 101, 102] and counts == [2, 1, 1]
    assert next_price == P + 3 * TICK
    prices, amounts, counts, next_price = cda.functions.depth(Side.SELL, next_price, 10).call()
    assert prices == [P + 3 * TICK, P + 4 * TICK] and next_price == 0
    assert cda.functions.ordersOf(a.address, Side.SELL, 0, 10).call() == [ids, 0]
    assert cda.functions.ordersOf(b.address, Side.SELL, 0, 10).call() == [[b_id], 0]
    assert cda.functions.rankOf(ids[0]).call() == [1, 0]
    assert cda.functions.rankOf(b_id).call() == [2, 100]
    assert cda.functions.rankOf(ids[2]).call() == [4, 100 + 300 + 101]
    assert cda.functions.bestAsk().call() == [P, 400]
    assert cda.functions.depth(Side.BUY, 0, 10).call() == [[], [], [], 0]


def test_compact_level_skips_cancelled_slots(env, cda):
    a = env.traders[0]
    ids = [place(cda, a, Side.SELL, P, 100)[0] for _ in range(4)]
    a.transact(cda.functions.cancelOrder(ids[1]))
    a.transact(cda.functions.cancelOrder(ids[0]))  # head advances by one, ids[1]'s slot stays
    receipt = a.transact(cda.functions.compactLevel(Side.SELL, P, 10))
    assert receipt["status"] == 1
    assert cda.functions.rankOf(ids[2]).call() == [1, 0]
