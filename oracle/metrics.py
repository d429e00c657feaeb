"""Prometheus metrics, on a registry per daemon so several gateways can share a process."""

from __future__ import annotations

import time
from collections.abc import Callable
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.readings_read = Counter("energo_oracle_readings_read", "Meter reads that returned registers", ["meter"],
                                     registry=r)
        self.meter_errors = Counter("energo_oracle_meter_errors", "Meter reads that failed or were refused",
                                    ["meter", "reason"], registry=r)
        self.readings_signed = Counter("energo_oracle_readings_signed", "Readings signed and stored in the outbox",
                                       ["meter"], registry=r)
        self.readings_sent = Counter("energo_oracle_readings_sent", "Readings broadcast in a batch transaction",
                                     registry=r)
        self.readings_confirmed = Counter("energo_oracle_readings_confirmed",
                                          "Readings applied on-chain with enough confirmations", registry=r)
        self.readings_rejected = Counter("energo_oracle_readings_rejected", "Readings the ledger rejected",
                                         ["reason"], registry=r)
        self.batches = Counter("energo_oracle_batches", "Batch transactions by final state", ["state"], registry=r)
        self.keeper_runs = Counter("energo_oracle_keeper_runs", "Keeper work by task and result",
                                   ["task", "result"], registry=r)
        self.backlog = Gauge("energo_oracle_backlog", "Readings stored and not yet confirmed or rejected", registry=r)
        self.last_confirmed_age = Gauge("energo_oracle_last_confirmed_reading_age_seconds",
                                        "Seconds since the newest confirmed reading was taken", registry=r)
        self.chain_head = Gauge("energo_oracle_chain_head", "Newest block number seen", registry=r)
        self.consecutive_failures = Gauge("energo_oracle_consecutive_failures",
                                          "Submission failures in a row (the daemon exits at the limit)", registry=r)
        self._server: WSGIServer | None = None

    def watch_backlog(self, backlog: Callable[[], int], last_confirmed: Callable[[], float | None],
                      clock: Callable[[], float] = time.time) -> None:
        """Computed on each scrape from the outbox, so they can never drift from it."""
        self.backlog.set_function(backlog)

        def age() -> float:
            newest = last_confirmed()
            return float("nan") if newest is None else max(0.0, clock() - newest)

        self.last_confirmed_age.set_function(age)

    def serve(self, host: str, port: int) -> int:
        """Starts the /metrics endpoint; returns the port (useful with port 0)."""
        self._server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return self._server.server_port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
