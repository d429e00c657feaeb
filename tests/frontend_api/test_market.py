def test_market_info(client):
    body = client.get("/api/v1/market").json()
    assert body["config"]["mode"] == "continuous"
    assert body["config"]["tickSize"] == "0.001"
    assert body["utilityPrice"] == "0.6"
    assert body["bestAsk"] is not None and body["bestBid"] is not None
    assert float(body["bestBid"]) < float(body["bestAsk"])  # never crossed
    assert body["round"] is None


def test_depth_levels_are_sorted(client):
    body = client.get("/api/v1/market/depth?levels=10").json()
    bids = [float(level["price"]) for level in body["bids"]]
    asks = [float(level["price"]) for level in body["asks"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert all(level["amountWh"] > 0 and level["orders"] > 0 for level in body["bids"] + body["asks"])


def test_depth_limit_out_of_range(client):
    for bad in ("0", "1000", "x"):
        response = client.get(f"/api/v1/market/depth?levels={bad}")
        assert response.status_code == 422 and response.json()["error"] == "invalid_request"


def test_unknown_order_is_a_404(client):
    response = client.get("/api/v1/market/orders/12345")
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_order"


def test_known_order(client, scenario):
    order_id = client.get(f"/api/v1/accounts/{scenario.households[2].address}").json()["openOrders"][0]["orderId"]
    body = client.get(f"/api/v1/market/orders/{order_id}").json()
    assert body["owner"] == scenario.households[2].address
