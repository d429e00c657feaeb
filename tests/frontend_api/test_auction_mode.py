"""Auction mode (the Manila market): the open round, its countdown and each order's rank."""

from __future__ import annotations

import time

import pytest
from energo_testkit.scenario import build_scenario, send, sync
from fastapi.testclient import TestClient

from energo.facts import DEFAULT_ROUND_LENGTH
from energo_deploy.localchain import Anvil
from frontend_api.core.config import Settings
from frontend_api.main import create_app

ROUND_S = DEFAULT_ROUND_LENGTH  # the scenario's auction round


@pytest.fixture(scope="module")
def auction(tmp_path_factory):
    # Every test here reads the one open round: the chain starts at a round's opening, so
    # the module's few minutes never straddle a close (a placement estimated in one round
    # and mined in the next, whose first order costs more, ran out of gas in CI).
    opening = (int(time.time()) // ROUND_S + 1) * ROUND_S
    with Anvil(accounts=12, extra_args=["--timestamp", str(opening)]) as node:
        w3 = node.web3()
        scenario = build_scenario(w3, w3.eth.accounts, mode="auction", day=False)
        tmp = tmp_path_factory.mktemp("auction")
        settings = Settings(deployments=scenario.write_deployments(tmp / "8890.json"), rpc_url=node.url,
                            database_url=f"sqlite:///{tmp}/index.sqlite3", cache_ttl_s=0.2)
        with TestClient(create_app(settings)) as client:
            sync(client)
            yield scenario, client


def test_market_shows_the_open_round(auction):
    scenario, client = auction
    body = client.get("/api/v1/market").json()
    assert body["config"]["mode"] == "auction"
    round_id, closes_at = scenario.market.functions.currentRound().call()
    assert body["round"]["roundId"] == round_id and body["round"]["closesAt"] == closes_at
    assert 0 <= body["round"]["secondsLeft"] <= body["round"]["lengthS"] == 900


def test_ranks_in_the_open_round(auction):
    scenario, client = auction
    # A bid 0.40 for 0.5 kWh and 0.35 for 0.2 kWh; C bid 0.30: A's orders rank 1 and 2 of 3 bids
    body = client.get(f"/api/v1/accounts/{scenario.household.address}").json()
    ranks = {o["price"]: o for o in body["rank"]["orders"]}
    assert ranks["0.4"]["rank"] == 1 and ranks["0.35"]["rank"] == 2
    assert ranks["0.4"]["of"] == 3 and ranks["0.35"]["aheadWh"] == 500
    for order in body["rank"]["orders"]:
        on_chain = scenario.market.functions.rankOf(int(order["orderId"])).call()
        assert (order["rank"], order["aheadWh"]) == tuple(on_chain)


def test_depth_of_the_round_and_an_order_through_the_wallet_helper(auction):
    scenario, client = auction
    depth = client.get("/api/v1/market/depth").json()
    assert [level["price"] for level in depth["bids"]] == ["0.4", "0.35", "0.3"]
    account = scenario.households[2].address
    tx = client.post("/api/v1/wallet/orders", json={"account": account, "side": "buy", "price": "0.45",
                                                    "amountKwh": "0.1"}).json()
    send(scenario.w3, tx)
    sync(client)
    body = client.get(f"/api/v1/accounts/{account}").json()
    best = next(o for o in body["rank"]["orders"] if o["price"] == "0.45")
    assert best["rank"] == 1


def test_ranks_do_not_lag_the_order_list(auction):
    """Broken 5: the open-orders cache was keyed by the index height from before the step,
    so a new order showed in the list but not in the ranks until the next block."""
    scenario, client = auction
    account = scenario.households[2]
    path = f"/api/v1/accounts/{account.address}"
    client.get(path)  # the page has the screen open: it is rebuilt on each new block and step
    order_id = scenario.place(account, 0, 440 * 10**15, 100)  # buy 0.1 kWh at 0.44, outside the API
    deadline = time.monotonic() + 30
    while True:
        response = client.get(path)
        assert response.status_code == 200, response.text
        body = response.json()
        if str(order_id) in {o["orderId"] for o in body["openOrders"]}:
            break
        assert time.monotonic() < deadline, "the new order never reached the screen"
        time.sleep(0.02)  # polling with a deadline
    assert str(order_id) in {o["orderId"] for o in body["rank"]["orders"]}, (
        body["rank"], body["block"], body["indexedBlock"], scenario.w3.eth.block_number)
