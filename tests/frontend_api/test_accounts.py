from decimal import Decimal

from energo_testkit.scenario import sync


def _dec(text: str) -> Decimal:
    return Decimal(text)


def test_screen_matches_the_chain(client, scenario):
    sync(client)
    account = scenario.household.address
    body = client.get(f"/api/v1/accounts/{account}").json()
    bat = scenario.system.battery.functions
    block = body["block"]
    assert _dec(body["watt"]["wallet"]) * 10**18 == bat.balanceOf(account).call(block_identifier=block)
    assert _dec(body["tsl"]["depositedFree"]) * 10**18 == bat.freeTslOf(account).call(block_identifier=block)
    counters = bat.countersOf(account).call(block_identifier=block)
    assert body["energy"]["generatedWh"] == counters[0] == 3_000
    assert body["energy"]["storedWh"] == 2_850  # 95 % charge efficiency
    assert body["energy"]["consumedFromBatteryWh"] == 500
    assert body["energy"]["purchasedWh"] >= 500
    days = bat.daysOfStorage(account).call(block_identifier=block)
    assert abs(body["daysOfStorage"] - days / 10**18) < 1e-3
    assert body["stale"] is False and body["indexedBlock"] >= block - 1


def test_savings_against_the_utility_price(client, scenario):
    body = client.get(f"/api/v1/accounts/{scenario.household.address}").json()
    # bought 500 Wh at 0.40 against 0.60: 0.1 TSL saved
    assert body["savings"]["purchasedWh"] >= 500
    assert _dec(body["savings"]["tsl"]) > 0


def test_open_orders_are_listed(client, scenario):
    body = client.get(f"/api/v1/accounts/{scenario.households[2].address}").json()
    assert any(o["side"] == "buy" and o["price"] == "0.3" for o in body["openOrders"])
    assert body["rank"] is None  # continuous market: no rounds


def test_freshness_headers(client, scenario):
    response = client.get(f"/api/v1/accounts/{scenario.household.address}")
    assert response.headers["X-Energo-Stale"] == "false"
    assert int(response.headers["X-Energo-Indexed-Block"]) > 0


def test_malformed_address_is_refused_by_the_schema(client):
    response = client.get("/api/v1/accounts/0x1234")
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request" and "pattern" in response.json()["detail"]


def test_addresses_in_any_case_are_answered_checksummed(client, scenario):
    """Issue 14: lower-case addresses (what wallets answer) were a 400; a mixed-case address
    with a wrong checksum (a mistyped one) still is, with the right form in the message."""
    address = scenario.household.address
    for form in (address.lower(), "0x" + address[2:].upper()):
        response = client.get(f"/api/v1/accounts/{form}")
        assert response.status_code == 200 and response.json()["address"] == address
    wrong = address[:2] + address[2:].swapcase()
    response = client.get(f"/api/v1/accounts/{wrong}")
    assert response.status_code == 400 and response.json()["error"] == "unchecksummed_address"
    assert address in response.json()["detail"]


def test_an_account_without_anything_has_an_empty_screen(client):
    body = client.get("/api/v1/accounts/0x000000000000000000000000000000000000dEaD").json()
    assert body["watt"]["wallet"] == "0" and body["daysOfStorage"] is None and body["openOrders"] == []
