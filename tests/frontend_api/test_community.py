def test_stats_over_a_day(client):
    body = client.get("/api/v1/community/stats?hours=24").json()
    assert body["generatedWh"] >= 9_200  # 3000 + 5000 + 1000 + 200 exported by households
    assert body["consumedWh"] >= 2_500
    assert 0 < body["selfSufficiency"] <= 1
    assert body["volumeWh"] >= 500 and body["trades"] >= 1 and body["averagePrice"] is not None


def test_series_buckets(client):
    body = client.get("/api/v1/community/series?hours=24&bucketMinutes=60").json()
    assert len(body["points"]) == 24
    assert sum(p["generatedWh"] for p in body["points"]) >= 9_200
    charged = [p["stateOfChargeWh"] for p in body["points"] if p["stateOfChargeWh"] is not None]
    assert len(charged) >= 20 and max(charged) > 8_000
    assert sum(1 for p in body["points"] if p["averagePrice"] is not None) >= 5  # trades over the day


def test_window_limits(client):
    assert client.get("/api/v1/community/stats?hours=0").status_code == 422
    assert client.get("/api/v1/community/series?hours=8000&bucketMinutes=1").status_code == 422
