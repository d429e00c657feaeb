"""Continuous-market rules of issue 11: dust remainders are refunded (L-3), fees round up,
and the book's views leave out expired orders. Each test fails on the earlier market."""

from __future__ import annotations

from energo_testkit.fixtures import time_travel
from web3.logs import DISCARD

from energo.constants import WATT_PER_WH
from energo.facts import MarketSettings, RemovalReason, Side, cost_tsl
from energo_deploy.markets import deploy_market

from .conftest import CONFIG
from .helpers import balances

P = 500 * CONFIG.tick_size
TICK = CONFIG.tick_size
MIN = CONFIG.min_size_wh


def _place(market, trader, side, price, amount, expires_at=0):
    receipt = trader.transact(market.functions.placeOrder(side, price, amount, expires_at, False))
    placed = market.events.OrderPlaced().process_receipt(receipt, errors=DISCARD)
    return (placed[0]["args"]["orderId"] if placed else 0), receipt


def test_a_maker_left_with_dust_is_closed_and_refunded(env, cda):
    seller, buyer = env.traders[0], env.traders[1]
    ask, _ = _place(cda, seller, Side.SELL, P, 1_000)
    _, receipt = _place(cda, buyer, Side.BUY, P, 1_000 - MIN + 1)  # leaves MIN - 1 Wh
    [removed] = cda.events.OrderRemoved().process_receipt(receipt, errors=DISCARD)
    assert dict(removed["args"]) == dict(orderId=ask, owner=seller.address, reason=RemovalReason.BELOW_MINIMUM,
                                         remainingWh=MIN - 1)
    assert balances(env.system, seller.address)["locked_watt"] == 0, "the dust's lock went back"
    assert cda.functions.order(ask).call()[0] == "0x" + "00" * 20
    assert cda.functions.bestAsk().call() == [0, 0]


def test_a_maker_left_with_the_minimum_keeps_its_place(env, cda):
    seller, buyer = env.traders[0], env.traders[1]
    ask, _ = _place(cda, seller, Side.SELL, P, 1_000)
    _, receipt = _place(cda, buyer, Side.BUY, P, 1_000 - MIN)
    assert cda.events.OrderRemoved().process_receipt(receipt, errors=DISCARD) == ()
    assert cda.functions.order(ask).call()[3] == MIN


def test_a_taker_remainder_below_the_minimum_does_not_rest(env, cda):
    seller, buyer = env.traders[0], env.traders[1]
    _place(cda, seller, Side.SELL, P, 1_000)
    before = balances(env.system, buyer.address)
    order_id, receipt = _place(cda, buyer, Side.BUY, P, 1_000 + MIN - 1)
    assert order_id == 0 and cda.functions.bestBid().call() == [0, 0]
    assert balances(env.system, buyer.address)["locked_tsl"] == before["locked_tsl"], "nothing locked for dust"


def test_fees_round_up(env):
    """On the finest tick (1,000 base units of TSL per kWh) a fee rounded down is 0."""
    recipient = env.traders[5].address
    fine = 1_000
    market = deploy_market(env.system, MarketSettings(tick_size=fine, min_size_wh=MIN, fee_bps=7,
                                                      fee_recipient=recipient), name="fee-up")
    _place(market, env.traders[0], Side.SELL, fine, MIN)
    _, receipt = _place(market, env.traders[1], Side.BUY, fine, MIN)
    [trade] = market.events.Traded().process_receipt(receipt, errors=DISCARD)
    cost = cost_tsl(MIN, fine)
    assert cost * 7 // 10_000 == 0, "rounded down, the fee would vanish"
    assert trade["args"]["feeTsl"] == 1


def test_book_views_leave_out_expired_orders(env, cda, w3):
    now = w3.eth.get_block("latest")["timestamp"]
    _place(cda, env.traders[0], Side.SELL, P, 500, expires_at=now + 60)  # best ask, will expire
    _place(cda, env.traders[1], Side.SELL, P + TICK, 300)
    _place(cda, env.traders[2], Side.SELL, P + TICK, 200, expires_at=now + 60)
    assert cda.functions.bestAsk().call() == [P, 500]
    time_travel(w3, 120)
    assert cda.functions.bestAsk().call() == [P + TICK, 300]
    prices, amounts, counts, _next = cda.functions.depth(Side.SELL, 0, 10).call()
    assert (prices, amounts, counts) == ([P + TICK], [300], [1])
    assert balances(env.system, env.traders[0].address)["locked_watt"] == 500 * WATT_PER_WH, \
        "still locked until a taker or purgeExpired removes it"
