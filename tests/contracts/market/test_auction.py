"""The periodic call auction: uniform price, pay-as-clear, time priority at the margin,
refunds, bounded resumable clearing, rank, and the keeper's view."""

from __future__ import annotations

import pytest
from energo_testkit.fixtures import set_next_timestamp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3.logs import DISCARD

from energo.facts import RemovalReason, RoundPhase, Side, cost_tsl
from energo_deploy.markets import clear_due_rounds

from .conftest import CONFIG
from .helpers import balances
from .reference_book import BUY, SELL, RefOrder, clear_auction
from .test_continuous import expect_revert

TICK = CONFIG.tick_size
P = 500 * TICK


def round_length(auction) -> int:
    return auction.functions.roundLength().call()


def start_of_next_round(w3, auction) -> int:
    """Moves the clock to just after the start of the next round; returns its id."""
    length = round_length(auction)
    now = w3.eth.get_block("latest")["timestamp"]
    round_id = now // length + 1
    set_next_timestamp(w3, round_id * length + 4)
    w3.provider.make_request("evm_mine", [])
    return round_id


def close_round(w3, auction, round_id: int) -> None:
    set_next_timestamp(w3, (round_id + 1) * round_length(auction) + 4)
    w3.provider.make_request("evm_mine", [])


def place(auction, trader, side, price, amount) -> int:
    receipt = trader.transact(auction.functions.placeOrder(side, price, amount))
    return auction.events.OrderPlaced().process_receipt(receipt, errors=DISCARD)[0]["args"]["orderId"]


def clear(auction, keeper, round_id, max_steps=1_000) -> list:
    """Clears the round fully; returns every receipt."""
    receipts = []
    while True:
        receipts.append(keeper.transact(auction.functions.clearRound(round_id, max_steps)))
        if auction.functions.roundState(round_id).call()[0] == RoundPhase.CLEARED:
            return receipts


def events(auction, receipts, name):
    return [dict(e["args"]) for r in receipts for e in getattr(auction.events, name)().process_receipt(r, errors=DISCARD)]


# ---------------------------------------------------------------- rules


def test_round_clears_at_one_uniform_price_and_refunds_the_difference(env, auction, w3, relayer):
    buyer, seller = env.traders[1], env.traders[0]
    round_id = start_of_next_round(w3, auction)
    b0, s0 = balances(env.system, buyer.address), balances(env.system, seller.address)
    bid = place(auction, buyer, Side.BUY, 600 * TICK, 1_000)
    ask = place(auction, seller, Side.SELL, 400 * TICK, 1_000)
    assert balances(env.system, buyer.address)["locked_tsl"] == b0["locked_tsl"] + cost_tsl(1_000, 600 * TICK)
    close_round(w3, auction, round_id)
    receipts = clear(auction, relayer, round_id)
    assert events(auction, receipts, "Traded") == [
        dict(seller=seller.address, buyer=buyer.address, sellOrderId=ask, buyOrderId=bid,
             amountWh=1_000, price=P, feeTsl=0)
    ]
    assert events(auction, receipts, "RoundPriceDiscovered") == [dict(roundId=round_id, price=P, volumeWh=1_000)]
    state = auction.functions.roundState(round_id).call()
    assert tuple(state) == (RoundPhase.CLEARED, round_id * 900, (round_id + 1) * 900, P, 1_000, 1_000)
    b1, s1 = balances(env.system, buyer.address), balances(env.system, seller.address)
    assert b1["locked_tsl"] == b0["locked_tsl"] and s1["locked_watt"] == s0["locked_watt"]
    # pays 0.5, not 0.6 (storage rent over the round is well below 0.01 TSL)
    assert b0["free_tsl"] - b1["free_tsl"] == pytest.approx(cost_tsl(1_000, P), abs=10**16)
    assert b1["watt"] - b0["watt"] == 1_000 * 10**15


