"""Prometheus metrics at /metrics: the figures of /health, computed at scrape time from
memory and the index (never from the node), plus request counts and durations."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from frontend_api.api.deps import AppContext

router = APIRouter()


class HealthCollector:
    def __init__(self, app) -> None:
        self.app = app

    def collect(self):
        ctx: AppContext | None = getattr(self.app.state, "ctx", None)
        if ctx is None:
            return
        from frontend_api.api.routes.health import report

        body = report(ctx)

        def gauge(name: str, doc: str, value, labels: dict | None = None):
            family = GaugeMetricFamily(name, doc, labels=list(labels) if labels else None)
            if value is not None:
                family.add_metric(list(labels.values()) if labels else [], float(value))
            return family

        yield gauge("energo_api_up", "1 when /health says ok, 0 when degraded", body["status"] == "ok")
        yield gauge("energo_api_stale", "1 when answers are known to lag the chain", body["stale"])
        yield gauge("energo_api_chain_head_block", "Chain head the API last saw", body["chainHead"])
        yield gauge("energo_api_chain_head_age_seconds", "Wall clock minus the head's timestamp",
                    body["chainHeadAgeS"])
        yield gauge("energo_api_node_answered_ago_seconds", "Since the node last answered",
                    body["nodeAnsweredAgoS"])
        yield gauge("energo_api_indexed_block", "Highest block in the index", body["indexedBlock"])
        yield gauge("energo_api_indexer_lag_blocks", "Chain head minus indexed block", body["indexerLagBlocks"])
        yield gauge("energo_api_indexer_failures", "Consecutive failed indexer steps", body["indexerFailures"])
        yield gauge("energo_api_reorgs", "Reorgs rolled back since start", body["reorgs"])
        yield gauge("energo_api_silent_meters", "Meters with no reading within the configured age",
                    len(body["silentMeters"]))
        meter_age = GaugeMetricFamily("energo_api_meter_last_reading_age_seconds",
                                      "Since the meter's last accepted reading landed", labels=["meter", "kind"])
        meter_silent = GaugeMetricFamily("energo_api_meter_silent", "1 when the meter is silent", labels=["meter"])
        for m in body["meters"]:
            if m["lastReadingAgeS"] is not None:
                meter_age.add_metric([str(m["meterId"]), m["kind"]], m["lastReadingAgeS"])
            meter_silent.add_metric([str(m["meterId"])], 1.0 if m["silent"] else 0.0)
        yield meter_age
        yield meter_silent
        gateway_age = GaugeMetricFamily("energo_api_gateway_last_reading_age_seconds",
                                        "Since the gateway's last reading transaction landed", labels=["gateway"])
        for g in body["gateways"]:
            gateway_age.add_metric([g["address"]], g["lastReadingAgeS"])
        yield gateway_age


class Metrics:
    """One registry per app (several apps live in one test process)."""

    def __init__(self, app) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(HealthCollector(app))
        self.requests = Counter("energo_api_requests", "API requests by route and status",
                                ["route", "status"], registry=self.registry)
        self.duration = Histogram("energo_api_request_seconds", "API request durations by route", ["route"],
                                  registry=self.registry,
                                  buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

    def observe(self, route: str, status: int, started: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.duration.labels(route).observe(time.perf_counter() - started)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
