def test_battery(client, scenario):
    body = client.get("/api/v1/battery").json()
    bat = scenario.system.battery.functions
    assert body["capacityWh"] == 500_000
    assert body["supplyWh"] == bat.supplyWh().call(block_identifier=body["block"])
    assert body["stateOfChargeWh"] == bat.lastStateOfChargeWh().call(block_identifier=body["block"]) > 0
    assert body["reserveStatus"] == "ok" and body["mintingHalted"] is False
    assert body["reserveMarginWh"] == body["stateOfChargeWh"] - body["supplyWh"]
    assert body["lastStateOfChargeReportAt"] is not None
