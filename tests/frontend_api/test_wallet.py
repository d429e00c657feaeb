from decimal import Decimal

from energo_testkit.scenario import send, sync
from eth_account.messages import encode_typed_data  # noqa: F401  (the typed data must be valid EIP-712)


def test_place_order_tx_lands_in_book_and_on_chain(client, scenario):
    w3, seller = scenario.w3, scenario.households[1].address
    tx = client.post("/api/v1/wallet/orders", json={"account": seller, "side": "sell", "price": "0.55",
                                                    "amountKwh": "0.3"}).json()
    assert tx["type"] == "0x0" and int(tx["chainId"], 16) == 8890 and int(tx["gasPrice"], 16) == 400 * 10**9
    assert tx["to"] == scenario.market.address
    receipt = send(w3, tx)
    assert receipt["status"] == 1
    sync(client)
    asks = client.get("/api/v1/market/depth").json()["asks"]
    assert any(level["price"] == "0.55" and level["amountWh"] >= 300 for level in asks)
    screen = client.get(f"/api/v1/accounts/{seller}")
    assert screen.status_code == 200, screen.text
    mine = screen.json()["openOrders"]
    order = next(o for o in mine if o["price"] == "0.55")
    on_chain = scenario.market.functions.order(int(order["orderId"])).call()
    assert on_chain[0] == seller and on_chain[3] == 300

    # cancelling returns the locked WATT
    locked_before = scenario.system.battery.functions.lockedWattOf(seller).call()
    cancel = client.post(f"/api/v1/wallet/orders/{order['orderId']}/cancel", json={"account": seller}).json()
    send(w3, cancel)
    sync(client)
    assert scenario.system.battery.functions.lockedWattOf(seller).call() == locked_before - 300 * 10**15
    assert all(o["orderId"] != order["orderId"]
               for o in client.get(f"/api/v1/accounts/{seller}").json()["openOrders"])
    again = client.post(f"/api/v1/wallet/orders/{order['orderId']}/cancel", json={"account": seller})
    assert again.status_code == 409


def test_too_little_balance_is_a_409_that_says_so(client, scenario):
    account = scenario.households[2].address
    response = client.post("/api/v1/wallet/orders", json={"account": account, "side": "sell", "price": "0.5",
                                                          "amountKwh": "1000"})
    assert response.status_code == 409 and "not enough WATT" in response.json()["detail"]
    response = client.post("/api/v1/wallet/orders", json={"account": account, "side": "buy", "price": "0.5",
                                                          "amountKwh": "1000"})
    assert response.status_code == 409 and "not enough free TSL" in response.json()["detail"]
    response = client.post("/api/v1/wallet/withdraw", json={"account": account, "amount": "1000000"})
    assert response.status_code == 409 and "free to withdraw" in response.json()["detail"]


def test_contract_errors_are_decoded(client, scenario):
    account = scenario.household.address
    off_tick = client.post("/api/v1/wallet/orders", json={"account": account, "side": "buy", "price": "0.0001",
                                                          "amountKwh": "0.2"})
    assert off_tick.status_code == 409 and "tick" in off_tick.json()["detail"]
    tiny = client.post("/api/v1/wallet/orders", json={"account": account, "side": "buy", "price": "0.3",
                                                      "amountKwh": "0.01"})
    assert tiny.status_code == 409 and "minimum" in tiny.json()["detail"]


def test_cancel_someone_elses_order_is_refused(client, scenario):
    order_id = client.get(f"/api/v1/accounts/{scenario.households[2].address}").json()["openOrders"][0]["orderId"]
    response = client.post(f"/api/v1/wallet/orders/{order_id}/cancel", json={"account": scenario.household.address})
    assert response.status_code == 403


def test_bad_amounts(client, scenario):
    account = scenario.household.address
    for amount in ("-1", "abc", "1e5", "0", "0.0000000000000000001"):
        response = client.post("/api/v1/wallet/withdraw", json={"account": account, "amount": amount})
        assert response.status_code == 400, amount
    malformed = client.post("/api/v1/wallet/withdraw", json={"account": "0xabc", "amount": "1"})
    assert malformed.status_code == 422 and "account" in malformed.json()["detail"]
    assert client.post("/api/v1/wallet/withdraw", json={"amount": "1"}).status_code == 422


def test_deposit_with_permit_needs_no_approve(client, scenario):
    w3, account = scenario.w3, scenario.households[2].address
    free_before = scenario.system.battery.functions.freeTslOf(account).call()
    permit = client.post("/api/v1/wallet/permit", json={"account": account, "amount": "12.5"}).json()
    typed = permit["typedData"]
    assert typed["domain"]["verifyingContract"] == scenario.system.tsl.address
    signature = w3.provider.make_request("eth_signTypedData_v4", [account, typed])["result"]
    tx = client.post("/api/v1/wallet/deposit-with-permit", json={
        "account": account, "amount": "12.5", "deadline": permit["deadline"], "signature": signature}).json()
    send(w3, tx)
    assert scenario.system.battery.functions.freeTslOf(account).call() >= free_before + 12 * 10**18


def test_approve_deposit_withdraw(client, scenario):
    w3, account = scenario.w3, scenario.households[1].address
    bat = scenario.system.battery.functions
    send(w3, client.post("/api/v1/wallet/approve", json={"account": account, "amount": "3"}).json())
    send(w3, client.post("/api/v1/wallet/deposit", json={"account": account, "amount": "3"}).json())
    free = bat.freeTslOf(account).call()
    send(w3, client.post("/api/v1/wallet/withdraw", json={"account": account, "amount": "2"}).json())
    assert bat.freeTslOf(account).call() <= free - 2 * 10**18
    sync(client)
    assert Decimal(client.get(f"/api/v1/accounts/{account}").json()["tsl"]["depositedFree"]) > 0
