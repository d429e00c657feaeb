"""What a dApp on another origin needs (issue 14, part 5): CORS with a safe default,
discovery, servers in openapi.json, typed data ethers takes as it is, gasLimit, error
codes named after the contracts' errors with their arguments, minBlock, one error shape
for every status, /docs without a CDN, and rate limits on the transaction builders."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from eth_account.messages import encode_typed_data
from fastapi.testclient import TestClient

from frontend_api.core.config import Settings
from frontend_api.main import create_app

DAPP = "https://dapp.example"


@pytest.fixture(scope="module")
def dapp_client(tmp_path_factory, api_anvil, deployments_file) -> Iterator[TestClient]:
    """The API configured for one foreign origin and a low builder rate; no indexer."""
    tmp = tmp_path_factory.mktemp("dapp")
    settings = Settings(deployments=deployments_file, rpc_url=api_anvil.url, database_url=f"sqlite:///{tmp}/i.db",
                        run_indexer=False, cors_origins=DAPP, builder_rate_per_min=2,
                        public_rpc_url="https://janus.example/rpc", public_api_url="https://api.example")
    with TestClient(create_app(settings)) as client:
        yield client


def test_cors_preflight_and_a_safe_default(dapp_client, client):
    preflight = dapp_client.options("/api/v1/wallet/orders", headers={
        "Origin": DAPP, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == DAPP
    assert "POST" in preflight.headers["access-control-allow-methods"]
    read = dapp_client.get("/api/v1/health", headers={"Origin": DAPP})
    assert read.headers["access-control-allow-origin"] == DAPP
    assert "X-Energo-Stale" in read.headers["access-control-expose-headers"]
    other = dapp_client.options("/api/v1/wallet/orders", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in other.headers
    # The default allows no other origin at all.
    assert "access-control-allow-origin" not in client.get("/api/v1/health", headers={"Origin": DAPP}).headers


def test_discovery_and_servers(dapp_client, scenario):
    body = dapp_client.get("/api/v1/discovery").json()
    assert body["chainId"] == 8890 and body["rpcUrl"] == "https://janus.example/rpc"
    assert body["contracts"]["SharedBattery"]["address"] == scenario.system.battery.address
    names = {item.get("name") for item in body["contracts"]["ContinuousMarket"]["abi"]}
    assert {"placeOrder", "OrderPlaced", "MarketPriceOffTick"} <= names
    assert dapp_client.get("/openapi.json").json()["servers"][0]["url"] == "https://api.example"


def test_permit_typed_data_as_ethers_takes_it(client, scenario):
    body = client.post("/api/v1/wallet/permit", json={"account": scenario.household.address, "amount": "1"}).json()
    typed = body["typedData"]
    assert "EIP712Domain" not in typed["types"]  # ethers' signTypedData refuses it there
    # What ethers hashes (domain, types, message) is what eth_signTypedData_v4 hashes.
    ethers_style = encode_typed_data(typed["domain"], typed["types"], typed["message"])
    v4_style = encode_typed_data(full_message={**typed, "types": {"EIP712Domain": typed["domainType"],
                                                                   **typed["types"]}})
    assert ethers_style == v4_style


def test_unsigned_tx_has_gas_limit_and_errors_are_named_after_the_contracts(client, scenario):
    account = scenario.household.address
    tx = client.post("/api/v1/wallet/orders", json={"account": account.lower(), "side": "buy", "price": "0.2",
                                                   "amountKwh": "0.1"}).json()
    assert tx["gasLimit"] == tx["gas"] and tx["from"] == account
    off_tick = client.post("/api/v1/wallet/orders", json={"account": account, "side": "buy", "price": "0.2005",
                                                         "amountKwh": "0.1"}).json()
    assert off_tick["error"] == "MarketPriceOffTick" and off_tick["args"] == [str(2005 * 10**14), str(10**15)]
    too_much = client.post("/api/v1/wallet/orders", json={"account": account, "side": "sell", "price": "0.5",
                                                          "amountKwh": "100000"}).json()
    assert too_much["error"] == "BatteryInsufficientSpendableWatt"
    assert too_much["args"][0] == account and too_much["args"][2] == str(100_000 * 10**18)


def test_one_error_shape_for_every_status(client):
    for response, status, code in ((client.get("/api/v1/nowhere"), 404, "not_found"),
                                   (client.delete("/api/v1/health"), 405, "method_not_allowed"),
                                   (client.get("/api/v1/market/orders/999999"), 404, "unknown_order")):
        assert response.status_code == status
        body = response.json()
        assert set(body) == {"detail", "error", "args"} and body["error"] == code, body


def test_min_block_waits_for_the_index_or_says_why_not(client):
    indexed = int(client.get("/api/v1/health").json()["indexedBlock"])
    assert client.get(f"/api/v1/trades?minBlock={indexed}").status_code == 200
    started = time.monotonic()
    far = client.get(f"/api/v1/trades?minBlock={indexed + 1000}")
    assert far.status_code == 409 and far.json()["error"] == "block_not_indexed"
    assert far.json()["args"] == [str(indexed + 1000), str(indexed)]
    assert time.monotonic() - started < 1.0  # a block far ahead is not waited for


def test_builders_are_rate_limited(dapp_client, scenario):
    body = {"account": scenario.household.address, "amount": "1"}
    answers = [dapp_client.post("/api/v1/wallet/withdraw", json=body) for _ in range(3)]
    assert [a.status_code for a in answers[:2]] != [429, 429]
    assert answers[2].status_code == 429 and answers[2].json()["error"] == "rate_limited"
    assert int(answers[2].headers["retry-after"]) >= 1


def test_docs_are_served_without_a_cdn(client):
    html = client.get("/docs").text
    assert "/docs-assets/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    assert client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert client.get("/docs-assets/swagger-ui.css").status_code == 200


def test_etags_let_the_page_fetch_only_what_changed(client):
    first = client.get("/api/v1/market")
    etag = first.headers["etag"]
    assert etag.startswith('W/"') and first.headers["cache-control"] == "no-cache"
    again = client.get("/api/v1/market", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert "etag" not in client.get("/api/v1/health").headers  # ages move with the wall clock
