def test_trades_newest_first_with_filter(client, scenario):
    body = client.get("/api/v1/trades").json()
    assert body["trades"], "the scenario made a trade"
    ids = [t["id"] for t in body["trades"]]
    assert ids == sorted(ids, reverse=True)
    mine = client.get(f"/api/v1/trades?account={scenario.household.address}").json()["trades"]
    assert mine and all(scenario.household.address in (t["buyer"], t["seller"]) for t in mine)
    nobody = client.get("/api/v1/trades?account=0x000000000000000000000000000000000000dEaD").json()
    assert nobody["trades"] == []


def test_paging_by_cursor(client):
    every = client.get("/api/v1/trades?limit=500").json()["trades"]
    seen, cursor = [], None
    while True:
        url = "/api/v1/trades?limit=1" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url).json()
        seen += [t["id"] for t in page["trades"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == [t["id"] for t in every]


def test_bad_inputs(client):
    assert client.get("/api/v1/trades?limit=0").status_code == 422
    assert client.get("/api/v1/trades?limit=501").status_code == 422
    assert client.get("/api/v1/trades?cursor=abc").status_code == 400
    assert client.get("/api/v1/trades?account=nope").status_code == 422
    # all upper case is taken as it is (issue 14: any case); a wrong mixed-case checksum is a 400
    assert client.get("/api/v1/trades?account=0x000000000000000000000000000000000000DeaD").status_code == 400
