def test_meter_list(client, scenario):
    body = client.get("/api/v1/meters").json()
    ids = {m["meterId"]: m for m in body["meters"]}
    assert {1, 2, 3, 100} <= set(ids)
    assert ids[100]["kind"] == "battery" and ids[1]["kind"] == "household" and ids[1]["active"]
    mine = client.get(f"/api/v1/meters?account={scenario.household.address}").json()["meters"]
    assert [m["meterId"] for m in mine] == [1]


def test_meter_detail_and_history(client):
    body = client.get("/api/v1/meters/1").json()
    assert body["lastReading"]["seq"] >= 2
    readings = client.get("/api/v1/meters/1/readings?limit=1").json()
    assert len(readings["readings"]) == 1 and readings["nextCursor"] is not None
    older = client.get(f"/api/v1/meters/1/readings?limit=100&cursor={readings['nextCursor']}").json()["readings"]
    assert older and all(r["seq"] < readings["readings"][0]["seq"] for r in older)
    # the first reading counts from the installation registers (0)
    assert older[-1]["exportDeltaWh"] == 3_000


def test_unknown_meter(client):
    assert client.get("/api/v1/meters/999").status_code == 404
    assert client.get("/api/v1/meters/999/readings").status_code == 404
    assert client.get("/api/v1/meters/0").status_code == 422
    assert client.get("/api/v1/meters/99999999999").status_code == 422