def test_earlier_orders_fill_first_at_the_marginal_price(env, auction, w3, relayer):
    first, second, seller = env.traders[1], env.traders[2], env.traders[0]
    round_id = start_of_next_round(w3, auction)
    early = place(auction, first, Side.BUY, P, 600)
    late = place(auction, second, Side.BUY, P, 600)
    ask = place(auction, seller, Side.SELL, P, 1_000)
    close_round(w3, auction, round_id)
    receipts = clear(auction, relayer, round_id)
    assert [(t["buyOrderId"], t["amountWh"]) for t in events(auction, receipts, "Traded")] == [(early, 600), (late, 400)]
    assert events(auction, receipts, "OrderRemoved") == [
        dict(orderId=late, owner=second.address, reason=RemovalReason.UNFILLED, remainingWh=200)
    ]
    assert balances(env.system, second.address)["locked_tsl"] == 0
    assert auction.functions.order(ask).call()[0] == "0x" + "0" * 40


def test_no_crossing_refunds_everything(env, auction, w3, relayer):
    buyer, seller = env.traders[1], env.traders[0]
    round_id = start_of_next_round(w3, auction)
    place(auction, buyer, Side.BUY, 400 * TICK, 1_000)
    place(auction, seller, Side.SELL, 600 * TICK, 1_000)
    close_round(w3, auction, round_id)
    receipts = clear(auction, relayer, round_id)
    assert events(auction, receipts, "Traded") == []
    assert [r["reason"] for r in events(auction, receipts, "OrderRemoved")] == [RemovalReason.UNFILLED] * 2
    assert balances(env.system, buyer.address)["locked_tsl"] == 0
    assert balances(env.system, seller.address)["locked_watt"] == 0
    assert auction.functions.roundState(round_id).call()[3] == 0


def test_clearing_an_open_round_reverts(env, auction, w3, relayer):
    round_id = start_of_next_round(w3, auction)
    place(auction, env.traders[0], Side.SELL, P, 500)
    expect_revert("AuctionRoundNotClosed", (round_id, (round_id + 1) * 900),
                  lambda: relayer.transact(auction.functions.clearRound(round_id, 10)))
    expect_revert("AuctionZeroSteps", (), lambda: relayer.transact(auction.functions.clearRound(round_id, 0)))


def test_clearing_a_round_twice_reverts_cheaply(env, auction, w3, relayer):
    round_id = start_of_next_round(w3, auction)
    place(auction, env.traders[0], Side.SELL, P, 500)
    close_round(w3, auction, round_id)
    clear(auction, relayer, round_id)
    expect_revert("AuctionRoundAlreadyCleared", (round_id,),
                  lambda: relayer.transact(auction.functions.clearRound(round_id, 10)))
    # the losing keeper's call is cheap: estimate what the revert costs
    call = auction.functions.clearRound(round_id, 10)
    data = call._encode_transaction_data()
    trace = w3.provider.make_request("eth_estimateGas", [{"to": auction.address, "data": data, "from": relayer.address}])
    assert "error" in trace  # it reverts, early (see docs/market.md for the gas)


def test_cancel_while_open_and_not_after_close(env, auction, w3):
    trader = env.traders[0]
    round_id = start_of_next_round(w3, auction)
    a = place(auction, trader, Side.SELL, P, 500)
    b = place(auction, trader, Side.SELL, P, 700)
    trader.transact(auction.functions.cancelOrder(a))
    assert balances(env.system, trader.address)["locked_watt"] == 700 * 10**15
    close_round(w3, auction, round_id)
    expect_revert("AuctionRoundClosed", (round_id,), lambda: trader.transact(auction.functions.cancelOrder(b)))


def test_rank_is_the_place_in_the_merit_order(env, auction, w3):
    t = env.traders
    start_of_next_round(w3, auction)
    low = place(auction, t[1], Side.BUY, P, 300)
    high = place(auction, t[2], Side.BUY, P + TICK, 200)
    same = place(auction, t[3], Side.BUY, P, 100)
    ask_hi = place(auction, t[0], Side.SELL, P + 2 * TICK, 100)
    ask_lo = place(auction, t[4], Side.SELL, P - TICK, 100)
    assert auction.functions.rankOf(high).call() == [1, 0]
    assert auction.functions.rankOf(low).call() == [2, 200]
    assert auction.functions.rankOf(same).call() == [3, 500]
    assert auction.functions.rankOf(ask_lo).call() == [1, 0]
    assert auction.functions.rankOf(ask_hi).call() == [2, 100]
    t[1].transact(auction.functions.cancelOrder(low))
    assert auction.functions.rankOf(same).call() == [2, 200]
    assert auction.functions.rankOf(low).call() == [0, 0]


