def test_health(client):
    body = client.get("/api/v1/health").json()
    assert body["status"] == "ok" and body["chainId"] == 8890
    assert body["indexerLagBlocks"] == 0 or body["indexerLagBlocks"] <= 2
    assert body["lastReadingAgeS"] is not None
    assert set(body["contracts"]) == {"TslToken", "SharedBattery", "MeterLedger", "ContinuousMarket"}
