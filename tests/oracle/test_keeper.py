"""Keeper duty: clearing call-auction rounds, at most once per round across gateways."""

from __future__ import annotations

import pytest
from energo_testkit.fixtures import time_travel
from eth_account import Account
from oracle_helpers import fund

from energo.constants import TSL
from energo.facts import MarketSettings, RoundPhase, Side
from energo.tx import Sender
from energo_deploy.markets import deploy_market
from oracle.config import AuctionClearingSettings
from oracle.keeper import AuctionClearing
from oracle.logs import get_logger
from oracle.metrics import Metrics
from oracle.transport.evm import EvmTransport

ROUND = 60


@pytest.fixture
def auction(system, w3, households):
    market = deploy_market(system, MarketSettings(mode="auction", round_length_s=ROUND), name="keeper-test")
    buyer = households[0]
    amount = 10 * TSL
    system.roles.treasury.transact(system.tsl.functions.transfer(buyer.address, amount))
    buyer.transact(system.tsl.functions.approve(system.battery.address, amount))
    buyer.transact(system.battery.functions.deposit(amount))
    buyer.transact(market.functions.placeOrder(Side.BUY, 500 * TSL // 1000, 1_000))
    round_id = market.functions.currentRound().call()[0]
    yield market, round_id
    w3.provider.make_request("evm_setAutomine", [True])


def _keeper(w3, market, stagger_s: float = 0.0) -> tuple[AuctionClearing, Metrics]:
    key = bytes(Account.create().key)
    fund(w3, Account.from_key(key).address)
    transport = EvmTransport(w3.provider.endpoint_uri, key, chain_id=8890, gas_price_wei=400 * 10**9)
    metrics = Metrics()
    settings = AuctionClearingSettings(type="auction_clearing", market_address=market.address, interval_s=0.001,
                                       max_steps_per_tx=50, stagger_s=stagger_s)
    return AuctionClearing(settings, transport, metrics, get_logger("test"), resend_after_s=60), metrics


def _runs(metrics: Metrics) -> dict[str, float]:
    return {sample.labels["result"]: sample.value for sample in metrics.keeper_runs.collect()[0].samples
            if sample.name.endswith("_total")}


def test_a_due_round_is_cleared_and_then_left_alone(auction, w3):
    market, round_id = auction
    keeper, metrics = _keeper(w3, market)
    keeper.tick(1.0)
    assert keeper._in_flight is None, "not due while the round is open"
    time_travel(w3, 2 * ROUND)
    keeper.tick(2.0)  # sends clearRound
    # anvil's automine mines in the background: the receipt may not exist the instant the
    # send returns. The keeper must wait for it, as it does here.
    sent = keeper._in_flight.tx_id
    keeper.tick(2.5)
    assert keeper._in_flight is None or keeper._in_flight.tx_id == sent, "nothing resent"
    w3.eth.wait_for_transaction_receipt(sent, timeout=30)
    keeper.tick(3.0)  # sees it mined
    assert market.functions.roundState(round_id).call()[0] == RoundPhase.CLEARED
    assert _runs(metrics) == {"cleared": 1.0}
    keeper.tick(4.0)
    assert keeper._in_flight is None and _runs(metrics) == {"cleared": 1.0}


def test_two_gateways_racing_clear_once_and_the_loser_shrugs(auction, w3):
    market, round_id = auction
    first, first_metrics = _keeper(w3, market)
    second, second_metrics = _keeper(w3, market)
    time_travel(w3, 2 * ROUND)
    w3.provider.make_request("evm_setAutomine", [False])
    first.tick(1.0)
    # The second saw the round due too; its gas estimate (against the pending state)
    # already fails, or its transaction reverts once mined: either way it lost the race.
    second.tick(1.0)
    assert first._in_flight is not None
    w3.provider.make_request("evm_mine", [])
    first.tick(2.0)
    second.tick(2.0)
    results = [_runs(first_metrics), _runs(second_metrics)]
    assert sorted(results, key=str) == sorted([{"cleared": 1.0}, {"lost_race": 1.0}], key=str)
    assert market.functions.roundState(round_id).call()[0] == RoundPhase.CLEARED
    first.tick(3.0)
    second.tick(3.0)
    assert first._in_flight is None and second._in_flight is None, "nobody sends for that round again"


def test_a_round_cleared_by_someone_else_is_left_alone(auction, w3):
    market, round_id = auction
    late, metrics = _keeper(w3, market)
    time_travel(w3, 2 * ROUND)
    Sender(w3, w3.eth.accounts[9]).transact(market.functions.clearRound(round_id, 50))
    late.tick(1.0)
    assert late._in_flight is None and _runs(metrics) == {}


def test_stagger_is_fixed_per_gateway_and_round_and_spread():
    class FakeTransport:
        def __init__(self, sender):
            self.sender = sender

    def keeper(sender):
        settings = AuctionClearingSettings(type="auction_clearing", market_address="0x" + "11" * 20,
                                           stagger_s=30)
        return AuctionClearing(settings, FakeTransport(sender), Metrics(), get_logger("test"))

    a, b = keeper("0x" + "aa" * 20), keeper("0x" + "bb" * 20)
    assert a.stagger(5) == a.stagger(5)
    delays = [a.stagger(r) for r in range(50)] + [b.stagger(r) for r in range(50)]
    assert all(0 <= d < 30 for d in delays) and max(delays) - min(delays) > 20


def test_a_gateway_configured_as_keeper_clears_due_rounds(auction, w3, create_gateway):
    from oracle_helpers import wait_for

    from oracle.config import load_settings
    from oracle.daemon import Daemon

    market, round_id = auction
    raw, _ = create_gateway(meters=0, keepers=[{"type": "auction_clearing", "market_address": market.address,
                                                "interval_s": 0.1}])
    time_travel(w3, 2 * ROUND)
    daemon = Daemon(load_settings(None, **raw))
    daemon.start()
    try:
        wait_for(lambda: market.functions.roundState(round_id).call()[0] == RoundPhase.CLEARED, 30,
                 "the gateway to clear the round")
    finally:
        daemon.stop()
        assert daemon.wait_stopped(30) and daemon.exit_code == 0