def test_chunked_clearing_matches_one_shot_and_keeper_view(env, auction, w3, relayer):
    t = env.traders
    round_id = start_of_next_round(w3, auction)
    for i in range(6):
        place(auction, t[i % 3], Side.BUY, P + (i % 4) * TICK, 200 + 50 * i)
        place(auction, t[3 + i % 3], Side.SELL, P - (i % 3) * TICK, 250 + 30 * i)
    place(auction, t[0], Side.BUY, P, 150)
    t[0].transact(auction.functions.cancelOrder(place(auction, t[0], Side.BUY, P, 100)))  # a hole
    assert auction.functions.clearableRound().call() == [False, 0]
    close_round(w3, auction, round_id)
    assert auction.functions.clearableRound().call() == [True, round_id]
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    one_shot = events(auction, clear(auction, relayer, round_id, 1_000), "Traded")
    w3.provider.make_request("evm_revert", [snapshot])
    receipts = clear(auction, relayer, round_id, 1)
    assert len(receipts) > 10
    assert events(auction, receipts, "Traded") == one_shot
    assert auction.functions.clearableRound().call() == [False, 0]
    for trader in t[:6]:
        b = balances(env.system, trader.address)
        assert b["locked_tsl"] == 0 and b["locked_watt"] == 0


def test_keeper_helper_clears_every_due_round(env, auction, w3, relayer):
    first = start_of_next_round(w3, auction)
    place(auction, env.traders[0], Side.SELL, P, 500)
    place(auction, env.traders[1], Side.BUY, P, 500)
    close_round(w3, auction, first)
    place(auction, env.traders[0], Side.SELL, P, 300)
    close_round(w3, auction, first + 1)
    assert clear_due_rounds(auction, relayer, max_steps=2) == [first, first + 1]
    assert auction.functions.clearableRound().call() == [False, 0]


# ---------------------------------------------------------------- against the reference

order_strategy = st.tuples(
    st.integers(0, 4),  # trader
    st.sampled_from([BUY, SELL]),
    st.integers(495, 505),  # tick
    st.integers(100, 1_500),  # Wh
)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(orders=st.lists(order_strategy, min_size=1, max_size=14), chunk=st.integers(1, 40))
def test_clearing_matches_the_reference(env, auction, w3, relayer, orders, chunk):
    snapshot = w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        round_id = start_of_next_round(w3, auction)
        refs, ids = [], {}
        for n, (who, side, tick, amount) in enumerate(orders):
            trader = env.traders[who]
            order_id = place(auction, trader, side, tick * TICK, amount)
            refs.append(RefOrder(n, trader.address, side, tick, amount))
            ids[order_id] = n
        close_round(w3, auction, round_id)
        receipts = clear(auction, relayer, round_id, chunk)
        expected = clear_auction(refs)
        state = auction.functions.roundState(round_id).call()
        assert state[3] == expected.price_tick * TICK
        assert state[4] == state[5] == expected.volume
        got = [(t["seller"], t["buyer"], ids[t["sellOrderId"]], ids[t["buyOrderId"]], t["amountWh"], t["price"])
               for t in events(auction, receipts, "Traded")]
        assert got == [(f.seller, f.buyer, f.sell_ref, f.buy_ref, f.amount, f.tick * TICK) for f in expected.fills]
        by_ref = {r.ref: r for r in refs}
        for fill in expected.fills:  # every matched bid >= price >= every matched ask
            assert by_ref[fill.buy_ref].tick >= expected.price_tick >= by_ref[fill.sell_ref].tick
        # maximal volume: no price gives more
        for p in range(495, 506):
            demand = sum(r.amount for r in refs if r.side == BUY and r.tick >= p)
            supply = sum(r.amount for r in refs if r.side == SELL and r.tick <= p)
            assert min(demand, supply) <= expected.volume
        for trader in env.traders[:5]:
            b = balances(env.system, trader.address)
            assert b["locked_tsl"] == 0 and b["locked_watt"] == 0
    finally:
        w3.provider.make_request("evm_revert", [snapshot])
